/* PCR 11 prediction and signed PCR policies for UKIs, as systemd-measure does them.
 *
 * References: systemd docs/TPM2_PCR_MEASUREMENTS.md (systemd-stub measures each UKI section
 * into PCR 11 as two events: the section name *including* its trailing NUL, then the section
 * contents; systemd-pcrphase measures the boot phase words without a NUL), systemd-measure(1)
 * (`sign`: the four default phase paths, the .pcrsig JSON), TCG TPM 2.0 Library Part 3
 * §23.7 TPM2_PolicyPCR and Part 2 §10.6.2 TPML_PCR_SELECTION.
 *
 * Verified against systemd-measure 252 (Debian 12) running on swtpm, byte for byte
 * (tests/unit/test_pcr.c):
 *   - every bank's PCR value starts as zeros of the bank's size; extend = H(old ‖ H(event));
 *   - `pol` is always a SHA-256 policy digest (the policy session hash is SHA-256 whatever the
 *     bank): SHA256(0^32 ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION{bank alg, PCR 11} ‖
 *     SHA256(PCR value));
 *   - `sig` is RSASSA-PKCS1-v1_5 over the 32-byte policy digest hashed with the *bank's* hash
 *     (SHA-384 for the sha384 bank, ...);
 *   - `pkfp` is SHA-256 of the DER PKCS#1 RSAPublicKey (OpenSSL i2d_PublicKey), not of the
 *     SubjectPublicKeyInfo;
 *   - JSON is compact, banks in ascending order ("sha1" < "sha256" < "sha384" < "sha512"),
 *     each an array of {"pcrs":[11],"pkfp":hex,"pol":hex,"sig":base64} in phase order. */
#ifndef IMAGER_PCR_H
#define IMAGER_PCR_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "imager/util/error.h"

#define IM_PCR_KERNEL_BOOT 11
#define IM_PCR_NPHASES	   4
#define IM_PCR_POLICY_SIZE 32 /* SHA-256 policy digest */

/* The boot-phase paths systemd-measure signs by default, in its order:
 * "enter-initrd", "enter-initrd:leave-initrd", "enter-initrd:leave-initrd:sysinit",
 * "enter-initrd:leave-initrd:sysinit:ready". */
extern const char *const im_pcr_phase_paths[IM_PCR_NPHASES];

/* One UKI section as systemd-stub measures it: `data` must be what the stub sees in memory,
 * i.e. VirtualSize bytes (raw data, then zeros if VirtualSize > SizeOfRawData). A UKI builder
 * that sets VirtualSize to the exact payload length measures exactly the payload. */
struct im_pcr_section {
	const char *name; /* ".linux", ".osrel", ... */
	const uint8_t *data;
	size_t len;
	int from_fd; /* data is NULL: the bytes are read from fd at off (im_pe_add_section_fd) */
	int fd;
	uint64_t off;
};

/* Position of `name` in the canonical measurement order
 * .linux .osrel .cmdline .initrd .ucode .splash .dtb .uname .sbat .pcrpkey (0..9), or -1 for
 * any other section (.pcrsig is never measured). Note: the stub measures only the sections
 * it knows: systemd-stub 252 (Debian 12) knows .linux .osrel .cmdline .initrd .splash .dtb
 * .pcrpkey; later versions added .uname/.sbat and .ucode — pass only the sections the stub
 * in use measures. */
int im_pcr_section_index(const char *name);

/* TPM_ALG_ID of a PCR bank's hash: SHA1 0x0004, SHA256 0x000B, SHA384 0x000C, SHA512 0x000D;
 * -1 for any other digest. */
int im_pcr_tpm_alg(const EVP_MD *bank);

/* Whether systemd-stub 252 (Debian 12's stub) measures a section into PCR 11:
 * .linux .osrel .cmdline .initrd .splash .dtb .pcrpkey (src/boot/efi/stub.c, v252). Later
 * stubs also measure .uname/.sbat; predicting those for this stub would never match. */
int im_pcr_stub_measures(const char *name);

/* PCR 11 in `bank` as systemd-stub leaves it: the sections measured from an all-zero PCR (any
 * input order; measured in canonical order, empty ones skipped like the stub does), before
 * any boot phase. This is what a booted initrd that runs no systemd-pcrphase reads (the
 * reference init; checked on swtpm by tests/e2e/83-tpm-pcr11.sh). `out` gets
 * EVP_MD_get_size(bank) bytes. Errors as im_pcr11_predict. */
int im_pcr11_after_stub(const struct im_pcr_section *secs, size_t n, const EVP_MD *bank,
			uint8_t out[EVP_MAX_MD_SIZE], struct im_error *err);

/* Predict PCR 11 in `bank` after each of the four phase paths, on top of
 * im_pcr11_after_stub: phases[i] gets the value after im_pcr_phase_paths[i]
 * (EVP_MD_get_size(bank) bytes).
 * Errors: IM_EXIT_INVALID for an unknown or repeated section name or an unsupported bank. */
int im_pcr11_predict(const struct im_pcr_section *secs, size_t n, const EVP_MD *bank,
		     uint8_t phases[IM_PCR_NPHASES][EVP_MAX_MD_SIZE], struct im_error *err);

/* TPM2_PolicyPCR digest (SHA-256 session) for PCR 11 of `bank` having `pcr_value`
 * (EVP_MD_get_size(bank) bytes), starting from an empty (all-zero) policy. */
int im_pcr_policy_digest(const EVP_MD *bank, const uint8_t *pcr_value,
			 uint8_t out[IM_PCR_POLICY_SIZE], struct im_error *err);

/* `pkfp`: SHA-256 of the DER PKCS#1 RSAPublicKey of an RSA key. */
int im_pcr_pubkey_fingerprint(EVP_PKEY *key, uint8_t out[32], struct im_error *err);

/* The `.pcrpkey` section: the public key as PEM SubjectPublicKeyInfo
 * ("-----BEGIN PUBLIC KEY-----"), malloc'd, NUL-terminated; *len excludes the NUL. */
int im_pcr_pubkey_pem(EVP_PKEY *key, char **out, size_t *len, struct im_error *err);

/* The `.pcrsig` JSON (malloc'd, NUL-terminated, no trailing newline) signed with RSA `key`
 * for `banks` (NULL/0: sha256, sha384, sha512; duplicates are invalid; emitted in ascending
 * order whatever the given order). Deterministic: PKCS#1 v1.5 signatures have no randomness.
 * Errors: IM_EXIT_INVALID (not an RSA key, bad bank, bad sections). */
int im_pcrsig_json(EVP_PKEY *key, const EVP_MD *const *banks, size_t nbanks,
		   const struct im_pcr_section *secs, size_t n, char **out, struct im_error *err);

#endif
