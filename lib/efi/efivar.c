/* EFI_SIGNATURE_LIST and time-based authenticated variable updates (see efivar.h). */
#include "imager/efi/efivar.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>

/* EFI_GUID {Data1, Data2, Data3, Data4[8]} in its stored (mixed-endian) form. */
#define EFI_GUID(d1, d2, d3, a, b, c, d, e, f, g, h)                                               \
	{                                                                                          \
		{                                                                                  \
			(d1) & 0xff, ((d1) >> 8) & 0xff, ((d1) >> 16) & 0xff, ((d1) >> 24) & 0xff, \
			    (d2)&0xff, ((d2) >> 8) & 0xff, (d3)&0xff, ((d3) >> 8) & 0xff, a, b, c, \
			    d, e, f, g, h                                                          \
		}                                                                                  \
	}

const struct im_efi_guid im_efi_global_variable_guid =
    EFI_GUID(0x8be4df61u, 0x93ca, 0x11d2, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c);
const struct im_efi_guid im_efi_image_security_db_guid =
    EFI_GUID(0xd719b2cbu, 0x3d3a, 0x4596, 0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f);
const struct im_efi_guid im_efi_cert_x509_guid =
    EFI_GUID(0xa5c059a1u, 0x94e4, 0x4aa7, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72);
const struct im_efi_guid im_efi_cert_type_pkcs7_guid =
    EFI_GUID(0x4aafd29du, 0x68df, 0x49ee, 0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7);

/* Stored byte index of the i-th byte of the textual form (d1, d2, d3 are little-endian). */
static const int text_order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int im_efi_guid_parse(const char *s, struct im_efi_guid *out)
{
	int k = 0;
	for (int i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash) {
			if (s[i] != '-')
				return -1;
			continue;
		}
		int hi = hexval(s[i]), lo = hi < 0 ? -1 : hexval(s[i + 1]);
		if (lo < 0)
			return -1;
		out->b[text_order[k++]] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return s[36] ? -1 : 0;
}

void im_efi_guid_format(const struct im_efi_guid *g, char out[37])
{
	char *p = out;
	for (int k = 0; k < 16; k++) {
		if (k == 4 || k == 6 || k == 8 || k == 10)
			*p++ = '-';
		p += sprintf(p, "%02x", g->b[text_order[k]]);
	}
}

void im_efi_guid_from_label(const char *label, struct im_efi_guid *out)
{
	uint8_t h[32], zero[16] = {0};
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	/* SHA-256 cannot fail on a working libcrypto; a NULL ctx would only be OOM */
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, zero, sizeof(zero)) != 1 ||
	    EVP_DigestUpdate(c, label, strlen(label)) != 1 || EVP_DigestFinal_ex(c, h, NULL) != 1)
		abort();
	EVP_MD_CTX_free(c);
	h[6] = (uint8_t)((h[6] & 0x0f) | 0x80); /* version 8 (RFC 9562 §5.8) */
	h[8] = (uint8_t)((h[8] & 0x3f) | 0x80); /* variant 10 */
	for (int k = 0; k < 16; k++)
		out->b[text_order[k]] = h[k];
}

void im_efivar_owner_guid(struct im_efi_guid *out)
{
	im_efi_guid_from_label("imager-secureboot-owner", out);
}

int im_efivar_vendor(const char *name, struct im_efi_guid *out)
{
	if (!strcmp(name, "PK") || !strcmp(name, "KEK")) {
		*out = im_efi_global_variable_guid;
		return 0;
	}
	if (!strcmp(name, "db") || !strcmp(name, "dbx") || !strcmp(name, "dbt") ||
	    !strcmp(name, "dbr")) {
		*out = im_efi_image_security_db_guid;
		return 0;
	}
	return -1;
}

int im_efi_time_from_unix(int64_t t, struct im_efi_time *out, struct im_error *err)
{
	struct tm tm;
	time_t tt = (time_t)t;
	memset(out, 0, sizeof(*out));
	if (t < -2208988800LL || t > 253402300799LL || !gmtime_r(&tt, &tm))
		return im_fail(err, IM_EXIT_INVALID,
			       "timestamp %lld: expected a time in the years 1900..9999 (EFI_TIME)",
			       (long long)t);
	/* UTC, Pad1/Nanosecond/TimeZone/Daylight/Pad2 zero (UEFI 2.10 §8.2) */
	out->year = htole16((uint16_t)(tm.tm_year + 1900));
	out->month = (uint8_t)(tm.tm_mon + 1);
	out->day = (uint8_t)tm.tm_mday;
	out->hour = (uint8_t)tm.tm_hour;
	out->minute = (uint8_t)tm.tm_min;
	out->second = (uint8_t)tm.tm_sec;
	return 0;
}

