/* Keyless verification of a signed artifact (`imager verify` without the private keys):
 * the artifact's signatures are gathered into a pool (sigpool.h), the certificate and the
 * PCR public key are the ones whose fingerprints the build record holds (found in the
 * artifact, or the certificate in --secureboot-keys), and the rebuild signs from the pool.
 * RSASSA-PKCS1-v1_5 being deterministic, the rebuild is then byte-identical exactly when
 * every signature of the artifact verifies over the rebuilt bytes with those keys. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/efi/authenticode.h"
#include "imager/efi/sigpool.h"
#include "imager/util/readfile.h"
#include "json.h"
#include "plan.h"
#include "verify.h"

#define URN_CERT "urn:imager:secureboot:uki-certificate"
#define URN_PCR	 "urn:imager:secureboot:pcr-public-key"

/* 64 hex digits into 32 bytes; -1 for anything else. */
static int sha256_from_hex(const char *hex, uint8_t out[32])
{
	if (strlen(hex) != 64)
		return -1;
	for (int k = 0; k < 32; k++)
		if (sscanf(hex + 2 * k, "%2hhx", &out[k]) != 1)
			return -1;
	return 0;
}

/* The recorded sha256 of the input named by `uri`. */
static int recorded_fp(const struct imager_json *doc, const char *uri, uint8_t fp[32])
{
	const struct imager_json *deps =
	    imager_json_get(doc, "predicate.buildDefinition.resolvedDependencies");
	for (size_t i = 0; deps && deps->type == IMAGER_JSON_ARRAY && i < deps->n; i++) {
		const char *u = imager_json_str_at(deps->kids[i], "uri");
		const char *hex = imager_json_str_at(deps->kids[i], "digest.sha256");
		if (u && hex && !strcmp(u, uri) && strlen(hex) == 64)
			return sha256_from_hex(hex, fp);
	}
	return -1;
}

static int cert_fp_is(X509 *x, const uint8_t fp[32])
{
	unsigned char *der = NULL, md[32];
	int n = i2d_X509(x, &der);
	int ok = n > 0 && EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL) &&
		 !memcmp(md, fp, 32);
	OPENSSL_free(der);
	return ok;
}

