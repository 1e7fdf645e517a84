/* lib/efivar.c: EFI_SIGNATURE_LIST and EFI_VARIABLE_AUTHENTICATION_2 (.auth) files.
 *
 * Judged by structure (offsets, sizes, GUIDs), by OpenSSL verifying the PKCS#7 detached over
 * a payload rebuilt here, by the edk2 acceptance rule (bare SignedData with the SHA-256 OID at
 * offset 13), and — when efitools is installed — byte for byte against efitools'
 * cert-to-efi-sig-list and sign-efi-sig-list (which are deterministic given -t). */
#include "testutil.h"

#include <endian.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "imager/efi/efivar.h"

struct fx {
	char *dir;
	char key[4096], cert[4096];
	EVP_PKEY *pkey;
	X509 *x509;
	EVP_PKEY *pkey2; /* a key that does not match x509 */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = tu_tmpdir();
	snprintf(f->key, sizeof(f->key), "%s/pk.key", f->dir);
	snprintf(f->cert, sizeof(f->cert), "%s/pk.crt", f->dir);
	assert_int_equal(tu_sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' "
			       "-subj /CN=imager-test-pk -days 3650 2>/dev/null",
			       f->key, f->cert),
			 0);
	FILE *k = fopen(f->key, "r"), *c = fopen(f->cert, "r");
	assert_non_null(k);
	assert_non_null(c);
	f->pkey = PEM_read_PrivateKey(k, NULL, NULL, NULL);
	f->x509 = PEM_read_X509(c, NULL, NULL, NULL);
	fclose(k);
	fclose(c);
	assert_non_null(f->pkey);
	assert_non_null(f->x509);
	f->pkey2 = EVP_RSA_gen(2048);
	assert_non_null(f->pkey2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	EVP_PKEY_free(f->pkey);
	EVP_PKEY_free(f->pkey2);
	X509_free(f->x509);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void fmt(const struct im_efi_guid *g, const char *want)
{
	char s[37];
	im_efi_guid_format(g, s);
	assert_string_equal(s, want);
}

static void test_guids(void **state)
{
	(void)state;
	struct im_efi_guid g;
	fmt(&im_efi_global_variable_guid, "8be4df61-93ca-11d2-aa0d-00e098032b8c");
	fmt(&im_efi_image_security_db_guid, "d719b2cb-3d3a-4596-a3bc-dad00e67656f");
	fmt(&im_efi_cert_x509_guid, "a5c059a1-94e4-4aa7-87b5-ab155c2bf072");
	fmt(&im_efi_cert_type_pkcs7_guid, "4aafd29d-68df-49ee-8aa9-347d375665a7");
	/* stored form: Data1..Data3 little-endian (EFI_CERT_X509_GUID as efitools writes it) */
	static const uint8_t x509[16] = {0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
					 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72};
	assert_memory_equal(im_efi_cert_x509_guid.b, x509, 16);
	assert_int_equal(im_efi_guid_parse("A5C059A1-94e4-4aa7-87b5-ab155c2bf072", &g), 0);
	assert_memory_equal(g.b, x509, 16);
	assert_int_equal(im_efi_guid_parse("a5c059a1-94e4-4aa7-87b5-ab155c2bf07", &g), -1);
	assert_int_equal(im_efi_guid_parse("a5c059a1x94e4-4aa7-87b5-ab155c2bf072", &g), -1);
	assert_int_equal(im_efi_guid_parse("a5c059a1-94e4-4aa7-87b5-ab155c2bf0722", &g), -1);

	/* label GUIDs: SHA-256(16 zero bytes ‖ label), version 8, variant 10 */
	uint8_t h[32], in[16 + 5] = {0};
	memcpy(in + 16, "hello", 5);
	assert_int_equal(EVP_Digest(in, sizeof(in), h, NULL, EVP_sha256(), NULL), 1);
	h[6] = (h[6] & 0x0f) | 0x80;
	h[8] = (h[8] & 0x3f) | 0x80;
	char want[37];
	snprintf(want, sizeof(want),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
		 h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14],
		 h[15]);
	im_efi_guid_from_label("hello", &g);
	fmt(&g, want);
	struct im_efi_guid o1, o2;
	im_efivar_owner_guid(&o1);
	im_efi_guid_from_label("imager-secureboot-owner", &o2);
	assert_memory_equal(o1.b, o2.b, 16);
	char s[37];
	im_efi_guid_format(&o1, s);
	assert_int_equal(s[14], '8');

	assert_int_equal(im_efivar_vendor("PK", &g), 0);
	assert_memory_equal(g.b, im_efi_global_variable_guid.b, 16);
	assert_int_equal(im_efivar_vendor("KEK", &g), 0);
	assert_memory_equal(g.b, im_efi_global_variable_guid.b, 16);
	assert_int_equal(im_efivar_vendor("db", &g), 0);
	assert_memory_equal(g.b, im_efi_image_security_db_guid.b, 16);
	assert_int_equal(im_efivar_vendor("Boot0000", &g), -1);
}

