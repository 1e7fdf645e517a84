/* Authenticode signing of PE32+ images, for UEFI Secure Boot (UKIs, systemd-boot).
 *
 * The signature is a PKCS#7 SignedData (RFC 2315 §9) whose content is an Authenticode
 * SpcIndirectDataContent ("Windows Authenticode Portable Executable Signature Format",
 * "Authenticode-Specific Structures"):
 *
 *   SpcIndirectDataContent ::= SEQUENCE {
 *       data            SpcAttributeTypeAndOptionalValue,  -- SPC_PE_IMAGE_DATA + SpcPeImageData
 *       messageDigest   DigestInfo }                       -- the image hash
 *   SpcPeImageData ::= SEQUENCE {
 *       flags           SpcPeImageFlags (BIT STRING, empty),
 *       file            [0] EXPLICIT SpcLink }  -- file [2] EXPLICIT SpcString,
 *                                               -- unicode [0] IMPLICIT BMPString "<<<Obsolete>>>"
 *
 * The SignerInfo's messageDigest attribute is the digest of the *contents octets* of the DER
 * SpcIndirectDataContent, without its SEQUENCE tag and length (RFC 2315 §9.3). */
#include "imager/efi/authenticode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "imager/efi/pe.h"

#define OID_SPC_INDIRECT_DATA "1.3.6.1.4.1.311.2.1.4"
#define OID_SPC_SP_OPUS_INFO  "1.3.6.1.4.1.311.2.1.12"

/* The last OpenSSL error as text (the queue is cleared). */
static const char *ssl_err(char *buf, size_t n)
{
	unsigned long e = ERR_get_error();
	ERR_clear_error();
	if (!e)
		return "no detail";
	ERR_error_string_n(e, buf, n);
	return buf;
}

/* ---- Locating the certificate table -------------------------------------------------------- */

int im_authenticode_locate(const uint8_t *buf, size_t len, const char *what, size_t *unsigned_len,
			   size_t *sig_off, size_t *sig_len, struct im_error *err)
{
	struct im_pe_layout l;
	struct im_pe_data_dir d = {0, 0};
	if (im_pe_locate(buf, len, what, &l, err))
		return -1;
	if (l.n_dirs > IM_PE_DIR_SECURITY)
		memcpy(&d, buf + l.dirs_off + IM_PE_DIR_SECURITY * sizeof(d), sizeof(d));
	*unsigned_len = len;
	*sig_off = *sig_len = 0;
	if (!d.size)
		return 0;
	/* PE §"The Attribute Certificate Table": after the sections, at the end of the file. */
	if (d.virtual_address < l.size_of_headers || (uint64_t)d.virtual_address + d.size != len)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: certificate table 0x%x+0x%x: expected it at the end of the "
			       "file (%zu bytes)",
			       what, d.virtual_address, d.size, len);
	*unsigned_len = *sig_off = d.virtual_address;
	*sig_len = d.size;
	return 0;
}

/* ---- Image hash ---------------------------------------------------------------------------- */

struct raw {
	uint32_t off, size;
};

static int cmp_raw(const void *a, const void *b)
{
	const struct raw *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* The sections with raw data, sorted by PointerToRawData. */
static int sorted_sections(const uint8_t *buf, const struct im_pe_layout *l, size_t end,
			   const char *what, struct raw **out, size_t *n, struct im_error *err)
{
	struct raw *r = calloc(l->n_sections ? l->n_sections : 1, sizeof(*r));
	if (!r)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	*n = 0;
	for (uint32_t i = 0; i < l->n_sections; i++) {
		struct im_pe_section_header h;
		memcpy(&h, buf + l->sect_off + i * sizeof(h), sizeof(h));
		if (!h.size_of_raw_data)
			continue;
		if ((uint64_t)h.pointer_to_raw_data + h.size_of_raw_data > end) {
			free(r);
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: section %.8s: raw data 0x%x+0x%x: expected it inside "
				       "the image (0x%zx bytes before the certificate table)",
				       what, h.name, h.pointer_to_raw_data, h.size_of_raw_data,
				       end);
		}
		r[(*n)++] = (struct raw){h.pointer_to_raw_data, h.size_of_raw_data};
	}
	qsort(r, *n, sizeof(*r), cmp_raw);
	*out = r;
	return 0;
}

