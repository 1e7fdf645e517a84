/* Secure Boot key material: keys, self-signed certificates, enrollment .auth files (keys.h). */
#include "imager/efi/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "imager/efi/efivar.h"
#include "imager/util/outfile.h"

const char *const im_keys_files[] = {
    IM_KEYS_UKI_KEY, IM_KEYS_UKI_CERT, IM_KEYS_UKI_CERT_DER, IM_KEYS_PCR_KEY,
    IM_KEYS_PK_KEY,  IM_KEYS_PK_CERT,  IM_KEYS_KEK_KEY,	     IM_KEYS_KEK_CERT,
    IM_KEYS_PK_AUTH, IM_KEYS_KEK_AUTH, IM_KEYS_DB_AUTH,	     NULL,
};
#define NFILES (sizeof(im_keys_files) / sizeof(im_keys_files[0]) - 1)

static const char *ssl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_get_error());
	return r ? r : "unknown OpenSSL error";
}

int im_keys_rsa(int bits, EVP_PKEY **out, struct im_error *err)
{
	*out = EVP_RSA_gen((unsigned int)bits);
	if (!*out)
		return im_fail(err, IM_EXIT_INTERNAL, "cannot generate an RSA-%d key (%s)", bits,
			       ssl_reason());
	return 0;
}

/* Serial: first 16 bytes of SHA-256(DER SubjectPublicKeyInfo), top bit cleared (positive,
 * at most 20 octets as RFC 5280 §4.1.2.2 requires). */
static int set_serial(X509 *x, EVP_PKEY *key)
{
	unsigned char *der = NULL, h[32];
	int n = i2d_PUBKEY(key, &der), ok = 0;
	if (n > 0 && EVP_Digest(der, (size_t)n, h, NULL, EVP_sha256(), NULL) == 1) {
		h[0] &= 0x7f;
		BIGNUM *bn = BN_bin2bn(h, 16, NULL);
		ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
		ok = ai && X509_set_serialNumber(x, ai) == 1;
		ASN1_INTEGER_free(ai);
		BN_free(bn);
	}
	OPENSSL_free(der);
	return ok;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok;
}

static int set_name_and_time(X509 *x, const char *cn, int64_t not_before)
{
	X509_NAME *name = X509_get_subject_name(x);
	return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					  -1, 0) == 1 &&
	       X509_set_issuer_name(x, name) == 1 &&
	       ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) &&
	       ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "99991231235959Z") == 1;
}

int im_keys_self_signed(EVP_PKEY *key, const char *cn, int64_t not_before, X509 **out,
			struct im_error *err)
{
	*out = NULL;
	if (!cn || !*cn || strlen(cn) > 64) /* ub-common-name, RFC 5280 appendix A */
		return im_fail(err, IM_EXIT_INVALID,
			       "common name '%s': expected 1 to 64 characters", cn ? cn : "");
	if (not_before < 0 || not_before > 253402300799LL)
		return im_fail(err, IM_EXIT_INVALID,
			       "certificate start %lld: expected a time before year 10000",
			       (long long)not_before);
	X509 *x = X509_new();
	int ok = x && X509_set_version(x, X509_VERSION_3) == 1 && set_serial(x, key) &&
		 set_name_and_time(x, cn, not_before) && X509_set_pubkey(x, key) == 1 &&
		 add_ext(x, NID_basic_constraints, "critical,CA:TRUE") &&
		 add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign") &&
		 add_ext(x, NID_subject_key_identifier, "hash") &&
		 add_ext(x, NID_authority_key_identifier, "keyid:always") &&
		 X509_sign(x, key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return im_fail(err, IM_EXIT_INTERNAL, "cannot make a certificate for '%s' (%s)", cn,
			       ssl_reason());
	}
	*out = x;
	return 0;
}

void im_keyset_free(struct im_keyset *ks)
{
	EVP_PKEY_free(ks->uki_key);
	EVP_PKEY_free(ks->pcr_key);
	EVP_PKEY_free(ks->pk_key);
	EVP_PKEY_free(ks->kek_key);
	X509_free(ks->uki_cert);
	X509_free(ks->pk_cert);
	X509_free(ks->kek_cert);
	memset(ks, 0, sizeof(*ks));
}

