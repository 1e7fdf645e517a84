/* Keyless verification of signed artifacts: the signatures an artifact carries, gathered
 * into a pool, and "signers" that sign by finding there the one signature that verifies.
 *
 * RSASSA-PKCS1-v1_5 (RFC 8017 §8.2) is deterministic: the signature is a function of the
 * key and the digest only. So a rebuild that asks a pool signer for the signature over
 * its own digest gets, when the artifact was signed over the same bytes with the recorded
 * key, exactly the artifact's signature, and the whole rebuild can then be compared byte
 * for byte; a digest no pool signature verifies under the public key gets a zero-filled
 * signature (counted as a miss), so the comparison names the place that differs.
 *
 * The pool is filled by reading the artifact as it is written: raw (a disk image, ISO, EFI
 * binary), gzip/zstd/xz/bzip2-compressed, tar (members read in turn, compressed members
 * such as OCI layers opened again, up to 3 levels). In the bytes it keeps:
 *   - DER OCTET STRINGs of 128/256/384/512 bytes (the SignerInfo signature of PKCS#7, as in
 *     Authenticode and EFI_VARIABLE_AUTHENTICATION_2);
 *   - base64 "sig" values of systemd's .pcrsig JSON;
 *   - EFI_VARIABLE_AUTHENTICATION_2 files (the .auth files of systemd-boot's enrollment);
 *   - certificates of PKCS#7 `certificates [0]` sets, and PEM public keys (.pcrpkey),
 *     found again by their sha256 fingerprints. */
#ifndef IMAGER_EFI_SIGPOOL_H
#define IMAGER_EFI_SIGPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "imager/util/error.h"

struct im_sigpool;

struct im_sigpool *im_sigpool_new(void);
void im_sigpool_free(struct im_sigpool *p);

/* Read `path` and gather what it holds. Errors: IM_EXIT_MISSING (unreadable),
 * IM_EXIT_INTERNAL. */
int im_sigpool_scan_file(struct im_sigpool *p, const char *path, struct im_error *err);

/* The same on memory (the unit tests and fuzzers). */
void im_sigpool_scan_buf(struct im_sigpool *p, const uint8_t *buf, size_t len);

/* Number of signatures, certificates and public keys gathered. */
size_t im_sigpool_count(const struct im_sigpool *p, size_t *certs, size_t *keys);

/* The certificate whose DER has sha256 `fp`, or NULL. Owned by the pool. */
X509 *im_sigpool_cert(const struct im_sigpool *p, const uint8_t fp[32]);

/* The public key whose DER SubjectPublicKeyInfo has sha256 `fp`, or NULL. Owned by the pool. */
EVP_PKEY *im_sigpool_pubkey(const struct im_sigpool *p, const uint8_t fp[32]);

/* The .auth file with sha256 `sha` (*len bytes), or NULL. Owned by the pool. */
const uint8_t *im_sigpool_auth(const struct im_sigpool *p, const uint8_t sha[32], size_t *len);

/* An RSA key with `pub`'s public half that signs (PKCS#1 v1.5, any digest) from the pool:
 * usable wherever a private key is (PKCS7, EVP_DigestSign). Free with EVP_PKEY_free; the
 * pool must outlive it. Errors: IM_EXIT_INVALID (not RSA). */
int im_sigpool_signer(struct im_sigpool *p, EVP_PKEY *pub, EVP_PKEY **out, struct im_error *err);

/* Signatures asked of the pool's signers, and how many no pool signature verified. */
size_t im_sigpool_asked(const struct im_sigpool *p, size_t *misses);

#endif
