/* Authenticode signatures of PE32+ images (UEFI Secure Boot): the image hash, a PKCS#7
 * SignedData over an SpcIndirectDataContent, appended as a WIN_CERTIFICATE.
 *
 * References: "Windows Authenticode Portable Executable Signature Format" (Microsoft, 2008;
 * "Calculating the PE Image Hash", "SpcIndirectDataContent", "SpcPeImageData"), the PE Format
 * specification §"The Attribute Certificate Table (Image Only)", UEFI 2.10 §32.2.4
 * (WIN_CERTIFICATE, WIN_CERT_TYPE_PKCS_SIGNED_DATA), RFC 2315 (PKCS #7 v1.5). */
#ifndef IMAGER_AUTHENTICODE_H
#define IMAGER_AUTHENTICODE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "imager/util/error.h"

/* WIN_CERTIFICATE header (UEFI 2.10 §32.2.4.1; PE §"The Attribute Certificate Table"). Entries
 * start at 8-byte aligned file offsets; dwLength counts header + bCertificate (here without
 * the zero padding that follows, which the certificate table size includes). */
struct im_win_certificate {
	uint32_t dw_length;
	uint16_t w_revision;	     /* 0x0200 */
	uint16_t w_certificate_type; /* 0x0002: PKCS#7 SignedData */
} __attribute__((packed));
_Static_assert(sizeof(struct im_win_certificate) == 8, "WIN_CERTIFICATE header is 8 bytes");

#define IM_WIN_CERT_REVISION_2_0	  0x0200
#define IM_WIN_CERT_TYPE_PKCS_SIGNED_DATA 0x0002

/* The Authenticode image hash with `md` (e.g. EVP_sha256()): the headers up to SizeOfHeaders
 * without CheckSum and the certificate-table directory entry, the sections' raw data in file
 * order, then the data after them up to the certificate table (or the end of the file).
 * out must hold EVP_MAX_MD_SIZE bytes; *out_len gets the digest size. `what` names the image
 * in messages. Errors: IM_EXIT_INVALID (not PE32+, certificate table not at the end). */
int im_authenticode_digest(const uint8_t *buf, size_t len, const char *what, const EVP_MD *md,
			   uint8_t *out, unsigned int *out_len, struct im_error *err);

/* Sign with SHA-256: returns in *out (malloc'd, *out_len bytes) the image padded with zeros
 * to a multiple of 8 bytes, followed by one WIN_CERTIFICATE holding a DER PKCS#7 SignedData:
 * content SpcIndirectDataContent (SpcPeImageData + the image hash), the signer's certificate
 * (+ `chain`, may be NULL), one SignerInfo (issuer/serial) with authenticated attributes
 * contentType, messageDigest and an empty SpcSpOpusInfo — no signingTime, so RSA (PKCS#1 v1.5)
 * signatures are byte-for-byte reproducible. The certificate table directory entry points at
 * it; CheckSum (not part of the hash; UEFI ignores it) is then set to the image checksum,
 * so re-signing gives the same bytes whatever the input's CheckSum was.
 * An image that is already signed gets its signature *replaced* (its certificate table, which
 * must be the end of the file, is dropped first). Errors: IM_EXIT_INVALID (bad image, no
 * certificate table directory entry, key does not match the certificate). */
int im_authenticode_sign(const uint8_t *buf, size_t len, const char *what, EVP_PKEY *key,
			 X509 *cert, STACK_OF(X509) * chain, uint8_t **out, size_t *out_len,
			 struct im_error *err);

/* The image without its certificate table: *unsigned_len = file offset of the table, or len
 * when unsigned; *sig_off and *sig_len locate the table (0/0 when unsigned). */
int im_authenticode_locate(const uint8_t *buf, size_t len, const char *what, size_t *unsigned_len,
			   size_t *sig_off, size_t *sig_len, struct im_error *err);

/* PEM loading. Missing/unreadable file: IM_EXIT_MISSING naming the path; not a PEM private
 * key (or an encrypted one) / not a PEM certificate: IM_EXIT_INVALID. Free with
 * EVP_PKEY_free / X509_free. */
int im_load_key_pem(const char *path, EVP_PKEY **key, struct im_error *err);
int im_load_cert_pem(const char *path, X509 **cert, struct im_error *err);

#endif
