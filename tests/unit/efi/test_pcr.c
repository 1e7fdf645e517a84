/* lib/pcr.c: PCR 11 prediction, TPM2_PolicyPCR digests and the .pcrsig JSON.
 *
 * Judged three ways: (1) a chain computed here step by step with OpenSSL, (2) golden values
 * recorded from systemd-measure 252 (Debian 12) signing with the key below, (3) live, when the
 * tools are installed: systemd-measure 252 itself (it needs a TPM for `sign`: swtpm +
 * libtss2-tcti-swtpm0) compared byte for byte, and a software TPM (swtpm + tpm2-tools) that
 * extends PCR 11 with the same events and computes TPM2_PolicyPCR from its real PCR value. */
#include "testutil.h"

#include <signal.h>
#include <sys/stat.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "imager/util/base64.h"
#include "imager/efi/pcr.h"

/* Throwaway RSA-2048 key used only by this test (made with `openssl genrsa 2048`). */
static const char test_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDP1fsXKzCVroG0\n"
    "KKXuc7GrmjFFntNQlBOgnrbMPJ596i3GdvkG5S16OSqpqz1MOYhil4ibC2TDB7Ab\n"
    "evxaQoQr/8MaV7fOcUaOSxRD0AKt2xFb+emmPIDMPQ3shuWrjw303VQS+ZjisYbl\n"
    "OmIXkYsSwkZuDad9oEOAJpuStmlKkN7DcZQoph7kDS0YfawnpFeD7h5WoxgAdLZ2\n"
    "AOkileQ/akWw/3wJsv7igHuwAuK8Vd64OzKob+Foe+EGK7ShfTfb/y+o+ZPXdd2b\n"
    "fAbbOidjAW9Z9xdr0iGsrblirkacZjlNFGavZ/H5iy/SyI22i5BwyIlVwiN9u16M\n"
    "V0RzhVq3AgMBAAECggEABr7MImldb041mXJESGPq3UXo2XiZJSFZLbpY9nH1NuL1\n"
    "z14nIOkpO7FFSDJtj97CJWkDnvyUrZu/RHUOYaONBJyNaXp1Vbbpck7Pfo/utlPI\n"
    "0XJf+ew2xeopXIbYR2QiMNNKGj+NjbXzSddGPbuUhuxVOtcom3QrHKqkG/PdoPTZ\n"
    "uJWIx54cOKDNLtf/1D6d53SiGg4ozIUAR8ytdgX3/Z4cjUWLtYdubxzBGq81Iq9D\n"
    "pG2XRjkGbkJ7buyByqcPP+kvz8KUO2MCwN4WkbiP020XlsGDco6K4GAVFm29lpHA\n"
    "MnQvtY9TiLKRORrzsnWdGDM/3nBj/4wjN6XvL/GN4QKBgQDyBL7SRgbFTKFTDxJa\n"
    "h1Ym/KSIKfTGSJVHhdwB3PWxV83/To7An9WCLOYBsgPYV5HqgN+KJMv+E6NwuzF1\n"
    "nsJ5dwatZG4+NhLAwPYoYdf4foqT3CaDOvdh9l4wQ22nEahleq/thHn/dJsZLStr\n"
    "QnaXvFCSRjs8kS86r1IMFXp1sQKBgQDb17OtKl5gXOzG8VNoOViki1Ce4LQ7+OPK\n"
    "UDHAEk1FXoLb8UrxNEoNy3xcc6sNiS+DmU0CryxqN7q/UZq3eBiDixJMeXRY4lnU\n"
    "DVUxLr8If/nN6MzSxKeLfKob5YBpGmhID/gh0Z69rfeuN1hvMSA36joX1dg2AZf2\n"
    "ooIrvpmo5wKBgAMJGDOe+TrESUm3aK2GAQigJpgmnpFWG7k37ph/Yv2Ecmr/Wz8D\n"
    "QjRNx9zBlNbD0mq0jxk2ePCI4oXpcydchGftnEHUfqV9HCMayHudLo5JWAeevUTs\n"
    "Gmo6IthMIDX2PLx5G3fJL5aKqd9Y97BytvYUQJZ1Fw0dbRA5XrgUFOMhAoGAOpAB\n"
    "SxXIQj8+y9gpcdAk7uA1v7z4BinM9G3cct/tOZdtoI1se0iEmZwlKrOdU2PCBnpl\n"
    "61sip8DkvGZOoqUZUqFPZJPODIdvim9qzEk5llgRAWsMdPDx+NRitD+0r0rbkKbA\n"
    "YLHoaXrYSc5wfl5FyN9aTlMm32wZQRgVOPXzFO0CgYEAgGHFYAAbPcdx9XZSShRo\n"
    "Au9ZpDLAOb/lAE20OzhqxquUNuC4iU1CpIBqsmuzEe3CJQji38g1nGtpDXEpfMGl\n"
    "V8VoucO5ymRmXPcgerNPu//IpJNw61wleMo7agAtRbuZ0zclySqgaZH69sf+xgeA\n"
    "hUYaBEBVLR5blHI8oQuoDHo=\n"
    "-----END PRIVATE KEY-----\n";

