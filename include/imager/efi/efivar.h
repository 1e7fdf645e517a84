/* UEFI Secure Boot variables: EFI_SIGNATURE_LIST and time-based authenticated variable
 * updates (`.auth` files, as systemd-boot's loader/keys/auto/ enrollment and efitools'
 * sign-efi-sig-list use them).
 *
 * References: UEFI 2.10 §8.2 (SetVariable(): EFI_VARIABLE_AUTHENTICATION_2, the signed
 * serialization VariableName ‖ VendorGuid ‖ Attributes ‖ TimeStamp ‖ Data, TimeStamp with
 * Pad1/Nanosecond/TimeZone/Daylight/Pad2 zero), §8.3 (EFI_TIME), §32.2.4 (WIN_CERTIFICATE,
 * WIN_CERTIFICATE_UEFI_GUID), §32.4.1 (EFI_SIGNATURE_LIST, EFI_CERT_X509_GUID), §3.3
 * (EFI_GLOBAL_VARIABLE: PK, KEK) and §32.6 (EFI_IMAGE_SECURITY_DATABASE_GUID: db, dbx).
 *
 * CertData is a DER PKCS#7 SignedData *without* the ContentInfo wrapper, detached (no
 * content), SHA-256, no authenticated attributes: edk2 (OVMF) rejects anything else — its
 * VerifyTimeBasedPayload() requires a two-byte DER length at offset 1 and the SHA-256 OID at
 * offset 13, which is where a bare SignedData has its digestAlgorithms. Without attributes
 * there is no signingTime, so with RSA PKCS#1 v1.5 the bytes are reproducible. */
#ifndef IMAGER_EFIVAR_H
#define IMAGER_EFIVAR_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "imager/util/error.h"

/* EFI_GUID as stored: Data1..Data3 little-endian, Data4 bytes as is. */
struct im_efi_guid {
	uint8_t b[16];
};

/* EFI_TIME (UEFI 2.10 §8.3). */
struct im_efi_time {
	uint16_t year; /* 1900..9999, little-endian on disk like every field */
	uint8_t month, day, hour, minute, second, pad1;
	uint32_t nanosecond;
	int16_t time_zone;
	uint8_t daylight, pad2;
} __attribute__((packed));
_Static_assert(sizeof(struct im_efi_time) == 16, "EFI_TIME is 16 bytes");

/* EFI_SIGNATURE_LIST header (§32.4.1); SignatureHeaderSize 0 for X.509. */
struct im_efi_signature_list {
	struct im_efi_guid signature_type;
	uint32_t signature_list_size;
	uint32_t signature_header_size;
	uint32_t signature_size; /* 16 (owner GUID) + DER certificate */
} __attribute__((packed));
_Static_assert(sizeof(struct im_efi_signature_list) == 28, "EFI_SIGNATURE_LIST is 28 bytes");

/* EFI_VARIABLE_AUTHENTICATION_2 up to CertData (§8.2 + §32.2.4). */
struct im_efi_variable_authentication_2 {
	struct im_efi_time time_stamp;
	uint32_t dw_length;	      /* 24 + CertData size */
	uint16_t w_revision;	      /* 0x0200 */
	uint16_t w_certificate_type;  /* WIN_CERT_TYPE_EFI_GUID 0x0EF1 */
	struct im_efi_guid cert_type; /* EFI_CERT_TYPE_PKCS7_GUID */
} __attribute__((packed));
_Static_assert(sizeof(struct im_efi_variable_authentication_2) == 40,
	       "EFI_VARIABLE_AUTHENTICATION_2 header is 40 bytes");

#define IM_WIN_CERT_TYPE_EFI_GUID 0x0EF1

/* EFI_VARIABLE_NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS |
 * TIME_BASED_AUTHENTICATED_WRITE_ACCESS */
#define IM_EFI_VAR_ATTRS_SECURE_BOOT 0x27u
#define IM_EFI_VAR_APPEND_WRITE	     0x40u

extern const struct im_efi_guid im_efi_global_variable_guid;   /* 8be4df61-... PK, KEK */
extern const struct im_efi_guid im_efi_image_security_db_guid; /* d719b2cb-... db, dbx */
extern const struct im_efi_guid im_efi_cert_x509_guid;	       /* a5c059a1-... */
extern const struct im_efi_guid im_efi_cert_type_pkcs7_guid;   /* 4aafd29d-... */

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" <-> stored form; parse returns -1 on bad text. */
int im_efi_guid_parse(const char *s, struct im_efi_guid *out);
void im_efi_guid_format(const struct im_efi_guid *g, char out[37]);

/* A GUID derived from a label as DESIGN.md §7 derives them: the first 16 bytes of
 * SHA-256(16 zero bytes ‖ label), RFC 4122 version 8 and variant bits set, read as the
 * textual UUID's bytes in order. */
void im_efi_guid_from_label(const char *label, struct im_efi_guid *out);

/* The SignatureOwner of every list imager makes: im_efi_guid_from_label("imager-secureboot-
 * owner") = a fixed project GUID, so the same certificate always gives the same ESL. */
void im_efivar_owner_guid(struct im_efi_guid *out);

/* The vendor GUID of a Secure Boot variable: PK, KEK -> EFI_GLOBAL_VARIABLE; db, dbx, dbt,
 * dbr -> EFI_IMAGE_SECURITY_DATABASE. -1 for other names. */
int im_efivar_vendor(const char *name, struct im_efi_guid *out);

/* EFI_TIME (UTC) of a Unix time; IM_EXIT_INVALID outside years 1900..9999. */
int im_efi_time_from_unix(int64_t t, struct im_efi_time *out, struct im_error *err);

/* An EFI_SIGNATURE_LIST of type EFI_CERT_X509_GUID holding one DER certificate. */
int im_efivar_esl_x509(X509 *cert, const struct im_efi_guid *owner, uint8_t **out, size_t *out_len,
		       struct im_error *err);

/* The bytes the signer signs: VariableName (UTF-16LE, no NUL) ‖ VendorGuid ‖ Attributes
 * (LE32) ‖ TimeStamp ‖ data. `name` must be printable ASCII. */
int im_efivar_signed_payload(const char *name, const struct im_efi_guid *vendor, uint32_t attrs,
			     const struct im_efi_time *ts, const uint8_t *data, size_t len,
			     uint8_t **out, size_t *out_len, struct im_error *err);

/* The `.auth` file: EFI_VARIABLE_AUTHENTICATION_2 (TimeStamp from `unix_time`) whose CertData
 * is the bare SignedData signed by key/cert over the payload above, followed by `data`.
 * Errors: IM_EXIT_INVALID (bad name, key does not match cert, time out of range). */
int im_efivar_auth(const char *name, const struct im_efi_guid *vendor, uint32_t attrs,
		   const uint8_t *data, size_t len, EVP_PKEY *key, X509 *cert, int64_t unix_time,
		   uint8_t **out, size_t *out_len, struct im_error *err);

#endif
