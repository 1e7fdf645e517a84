/* lib/efi/sigpool.c: gathering signatures, public keys and .auth files from bytes, and the
 * pool signer that answers with the one signature verifying over the digest asked. */
#include "testutil.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "imager/efi/sigpool.h"
#include "imager/util/base64.h"

static EVP_PKEY *rsa_key(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	assert_non_null(k);
	return k;
}

static size_t sign(EVP_PKEY *k, const char *msg, uint8_t *sig, size_t cap)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t len = cap;
	assert_int_equal(EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(c, sig, &len, (const uint8_t *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(c);
	return len;
}

static EVP_PKEY *public_half(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	const unsigned char *q = der;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &q, n);
	OPENSSL_free(der);
	assert_non_null(pub);
	return pub;
}

/* Some bytes, then a DER OCTET STRING holding the signature, then more bytes. */
static size_t embed_der(uint8_t *buf, const uint8_t *sig, size_t len)
{
	memset(buf, 0x04, 300); /* many false starts */
	uint8_t *p = buf + 300;
	*p++ = 0x04, *p++ = 0x82, *p++ = (uint8_t)(len >> 8), *p++ = (uint8_t)len;
	memcpy(p, sig, len);
	memset(p + len, 0xa0, 200);
	return 300 + 4 + len + 200;
}

static void test_signer_answers_with_the_matching_signature(void **state)
{
	(void)state;
	EVP_PKEY *k = rsa_key(), *pub = public_half(k), *signer = NULL;
	uint8_t sig[512], buf[2048], got[512];
	size_t len = sign(k, "the rebuilt bytes", sig, sizeof(sig));
	struct im_sigpool *p = im_sigpool_new();
	im_sigpool_scan_buf(p, buf, embed_der(buf, sig, len));
	assert_int_equal(im_sigpool_count(p, NULL, NULL), 1);
	struct im_error err = {0};
	assert_int_equal(im_sigpool_signer(p, pub, &signer, &err), 0);
	assert_int_equal(sign(signer, "the rebuilt bytes", got, sizeof(got)), len);
	assert_memory_equal(got, sig, len);
	size_t misses;
	assert_int_equal(im_sigpool_asked(p, &misses), 1);
	assert_int_equal(misses, 0);
	/* other bytes: no pool signature verifies, the signer answers zeros and counts a miss */
	assert_int_equal(sign(signer, "other bytes", got, sizeof(got)), len);
	uint8_t zero[512] = {0};
	assert_memory_equal(got, zero, len);
	assert_int_equal(im_sigpool_asked(p, &misses), 2);
	assert_int_equal(misses, 1);
	EVP_PKEY_free(signer);
	im_sigpool_free(p);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(k);
}

static void test_pcrsig_json_and_pem_key(void **state)
{
	(void)state;
	EVP_PKEY *k = rsa_key(), *pub = public_half(k);
	uint8_t sig[512];
	size_t len = sign(k, "policy", sig, sizeof(sig));
	char *b64 = im_base64_encode(sig, len), json[2048], pem[2048];
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(b, pub), 1);
	int n = BIO_read(b, pem, sizeof(pem) - 1);
	assert_true(n > 0);
	pem[n] = 0;
	BIO_free(b);
	int jl = snprintf(json, sizeof(json), "xx{\"pcrs\":[11],\"sig\":\"%s\"}yy%s--", b64, pem);
	free(b64);
	struct im_sigpool *p = im_sigpool_new();
	im_sigpool_scan_buf(p, (const uint8_t *)json, (size_t)jl);
	size_t keys;
	assert_int_equal(im_sigpool_count(p, NULL, &keys), 1);
	assert_int_equal(keys, 1);
	unsigned char *der = NULL, fp[32];
	int dl = i2d_PUBKEY(pub, &der);
	EVP_Digest(der, (size_t)dl, fp, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	assert_non_null(im_sigpool_pubkey(p, fp));
	fp[0] ^= 1;
	assert_null(im_sigpool_pubkey(p, fp));
	im_sigpool_free(p);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(k);
}

/* An EFI_VARIABLE_AUTHENTICATION_2 lookalike (UEFI 2.10 §8.2.2): time, WIN_CERTIFICATE with
 * the PKCS#7 GUID and a 4-byte "signature", one 40-byte signature list; then other bytes. */
static void test_auth_file_by_sha256(void **state)
{
	(void)state;
	static const uint8_t guid[16] = {0x9d, 0xd2, 0xaf, 0x4a, 0xdf, 0x68, 0xee, 0x49,
					 0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7};
	uint8_t buf[400] = {0}, *a = buf + 50;
	a[0] = 0xe7, a[1] = 0x07;				/* year 2023 */
	a[16] = 28;						/* dwLength: 24 + 4 */
	a[20] = 0x00, a[21] = 0x02, a[22] = 0xf1, a[23] = 0x0e; /* revision, type */
	memcpy(a + 24, guid, 16);
	memset(a + 40, 0x55, 4);
	a[44 + 16] = 40; /* SignatureListSize */
	memset(a + 44 + 28, 0x66, 12);
	memset(a + 84, 0x77, 100); /* what follows the file: not a signature list */
	struct im_sigpool *p = im_sigpool_new();
	im_sigpool_scan_buf(p, buf, sizeof(buf));
	uint8_t sha[32];
	EVP_Digest(a, 84, sha, NULL, EVP_sha256(), NULL);
	size_t len = 0;
	const uint8_t *got = im_sigpool_auth(p, sha, &len);
	assert_non_null(got);
	assert_int_equal(len, 84);
	assert_memory_equal(got, a, 84);
	im_sigpool_free(p);
}

static void test_errors(void **state)
{
	(void)state;
	struct im_sigpool *p = im_sigpool_new();
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *signer = NULL;
	struct im_error err = {0};
	assert_int_equal(im_sigpool_signer(p, ec, &signer, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_null(signer);
	struct im_error e2 = {0};
	assert_int_equal(im_sigpool_scan_file(p, "/nonexistent/artifact", &e2), -1);
	assert_int_equal(e2.code, IM_EXIT_MISSING);
	assert_non_null(strstr(e2.msg, "/nonexistent/artifact"));
	EVP_PKEY_free(ec);
	im_sigpool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signer_answers_with_the_matching_signature),
	    cmocka_unit_test(test_pcrsig_json_and_pem_key),
	    cmocka_unit_test(test_auth_file_by_sha256),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