static void test_time(void **state)
{
	(void)state;
	struct im_efi_time t;
	struct im_error err = {0};
	assert_int_equal(im_efi_time_from_unix(0, &t, &err), 0);
	static const uint8_t epoch[16] = {0xb2, 0x07, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_memory_equal(&t, epoch, 16);
	assert_int_equal(im_efi_time_from_unix(1700000000, &t, &err), 0); /* 2023-11-14 22:13:20 */
	static const uint8_t later[16] = {0xe7, 0x07, 11, 14, 22, 13, 20, 0,
					  0,	0,    0,  0,  0,  0,  0,  0};
	assert_memory_equal(&t, later, 16);
	assert_int_equal(im_efi_time_from_unix(253402300800LL, &t, &err), -1); /* year 10000 */
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "253402300800"));
}

static uint32_t le32at(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static void test_esl(void **state)
{
	struct fx *f = *state;
	struct im_efi_guid owner;
	struct im_error err = {0};
	uint8_t *esl;
	size_t len;
	assert_int_equal(im_efi_guid_parse("11111111-2222-3333-4444-555555555555", &owner), 0);
	assert_int_equal(im_efivar_esl_x509(f->x509, &owner, &esl, &len, &err), 0);
	int der_len = i2d_X509(f->x509, NULL);
	assert_int_equal(len, 28 + 16 + (size_t)der_len);
	assert_memory_equal(esl, im_efi_cert_x509_guid.b, 16);
	assert_int_equal(le32at(esl + 16), len);		    /* SignatureListSize */
	assert_int_equal(le32at(esl + 20), 0);			    /* SignatureHeaderSize */
	assert_int_equal(le32at(esl + 24), 16 + (uint32_t)der_len); /* SignatureSize */
	assert_memory_equal(esl + 28, owner.b, 16);
	const unsigned char *p = esl + 44;
	X509 *back = d2i_X509(NULL, &p, der_len);
	assert_non_null(back);
	assert_int_equal(X509_cmp(back, f->x509), 0);
	X509_free(back);

	if (tu_sh("command -v cert-to-efi-sig-list >/dev/null 2>&1")) {
		print_message("note: efitools not installed; ESL not compared with "
			      "cert-to-efi-sig-list\n");
	} else {
		char path[4096];
		assert_int_equal(tu_sh("cert-to-efi-sig-list -g "
				       "11111111-2222-3333-4444-555555555555 '%s' '%s/ref.esl'",
				       f->cert, f->dir),
				 0);
		snprintf(path, sizeof(path), "%s/ref.esl", f->dir);
		FILE *r = fopen(path, "rb");
		assert_non_null(r);
		uint8_t *ref = malloc(len + 1);
		assert_int_equal(fread(ref, 1, len + 1, r), len);
		fclose(r);
		assert_memory_equal(esl, ref, len);
		free(ref);
	}
	free(esl);
}

/* Rebuild the signed payload independently, verify the detached SignedData over it. */
static void verify_auth(const uint8_t *auth, size_t alen, const char *name,
			const struct im_efi_guid *vendor, const uint8_t *data, size_t dlen,
			X509 *signer, int64_t t)
{
	struct im_efi_time ts;
	struct im_error err = {0};
	assert_int_equal(im_efi_time_from_unix(t, &ts, &err), 0);
	assert_memory_equal(auth, &ts, 16);
	uint32_t dw = le32at(auth + 16);
	assert_int_equal(auth[20] | auth[21] << 8, 0x0200);
	assert_int_equal(auth[22] | auth[23] << 8, 0x0EF1);
	assert_memory_equal(auth + 24, im_efi_cert_type_pkcs7_guid.b, 16);
	size_t slen = dw - 24;
	assert_int_equal(alen, 16 + dw + dlen);
	assert_memory_equal(auth + 16 + dw, data, dlen);

	/* edk2 VerifyTimeBasedPayload(): 2-byte DER length, SHA-256 OID at offset 13 */
	const uint8_t *sd = auth + 40;
	static const uint8_t sha256_oid[9] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
	assert_int_equal(sd[0], 0x30);
	assert_int_equal(sd[1], 0x82);
	assert_int_equal(((size_t)sd[2] << 8 | sd[3]) + 4, slen);
	assert_memory_equal(sd + 13, sha256_oid, 9);

	/* payload = name UTF-16LE ‖ vendor ‖ attrs ‖ time ‖ data */
	size_t nl = strlen(name), plen = 2 * nl + 16 + 4 + 16 + dlen;
	uint8_t *pl = calloc(1, plen);
	assert_non_null(pl);
	for (size_t i = 0; i < nl; i++)
		pl[2 * i] = (uint8_t)name[i];
	memcpy(pl + 2 * nl, vendor->b, 16);
	pl[2 * nl + 16] = 0x27;
	memcpy(pl + 2 * nl + 20, &ts, 16);
	memcpy(pl + 2 * nl + 36, data, dlen);

	PKCS7 *p7 = PKCS7_new();
	assert_int_equal(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
	PKCS7_SIGNED_free(p7->d.sign);
	const unsigned char *q = sd;
	p7->d.sign = d2i_PKCS7_SIGNED(NULL, &q, (long)slen);
	assert_non_null(p7->d.sign);
	assert_ptr_equal(q, sd + slen);
	assert_true(PKCS7_get_detached(p7));
	STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(sis), 1);
	PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sis, 0);
	assert_true(sk_X509_ATTRIBUTE_num(si->auth_attr) <= 0); /* none: no signingTime */
	X509_STORE *store = X509_STORE_new();
	X509_STORE_add_cert(store, signer);
	BIO *in = BIO_new_mem_buf(pl, (int)plen);
	int ok = PKCS7_verify(p7, NULL, store, in, NULL, PKCS7_BINARY);
	BIO_free(in);
	assert_int_equal(ok, 1);
	/* and a changed byte fails */
	pl[plen - 1] ^= 1;
	in = BIO_new_mem_buf(pl, (int)plen);
	assert_int_equal(PKCS7_verify(p7, NULL, store, in, NULL, PKCS7_BINARY), 0);
	BIO_free(in);
	X509_STORE_free(store);
	PKCS7_free(p7);
	free(pl);
}

