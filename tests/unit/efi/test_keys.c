/* lib/keys.c and the `imager keys` verb (imager/keys_cmd.c, compiled into this test).
 *
 * Checks the written files (names, modes, key sizes, certificate fields), that the project's
 * PEM loaders read them, that PK.auth/KEK.auth/db.auth carry the right certificates and verify
 * against their parent certificates (PK self-signed, KEK by PK, db by KEK), reproducibility of
 * everything made from the keys, and the refusal to overwrite without --force. */
#include "testutil.h"

#include <endian.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "imager/efi/authenticode.h"
#include "imager/efi/efivar.h"
#include "imager/efi/keys.h"

/* The verb, compiled in; main.c's imager_report() replaced by the same one-liner. */
#include "../../../imager/keys_cmd.c"

int imager_report(const struct im_error *err)
{
	fprintf(stderr, "imager: %s\n", err->msg[0] ? err->msg : "unknown error");
	return err->code ? err->code : IM_EXIT_INTERNAL;
}

#define T0 1700000000 /* 2023-11-14 22:13:20 UTC */

static struct im_keyset ks; /* generated once: RSA-4096 is slow under ASan */

static int group_setup(void **state)
{
	(void)state;
	struct im_error err = {0};
	umask(022);
	return im_keys_generate("imager test", T0, &ks, &err);
}

static int group_teardown(void **state)
{
	(void)state;
	im_keyset_free(&ks);
	return 0;
}

static char *path_in(const char *dir, const char *name)
{
	char *p;
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static uint8_t *slurp(const char *dir, const char *name, size_t *len)
{
	char *p = path_in(dir, name);
	FILE *f = fopen(p, "rb");
	assert_non_null(f);
	struct stat st;
	assert_int_equal(fstat(fileno(f), &st), 0);
	uint8_t *b = malloc(st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, st.st_size, f), (size_t)st.st_size);
	b[st.st_size] = 0;
	fclose(f);
	free(p);
	*len = st.st_size;
	return b;
}

static mode_t mode_of(const char *dir, const char *name)
{
	char *p = path_in(dir, name);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	free(p);
	return st.st_mode & 07777;
}

static void check_cert(X509 *x, EVP_PKEY *key, const char *cn)
{
	char buf[256];
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof(buf));
	char want[256];
	snprintf(want, sizeof(want), "/CN=%s", cn);
	assert_string_equal(buf, want);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
	assert_int_equal(X509_check_private_key(x, key), 1);
	assert_int_equal(X509_verify(x, key), 1); /* self-signed */
	assert_int_equal(X509_check_ca(x), 1);
	assert_int_equal(X509_get_signature_nid(x), NID_sha256WithRSAEncryption);
	/* validity: T0 .. 9999-12-31 23:59:59 */
	int day, sec;
	ASN1_TIME *t0 = ASN1_TIME_set(NULL, T0);
	assert_int_equal(ASN1_TIME_diff(&day, &sec, t0, X509_get0_notBefore(x)), 1);
	assert_int_equal(day, 0);
	assert_int_equal(sec, 0);
	ASN1_TIME_free(t0);
	ASN1_TIME *end = ASN1_TIME_new();
	assert_int_equal(ASN1_TIME_set_string_X509(end, "99991231235959Z"), 1);
	assert_int_equal(ASN1_TIME_compare(end, X509_get0_notAfter(x)), 0);
	ASN1_TIME_free(end);
	/* serial = SHA-256(SPKI)[0..16) with the top bit cleared */
	unsigned char *der = NULL, h[32];
	int n = i2d_PUBKEY(key, &der);
	assert_true(n > 0);
	assert_int_equal(EVP_Digest(der, n, h, NULL, EVP_sha256(), NULL), 1);
	OPENSSL_free(der);
	h[0] &= 0x7f;
	BIGNUM *want_bn = BN_bin2bn(h, 16, NULL);
	BIGNUM *got = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	assert_int_equal(BN_cmp(want_bn, got), 0);
	BN_free(want_bn);
	BN_free(got);
}