int im_keys_generate(const char *cn, int64_t not_before, struct im_keyset *ks, struct im_error *err)
{
	char pk_cn[128], kek_cn[128];
	memset(ks, 0, sizeof(*ks));
	if (!cn || !*cn || strlen(cn) > 60)
		return im_fail(err, IM_EXIT_INVALID,
			       "common name '%s': expected 1 to 60 characters (\" KEK\" is added "
			       "for the KEK)",
			       cn ? cn : "");
	snprintf(pk_cn, sizeof(pk_cn), "%s PK", cn);
	snprintf(kek_cn, sizeof(kek_cn), "%s KEK", cn);
	if (im_keys_rsa(IM_KEYS_UKI_BITS, &ks->uki_key, err) < 0 ||
	    im_keys_self_signed(ks->uki_key, cn, not_before, &ks->uki_cert, err) < 0 ||
	    im_keys_rsa(IM_KEYS_PCR_BITS, &ks->pcr_key, err) < 0 ||
	    im_keys_rsa(IM_KEYS_PK_BITS, &ks->pk_key, err) < 0 ||
	    im_keys_self_signed(ks->pk_key, pk_cn, not_before, &ks->pk_cert, err) < 0 ||
	    im_keys_rsa(IM_KEYS_PK_BITS, &ks->kek_key, err) < 0 ||
	    im_keys_self_signed(ks->kek_key, kek_cn, not_before, &ks->kek_cert, err) < 0) {
		im_keyset_free(ks);
		return -1;
	}
	return 0;
}

static void free_blobs(struct im_blob *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(b[i].data);
		b[i].data = NULL;
		b[i].len = 0;
	}
}

