/* lib/authenticode.c, judged by independent verifiers: sbverify (sbsigntool) and
 * osslsigncode. Signs a UKI-like image built from Debian's systemd-stub 252 and Debian's
 * systemd-boot 252 (amd64, arm64) with a throwaway RSA-2048 key made by `openssl req`. */
#include "testutil.h"

#include <sys/stat.h>

#include <openssl/pem.h>

#include "imager/efi/authenticode.h"
#include "imager/efi/pe.h"

struct fx {
	char *dir;
	char key[4096], cert[4096], key2[4096];
	EVP_PKEY *pkey;
	X509 *x509;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = tu_tmpdir();
	snprintf(f->key, sizeof(f->key), "%s/db.key", f->dir);
	snprintf(f->cert, sizeof(f->cert), "%s/db.pem", f->dir);
	snprintf(f->key2, sizeof(f->key2), "%s/other.key", f->dir);
	assert_int_equal(tu_sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' "
			       "-subj /CN=imager-test-db -days 3650 2>/dev/null",
			       f->key, f->cert),
			 0);
	assert_int_equal(tu_sh("openssl genrsa -out '%s' 2048 2>/dev/null", f->key2), 0);
	struct im_error err = {0};
	assert_int_equal(im_load_key_pem(f->key, &f->pkey, &err), 0);
	assert_int_equal(im_load_cert_pem(f->cert, &f->x509, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	EVP_PKEY_free(f->pkey);
	X509_free(f->x509);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* A UKI-like image: the stub + small sections (what lib/pe.c builds). */
static uint8_t *build_uki(const char *arch, size_t *len)
{
	static const char *const sec[][2] = {
	    {".osrel", "NAME=Talos\nID=talos\n"},
	    {".cmdline", "console=ttyS0"},
	    {".uname", "6.1.0-56"},
	    {".linux", "not-a-kernel"},
	    {".initrd", "070701-initrd"},
	};
	size_t slen;
	uint8_t *stub = tu_need_payload(arch, "systemd-stub.efi", &slen), *out;
	struct im_pe pe;
	struct im_error err = {0};
	assert_int_equal(im_pe_parse(stub, slen, "systemd-stub.efi", &pe, &err), 0);
	for (size_t i = 0; i < sizeof(sec) / sizeof(sec[0]); i++)
		assert_int_equal(im_pe_add_section(&pe, sec[i][0], sec[i][1], strlen(sec[i][1]),
						   IM_SCN_DATA_RO, &err),
				 0);
	assert_int_equal(im_pe_build(&pe, &out, len, &err), 0);
	im_pe_free(&pe);
	free(stub);
	return out;
}

static void hex(const uint8_t *d, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", d[i]);
}

/* osslsigncode's "<label> message digest : HEX" line. */
static void ossl_digest(const char *cert, const char *file, const char *label, char *out)
{
	char cmd[8192], line[512];
	snprintf(cmd, sizeof(cmd), "osslsigncode verify -CAfile '%s' '%s' 2>&1", cert, file);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	out[0] = 0;
	while (fgets(line, sizeof(line), p)) {
		char *c = strchr(line, ':');
		if (strncmp(line, label, strlen(label)) || !c)
			continue;
		sscanf(c + 1, " %128[0-9A-Fa-f]", out);
	}
	pclose(p);
	assert_true(strlen(out) == 64);
}

static int sbverify(const char *cert, const char *file)
{
	return tu_sh("sbverify --cert '%s' '%s' >/dev/null 2>&1", cert, file);
}

/* Accepted, with no digest MISMATCH and no invalid PE checksum reported. */
static int osslverify(const char *cert, const char *file)
{
	return tu_sh("out=$(osslsigncode verify -CAfile '%s' '%s' 2>&1) && "
		     "! printf '%%s' \"$out\" | grep -qE 'MISMATCH|invalid PE checksum'",
		     cert, file);
}

/* Structure of what im_authenticode_sign appended. */
static void check_cert_table(const uint8_t *img, size_t len, size_t unsigned_len)
{
	size_t base, off, size;
	struct im_error err = {0};
	assert_int_equal(im_authenticode_locate(img, len, "signed", &base, &off, &size, &err), 0);
	assert_int_equal(off % 8, 0);
	assert_int_equal(size % 8, 0);
	assert_int_equal(off + size, len);
	assert_int_equal(off, (unsigned_len + 7) & ~(size_t)7);
	struct im_win_certificate wc;
	memcpy(&wc, img + off, sizeof(wc));
	assert_int_equal(wc.w_revision, 0x0200);
	assert_int_equal(wc.w_certificate_type, 0x0002);
	assert_true(wc.dw_length <= size && wc.dw_length + 8 > size);
}

/* Sign, verify with both tools, compare digests, tamper, re-sign. */
static void sign_and_judge(struct fx *f, const uint8_t *img, size_t len, const char *name)
{
	char file[4096], bad[4096], ours[129], theirs[129];
	uint8_t *s1, *s2, d[EVP_MAX_MD_SIZE];
	size_t l1, l2;
	unsigned n;
	struct im_error err = {0};
	snprintf(file, sizeof(file), "%s/%s", f->dir, name);
	snprintf(bad, sizeof(bad), "%s/bad-%s", f->dir, name);

	assert_int_equal(
	    im_authenticode_sign(img, len, name, f->pkey, f->x509, NULL, &s1, &l1, &err), 0);
	check_cert_table(s1, l1, len);
	tu_write_file(file, s1, l1);
	assert_int_equal(sbverify(f->cert, file), 0);
	assert_int_equal(osslverify(f->cert, file), 0);

	/* our image hash = what osslsigncode calculates; same before and after signing */
	assert_int_equal(im_authenticode_digest(s1, l1, name, EVP_sha256(), d, &n, &err), 0);
	hex(d, n, ours);
	ossl_digest(f->cert, file, "Calculated message digest", theirs);
	assert_string_equal(ours, theirs);

	/* reproducible: a second signature is byte-identical */
	assert_int_equal(
	    im_authenticode_sign(img, len, name, f->pkey, f->x509, NULL, &s2, &l2, &err), 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(s1, s2, l1);
	free(s2);

	/* re-signing a signed image replaces the signature: same bytes again */
	assert_int_equal(im_authenticode_sign(s1, l1, name, f->pkey, f->x509, NULL, &s2, &l2, &err),
			 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(s1, s2, l1);
	free(s2);

	/* one byte flipped inside the last section: both verifiers refuse */
	struct im_pe pe;
	assert_int_equal(im_pe_parse(s1, l1, name, &pe, &err), 0);
	const struct im_pe_section *last = &pe.sections[pe.n_sections - 1];
	s1[last->file_off + last->vsize / 2] ^= 0x01;
	im_pe_free(&pe);
	tu_write_file(bad, s1, l1);
	assert_int_not_equal(sbverify(f->cert, bad), 0);
	assert_int_not_equal(osslverify(f->cert, bad), 0);
	free(s1);

	/* no signingTime attribute; contentType is SPC_INDIRECT_DATA */
	assert_int_equal(tu_sh("cd '%s' && osslsigncode extract-signature -in '%s' -out sig.der "
			       ">/dev/null 2>&1 && openssl asn1parse -inform DER -in sig.der > "
			       "sig.txt && ! grep -q signingTime sig.txt && grep -q "
			       "1.3.6.1.4.1.311.2.1.4 sig.txt && rm -f sig.der",
			       f->dir, file),
			 0);
}

static void test_sign_uki_amd64(void **state)
{
	size_t len;
	uint8_t *img = build_uki("amd64", &len);
	sign_and_judge(*state, img, len, "uki-amd64.efi");
	free(img);
}

static void test_sign_uki_arm64(void **state)
{
	size_t len;
	uint8_t *img = build_uki("arm64", &len);
	sign_and_judge(*state, img, len, "uki-arm64.efi");
	free(img);
}

static void test_sign_boot_amd64(void **state)
{
	size_t len;
	uint8_t *img = tu_need_payload("amd64", "systemd-boot.efi", &len);
	sign_and_judge(*state, img, len, "systemd-bootx64.efi");
	free(img);
}

static void test_sign_boot_arm64(void **state)
{
	size_t len;
	uint8_t *img = tu_need_payload("arm64", "systemd-boot.efi", &len);
	sign_and_judge(*state, img, len, "systemd-bootaa64.efi");
	free(img);
}

/* The digest of an unsigned image matches what sbsign (a third implementation) embedded when
 * it signed the same file, and our signature replaces sbsign's. */
static void test_digest_vs_sbsign(void **state)
{
	struct fx *f = *state;
	char *boot = tu_payload_path("arm64", "systemd-boot.efi"), sb[4096], ours[129], theirs[129];
	size_t len;
	uint8_t *img = tu_need_payload("arm64", "systemd-boot.efi", &len), d[EVP_MAX_MD_SIZE];
	unsigned n;
	struct im_error err = {0};
	snprintf(sb, sizeof(sb), "%s/sbsigned.efi", f->dir);
	assert_int_equal(tu_sh("sbsign --key '%s' --cert '%s' --output '%s' '%s' >/dev/null 2>&1",
			       f->key, f->cert, sb, boot),
			 0);
	ossl_digest(f->cert, sb, "Current message digest", theirs);
	/* sbsign pads the image to 8 bytes before hashing, as we do */
	size_t padded = (len + 7) & ~(size_t)7;
	uint8_t *p = calloc(1, padded);
	memcpy(p, img, len);
	assert_int_equal(im_authenticode_digest(p, padded, "boot", EVP_sha256(), d, &n, &err), 0);
	hex(d, n, ours);
	assert_string_equal(ours, theirs);

	size_t sl, l1, l2;
	uint8_t *s = tu_read_file(sb, &sl), *a, *b;
	assert_int_equal(im_authenticode_sign(s, sl, "sb", f->pkey, f->x509, NULL, &a, &l1, &err),
			 0);
	assert_int_equal(im_authenticode_sign(img, len, "b", f->pkey, f->x509, NULL, &b, &l2, &err),
			 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(a, b, l1);
	free(a);
	free(b);
	free(s);
	free(p);
	free(img);
	free(boot);
}

static void test_load_errors(void **state)
{
	struct fx *f = *state;
	char path[4096];
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	struct im_error err = {0};
	snprintf(path, sizeof(path), "%s/missing.key", f->dir);
	assert_int_equal(im_load_key_pem(path, &k, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_non_null(strstr(err.msg, path));

	memset(&err, 0, sizeof(err));
	assert_int_equal(im_load_cert_pem(f->key, &c, &err), -1); /* a key is no certificate */
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "expected a PEM X.509 certificate"));

	memset(&err, 0, sizeof(err));
	assert_int_equal(im_load_key_pem(f->cert, &k, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, f->cert));

	snprintf(path, sizeof(path), "%s/enc.key", f->dir);
	assert_int_equal(
	    tu_sh("openssl pkey -in '%s' -aes256 -passout pass:secret -out '%s'", f->key, path), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_load_key_pem(path, &k, &err), -1); /* never prompts */
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "unencrypted"));
	assert_null(k);
}

static void test_sign_errors(void **state)
{
	struct fx *f = *state;
	struct im_error err = {0};
	EVP_PKEY *other;
	uint8_t *out, junk[256] = "MZ", d[EVP_MAX_MD_SIZE];
	size_t out_len, len;
	unsigned n;
	assert_int_equal(im_load_key_pem(f->key2, &other, &err), 0);
	uint8_t *img = build_uki("amd64", &len);
	assert_int_equal(
	    im_authenticode_sign(img, len, "uki.efi", other, f->x509, NULL, &out, &out_len, &err),
	    -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "uki.efi: signing key does not match"));
	assert_null(out);
	EVP_PKEY_free(other);

	memset(&err, 0, sizeof(err));
	assert_int_equal(
	    im_authenticode_digest(junk, sizeof(junk), "junk.efi", EVP_sha256(), d, &n, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "junk.efi"));

	/* a certificate table that is not at the end of the file */
	struct im_pe_layout l;
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_pe_locate(img, len, "uki.efi", &l, &err), 0);
	struct im_pe_data_dir dir = {(uint32_t)len - 64, 16};
	memcpy(img + l.dirs_off + 4 * sizeof(dir), &dir, sizeof(dir));
	assert_int_equal(
	    im_authenticode_sign(img, len, "uki.efi", f->pkey, f->x509, NULL, &out, &out_len, &err),
	    -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "certificate table"));
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_uki_amd64),   cmocka_unit_test(test_sign_uki_arm64),
	    cmocka_unit_test(test_sign_boot_amd64),  cmocka_unit_test(test_sign_boot_arm64),
	    cmocka_unit_test(test_digest_vs_sbsign), cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_sign_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