static EVP_PKEY *test_key(void)
{
	BIO *b = BIO_new_mem_buf(test_key_pem, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(k);
	return k;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void expect_hex(const uint8_t *p, size_t n, const char *want)
{
	char got[2 * EVP_MAX_MD_SIZE + 1];
	hex(p, n, got);
	assert_string_equal(got, want);
}

static const EVP_MD *bank(int i)
{
	switch (i) {
	case 0:
		return EVP_sha1();
	case 1:
		return EVP_sha256();
	case 2:
		return EVP_sha384();
	default:
		return EVP_sha512();
	}
}

/* --- (1) an independent chain: every hash spelled out ----------------------------------- */

struct ev {
	const void *p;
	size_t n;
};

/* pcr = H(pcr ‖ H(event)) for each event, written out without the library. */
static void chain(const EVP_MD *md, const struct ev *evs, size_t nev, uint8_t *pcr)
{
	unsigned int sz = (unsigned int)EVP_MD_get_size(md), l;
	uint8_t h[EVP_MAX_MD_SIZE], cat[2 * EVP_MAX_MD_SIZE];
	for (size_t i = 0; i < nev; i++) {
		assert_int_equal(EVP_Digest(evs[i].p, evs[i].n, h, &l, md, NULL), 1);
		memcpy(cat, pcr, sz);
		memcpy(cat + sz, h, sz);
		assert_int_equal(EVP_Digest(cat, 2 * sz, pcr, &l, md, NULL), 1);
	}
}

static void test_chain_by_hand(void **state)
{
	(void)state;
	static const char kernel[] = "MZ...not really a kernel", osrel[] = "ID=talos\n",
			  cmdline[] = "console=ttyS0 talos.platform=metal", initrd[] = "070701...",
			  pkey[] = "-----BEGIN PUBLIC KEY-----\n...\n";
	/* shuffled, with an empty .splash (skipped) */
	const struct im_pcr_section secs[] = {
	    {".initrd", (const uint8_t *)initrd, sizeof(initrd) - 1, 0, 0, 0},
	    {".pcrpkey", (const uint8_t *)pkey, sizeof(pkey) - 1, 0, 0, 0},
	    {".splash", (const uint8_t *)"", 0, 0, 0, 0},
	    {".cmdline", (const uint8_t *)cmdline, sizeof(cmdline) - 1, 0, 0, 0},
	    {".linux", (const uint8_t *)kernel, sizeof(kernel) - 1, 0, 0, 0},
	    {".osrel", (const uint8_t *)osrel, sizeof(osrel) - 1, 0, 0, 0},
	};
	/* section name with its NUL, then data; canonical order; then the phase words */
	const struct ev evs[] = {
	    {".linux", 7},	  {kernel, sizeof(kernel) - 1},
	    {".osrel", 7},	  {osrel, sizeof(osrel) - 1},
	    {".cmdline", 9},	  {cmdline, sizeof(cmdline) - 1},
	    {".initrd", 8},	  {initrd, sizeof(initrd) - 1},
	    {".pcrpkey", 9},	  {pkey, sizeof(pkey) - 1},
	    {"enter-initrd", 12}, {"leave-initrd", 12},
	    {"sysinit", 7},	  {"ready", 5},
	};
	for (int b = 0; b < 4; b++) {
		uint8_t got[IM_PCR_NPHASES][EVP_MAX_MD_SIZE];
		struct im_error err = {0};
		assert_int_equal(im_pcr11_predict(secs, 6, bank(b), got, &err), 0);
		for (int ph = 0; ph < IM_PCR_NPHASES; ph++) {
			uint8_t want[EVP_MAX_MD_SIZE] = {0};
			chain(bank(b), evs, 10 + (size_t)ph + 1, want);
			assert_memory_equal(got[ph], want, EVP_MD_get_size(bank(b)));
		}
		/* as the stub leaves it: the sections only, no phase word */
		uint8_t stub[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE] = {0};
		assert_int_equal(im_pcr11_after_stub(secs, 6, bank(b), stub, &err), 0);
		chain(bank(b), evs, 10, want);
		assert_memory_equal(stub, want, EVP_MD_get_size(bank(b)));
	}
}

/* --- (2) golden values from systemd-measure 252 ----------------------------------------- */

/* `systemd-measure calculate --linux=A --initrd=B --bank=sha256` with A = "HALLO\n",
 * B = "foobar\n" (the inputs of systemd's own TEST-70 measure test). */
static const struct im_pcr_section hallo[] = {
    {".linux", (const uint8_t *)"HALLO\n", 6, 0, 0, 0},
    {".initrd", (const uint8_t *)"foobar\n", 7, 0, 0, 0},
};

static void test_systemd_measure_252_values(void **state)
{
	(void)state;
	static const char *const want[IM_PCR_NPHASES] = {
	    "0aa67f92271757adc73e44704977b080d37749d39c29a31d10c4f27f1e61bff0",
	    "9f246261a2f421202aeaec15b7f64c68afc1324db17082f3ea3ae42275a9db00",
	    "801275e98b9e8b635b7a50a8ee982623dc96bb8d35c4282c8cb77fe6b6d71899",
	    "72d98648c1d6779575681998a4a2590a2273dd236e851b07ee35aad9fdaab4f9",
	};
	uint8_t got[IM_PCR_NPHASES][EVP_MAX_MD_SIZE];
	struct im_error err = {0};
	assert_int_equal(im_pcr11_predict(hallo, 2, EVP_sha256(), got, &err), 0);
	for (int i = 0; i < IM_PCR_NPHASES; i++)
		expect_hex(got[i], 32, want[i]);
}

/* The policy digest spelled out: SHA256(0^32 ‖ 0000017F ‖ 00000001 alg 03 00 08 00 ‖
 * SHA256(pcr)). */
static void policy_by_hand(int alg, const uint8_t *pcr, size_t len, uint8_t out[32])
{
	uint8_t buf[32 + 4 + 10 + 32] = {0};
	const uint8_t mid[14] = {0, 0, 1, 0x7f, 0, 0, 0, 1, alg >> 8, alg & 0xff, 3, 0, 8, 0};
	memcpy(buf + 32, mid, sizeof(mid));
	assert_int_equal(EVP_Digest(pcr, len, buf + 46, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_Digest(buf, sizeof(buf), out, NULL, EVP_sha256(), NULL), 1);
}

static void test_policy_digest(void **state)
{
	(void)state;
	/* `pol` of the first (enter-initrd) entries systemd-measure 252 signed; swtpm's
	 * tpm2_policypcr computes the same after extending the same events. */
	static const char *const want[4] = {
	    "c15f810da300819c5632307c8f0d32bd661dc89c1edb7374e7e3e50d6a8f6cd7",
	    "3042fa12601830bb571a3f28aa7d4e9f520f1c0e094ab38c5d066ccc10aa3104",
	    "6e1522c53c2a702a37efb6670ca901be6477a2886b2a040c467a8b6964cda530",
	    "5c7ec28c7874d803370999410c029a474d7b9ca0d8a71f561edd4379b469182e",
	};
	static const int algs[4] = {0x0004, 0x000B, 0x000C, 0x000D};
	for (int b = 0; b < 4; b++) {
		uint8_t ph[IM_PCR_NPHASES][EVP_MAX_MD_SIZE], pol[32], mine[32];
		struct im_error err = {0};
		assert_int_equal(im_pcr_tpm_alg(bank(b)), algs[b]);
		assert_int_equal(im_pcr11_predict(hallo, 2, bank(b), ph, &err), 0);
		assert_int_equal(im_pcr_policy_digest(bank(b), ph[0], pol, &err), 0);
		expect_hex(pol, 32, want[b]);
		for (int i = 0; i < IM_PCR_NPHASES; i++) {
			assert_int_equal(im_pcr_policy_digest(bank(b), ph[i], pol, &err), 0);
			policy_by_hand(algs[b], ph[i], EVP_MD_get_size(bank(b)), mine);
			assert_memory_equal(pol, mine, 32);
		}
	}
}

static void test_pkfp_and_pcrpkey(void **state)
{
	(void)state;
	EVP_PKEY *k = test_key();
	uint8_t fp[32];
	struct im_error err = {0};
	/* `openssl rsa -RSAPublicKey_out -outform DER | sha256sum`, = systemd-measure's pkfp */
	assert_int_equal(im_pcr_pubkey_fingerprint(k, fp, &err), 0);
	expect_hex(fp, 32, "6c9edddaf332c8cf27b0f6acfb2d12b8e1069156a00f706b95047aba7a0f0e6f");

	char *pem;
	size_t len;
	assert_int_equal(im_pcr_pubkey_pem(k, &pem, &len, &err), 0);
	assert_int_equal(strlen(pem), len);
	assert_true(!strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27));
	assert_true(!strcmp(pem + len - 25, "-----END PUBLIC KEY-----\n"));
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(pub);
	assert_int_equal(EVP_PKEY_eq(pub, k), 1);
	EVP_PKEY_free(pub);
	free(pem);
	EVP_PKEY_free(k);
}

/* Check every entry: pkfp, pol recomputed here, sig verified with the bank's hash. */
static void check_entries(const char *json, EVP_PKEY *k, const char *bankname, const EVP_MD *md,
			  const struct im_pcr_section *secs, size_t n)
{
	char key[32];
	snprintf(key, sizeof(key), "\"%s\":[", bankname);
	const char *p = strstr(json, key);
	assert_non_null(p);
	p += strlen(key);
	uint8_t ph[IM_PCR_NPHASES][EVP_MAX_MD_SIZE];
	struct im_error err = {0};
	assert_int_equal(im_pcr11_predict(secs, n, md, ph, &err), 0);
	for (int i = 0; i < IM_PCR_NPHASES; i++) {
		uint8_t pol[32];
		char polhex[65], head[200];
		policy_by_hand(im_pcr_tpm_alg(md), ph[i], EVP_MD_get_size(md), pol);
		hex(pol, 32, polhex);
		snprintf(head, sizeof(head),
			 "%s{\"pcrs\":[11],\"pkfp\":\"6c9edddaf332c8cf27b0f6acfb2d12b8e1069156a00f7"
			 "06b95047aba7a0f0e6f\",\"pol\":\"%s\",\"sig\":\"",
			 i ? "," : "", polhex);
		assert_true(!strncmp(p, head, strlen(head)));
		p += strlen(head);
		size_t sl = strcspn(p, "\"");
		uint8_t *sig;
		size_t siglen;
		assert_int_equal(im_base64_decode(p, sl, &sig, &siglen, NULL), 0);
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		assert_int_equal(EVP_DigestVerifyInit(c, NULL, md, NULL, k), 1);
		assert_int_equal(EVP_DigestVerify(c, sig, siglen, pol, 32), 1);
		EVP_MD_CTX_free(c);
		free(sig);
		p += sl;
		assert_true(!strncmp(p, "\"}", 2));
		p += 2;
	}
	assert_int_equal(*p, ']');
}

static void test_pcrsig_json(void **state)
{
	(void)state;
	EVP_PKEY *k = test_key();
	struct im_error err = {0};
	char *json, *json2;
	const EVP_MD *banks[] = {EVP_sha512(), EVP_sha256(), EVP_sha384()};
	assert_int_equal(im_pcrsig_json(k, banks, 3, hallo, 2, &json, &err), 0);
	/* SHA-256 of `systemd-measure sign --linux=A --initrd=B --private-key=KEY --json=short
	 * --bank=sha512 --bank=sha256 --bank=sha384` (252, on swtpm) without its final newline */
	uint8_t h[32];
	assert_int_equal(EVP_Digest(json, strlen(json), h, NULL, EVP_sha256(), NULL), 1);
	expect_hex(h, 32, "2312e5cebc55e5762f487415713d65bb0f5b6159b1c9120880c64b51a7a86d45");
	assert_true(!strncmp(json, "{\"sha256\":[{\"pcrs\":[11],", 24));
	assert_non_null(strstr(json, "],\"sha384\":[{"));
	assert_non_null(strstr(json, "],\"sha512\":[{"));
	assert_string_equal(json + strlen(json) - 4, "\"}]}");
	check_entries(json, k, "sha256", EVP_sha256(), hallo, 2);
	check_entries(json, k, "sha384", EVP_sha384(), hallo, 2);
	check_entries(json, k, "sha512", EVP_sha512(), hallo, 2);
	/* the default banks are these three; and signing twice gives the same bytes */
	assert_int_equal(im_pcrsig_json(k, NULL, 0, hallo, 2, &json2, &err), 0);
	assert_string_equal(json, json2);
	free(json2);
	free(json);
	EVP_PKEY_free(k);
}

static void test_errors(void **state)
{
	(void)state;
	uint8_t ph[IM_PCR_NPHASES][EVP_MAX_MD_SIZE];
	struct im_error err = {0};
	const struct im_pcr_section bad[] = {{".linux", (const uint8_t *)"x", 1, 0, 0, 0},
					     {".text", (const uint8_t *)"y", 1, 0, 0, 0}};
	assert_int_equal(im_pcr11_predict(bad, 2, EVP_sha256(), ph, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "'.text'"));

	struct im_error e2 = {0};
	const struct im_pcr_section twice[] = {{".linux", (const uint8_t *)"x", 1, 0, 0, 0},
					       {".linux", (const uint8_t *)"y", 1, 0, 0, 0}};
	assert_int_equal(im_pcr11_predict(twice, 2, EVP_sha256(), ph, &e2), -1);
	assert_int_equal(e2.code, IM_EXIT_INVALID);
	assert_non_null(strstr(e2.msg, "given twice"));

	struct im_error e3 = {0};
	assert_int_equal(im_pcr11_predict(hallo, 2, EVP_md5(), ph, &e3), -1);
	assert_int_equal(e3.code, IM_EXIT_INVALID);
	struct im_error e6 = {0};
	assert_int_equal(im_pcr11_after_stub(twice, 2, EVP_sha256(), ph[0], &e6), -1);
	assert_non_null(strstr(e6.msg, "given twice"));
	assert_int_equal(im_pcr_section_index(".pcrsig"), -1);
	assert_int_equal(im_pcr_section_index(".linux"), 0);
	assert_int_equal(im_pcr_section_index(".pcrpkey"), 9);

	struct im_error e4 = {0};
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	char *json = NULL;
	assert_non_null(ec);
	assert_int_equal(im_pcrsig_json(ec, NULL, 0, hallo, 2, &json, &e4), -1);
	assert_int_equal(e4.code, IM_EXIT_INVALID);
	assert_null(json);
	EVP_PKEY_free(ec);

	struct im_error e5 = {0};
	EVP_PKEY *k = test_key();
	const EVP_MD *dup[] = {EVP_sha256(), EVP_sha256()};
	assert_int_equal(im_pcrsig_json(k, dup, 2, hallo, 2, &json, &e5), -1);
	assert_int_equal(e5.code, IM_EXIT_INVALID);
	EVP_PKEY_free(k);
}

/* --- (3) live checks: a software TPM, systemd-measure ------------------------------------ */

static void put(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static size_t slurp(const char *path, uint8_t *buf, size_t max)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, max, f);
	fclose(f);
	return n;
}

/* Start swtpm on a free local TCP port; returns the port or skips the test. */
static int swtpm_start(const char *dir)
{
	if (tu_sh("command -v swtpm >/dev/null 2>&1")) {
		print_message("skip: swtpm is not installed (Debian package swtpm)\n");
		skip();
	}
	for (int i = 0; i < 20; i++) {
		int port = 20000 + (int)((getpid() * 7 + i * 131) % 20000) * 2;
		if (!tu_sh("mkdir -p '%s/tpm' && swtpm socket --tpm2 --tpmstate dir='%s/tpm' "
			   "--server type=tcp,port=%d,bindaddr=127.0.0.1 "
			   "--ctrl type=tcp,port=%d,bindaddr=127.0.0.1 "
			   "--flags not-need-init,startup-clear --daemon --pid file='%s/swtpm.pid' "
			   ">'%s/swtpm.log' 2>&1",
			   dir, dir, port, port + 1, dir, dir))
			return port;
	}
	fail_msg("cannot start swtpm");
	return -1;
}

static char *live_dir; /* the running swtpm's folder, cleaned up by live_teardown */

static void swtpm_stop(const char *dir)
{
	char path[4096], buf[32] = {0};
	snprintf(path, sizeof(path), "%s/swtpm.pid", dir);
	FILE *f = fopen(path, "r"); /* gone once stopped: stop only once */
	if (!f)
		return;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	unlink(path);
	pid_t pid = n ? (pid_t)atoi(buf) : 0;
	if (pid > 1)
		kill(pid, SIGTERM);
}

/* Sections systemd-stub 252 measures, all present, with non-trivial contents. */
struct live {
	uint8_t *linux_, *initrd;
	size_t nlinux, ninitrd;
	char *pcrpkey;
	size_t npcrpkey;
	struct im_pcr_section secs[7];
};

static void live_init(struct live *l, EVP_PKEY *k)
{
	struct im_error err = {0};
	l->nlinux = 300001;
	l->ninitrd = 123457;
	l->linux_ = malloc(l->nlinux);
	l->initrd = malloc(l->ninitrd);
	assert_non_null(l->linux_);
	assert_non_null(l->initrd);
	for (size_t i = 0; i < l->nlinux; i++)
		l->linux_[i] = (uint8_t)(i * 31 + (i >> 9));
	for (size_t i = 0; i < l->ninitrd; i++)
		l->initrd[i] = (uint8_t)(i * 17 + (i >> 7));
	assert_int_equal(im_pcr_pubkey_pem(k, &l->pcrpkey, &l->npcrpkey, &err), 0);
	static const char osrel[] = "NAME=Talos\nID=talos\nVERSION_ID=v1.0.0\n",
			  cmdline[] = "talos.platform=metal console=ttyS0 init_on_alloc=1",
			  splash[] = "BM not really a bitmap", dtb[] = "\xd0\x0d\xfe\xed dtb";
	const struct im_pcr_section s[7] = {
	    {".linux", l->linux_, l->nlinux, 0, 0, 0},
	    {".osrel", (const uint8_t *)osrel, sizeof(osrel) - 1, 0, 0, 0},
	    {".cmdline", (const uint8_t *)cmdline, sizeof(cmdline) - 1, 0, 0, 0},
	    {".initrd", l->initrd, l->ninitrd, 0, 0, 0},
	    {".splash", (const uint8_t *)splash, sizeof(splash) - 1, 0, 0, 0},
	    {".dtb", (const uint8_t *)dtb, sizeof(dtb) - 1, 0, 0, 0},
	    {".pcrpkey", (const uint8_t *)l->pcrpkey, l->npcrpkey, 0, 0, 0},
	};
	memcpy(l->secs, s, sizeof(s));
}

static void live_free(struct live *l)
{
	free(l->linux_);
	free(l->initrd);
	free(l->pcrpkey);
}

static int live_teardown(void **state)
{
	(void)state;
	if (live_dir) {
		swtpm_stop(live_dir);
		tu_rmtree(live_dir);
		free(live_dir);
		live_dir = NULL;
	}
	return 0;
}

static void test_live_systemd_measure(void **state)
{
	(void)state;
	const char *sm = "/usr/lib/systemd/systemd-measure";
	if (access(sm, X_OK) ||
	    tu_sh("ls /usr/lib/*/libtss2-tcti-swtpm.so.0 /usr/lib/*/libtss2-esys.so.0 "
		  ">/dev/null 2>&1")) {
		print_message("skip: needs %s (systemd 252) and libtss2-tcti-swtpm0\n", sm);
		skip();
	}
	char *dir = live_dir = tu_tmpdir();
	int port = swtpm_start(dir);
	EVP_PKEY *k = test_key();
	struct live l;
	live_init(&l, k);
	static const char *const opt[7] = {"linux",  "osrel", "cmdline", "initrd",
					   "splash", "dtb",   "pcrpkey"};
	char args[2048] = "";
	for (int i = 0; i < 7; i++) {
		put(dir, opt[i], l.secs[i].data, l.secs[i].len);
		size_t o = strlen(args);
		snprintf(args + o, sizeof(args) - o, " --%s='%s/%s'", opt[i], dir, opt[i]);
	}
	put(dir, "key.pem", test_key_pem, strlen(test_key_pem));
	int rc = tu_sh("%s sign%s --private-key='%s/key.pem' --bank=sha256 --bank=sha384 "
		       "--bank=sha512 --json=short --tpm2-device=swtpm:host=127.0.0.1,port=%d "
		       ">'%s/sm.json' 2>'%s/sm.err'",
		       sm, args, dir, port, dir, dir);
	swtpm_stop(dir);
	assert_int_equal(rc, 0);

	char path[4096];
	static uint8_t want[65536];
	snprintf(path, sizeof(path), "%s/sm.json", dir);
	size_t n = slurp(path, want, sizeof(want) - 1);
	assert_true(n > 0 && want[n - 1] == '\n');
	want[n - 1] = 0;
	char *json;
	struct im_error err = {0};
	assert_int_equal(im_pcrsig_json(k, NULL, 0, l.secs, 7, &json, &err), 0);
	assert_string_equal(json, (char *)want);
	free(json);
	live_free(&l);
	EVP_PKEY_free(k);
}

static void test_live_tpm(void **state)
{
	(void)state;
	if (tu_sh("command -v tpm2_pcrextend tpm2_policypcr >/dev/null 2>&1")) {
		print_message("skip: tpm2-tools is not installed\n");
		skip();
	}
	char *dir = live_dir = tu_tmpdir();
	int port = swtpm_start(dir);
	EVP_PKEY *k = test_key();
	struct live l;
	live_init(&l, k);
	const EVP_MD *md[3] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
	const char *name[3] = {"sha256", "sha384", "sha512"};
	uint8_t want[3][IM_PCR_NPHASES][EVP_MAX_MD_SIZE];
	struct im_error err = {0};
	for (int b = 0; b < 3; b++)
		assert_int_equal(im_pcr11_predict(l.secs, 7, md[b], want[b], &err), 0);
	/* the events systemd-stub and systemd-pcrphase measure */
	struct ev evs[18];
	size_t nev = 0;
	for (int i = 0; i < 7; i++) {
		evs[nev++] = (struct ev){l.secs[i].name, strlen(l.secs[i].name) + 1};
		evs[nev++] = (struct ev){l.secs[i].data, l.secs[i].len};
	}
	static const char *const words[4] = {"enter-initrd", "leave-initrd", "sysinit", "ready"};
	for (size_t i = 0; i < nev + 4; i++) {
		struct ev e =
		    i < nev ? evs[i] : (struct ev){words[i - nev], strlen(words[i - nev])};
		char arg[1024] = "11:", h[2 * EVP_MAX_MD_SIZE + 1];
		for (int b = 0; b < 3; b++) {
			uint8_t d[EVP_MAX_MD_SIZE];
			unsigned int dl;
			assert_int_equal(EVP_Digest(e.p, e.n, d, &dl, md[b], NULL), 1);
			hex(d, dl, h);
			size_t o = strlen(arg);
			snprintf(arg + o, sizeof(arg) - o, "%s%s=%s", b ? "," : "", name[b], h);
		}
		assert_int_equal(tu_sh("TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=%d "
				       "tpm2_pcrextend %s",
				       port, arg),
				 0);
		if (i < nev)
			continue;
		int ph = (int)(i - nev);
		for (int b = 0; b < 3; b++) {
			char path[4096];
			uint8_t got[EVP_MAX_MD_SIZE], pol[64], mine[32];
			assert_int_equal(
			    tu_sh("cd '%s' && export TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=%d "
				  "&& tpm2_pcrread %s:11 -o pcr.bin >/dev/null "
				  "&& tpm2_startauthsession -S s.ctx "
				  "&& tpm2_policypcr -S s.ctx -l %s:11 -L pol.bin >/dev/null "
				  "&& tpm2_flushcontext s.ctx",
				  dir, port, name[b], name[b]),
			    0);
			snprintf(path, sizeof(path), "%s/pcr.bin", dir);
			assert_int_equal(slurp(path, got, sizeof(got)), EVP_MD_get_size(md[b]));
			assert_memory_equal(got, want[b][ph], EVP_MD_get_size(md[b]));
			snprintf(path, sizeof(path), "%s/pol.bin", dir);
			assert_int_equal(slurp(path, pol, sizeof(pol)), 32);
			assert_int_equal(im_pcr_policy_digest(md[b], want[b][ph], mine, &err), 0);
			assert_memory_equal(pol, mine, 32);
		}
	}
	swtpm_stop(dir);
	live_free(&l);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_by_hand),
	    cmocka_unit_test(test_systemd_measure_252_values),
	    cmocka_unit_test(test_policy_digest),
	    cmocka_unit_test(test_pkfp_and_pcrpkey),
	    cmocka_unit_test(test_pcrsig_json),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test_teardown(test_live_systemd_measure, live_teardown),
	    cmocka_unit_test_teardown(test_live_tpm, live_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