/* One .auth: `cert` as a one-entry ESL, signed by signer_key/signer_cert. */
static int auth_for(const char *var, X509 *cert, EVP_PKEY *signer_key, X509 *signer_cert, int64_t t,
		    struct im_blob *out, struct im_error *err)
{
	struct im_efi_guid owner, vendor;
	uint8_t *esl;
	size_t elen;
	im_efivar_owner_guid(&owner);
	if (im_efivar_vendor(var, &vendor) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: not a Secure Boot variable", var);
	if (im_efivar_esl_x509(cert, &owner, &esl, &elen, err) < 0)
		return -1;
	int rc = im_efivar_auth(var, &vendor, IM_EFI_VAR_ATTRS_SECURE_BOOT, esl, elen, signer_key,
				signer_cert, t, &out->data, &out->len, err);
	free(esl);
	return rc;
}

int im_keys_enrollment(EVP_PKEY *pk_key, X509 *pk_cert, EVP_PKEY *kek_key, X509 *kek_cert,
		       X509 *db_cert, int64_t unix_time, struct im_blob out[3],
		       struct im_error *err)
{
	memset(out, 0, 3 * sizeof(*out));
	if (auth_for("PK", pk_cert, pk_key, pk_cert, unix_time, &out[0], err) < 0 ||
	    auth_for("KEK", kek_cert, pk_key, pk_cert, unix_time, &out[1], err) < 0 ||
	    auth_for("db", db_cert, kek_key, kek_cert, unix_time, &out[2], err) < 0) {
		free_blobs(out, 3);
		return -1;
	}
	return 0;
}

static int bio_to_blob(BIO *b, int ok, struct im_blob *out, const char *what, struct im_error *err)
{
	char *mem;
	long n = ok ? BIO_get_mem_data(b, &mem) : -1;
	out->data = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (out->data) {
		memcpy(out->data, mem, (size_t)n);
		out->data[n] = 0;
		out->len = (size_t)n;
	}
	BIO_free(b);
	if (!out->data)
		return im_fail(err, IM_EXIT_INTERNAL, "cannot encode %s (%s)", what, ssl_reason());
	return 0;
}

int im_keys_key_pem(EVP_PKEY *key, struct im_blob *out, struct im_error *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	int ok = b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1;
	return bio_to_blob(b, ok, out, "private key", err);
}

int im_keys_cert_pem(X509 *cert, struct im_blob *out, struct im_error *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	int ok = b && PEM_write_bio_X509(b, cert) == 1;
	return bio_to_blob(b, ok, out, "certificate", err);
}

static int cert_der(X509 *cert, struct im_blob *out, struct im_error *err)
{
	unsigned char *d = NULL;
	int n = i2d_X509(cert, &d);
	out->data = n > 0 ? malloc((size_t)n) : NULL;
	if (out->data) {
		memcpy(out->data, d, (size_t)n);
		out->len = (size_t)n;
	}
	OPENSSL_free(d);
	return out->data ? 0 : im_fail(err, IM_EXIT_INTERNAL, "cannot encode certificate");
}

/* The contents of im_keys_files[i], in that order. */
static int encode_all(const struct im_keyset *ks, int64_t t, struct im_blob b[NFILES],
		      struct im_error *err)
{
	memset(b, 0, NFILES * sizeof(*b));
	if (im_keys_key_pem(ks->uki_key, &b[0], err) < 0 ||
	    im_keys_cert_pem(ks->uki_cert, &b[1], err) < 0 || cert_der(ks->uki_cert, &b[2], err) ||
	    im_keys_key_pem(ks->pcr_key, &b[3], err) < 0 ||
	    im_keys_key_pem(ks->pk_key, &b[4], err) < 0 ||
	    im_keys_cert_pem(ks->pk_cert, &b[5], err) < 0 ||
	    im_keys_key_pem(ks->kek_key, &b[6], err) < 0 ||
	    im_keys_cert_pem(ks->kek_cert, &b[7], err) < 0 ||
	    im_keys_enrollment(ks->pk_key, ks->pk_cert, ks->kek_key, ks->kek_cert, ks->uki_cert, t,
			       &b[8], err) < 0) {
		free_blobs(b, NFILES);
		return -1;
	}
	return 0;
}

static int is_private(size_t i)
{
	return i == 0 || i == 3 || i == 4 || i == 6;
}

/* mkdir -p, new folders mode 0700 (they hold private keys). */
static int make_dir(const char *dir, struct im_error *err)
{
	char *p = strdup(dir);
	if (!p)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (char *s = p + 1;; s++) {
		char c = *s;
		if (c && c != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			int code = errno == ENOSPC ? IM_EXIT_ENV : IM_EXIT_IO;
			im_fail_errno(err, code, "%s: cannot create folder", p);
			free(p);
			return -1;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return im_fail(err, IM_EXIT_INVALID, "%s: expected a folder", dir);
	return 0;
}

static int refuse_existing(char *const paths[NFILES], struct im_error *err)
{
	struct stat st;
	for (size_t i = 0; i < NFILES; i++)
		if (lstat(paths[i], &st) == 0)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: already exists; pass --force to overwrite it",
				       paths[i]);
	return 0;
}

/* Write all temporaries, then rename them all into place. */
static int write_files(char *const paths[NFILES], const struct im_blob b[NFILES],
		       struct im_error *err)
{
	struct im_outfile o[NFILES];
	size_t opened = 0, i;
	memset(o, 0, sizeof(o));
	for (i = 0; i < NFILES; i++) {
		if (im_outfile_open(&o[i], paths[i], err) < 0)
			goto fail;
		opened++;
		if (is_private(i) && fchmod(o[i].fd, 0600) < 0) {
			im_fail_errno(err, IM_EXIT_IO, "%s: chmod 0600", paths[i]);
			goto fail;
		}
		if (im_write_all(o[i].fd, b[i].data, b[i].len, paths[i], err) < 0)
			goto fail;
	}
	for (i = 0; i < NFILES; i++)
		if (im_outfile_commit(&o[i], err) < 0)
			goto fail;
	return 0;
fail:
	for (i = 0; i < opened; i++)
		im_outfile_abort(&o[i]);
	return -1;
}

static void free_paths(char *paths[NFILES])
{
	for (size_t i = 0; i < NFILES; i++) {
		free(paths[i]);
		paths[i] = NULL;
	}
}

static int make_paths(const char *dir, char *paths[NFILES], struct im_error *err)
{
	memset(paths, 0, NFILES * sizeof(*paths));
	if (!*dir)
		return im_fail(err, IM_EXIT_INVALID, "output folder: expected a path");
	for (size_t i = 0; i < NFILES; i++)
		if (asprintf(&paths[i], "%s/%s", dir, im_keys_files[i]) < 0) {
			paths[i] = NULL;
			free_paths(paths);
			return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		}
	return 0;
}

int im_keys_refuse_existing(const char *dir, struct im_error *err)
{
	char *paths[NFILES];
	if (make_paths(dir, paths, err) < 0)
		return -1;
	int rc = refuse_existing(paths, err);
	free_paths(paths);
	return rc;
}

int im_keys_write(const char *dir, const struct im_keyset *ks, int64_t unix_time, int force,
		  struct im_error *err)
{
	char *paths[NFILES];
	struct im_blob b[NFILES];
	int rc = -1;
	if (make_paths(dir, paths, err) < 0)
		return -1;
	if (make_dir(dir, err) == 0 && (force || refuse_existing(paths, err) == 0) &&
	    encode_all(ks, unix_time, b, err) == 0) {
		rc = write_files(paths, b, err);
		free_blobs(b, NFILES);
	}
	free_paths(paths);
	return rc;
}