static int write_file(const char *path, const void *b, size_t len, struct im_error *err)
{
	FILE *f = fopen(path, "w");
	int ok = f && fwrite(b, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : im_fail_errno(err, IM_EXIT_IO, "%s", path);
}

static int write_cert(const char *path, X509 *x, struct im_error *err)
{
	FILE *f = fopen(path, "w");
	int ok = f && PEM_write_X509(f, x) == 1;
	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : im_fail_errno(err, IM_EXIT_IO, "%s", path);
}

/* The certificate: --secureboot-keys DIR/uki-signing-cert.pem when there (it must have the
 * recorded fingerprint), else the artifact's; written as PEM to `path`. */
static int find_cert(const char *artifact, const char *keys, struct im_sigpool *pool,
		     const uint8_t fp[32], const char *path, struct im_error *err)
{
	X509 *own = NULL, *x;
	char given[4096];
	snprintf(given, sizeof(given), "%s/uki-signing-cert.pem", keys ? keys : ".");
	if (keys && access(given, R_OK) == 0) {
		if (im_load_cert_pem(given, &own, err) < 0)
			return -1;
		if (!cert_fp_is(own, fp)) {
			X509_free(own);
			return im_fail(err, IMAGER_EXIT_NOT_REPRODUCED,
				       "%s: not the certificate the build record names (its sha256 "
				       "fingerprint differs)",
				       given);
		}
		x = own;
	} else if (!(x = im_sigpool_cert(pool, fp))) {
		return im_fail(err, IMAGER_EXIT_NOT_REPRODUCED,
			       "%s: not reproduced: no certificate with the recorded fingerprint "
			       "is in the artifact (unsigned, or signed with another key)",
			       artifact);
	}
	int rc = write_cert(path, x, err);
	X509_free(own);
	return rc;
}

/* Every other public file the build read from its keys folder (the .auth files of
 * systemd-boot's enrollment): from --secureboot-keys DIR when there (its digest was
 * checked), else the one in the artifact with the recorded sha256; copied into dir. */
static int gather_public_files(const char *artifact, const struct imager_json *doc,
			       const char *keys, struct im_sigpool *pool, const char *dir,
			       struct im_error *err)
{
	const struct imager_json *deps =
	    imager_json_get(doc, "predicate.buildDefinition.resolvedDependencies");
	for (size_t i = 0; deps && deps->type == IMAGER_JSON_ARRAY && i < deps->n; i++) {
		const char *u = imager_json_str_at(deps->kids[i], "uri");
		const char *hex = imager_json_str_at(deps->kids[i], "digest.sha256");
		if (!u || !hex || strncmp(u, "secureboot-keys/", 16) || strchr(u + 16, '/') ||
		    !strcmp(u + 16, "uki-signing-cert.pem"))
			continue;
		char src[4096], dst[4096];
		snprintf(src, sizeof(src), "%s/%s", keys ? keys : ".", u + 16);
		snprintf(dst, sizeof(dst), "%s/%s", dir, u + 16);
		uint8_t *b = NULL, sha[32];
		size_t len = 0;
		int rc;
		if (keys && access(src, R_OK) == 0) {
			if ((rc = im_read_file(src, u, &b, &len, err)) == 0)
				rc = write_file(dst, b, len, err);
			free(b);
		} else {
			const uint8_t *in = sha256_from_hex(hex, sha) == 0
						? im_sigpool_auth(pool, sha, &len)
						: NULL;
			rc =
			    in ? write_file(dst, in, len, err)
			       : im_fail(err, IMAGER_EXIT_NOT_REPRODUCED,
					 "%s: not reproduced: input %s (sha256 %.16s...) is not in "
					 "it; give --secureboot-keys DIR holding that public file",
					 artifact, u, hex);
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

int im_keyless_prepare(const char *artifact, const struct imager_json *doc, const char *keys,
		       const char *tmp, struct im_keyless *kl, struct im_error *err)
{
	uint8_t cert_fp[32], pcr_fp[32];
	memset(kl, 0, sizeof(*kl));
	if (recorded_fp(doc, URN_CERT, cert_fp) < 0 || recorded_fp(doc, URN_PCR, pcr_fp) < 0)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: the build record of a signed artifact has no certificate and "
			       "PCR public key fingerprints (%s, %s)",
			       artifact, URN_CERT, URN_PCR);
	char *cert = NULL;
	if (asprintf(&kl->keys_dir, "%s/.public-keys", tmp) < 0 ||
	    asprintf(&cert, "%s/uki-signing-cert.pem", kl->keys_dir) < 0 ||
	    !(kl->pool = im_sigpool_new())) {
		free(cert);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	kl->cert_path = cert;
	if (mkdir(kl->keys_dir, 0700) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s", kl->keys_dir);
	if (im_sigpool_scan_file(kl->pool, artifact, err) < 0 ||
	    find_cert(artifact, keys, kl->pool, cert_fp, cert, err) < 0 ||
	    gather_public_files(artifact, doc, keys, kl->pool, kl->keys_dir, err) < 0)
		return -1;
	EVP_PKEY *pub = im_sigpool_pubkey(kl->pool, pcr_fp);
	if (!pub)
		return im_fail(err, IMAGER_EXIT_NOT_REPRODUCED,
			       "%s: not reproduced: no PCR public key (.pcrpkey) with the recorded "
			       "fingerprint is in the artifact",
			       artifact);
	kl->pcr_pub = pub;
	return 0;
}

int im_keyless_report(const char *artifact, const struct im_keyless *kl, int differences)
{
	size_t misses, asked = im_sigpool_asked(kl->pool, &misses);
	if (misses) {
		fprintf(stderr,
			"imager: %s: %zu of %zu signatures do not verify over the rebuilt bytes "
			"with the recorded certificate and PCR public key\n",
			artifact, misses, asked);
		return differences ? differences : 1;
	}
	if (!differences)
		printf("imager: %s: %zu signatures verified with the recorded certificate and PCR "
		       "public key (keyless)\n",
		       artifact, asked);
	return differences;
}

void im_keyless_free(struct im_keyless *kl)
{
	im_sigpool_free(kl->pool);
	free((char *)kl->cert_path);
	free(kl->keys_dir);
	memset(kl, 0, sizeof(*kl));
}