int im_efivar_esl_x509(X509 *cert, const struct im_efi_guid *owner, uint8_t **out, size_t *out_len,
		       struct im_error *err)
{
	*out = NULL;
	int der_len = i2d_X509(cert, NULL);
	if (der_len <= 0)
		return im_fail(err, IM_EXIT_INVALID, "certificate: cannot encode as DER");
	struct im_efi_signature_list h = {
	    .signature_type = im_efi_cert_x509_guid,
	    .signature_list_size = htole32((uint32_t)(sizeof(h) + 16 + (size_t)der_len)),
	    .signature_header_size = 0,
	    .signature_size = htole32((uint32_t)(16 + der_len)),
	};
	size_t len = sizeof(h) + 16 + (size_t)der_len;
	uint8_t *buf = malloc(len), *p;
	if (!buf)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	/* header, then one EFI_SIGNATURE_DATA {SignatureOwner, SignatureData = DER cert} */
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), owner->b, 16);
	p = buf + sizeof(h) + 16;
	i2d_X509(cert, &p);
	*out = buf;
	*out_len = len;
	return 0;
}

int im_efivar_signed_payload(const char *name, const struct im_efi_guid *vendor, uint32_t attrs,
			     const struct im_efi_time *ts, const uint8_t *data, size_t len,
			     uint8_t **out, size_t *out_len, struct im_error *err)
{
	size_t nl = strlen(name);
	*out = NULL;
	for (size_t i = 0; i < nl; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return im_fail(err, IM_EXIT_INVALID,
				       "variable name '%s': expected printable ASCII", name);
	if (!nl)
		return im_fail(err, IM_EXIT_INVALID, "variable name: expected a name");
	size_t total = 2 * nl + 16 + 4 + sizeof(*ts) + len;
	uint8_t *buf = malloc(total ? total : 1), *p = buf;
	if (!buf)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < nl; i++) { /* UTF-16LE, no terminating NUL */
		*p++ = (uint8_t)name[i];
		*p++ = 0;
	}
	memcpy(p, vendor->b, 16);
	p += 16;
	uint32_t a = htole32(attrs);
	memcpy(p, &a, 4);
	p += 4;
	memcpy(p, ts, sizeof(*ts));
	p += sizeof(*ts);
	if (len)
		memcpy(p, data, len);
	*out = buf;
	*out_len = total;
	return 0;
}

/* DER PKCS#7 SignedData (bare, no ContentInfo), detached, SHA-256, no attributes. */
static int sign_payload(const uint8_t *payload, size_t len, EVP_PKEY *key, X509 *cert,
			uint8_t **der, size_t *der_len, struct im_error *err)
{
	const int flags = PKCS7_BINARY | PKCS7_DETACHED | PKCS7_NOATTR | PKCS7_PARTIAL;
	BIO *in = BIO_new_mem_buf(payload, (int)len);
	PKCS7 *p7 = in ? PKCS7_sign(NULL, NULL, NULL, NULL, flags) : NULL;
	unsigned char *d = NULL;
	int n = -1;
	*der = NULL;
	if (p7 && PKCS7_sign_add_signer(p7, cert, key, EVP_sha256(), flags) &&
	    PKCS7_final(p7, in, flags) == 1)
		n = i2d_PKCS7_SIGNED(p7->d.sign, &d);
	PKCS7_free(p7);
	BIO_free(in);
	if (n <= 0)
		return im_fail(err, IM_EXIT_INTERNAL, "PKCS#7 signature failed (%s)",
			       ERR_reason_error_string(ERR_get_error()));
	*der = malloc((size_t)n);
	if (*der)
		memcpy(*der, d, (size_t)n);
	OPENSSL_free(d);
	if (!*der)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	*der_len = (size_t)n;
	return 0;
}

int im_efivar_auth(const char *name, const struct im_efi_guid *vendor, uint32_t attrs,
		   const uint8_t *data, size_t len, EVP_PKEY *key, X509 *cert, int64_t unix_time,
		   uint8_t **out, size_t *out_len, struct im_error *err)
{
	struct im_efi_variable_authentication_2 h = {0};
	uint8_t *payload = NULL, *sig = NULL;
	size_t plen, slen = 0;
	*out = NULL;
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: the signing key does not match the signing certificate", name);
	}
	if (im_efi_time_from_unix(unix_time, &h.time_stamp, err) < 0 ||
	    im_efivar_signed_payload(name, vendor, attrs, &h.time_stamp, data, len, &payload, &plen,
				     err) < 0)
		return -1;
	int rc = sign_payload(payload, plen, key, cert, &sig, &slen, err);
	free(payload);
	if (rc < 0)
		return -1;
	/* WIN_CERTIFICATE_UEFI_GUID (UEFI 2.10 §32.2.4): dwLength covers the header (8), the
	 * CertType GUID (16) and CertData. */
	h.dw_length = htole32((uint32_t)(8 + 16 + slen));
	h.w_revision = htole16(0x0200);
	h.w_certificate_type = htole16(IM_WIN_CERT_TYPE_EFI_GUID);
	h.cert_type = im_efi_cert_type_pkcs7_guid;
	size_t total = sizeof(h) + slen + len;
	uint8_t *buf = malloc(total);
	if (!buf) {
		free(sig);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), sig, slen);
	if (len)
		memcpy(buf + sizeof(h) + slen, data, len);
	free(sig);
	*out = buf;
	*out_len = total;
	return 0;
}