/* An .auth file: the ESL holds `cert`, the SignedData verifies against `parent`. */
static void check_auth(const uint8_t *a, size_t len, const char *var, X509 *cert, X509 *parent)
{
	struct im_efi_time ts;
	struct im_efi_guid vendor, owner;
	struct im_error err = {0};
	assert_int_equal(im_efi_time_from_unix(T0, &ts, &err), 0);
	assert_memory_equal(a, &ts, 16);
	uint32_t dw;
	memcpy(&dw, a + 16, 4);
	dw = le32toh(dw);
	assert_memory_equal(a + 24, im_efi_cert_type_pkcs7_guid.b, 16);
	const uint8_t *esl = a + 16 + dw;
	size_t elen = len - 16 - dw;
	unsigned char *der = NULL;
	int dlen = i2d_X509(cert, &der);
	im_efivar_owner_guid(&owner);
	assert_int_equal(elen, 28 + 16 + (size_t)dlen);
	assert_memory_equal(esl, im_efi_cert_x509_guid.b, 16);
	assert_memory_equal(esl + 28, owner.b, 16);
	assert_memory_equal(esl + 44, der, dlen);
	OPENSSL_free(der);

	uint8_t *payload;
	size_t plen;
	assert_int_equal(im_efivar_vendor(var, &vendor), 0);
	assert_int_equal(
	    im_efivar_signed_payload(var, &vendor, 0x27, &ts, esl, elen, &payload, &plen, &err), 0);
	PKCS7 *p7 = PKCS7_new();
	assert_int_equal(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
	PKCS7_SIGNED_free(p7->d.sign);
	const unsigned char *q = a + 40;
	p7->d.sign = d2i_PKCS7_SIGNED(NULL, &q, dw - 24);
	assert_non_null(p7->d.sign);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_add_cert(store, parent);
	BIO *in = BIO_new_mem_buf(payload, (int)plen);
	STACK_OF(X509) *signers = NULL;
	assert_int_equal(PKCS7_verify(p7, NULL, store, in, NULL, PKCS7_BINARY), 1);
	signers = PKCS7_get0_signers(p7, NULL, 0);
	assert_int_equal(sk_X509_num(signers), 1);
	assert_int_equal(X509_cmp(sk_X509_value(signers, 0), parent), 0);
	sk_X509_free(signers);
	BIO_free(in);
	X509_STORE_free(store);
	PKCS7_free(p7);
	free(payload);
}

static void check_dir(const char *dir, const char *cn)
{
	char pk_cn[128], kek_cn[128];
	snprintf(pk_cn, sizeof(pk_cn), "%s PK", cn);
	snprintf(kek_cn, sizeof(kek_cn), "%s KEK", cn);
	for (size_t i = 0; im_keys_files[i]; i++) {
		int priv = strstr(im_keys_files[i], "-key.pem") != NULL;
		assert_int_equal(mode_of(dir, im_keys_files[i]), priv ? 0600 : 0644);
	}
	/* the project's loaders read what we wrote */
	struct {
		const char *key, *cert, *cn;
		int bits;
	} pairs[] = {
	    {IM_KEYS_UKI_KEY, IM_KEYS_UKI_CERT, cn, 4096},
	    {IM_KEYS_PK_KEY, IM_KEYS_PK_CERT, pk_cn, 2048},
	    {IM_KEYS_KEK_KEY, IM_KEYS_KEK_CERT, kek_cn, 2048},
	    {IM_KEYS_PCR_KEY, NULL, NULL, 2048},
	};
	X509 *certs[3] = {0};
	for (int i = 0; i < 4; i++) {
		struct im_error err = {0};
		EVP_PKEY *k;
		char *kp = path_in(dir, pairs[i].key);
		assert_int_equal(im_load_key_pem(kp, &k, &err), 0);
		free(kp);
		assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
		assert_int_equal(EVP_PKEY_get_bits(k), pairs[i].bits);
		if (pairs[i].cert) {
			char *cp = path_in(dir, pairs[i].cert);
			assert_int_equal(im_load_cert_pem(cp, &certs[i], &err), 0);
			free(cp);
			check_cert(certs[i], k, pairs[i].cn);
		}
		EVP_PKEY_free(k);
	}
	size_t dlen, len;
	uint8_t *der = slurp(dir, IM_KEYS_UKI_CERT_DER, &dlen);
	const unsigned char *p = der;
	X509 *d = d2i_X509(NULL, &p, (long)dlen);
	assert_non_null(d);
	assert_int_equal(X509_cmp(d, certs[0]), 0);
	X509_free(d);
	free(der);

	uint8_t *a = slurp(dir, IM_KEYS_PK_AUTH, &len);
	check_auth(a, len, "PK", certs[1], certs[1]);
	free(a);
	a = slurp(dir, IM_KEYS_KEK_AUTH, &len);
	check_auth(a, len, "KEK", certs[2], certs[1]);
	free(a);
	a = slurp(dir, IM_KEYS_DB_AUTH, &len);
	check_auth(a, len, "db", certs[0], certs[2]);
	free(a);
	for (int i = 0; i < 3; i++)
		X509_free(certs[i]);
}

static void test_write(void **state)
{
	(void)state;
	char *tmp = tu_tmpdir(), *dir = path_in(tmp, "a/b/keys");
	struct im_error err = {0};
	assert_int_equal(im_keys_write(dir, &ks, T0, 0, &err), 0);
	check_dir(dir, "imager test");
	char *parent = path_in(tmp, "a/b");
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* nothing else left behind (no temporaries) */
	assert_int_equal(tu_sh("test $(ls -A '%s' | wc -l) -eq 11", dir), 0);

	/* everything made from the keys is reproducible: write again elsewhere, compare */
	char *dir2 = path_in(tmp, "again");
	assert_int_equal(im_keys_write(dir2, &ks, T0, 0, &err), 0);
	for (size_t i = 0; im_keys_files[i]; i++)
		assert_int_equal(
		    tu_sh("cmp -s '%s/%s' '%s/%s'", dir, im_keys_files[i], dir2, im_keys_files[i]),
		    0);
	free(dir2);
	free(parent);
	free(dir);
	tu_rmtree(tmp);
	free(tmp);
}

static void test_refuse_and_force(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct im_error err = {0};
	/* one existing file is enough to refuse, and nothing is written */
	assert_int_equal(tu_sh("echo keep > '%s/" IM_KEYS_DB_AUTH "'", dir), 0);
	assert_int_equal(im_keys_refuse_existing(dir, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "/" IM_KEYS_DB_AUTH ": already exists"));
	assert_non_null(strstr(err.msg, "--force"));
	struct im_error e2 = {0};
	assert_int_equal(im_keys_write(dir, &ks, T0, 0, &e2), -1);
	assert_int_equal(e2.code, IM_EXIT_INVALID);
	assert_int_equal(tu_sh("test \"$(ls -A '%s')\" = " IM_KEYS_DB_AUTH
			       " && test \"$(cat '%s/" IM_KEYS_DB_AUTH "')\" = keep",
			       dir, dir),
			 0);
	/* --force replaces */
	struct im_error e3 = {0};
	assert_int_equal(im_keys_write(dir, &ks, T0, 1, &e3), 0);
	check_dir(dir, "imager test");
	tu_rmtree(dir);
	free(dir);
}

static void test_enrollment_single_key(void **state)
{
	(void)state;
	/* Talos' layout: the UKI key is PK, KEK and db */
	struct im_blob b[3], c[3];
	struct im_error err = {0};
	assert_int_equal(im_keys_enrollment(ks.uki_key, ks.uki_cert, ks.uki_key, ks.uki_cert,
					    ks.uki_cert, T0, b, &err),
			 0);
	check_auth(b[0].data, b[0].len, "PK", ks.uki_cert, ks.uki_cert);
	check_auth(b[1].data, b[1].len, "KEK", ks.uki_cert, ks.uki_cert);
	check_auth(b[2].data, b[2].len, "db", ks.uki_cert, ks.uki_cert);
	assert_int_equal(im_keys_enrollment(ks.uki_key, ks.uki_cert, ks.uki_key, ks.uki_cert,
					    ks.uki_cert, T0, c, &err),
			 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(b[i].len, c[i].len);
		assert_memory_equal(b[i].data, c[i].data, b[i].len);
		free(b[i].data);
		free(c[i].data);
	}
	/* a key that does not match its certificate */
	struct im_error e2 = {0};
	assert_int_equal(im_keys_enrollment(ks.pk_key, ks.uki_cert, ks.kek_key, ks.kek_cert,
					    ks.uki_cert, T0, b, &e2),
			 -1);
	assert_int_equal(e2.code, IM_EXIT_INVALID);
	assert_null(b[0].data);
}

static void test_bad_names(void **state)
{
	(void)state;
	struct im_keyset k2;
	X509 *x = NULL;
	struct im_error err = {0}, e2 = {0};
	assert_int_equal(im_keys_generate("", 0, &k2, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_int_equal(im_keys_self_signed(ks.pcr_key, "x", -1, &x, &e2), -1);
	assert_int_equal(e2.code, IM_EXIT_INVALID);
	assert_null(x);
}

/* --- the verb --------------------------------------------------------------------------- */

static int run(const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *argv[8] = {"keys"};
	int argc = 1;
	const char *extra[4] = {a1, a2, a3, a4};
	for (int i = 0; i < 4 && extra[i]; i++)
		argv[argc++] = (char *)extra[i];
	/* the verb's help and file list go to stdout: keep them out of the TAP stream */
	fflush(stdout);
	int saved = dup(1), null = open("/dev/null", O_WRONLY);
	assert_true(saved >= 0 && null >= 0);
	dup2(null, 1);
	close(null);
	int rc = imager_cmd_keys(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	return rc;
}

static void test_cmd(void **state)
{
	(void)state;
	char *tmp = tu_tmpdir(), *dir = path_in(tmp, "out");
	assert_int_equal(run("--help", NULL, NULL, NULL), 0);
	assert_int_equal(run(NULL, NULL, NULL, NULL), IM_EXIT_INVALID); /* no --output */
	assert_int_equal(run("--bogus", NULL, NULL, NULL), IM_EXIT_INVALID);
	assert_int_equal(run("--output", dir, "extra", NULL), IM_EXIT_INVALID);
	assert_int_equal(tu_sh("test ! -e '%s'", dir), 0);

	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	assert_int_equal(run("-o", dir, "--common-name", "Verb Test"), 0);
	check_dir(dir, "Verb Test");
	size_t len;
	uint8_t *before = slurp(dir, IM_KEYS_UKI_KEY, &len);
	/* second run refuses (exit 2) and changes nothing */
	assert_int_equal(run("--output", dir, NULL, NULL), IM_EXIT_INVALID);
	size_t len2;
	uint8_t *same = slurp(dir, IM_KEYS_UKI_KEY, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(before, same, len);
	free(same);
	/* --force makes new keys */
	assert_int_equal(run("--output", dir, "--force", NULL), 0);
	check_dir(dir, IM_KEYS_DEFAULT_CN);
	uint8_t *after = slurp(dir, IM_KEYS_UKI_KEY, &len2);
	assert_true(len != len2 || memcmp(before, after, len));
	free(after);
	free(before);
	/* a bad SOURCE_DATE_EPOCH is invalid input */
	setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
	assert_int_equal(run("--output", dir, "--force", NULL), IM_EXIT_INVALID);
	unsetenv("SOURCE_DATE_EPOCH");
	free(dir);
	tu_rmtree(tmp);
	free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_write),
	    cmocka_unit_test(test_refuse_and_force),
	    cmocka_unit_test(test_enrollment_single_key),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_cmd),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
