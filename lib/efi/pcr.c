/* PCR 11 prediction, TPM2_PolicyPCR digests and the .pcrsig JSON (see pcr.h for the facts and
 * where they come from). */
#include "imager/efi/pcr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "imager/util/base64.h"

const char *const im_pcr_phase_paths[IM_PCR_NPHASES] = {
    "enter-initrd",
    "enter-initrd:leave-initrd",
    "enter-initrd:leave-initrd:sysinit",
    "enter-initrd:leave-initrd:sysinit:ready",
};

/* The UKI specification's section order, which is the order systemd-stub measures in. */
static const char *const canonical[] = {
    ".linux",  ".osrel", ".cmdline", ".initrd", ".ucode",
    ".splash", ".dtb",	 ".uname",   ".sbat",	".pcrpkey",
};
#define NCANON (sizeof(canonical) / sizeof(canonical[0]))

/* TPM 2.0 Part 2 §6.5.2 TPM_CC_PolicyPCR. */
#define TPM_CC_POLICY_PCR 0x0000017Fu

int im_pcr_section_index(const char *name)
{
	for (size_t i = 0; i < NCANON; i++)
		if (!strcmp(name, canonical[i]))
			return (int)i;
	return -1;
}

/* The JSON key systemd-measure uses for a bank: its lower-case digest name. */
static const char *bank_name(const EVP_MD *bank)
{
	switch (im_pcr_tpm_alg(bank)) {
	case 0x0004:
		return "sha1";
	case 0x000B:
		return "sha256";
	case 0x000C:
		return "sha384";
	default:
		return "sha512";
	}
}

int im_pcr_tpm_alg(const EVP_MD *bank)
{
	/* TPM 2.0 Part 2 §6.3 TPM_ALG_ID */
	switch (bank ? EVP_MD_get_type(bank) : NID_undef) {
	case NID_sha1:
		return 0x0004;
	case NID_sha256:
		return 0x000B;
	case NID_sha384:
		return 0x000C;
	case NID_sha512:
		return 0x000D;
	default:
		return -1;
	}
}

static int digest(const EVP_MD *md, const void *a, size_t alen, const void *b, size_t blen,
		  uint8_t *out, struct im_error *err)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, md, NULL) == 1 && EVP_DigestUpdate(c, a, alen) == 1 &&
		 (!blen || EVP_DigestUpdate(c, b, blen) == 1) &&
		 EVP_DigestFinal_ex(c, out, NULL) == 1;
	EVP_MD_CTX_free(c);
	if (!ok)
		return im_fail(err, IM_EXIT_INTERNAL, "%s digest failed", EVP_MD_get0_name(md));
	return 0;
}

/* pcr = H(pcr ‖ H(event)) */
static int extend(const EVP_MD *md, uint8_t *pcr, const void *event, size_t len,
		  struct im_error *err)
{
	uint8_t h[EVP_MAX_MD_SIZE];
	size_t sz = (size_t)EVP_MD_get_size(md);
	if (digest(md, event, len, NULL, 0, h, err) < 0)
		return -1;
	return digest(md, pcr, sz, h, sz, pcr, err);
}

/* pcr = H(pcr ‖ H(section bytes)), the bytes read from the section's file 1 MiB at a time. */
static int extend_section(const EVP_MD *md, uint8_t *pcr, const struct im_pcr_section *sec,
			  struct im_error *err)
{
	if (!sec->from_fd)
		return extend(md, pcr, sec->data, sec->len, err);
	enum { CHUNK = 1 << 20 };
	uint8_t h[EVP_MAX_MD_SIZE], *buf = malloc(CHUNK);
	size_t sz = (size_t)EVP_MD_get_size(md), done = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = buf && c && EVP_DigestInit_ex(c, md, NULL) == 1;
	while (ok && done < sec->len) {
		size_t want = sec->len - done < CHUNK ? sec->len - done : CHUNK;
		ssize_t k = pread(sec->fd, buf, want, (off_t)(sec->off + done));
		ok = k > 0 && EVP_DigestUpdate(c, buf, (size_t)k) == 1;
		done += k > 0 ? (size_t)k : 0;
	}
	ok = ok && EVP_DigestFinal_ex(c, h, NULL) == 1;
	EVP_MD_CTX_free(c);
	free(buf);
	if (!ok)
		return im_fail(err, IM_EXIT_IO, "PCR 11: reading section %s", sec->name);
	return digest(md, pcr, sz, h, sz, pcr, err);
}