/* Steps of "Calculating the PE Image Hash" over an image of `end` bytes (certificate table
 * excluded). */
static int hash_image(EVP_MD_CTX *ctx, const uint8_t *buf, size_t end, const struct im_pe_layout *l,
		      const char *what, struct im_error *err)
{
	/* 1-2. headers, skipping CheckSum (4 bytes) and the certificate table entry (8 bytes) */
	size_t soh = l->size_of_headers;
	size_t skip = l->n_dirs > IM_PE_DIR_SECURITY
			  ? l->dirs_off + IM_PE_DIR_SECURITY * sizeof(struct im_pe_data_dir)
			  : soh;
	size_t after = skip < soh ? skip + sizeof(struct im_pe_data_dir) : soh;
	if (!EVP_DigestUpdate(ctx, buf, l->checksum_off) ||
	    !EVP_DigestUpdate(ctx, buf + l->checksum_off + 4, skip - l->checksum_off - 4) ||
	    !EVP_DigestUpdate(ctx, buf + after, soh - after))
		return im_fail(err, IM_EXIT_INTERNAL, "%s: digest failed", what);
	/* 3-4. the sections' raw data, in PointerToRawData order */
	struct raw *r = NULL;
	size_t n = 0;
	if (sorted_sections(buf, l, end, what, &r, &n, err))
		return -1;
	uint64_t sum = soh;
	int ok = 1;
	for (size_t i = 0; i < n && ok; i++) {
		ok = EVP_DigestUpdate(ctx, buf + r[i].off, r[i].size);
		sum += r[i].size;
	}
	free(r);
	/* 5. what follows: FileSize - (certificate table size + SUM_OF_BYTES_HASHED) bytes */
	if (ok && end > sum)
		ok = EVP_DigestUpdate(ctx, buf + sum, end - sum);
	return ok ? 0 : im_fail(err, IM_EXIT_INTERNAL, "%s: digest failed", what);
}