static void test_auth(void **state)
{
	struct fx *f = *state;
	struct im_efi_guid owner, vendor;
	struct im_error err = {0};
	uint8_t *esl, *a1, *a2;
	size_t elen, l1, l2;
	im_efivar_owner_guid(&owner);
	assert_int_equal(im_efivar_esl_x509(f->x509, &owner, &esl, &elen, &err), 0);
	const char *names[3] = {"PK", "KEK", "db"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(im_efivar_vendor(names[i], &vendor), 0);
		assert_int_equal(im_efivar_auth(names[i], &vendor, IM_EFI_VAR_ATTRS_SECURE_BOOT,
						esl, elen, f->pkey, f->x509, 1700000000, &a1, &l1,
						&err),
				 0);
		verify_auth(a1, l1, names[i], &vendor, esl, elen, f->x509, 1700000000);
		/* reproducible */
		assert_int_equal(im_efivar_auth(names[i], &vendor, IM_EFI_VAR_ATTRS_SECURE_BOOT,
						esl, elen, f->pkey, f->x509, 1700000000, &a2, &l2,
						&err),
				 0);
		assert_int_equal(l1, l2);
		assert_memory_equal(a1, a2, l1);
		free(a2);
		free(a1);
	}
	free(esl);
}

/* efitools' sign-efi-sig-list is deterministic given -t: the same bytes must come out. */
static void test_auth_vs_efitools(void **state)
{
	struct fx *f = *state;
	if (tu_sh("command -v sign-efi-sig-list cert-to-efi-sig-list >/dev/null 2>&1")) {
		print_message("skip: efitools is not installed\n");
		skip();
	}
	static const char *const names[3] = {"PK", "KEK", "db"};
	static const int64_t times[2] = {0, 1700000000};
	static const char *const stamps[2] = {"1970-01-01 00:00:00", "2023-11-14 22:13:20"};
	struct im_efi_guid owner, vendor;
	struct im_error err = {0};
	char og[37], path[4096];
	uint8_t *esl, *a;
	size_t elen, alen;
	im_efivar_owner_guid(&owner);
	im_efi_guid_format(&owner, og);
	assert_int_equal(im_efivar_esl_x509(f->x509, &owner, &esl, &elen, &err), 0);
	assert_int_equal(tu_sh("cert-to-efi-sig-list -g %s '%s' '%s/in.esl'", og, f->cert, f->dir),
			 0);
	for (int i = 0; i < 3; i++) {
		for (int t = 0; t < 2; t++) {
			assert_int_equal(tu_sh("sign-efi-sig-list -t '%s' -k '%s' -c '%s' %s "
					       "'%s/in.esl' '%s/ref.auth' >/dev/null",
					       stamps[t], f->key, f->cert, names[i], f->dir,
					       f->dir),
					 0);
			assert_int_equal(im_efivar_vendor(names[i], &vendor), 0);
			assert_int_equal(
			    im_efivar_auth(names[i], &vendor, IM_EFI_VAR_ATTRS_SECURE_BOOT, esl,
					   elen, f->pkey, f->x509, times[t], &a, &alen, &err),
			    0);
			snprintf(path, sizeof(path), "%s/ref.auth", f->dir);
			FILE *r = fopen(path, "rb");
			assert_non_null(r);
			uint8_t *ref = malloc(alen + 1);
			assert_int_equal(fread(ref, 1, alen + 1, r), alen);
			fclose(r);
			assert_memory_equal(a, ref, alen);
			free(ref);
			free(a);
		}
	}
	free(esl);
}