/* Map the input sections onto the canonical slots; rejects unknown and repeated names. */
static int order_sections(const struct im_pcr_section *secs, size_t n,
			  const struct im_pcr_section *slot[NCANON], struct im_error *err)
{
	memset(slot, 0, NCANON * sizeof(*slot));
	for (size_t i = 0; i < n; i++) {
		const char *name = secs[i].name ? secs[i].name : "(null)";
		int k = im_pcr_section_index(name);
		if (k < 0)
			return im_fail(
			    err, IM_EXIT_INVALID,
			    "PCR 11: section '%s' is not one systemd-stub measures (expected "
			    ".linux .osrel .cmdline .initrd .ucode .splash .dtb .uname .sbat "
			    ".pcrpkey)",
			    name);
		if (slot[k])
			return im_fail(err, IM_EXIT_INVALID, "PCR 11: section '%s' given twice",
				       name);
		if (secs[i].len && !secs[i].data && !secs[i].from_fd)
			return im_fail(err, IM_EXIT_INTERNAL, "PCR 11: section '%s' has no data",
				       name);
		slot[k] = &secs[i];
	}
	return 0;
}

static int check_bank(const EVP_MD *bank, struct im_error *err)
{
	if (im_pcr_tpm_alg(bank) < 0)
		return im_fail(err, IM_EXIT_INVALID,
			       "PCR bank '%s' is not supported (expected sha1, sha256, sha384 or "
			       "sha512)",
			       bank ? EVP_MD_get0_name(bank) : "(null)");
	return 0;
}

/* The sections' part of the measurement (systemd-stub), per docs/TPM2_PCR_MEASUREMENTS.md
 * "PCR 11, EV_IPL, PE section name / data". */
static int measure_sections(const struct im_pcr_section *const slot[NCANON], const EVP_MD *md,
			    uint8_t *pcr, struct im_error *err)
{
	for (size_t k = 0; k < NCANON; k++) {
		if (!slot[k] || !slot[k]->len) /* absent or empty: the stub skips it */
			continue;
		if (extend(md, pcr, canonical[k], strlen(canonical[k]) + 1, err) < 0 ||
		    extend_section(md, pcr, slot[k], err) < 0)
			return -1;
	}
	return 0;
}

/* Phase words of a phase path, each measured without NUL (systemd-pcrphase). */
static int measure_phase_path(const char *path, const EVP_MD *md, uint8_t *pcr,
			      struct im_error *err)
{
	const char *p = path;
	while (*p) {
		size_t l = strcspn(p, ":");
		if (l && extend(md, pcr, p, l, err) < 0)
			return -1;
		p += l;
		if (*p == ':')
			p++;
	}
	return 0;
}

int im_pcr11_after_stub(const struct im_pcr_section *secs, size_t n, const EVP_MD *bank,
			uint8_t out[EVP_MAX_MD_SIZE], struct im_error *err)
{
	const struct im_pcr_section *slot[NCANON];
	memset(out, 0, EVP_MAX_MD_SIZE); /* PCR 11 is all zeros at power-on */
	if (check_bank(bank, err) < 0 || order_sections(secs, n, slot, err) < 0)
		return -1;
	return measure_sections(slot, bank, out, err);
}