static int digest_image(const uint8_t *buf, size_t end, const struct im_pe_layout *l,
			const char *what, const EVP_MD *md, uint8_t *out, unsigned int *out_len,
			struct im_error *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;
	if (!ctx || !EVP_DigestInit_ex(ctx, md, NULL))
		im_fail(err, IM_EXIT_INTERNAL, "%s: digest setup failed", what);
	else if (!hash_image(ctx, buf, end, l, what, err)) {
		if (EVP_DigestFinal_ex(ctx, out, out_len))
			rc = 0;
		else
			im_fail(err, IM_EXIT_INTERNAL, "%s: digest failed", what);
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

int im_authenticode_digest(const uint8_t *buf, size_t len, const char *what, const EVP_MD *md,
			   uint8_t *out, unsigned int *out_len, struct im_error *err)
{
	struct im_pe_layout l;
	size_t end, sig_off, sig_len;
	if (im_authenticode_locate(buf, len, what, &end, &sig_off, &sig_len, err) ||
	    im_pe_locate(buf, len, what, &l, err))
		return -1;
	return digest_image(buf, end, &l, what, md, out, out_len, err);
}

/* ---- DER of SpcIndirectDataContent --------------------------------------------------------- */

struct der {
	uint8_t b[256];
	size_t n;
};

/* Wrap the contents `in` (n bytes) as tag + length + contents, appended to d. */
static void der_put(struct der *d, uint8_t tag, const uint8_t *in, size_t n)
{
	d->b[d->n++] = tag;
	if (n >= 0x80)
		d->b[d->n++] = 0x81; /* everything here is < 256 bytes */
	d->b[d->n++] = (uint8_t)n;
	if (n)
		memcpy(d->b + d->n, in, n);
	d->n += n;
}

static void der_cat(struct der *d, const struct der *s)
{
	memcpy(d->b + d->n, s->b, s->n);
	d->n += s->n;
}

/* SpcAttributeTypeAndOptionalValue { SPC_PE_IMAGE_DATA_OBJID, SpcPeImageData } */
static void der_pe_image_data(struct der *out)
{
	static const uint8_t oid_pe_image[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82,
					       0x37, 0x02, 0x01, 0x0f}; /* 1.3.6.1.4.1.311.2.1.15 */
	static const char obsolete[] = "<<<Obsolete>>>";
	uint8_t bmp[2 * (sizeof(obsolete) - 1)];
	for (size_t i = 0; i + 1 < sizeof(obsolete); i++) {
		bmp[2 * i] = 0; /* BMPString: UCS-2 big-endian */
		bmp[2 * i + 1] = (uint8_t)obsolete[i];
	}
	struct der str = {0}, link = {0}, file = {0}, img = {0}, body = {0};
	der_put(&str, 0x80, bmp, sizeof(bmp));	     /* unicode [0] IMPLICIT BMPString */
	der_put(&link, 0xa2, str.b, str.n);	     /* SpcLink: file [2] EXPLICIT SpcString */
	der_put(&file, 0xa0, link.b, link.n);	     /* SpcPeImageData.file [0] EXPLICIT */
	der_put(&img, 0x03, (const uint8_t *)"", 1); /* flags: BIT STRING, no bits */
	der_cat(&img, &file);
	der_put(&body, 0x06, oid_pe_image, sizeof(oid_pe_image));
	der_put(&body, 0x30, img.b, img.n);
	der_put(out, 0x30, body.b, body.n);
}

/* DigestInfo { AlgorithmIdentifier { sha256, NULL }, OCTET STRING digest } */
static void der_digest_info(struct der *out, const uint8_t *digest, unsigned int n)
{
	static const uint8_t oid_sha256[] = {0x60, 0x86, 0x48, 0x01, 0x65,
					     0x03, 0x04, 0x02, 0x01}; /* 2.16.840.1.101.3.4.2.1 */
	struct der alg = {0}, body = {0};
	der_put(&alg, 0x06, oid_sha256, sizeof(oid_sha256));
	der_put(&alg, 0x05, NULL, 0);
	der_put(&body, 0x30, alg.b, alg.n);
	der_put(&body, 0x04, digest, n);
	der_put(out, 0x30, body.b, body.n);
}

static void der_indirect_data(struct der *out, const uint8_t *digest, unsigned int n)
{
	struct der body = {0};
	der_pe_image_data(&body);
	der_digest_info(&body, digest, n);
	der_put(out, 0x30, body.b, body.n);
}

/* Length of the tag + length octets of the DER element at d. */
static size_t der_header_len(const struct der *d)
{
	return (d->b[1] & 0x80) ? 2 + (d->b[1] & 0x7f) : 2;
}

/* ---- PKCS#7 SignedData --------------------------------------------------------------------- */

static int add_attributes(PKCS7_SIGNER_INFO *si, const struct der *idc)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len;
	size_t h = der_header_len(idc);
	if (!EVP_Digest(idc->b + h, idc->n - h, md, &md_len, EVP_sha256(), NULL))
		return 0;
	ASN1_OBJECT *ct = OBJ_txt2obj(OID_SPC_INDIRECT_DATA, 1);
	if (!ct || !PKCS7_add_signed_attribute(si, NID_pkcs9_contentType, V_ASN1_OBJECT, ct)) {
		ASN1_OBJECT_free(ct);
		return 0;
	}
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	if (!os || !ASN1_OCTET_STRING_set(os, md, (int)md_len) ||
	    !PKCS7_add_signed_attribute(si, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, os)) {
		ASN1_OCTET_STRING_free(os);
		return 0;
	}
	/* SpcSpOpusInfo ::= SEQUENCE { programName [0] OPTIONAL, moreInfo [1] OPTIONAL }: empty */
	ASN1_OBJECT *opus = OBJ_txt2obj(OID_SPC_SP_OPUS_INFO, 1);
	int ok = opus && X509at_add1_attr_by_OBJ(&si->auth_attr, opus, V_ASN1_SEQUENCE,
						 (const unsigned char *)"\x30\x00", 2);
	ASN1_OBJECT_free(opus);
	return ok;
}

/* The content: ContentInfo { SPC_INDIRECT_DATA_OBJID, [0] EXPLICIT SpcIndirectDataContent } */
static int set_content(PKCS7 *p7, const struct der *idc)
{
	PKCS7 *inner = PKCS7_new();
	ASN1_STRING *seq = ASN1_STRING_new();
	if (!inner || !seq || !ASN1_STRING_set(seq, idc->b, (int)idc->n))
		goto fail;
	inner->type = OBJ_txt2obj(OID_SPC_INDIRECT_DATA, 1);
	inner->d.other = ASN1_TYPE_new();
	if (!inner->type || !inner->d.other)
		goto fail;
	ASN1_TYPE_set(inner->d.other, V_ASN1_SEQUENCE, seq);
	seq = NULL;
	if (!PKCS7_set_content(p7, inner))
		goto fail;
	return 1;
fail:
	ASN1_STRING_free(seq);
	PKCS7_free(inner);
	return 0;
}

static PKCS7 *make_signed_data(const struct der *idc, EVP_PKEY *key, X509 *cert,
			       STACK_OF(X509) * chain)
{
	PKCS7 *p7 = PKCS7_new();
	if (!p7 || !PKCS7_set_type(p7, NID_pkcs7_signed))
		goto fail;
	PKCS7_SIGNER_INFO *si = PKCS7_add_signature(p7, cert, key, EVP_sha256());
	if (!si || !PKCS7_add_certificate(p7, cert))
		goto fail;
	for (int i = 0; chain && i < sk_X509_num(chain); i++)
		if (!PKCS7_add_certificate(p7, sk_X509_value(chain, i)))
			goto fail;
	if (!add_attributes(si, idc) || !PKCS7_SIGNER_INFO_sign(si) || !set_content(p7, idc))
		goto fail;
	return p7;
fail:
	PKCS7_free(p7);
	return NULL;
}

/* DER SignedData over the image hash `digest`. */
static int signature_der(const uint8_t *digest, unsigned int n, EVP_PKEY *key, X509 *cert,
			 STACK_OF(X509) * chain, const char *what, uint8_t **der, int *der_len,
			 struct im_error *err)
{
	char e[256];
	struct der idc = {0};
	der_indirect_data(&idc, digest, n);
	PKCS7 *p7 = make_signed_data(&idc, key, cert, chain);
	*der = NULL;
	*der_len = p7 ? i2d_PKCS7(p7, der) : -1;
	PKCS7_free(p7);
	if (*der_len <= 0)
		return im_fail(err, IM_EXIT_INTERNAL,
			       "%s: building the PKCS#7 signature failed: %s", what,
			       ssl_err(e, sizeof(e)));
	return 0;
}

/* ---- Signing ------------------------------------------------------------------------------- */

/* Copy of the unsigned image, zero-padded to 8 bytes, with room for `extra` more bytes. */
static uint8_t *padded_copy(const uint8_t *buf, size_t unsigned_len, size_t padded, size_t extra)
{
	uint8_t *img = malloc(padded + extra);
	if (!img)
		return NULL;
	memcpy(img, buf, unsigned_len);
	memset(img + unsigned_len, 0, padded + extra - unsigned_len);
	return img;
}

static void set_cert_dir(uint8_t *img, const struct im_pe_layout *l, uint32_t off, uint32_t size)
{
	struct im_pe_data_dir d = {off, size};
	memcpy(img + l->dirs_off + IM_PE_DIR_SECURITY * sizeof(d), &d, sizeof(d));
}

static int check_signer(const char *what, EVP_PKEY *key, X509 *cert, struct im_error *err)
{
	char e[256];
	if (!key || !cert)
		return im_fail(err, IM_EXIT_INVALID, "%s: signing needs a key and a certificate",
			       what);
	if (X509_check_private_key(cert, key) != 1)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: signing key does not match the certificate's public key (%s)",
			       what, ssl_err(e, sizeof(e)));
	return 0;
}