static void test_errors(void **state)
{
	struct fx *f = *state;
	struct im_efi_guid owner;
	struct im_error err = {0};
	uint8_t *esl, *a = NULL;
	size_t elen, alen;
	im_efivar_owner_guid(&owner);
	assert_int_equal(im_efivar_esl_x509(f->x509, &owner, &esl, &elen, &err), 0);
	/* key does not belong to the certificate */
	assert_int_equal(im_efivar_auth("KEK", &im_efi_global_variable_guid, 0x27, esl, elen,
					f->pkey2, f->x509, 0, &a, &alen, &err),
			 -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "KEK"));
	assert_null(a);
	struct im_error e2 = {0};
	assert_int_equal(im_efivar_auth("d\xc3\xa9", &im_efi_global_variable_guid, 0x27, esl, elen,
					f->pkey, f->x509, 0, &a, &alen, &e2),
			 -1);
	assert_int_equal(e2.code, IM_EXIT_INVALID);
	struct im_error e3 = {0};
	assert_int_equal(im_efivar_auth("db", &im_efi_image_security_db_guid, 0x27, esl, elen,
					f->pkey, f->x509, -3000000000LL, &a, &alen, &e3),
			 -1);
	assert_int_equal(e3.code, IM_EXIT_INVALID);
	free(esl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_guids),
	    cmocka_unit_test(test_time),
	    cmocka_unit_test_setup_teardown(test_esl, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_vs_efitools, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