int im_pcr11_predict(const struct im_pcr_section *secs, size_t n, const EVP_MD *bank,
		     uint8_t phases[IM_PCR_NPHASES][EVP_MAX_MD_SIZE], struct im_error *err)
{
	uint8_t base[EVP_MAX_MD_SIZE];
	if (im_pcr11_after_stub(secs, n, bank, base, err) < 0)
		return -1;
	/* Like systemd-measure: each phase path starts again from the kernel measurement. */
	for (int i = 0; i < IM_PCR_NPHASES; i++) {
		memcpy(phases[i], base, sizeof(base));
		if (measure_phase_path(im_pcr_phase_paths[i], bank, phases[i], err) < 0)
			return -1;
	}
	return 0;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

int im_pcr_policy_digest(const EVP_MD *bank, const uint8_t *pcr_value,
			 uint8_t out[IM_PCR_POLICY_SIZE], struct im_error *err)
{
	if (check_bank(bank, err) < 0)
		return -1;
	int alg = im_pcr_tpm_alg(bank);
	/* TPM 2.0 Part 3 §23.7: policyDigest_new = H(policyDigest_old ‖ TPM_CC_PolicyPCR ‖ pcrs ‖
	 * pcrDigest), pcrDigest = H(selected PCR values), H = the session's hash (SHA-256). */
	uint8_t buf[IM_PCR_POLICY_SIZE + 4 + 10 + 32] = {0};
	uint8_t *p = buf + IM_PCR_POLICY_SIZE; /* old policy digest: zeros */
	be32(p, TPM_CC_POLICY_PCR);
	p += 4;
	/* TPML_PCR_SELECTION (Part 2 §10.6.2): count, then TPMS_PCR_SELECTION {hash, sizeofSelect,
	 * pcrSelect[3]} with bit 11 = byte 1, bit 3. */
	be32(p, 1);
	p[4] = (uint8_t)(alg >> 8);
	p[5] = (uint8_t)alg;
	p[6] = 3;
	p[7 + IM_PCR_KERNEL_BOOT / 8] = 1u << (IM_PCR_KERNEL_BOOT % 8);
	p += 10;
	if (digest(EVP_sha256(), pcr_value, (size_t)EVP_MD_get_size(bank), NULL, 0, p, err) < 0)
		return -1;
	return digest(EVP_sha256(), buf, sizeof(buf), NULL, 0, out, err);
}

static int require_rsa(EVP_PKEY *key, struct im_error *err)
{
	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		return im_fail(err, IM_EXIT_INVALID,
			       "PCR signing key: expected an RSA key (systemd-stub's TPM policy "
			       "verification uses RSASSA)");
	return 0;
}

int im_pcr_pubkey_fingerprint(EVP_PKEY *key, uint8_t out[32], struct im_error *err)
{
	if (require_rsa(key, err) < 0)
		return -1;
	unsigned char *der = NULL;
	int len = i2d_PublicKey(key, &der); /* PKCS#1 RSAPublicKey */
	if (len <= 0)
		return im_fail(err, IM_EXIT_INTERNAL, "PCR signing key: cannot encode public key");
	int rc = digest(EVP_sha256(), der, (size_t)len, NULL, 0, out, err);
	OPENSSL_free(der);
	return rc;
}

int im_pcr_pubkey_pem(EVP_PKEY *key, char **out, size_t *len, struct im_error *err)
{
	*out = NULL;
	if (require_rsa(key, err) < 0)
		return -1;
	BIO *b = BIO_new(BIO_s_mem());
	char *mem;
	if (!b || PEM_write_bio_PUBKEY(b, key) != 1) {
		BIO_free(b);
		return im_fail(err, IM_EXIT_INTERNAL, "PCR signing key: cannot write public key");
	}
	long n = BIO_get_mem_data(b, &mem);
	*out = malloc((size_t)n + 1);
	if (*out) {
		memcpy(*out, mem, (size_t)n);
		(*out)[n] = 0;
		*len = (size_t)n;
	}
	BIO_free(b);
	return *out ? 0 : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
}

/* RSASSA-PKCS1-v1_5 over `data` hashed with `md` (what systemd-measure's digest_and_sign does). */
static int sign(EVP_PKEY *key, const EVP_MD *md, const uint8_t *data, size_t len, uint8_t **sig,
		size_t *siglen, struct im_error *err)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	*sig = NULL;
	int ok = c && EVP_DigestSignInit(c, &pc, md, NULL, key) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
		 EVP_DigestSign(c, NULL, siglen, data, len) == 1 && (*sig = malloc(*siglen)) &&
		 EVP_DigestSign(c, *sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(c);
	if (!ok) {
		free(*sig);
		*sig = NULL;
		return im_fail(err, IM_EXIT_INTERNAL, "PCR policy: %s signature failed (%s)",
			       EVP_MD_get0_name(md), ERR_reason_error_string(ERR_get_error()));
	}
	return 0;
}

/* A growing string. */
struct sbuf {
	char *s;
	size_t len, cap;
	int oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->oom)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = 1;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void sb_hex(struct sbuf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sb_printf(b, "%02x", p[i]);
}

/* One {"pcrs":[11],"pkfp":..,"pol":..,"sig":..} entry. */
static int sign_entry(struct sbuf *b, EVP_PKEY *key, const EVP_MD *bank, const uint8_t *pcr,
		      const uint8_t fp[32], struct im_error *err)
{
	uint8_t pol[IM_PCR_POLICY_SIZE], *sig;
	size_t siglen;
	if (im_pcr_policy_digest(bank, pcr, pol, err) < 0 ||
	    sign(key, bank, pol, sizeof(pol), &sig, &siglen, err) < 0)
		return -1;
	char *b64 = im_base64_encode(sig, siglen);
	free(sig);
	if (!b64)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	sb_printf(b, "{\"pcrs\":[%d],\"pkfp\":\"", IM_PCR_KERNEL_BOOT);
	sb_hex(b, fp, 32);
	sb_printf(b, "\",\"pol\":\"");
	sb_hex(b, pol, sizeof(pol));
	sb_printf(b, "\",\"sig\":\"%s\"}", b64);
	free(b64);
	return 0;
}

static int bank_entries(struct sbuf *b, EVP_PKEY *key, const EVP_MD *bank,
			const struct im_pcr_section *secs, size_t n, const uint8_t fp[32],
			struct im_error *err)
{
	uint8_t phases[IM_PCR_NPHASES][EVP_MAX_MD_SIZE];
	if (im_pcr11_predict(secs, n, bank, phases, err) < 0)
		return -1;
	sb_printf(b, "\"%s\":[", bank_name(bank));
	for (int i = 0; i < IM_PCR_NPHASES; i++) {
		if (i)
			sb_printf(b, ",");
		if (sign_entry(b, key, bank, phases[i], fp, err) < 0)
			return -1;
	}
	sb_printf(b, "]");
	return 0;
}

/* Ascending TPM_ALG_ID order is also the names' order: sha1 < sha256 < sha384 < sha512. */
static int sort_banks(const EVP_MD *const *banks, size_t nbanks, const EVP_MD *sorted[4],
		      size_t *count, struct im_error *err)
{
	static const int algs[4] = {0x0004, 0x000B, 0x000C, 0x000D};
	const EVP_MD *by_alg[4] = {0};
	if (!banks || !nbanks) {
		by_alg[1] = EVP_sha256();
		by_alg[2] = EVP_sha384();
		by_alg[3] = EVP_sha512();
	}
	for (size_t i = 0; banks && i < nbanks; i++) {
		if (check_bank(banks[i], err) < 0)
			return -1;
		for (int k = 0; k < 4; k++) {
			if (im_pcr_tpm_alg(banks[i]) != algs[k])
				continue;
			if (by_alg[k])
				return im_fail(err, IM_EXIT_INVALID, "PCR bank '%s' given twice",
					       EVP_MD_get0_name(banks[i]));
			by_alg[k] = banks[i];
		}
	}
	*count = 0;
	for (int k = 0; k < 4; k++)
		if (by_alg[k])
			sorted[(*count)++] = by_alg[k];
	return 0;
}

int im_pcrsig_json(EVP_PKEY *key, const EVP_MD *const *banks, size_t nbanks,
		   const struct im_pcr_section *secs, size_t n, char **out, struct im_error *err)
{
	const EVP_MD *sorted[4];
	size_t count = 0;
	uint8_t fp[32];
	struct sbuf b = {0};
	*out = NULL;
	if (sort_banks(banks, nbanks, sorted, &count, err) < 0 ||
	    im_pcr_pubkey_fingerprint(key, fp, err) < 0)
		return -1;
	sb_printf(&b, "{");
	for (size_t i = 0; i < count; i++) {
		if (i)
			sb_printf(&b, ",");
		if (bank_entries(&b, key, sorted[i], secs, n, fp, err) < 0) {
			free(b.s);
			return -1;
		}
	}
	sb_printf(&b, "}");
	if (b.oom) {
		free(b.s);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	*out = b.s;
	return 0;
}

int im_pcr_stub_measures(const char *name)
{
	static const char *const m[] = {".linux",  ".osrel", ".cmdline", ".initrd",
					".splash", ".dtb",   ".pcrpkey"};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcmp(name, m[i]))
			return 1;
	return 0;
}