int im_authenticode_sign(const uint8_t *buf, size_t len, const char *what, EVP_PKEY *key,
			 X509 *cert, STACK_OF(X509) * chain, uint8_t **out, size_t *out_len,
			 struct im_error *err)
{
	struct im_pe_layout l;
	size_t base, sig_off, sig_len;
	*out = NULL;
	*out_len = 0;
	if (check_signer(what, key, cert, err) ||
	    im_authenticode_locate(buf, len, what, &base, &sig_off, &sig_len, err) ||
	    im_pe_locate(buf, len, what, &l, err))
		return -1;
	if (l.n_dirs <= IM_PE_DIR_SECURITY)
		return im_fail(
		    err, IM_EXIT_INVALID,
		    "%s: NumberOfRvaAndSizes %u: expected a certificate table entry (>= 5)", what,
		    l.n_dirs);
	size_t padded = (base + 7) & ~(size_t)7; /* the table starts 8-byte aligned */
	uint8_t *img = padded_copy(buf, base, padded, 0);
	if (!img)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory", what);
	set_cert_dir(img, &l, 0, 0);

	uint8_t digest[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int n;
	int der_len;
	if (digest_image(img, padded, &l, what, EVP_sha256(), digest, &n, err) ||
	    signature_der(digest, n, key, cert, chain, what, &der, &der_len, err))
		goto fail;
	size_t entry = sizeof(struct im_win_certificate) + (size_t)der_len;
	size_t table = (entry + 7) & ~(size_t)7;
	if (padded + table > UINT32_MAX) {
		im_fail(err, IM_EXIT_INVALID, "%s: signed image would exceed 4 GiB", what);
		goto fail;
	}
	uint8_t *grown = realloc(img, padded + table);
	if (!grown) {
		im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory", what);
		goto fail;
	}
	img = grown;
	struct im_win_certificate wc = {(uint32_t)entry, IM_WIN_CERT_REVISION_2_0,
					IM_WIN_CERT_TYPE_PKCS_SIGNED_DATA};
	memcpy(img + padded, &wc, sizeof(wc));
	memcpy(img + padded + sizeof(wc), der, (size_t)der_len);
	memset(img + padded + entry, 0, table - entry);
	set_cert_dir(img, &l, (uint32_t)padded, (uint32_t)table);
	uint32_t sum = im_pe_checksum(img, padded + table, l.checksum_off);
	memcpy(img + l.checksum_off, &sum, sizeof(sum));
	OPENSSL_free(der);
	*out = img;
	*out_len = padded + table;
	return 0;
fail:
	OPENSSL_free(der);
	free(img);
	return -1;
}

/* ---- PEM loading --------------------------------------------------------------------------- */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1; /* never prompt: encrypted keys are refused */
}

static BIO *open_pem(const char *path, struct im_error *err)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		im_fail_errno(err, im_exit_for_input_errno(errno), "%s: cannot open", path);
		return NULL;
	}
	BIO *b = BIO_new_fp(f, BIO_CLOSE);
	if (!b) {
		fclose(f);
		im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory", path);
	}
	return b;
}

int im_load_key_pem(const char *path, EVP_PKEY **key, struct im_error *err)
{
	char e[256];
	BIO *b = open_pem(path, err);
	*key = NULL;
	if (!b)
		return -1;
	*key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	if (!*key)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: expected an unencrypted PEM private key (%s)", path,
			       ssl_err(e, sizeof(e)));
	return 0;
}

int im_load_cert_pem(const char *path, X509 **cert, struct im_error *err)
{
	char e[256];
	BIO *b = open_pem(path, err);
	*cert = NULL;
	if (!b)
		return -1;
	*cert = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	if (!*cert)
		return im_fail(err, IM_EXIT_INVALID, "%s: expected a PEM X.509 certificate (%s)",
			       path, ssl_err(e, sizeof(e)));
	return 0;
}
