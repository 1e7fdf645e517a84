/* Secure Boot key material for `imager keys`: the UKI signing key and certificate, the PCR
 * policy signing key, and a PK/KEK/db hierarchy with its time-based authenticated `.auth`
 * files for systemd-boot's loader/keys/auto/ enrollment.
 *
 * File names follow `talosctl gen secureboot` (uki-signing-key.pem, uki-signing-cert.pem,
 * uki-signing-cert.der, pcr-signing-key.pem, PK.auth, KEK.auth, db.auth); Talos signs all three
 * .auth files with the UKI key, imager keeps a real hierarchy instead (PK self-signed, KEK
 * signed by PK, db — the UKI signing certificate — signed by KEK), whose keys are stored as
 * pk-signing-{key,cert}.pem and kek-signing-{key,cert}.pem.
 *
 * Keys are random (that is their point); everything made *from* them is reproducible: the
 * certificates' serial numbers are derived from their public keys, their validity starts at
 * SOURCE_DATE_EPOCH and never ends (99991231235959Z, RFC 5280 §4.1.2.5), and the .auth
 * timestamps are SOURCE_DATE_EPOCH. */
#ifndef IMAGER_KEYS_H
#define IMAGER_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "imager/util/error.h"

#define IM_KEYS_UKI_KEY	     "uki-signing-key.pem"
#define IM_KEYS_UKI_CERT     "uki-signing-cert.pem"
#define IM_KEYS_UKI_CERT_DER "uki-signing-cert.der"
#define IM_KEYS_PCR_KEY	     "pcr-signing-key.pem"
#define IM_KEYS_PK_KEY	     "pk-signing-key.pem"
#define IM_KEYS_PK_CERT	     "pk-signing-cert.pem"
#define IM_KEYS_KEK_KEY	     "kek-signing-key.pem"
#define IM_KEYS_KEK_CERT     "kek-signing-cert.pem"
#define IM_KEYS_PK_AUTH	     "PK.auth"
#define IM_KEYS_KEK_AUTH     "KEK.auth"
#define IM_KEYS_DB_AUTH	     "db.auth"

#define IM_KEYS_UKI_BITS 4096
#define IM_KEYS_PCR_BITS 2048
#define IM_KEYS_PK_BITS	 2048 /* PK and KEK */

#define IM_KEYS_DEFAULT_CN "imager Secure Boot"

struct im_keyset {
	EVP_PKEY *uki_key;
	X509 *uki_cert; /* CN = cn */
	EVP_PKEY *pcr_key;
	EVP_PKEY *pk_key;
	X509 *pk_cert; /* CN = "<cn> PK" */
	EVP_PKEY *kek_key;
	X509 *kek_cert; /* CN = "<cn> KEK" */
};

/* A new RSA key (public exponent 65537). */
int im_keys_rsa(int bits, EVP_PKEY **out, struct im_error *err);

/* A self-signed X.509 v3 CA certificate for `key` with subject CN=cn, SHA-256 signature,
 * basicConstraints CA:TRUE, keyUsage digitalSignature/keyCertSign/cRLSign, subject and
 * authority key identifiers; serial = first 16 bytes of SHA-256(DER SubjectPublicKeyInfo)
 * with the top bit cleared; valid from `not_before` (Unix time) to 99991231235959Z.
 * Errors: IM_EXIT_INVALID (empty or over-long CN, time out of range). */
int im_keys_self_signed(EVP_PKEY *key, const char *cn, int64_t not_before, X509 **out,
			struct im_error *err);

/* Generate the whole set. On failure nothing is left allocated. */
int im_keys_generate(const char *cn, int64_t not_before, struct im_keyset *ks,
		     struct im_error *err);
void im_keyset_free(struct im_keyset *ks);

/* A buffer owned by the caller (free(data)). */
struct im_blob {
	uint8_t *data;
	size_t len;
};

/* PK.auth, KEK.auth, db.auth (in this order) for enrolling `db_cert`: PK = pk_cert's ESL
 * signed by pk_key, KEK = kek_cert's ESL signed by pk_key, db = db_cert's ESL signed by
 * kek_key; owner GUID im_efivar_owner_guid(); attributes NV|BS|RT|TIME_BASED_AUTH (0x27);
 * timestamp `unix_time`. Passing the UKI key/cert as PK and KEK too gives Talos' single-key
 * layout. */
int im_keys_enrollment(EVP_PKEY *pk_key, X509 *pk_cert, EVP_PKEY *kek_key, X509 *kek_cert,
		       X509 *db_cert, int64_t unix_time, struct im_blob out[3],
		       struct im_error *err);

/* PEM encodings (malloc'd, NUL-terminated; len excludes the NUL): PKCS#8 private key
 * ("BEGIN PRIVATE KEY", unencrypted) and certificate. */
int im_keys_key_pem(EVP_PKEY *key, struct im_blob *out, struct im_error *err);
int im_keys_cert_pem(X509 *cert, struct im_blob *out, struct im_error *err);

/* Write every file above into `dir` (created, mode 0700, when missing): private keys mode
 * 0600, the rest 0666 & ~umask. Each file is written under a temporary name and all are
 * renamed into place at the end. Unless `force`, an existing file of that name is refused
 * (IM_EXIT_INVALID naming it) before anything is written. `unix_time` stamps the .auth files. */
int im_keys_write(const char *dir, const struct im_keyset *ks, int64_t unix_time, int force,
		  struct im_error *err);

/* IM_EXIT_INVALID naming the first of the files im_keys_write() would write that already
 * exists in `dir` (a missing folder has none); lets a caller refuse before generating. */
int im_keys_refuse_existing(const char *dir, struct im_error *err);

/* The file names im_keys_write() writes, NULL-terminated. */
extern const char *const im_keys_files[];

#endif
