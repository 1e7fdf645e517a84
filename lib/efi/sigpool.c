/* The signature pool of keyless verification (sigpool.h). */

/* The pool signer is an RSA_METHOD whose rsa_sign hook answers from the pool: OpenSSL 3
 * has no provider-free way to plug a signing function under PKCS7 and EVP_DigestSign, and a
 * key with its own method stays on the legacy path that calls the hook (crypto/rsa
 * RSA_sign). The deprecated RSA_* API is used on purpose, in this file only. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "imager/efi/sigpool.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "imager/util/base64.h"
#include "imager/util/compress.h"

#define MAX_SIG	  512
#define MAX_ITEM  8192	     /* longest item looked for: a certificate */
#define CHUNK	  (4u << 20) /* streamed reads */
#define MAX_DEPTH 3

struct sig {
	size_t len;
	uint8_t b[MAX_SIG];
};

/* An EFI_VARIABLE_AUTHENTICATION_2 file (.auth) as it lies in the bytes, by its sha256. */
struct auth {
	uint8_t sha[32];
	uint8_t *b;
	size_t len;
};

struct im_sigpool {
	struct sig *sigs;
	size_t nsigs, cap;
	struct auth *auths;
	size_t nauths;
	STACK_OF(X509) * certs;
	EVP_PKEY **keys;
	size_t nkeys;
	size_t asked, misses;
	RSA_METHOD *meth;
};

static int ex_index = -1;

struct im_sigpool *im_sigpool_new(void)
{
	struct im_sigpool *p = calloc(1, sizeof(*p));
	if (p && !(p->certs = sk_X509_new_null())) {
		free(p);
		p = NULL;
	}
	return p;
}

void im_sigpool_free(struct im_sigpool *p)
{
	if (!p)
		return;
	free(p->sigs);
	for (size_t i = 0; i < p->nauths; i++)
		free(p->auths[i].b);
	free(p->auths);
	sk_X509_pop_free(p->certs, X509_free);
	for (size_t i = 0; i < p->nkeys; i++)
		EVP_PKEY_free(p->keys[i]);
	free(p->keys);
	RSA_meth_free(p->meth);
	free(p);
}

/* ---- gathering ---------------------------------------------------------------------------- */

static void add_sig(struct im_sigpool *p, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < p->nsigs; i++)
		if (p->sigs[i].len == len && !memcmp(p->sigs[i].b, b, len))
			return;
	if (p->nsigs == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct sig *s = realloc(p->sigs, cap * sizeof(*s));
		if (!s)
			return; /* a signature not kept shows up as a miss */
		p->sigs = s;
		p->cap = cap;
	}
	p->sigs[p->nsigs].len = len;
	memcpy(p->sigs[p->nsigs++].b, b, len);
}

static int der_equal(X509 *a, X509 *b)
{
	return X509_cmp(a, b) == 0;
}

static void add_cert(struct im_sigpool *p, const uint8_t *b, size_t avail)
{
	const unsigned char *q = b;
	X509 *x = d2i_X509(NULL, &q, (long)(avail < MAX_ITEM ? avail : MAX_ITEM));
	if (!x)
		return;
	for (int i = 0; i < sk_X509_num(p->certs); i++)
		if (der_equal(sk_X509_value(p->certs, i), x)) {
			X509_free(x);
			return;
		}
	if (!sk_X509_push(p->certs, x))
		X509_free(x);
}

static void add_pem_key(struct im_sigpool *p, const uint8_t *b, size_t avail)
{
	BIO *bio = BIO_new_mem_buf(b, (int)(avail < MAX_ITEM ? avail : MAX_ITEM));
	EVP_PKEY *k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!k)
		return;
	for (size_t i = 0; i < p->nkeys; i++)
		if (EVP_PKEY_eq(p->keys[i], k) == 1) {
			EVP_PKEY_free(k);
			return;
		}
	EVP_PKEY **ks = realloc(p->keys, (p->nkeys + 1) * sizeof(*ks));
	if (!ks) {
		EVP_PKEY_free(k);
		return;
	}
	p->keys = ks;
	p->keys[p->nkeys++] = k;
}

static void add_b64_sig(struct im_sigpool *p, const uint8_t *b, size_t avail)
{
	size_t n = 0;
	while (n < avail && n < 1024 && b[n] != '"')
		n++;
	if (n == avail || n == 1024)
		return;
	uint8_t *sig;
	size_t len, bad;
	if (im_base64_decode((const char *)b, n, &sig, &len, &bad) == 0) {
		if (len >= 128 && len <= MAX_SIG)
			add_sig(p, sig, len);
		free(sig);
	}
}

static uint32_t le32_at(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void add_auth_blob(struct im_sigpool *p, const uint8_t *b, size_t len)
{
	uint8_t sha[32];
	if (!EVP_Digest(b, len, sha, NULL, EVP_sha256(), NULL))
		return;
	for (size_t i = 0; i < p->nauths; i++)
		if (!memcmp(p->auths[i].sha, sha, 32))
			return;
	struct auth *a = realloc(p->auths, (p->nauths + 1) * sizeof(*a));
	if (!a)
		return;
	p->auths = a;
	if (!(a[p->nauths].b = malloc(len)))
		return;
	memcpy(a[p->nauths].sha, sha, 32);
	memcpy(a[p->nauths].b, b, len);
	a[p->nauths++].len = len;
}

/* UEFI 2.10 §8.2.2: EFI_TIME (16 bytes), WIN_CERTIFICATE_UEFI_GUID {dwLength, wRevision
 * 0x0200, wCertificateType 0x0EF1, EFI_CERT_TYPE_PKCS7_GUID, PKCS#7}, then the variable data:
 * EFI_SIGNATURE_LISTs (§32.4.1). Where the file ends is not written down, so every whole
 * list count is a candidate; verification picks the one with the recorded sha256. */
static void add_auth(struct im_sigpool *p, const uint8_t *b, size_t avail)
{
	static const uint8_t pkcs7_guid[16] = {0x9d, 0xd2, 0xaf, 0x4a, 0xdf, 0x68, 0xee, 0x49,
					       0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7};
	if (avail < 40 || memcmp(b + 24, pkcs7_guid, 16))
		return;
	size_t off = 16 + (size_t)le32_at(b + 16);
	for (int lists = 0; lists < 8 && off + 28 <= avail; lists++) {
		size_t size = le32_at(b + off + 16);
		if (size < 28 || size > avail - off)
			return;
		off += size;
		add_auth_blob(p, b, off);
	}
}

/* One item starting at b[0] (avail bytes from there to the end of what is in memory). */
static void scan_at(struct im_sigpool *p, const uint8_t *b, size_t avail)
{
	static const char pem[] = "-----BEGIN PUBLIC KEY-----";
	static const char b64[] = "\"sig\":\"";
	switch (b[0]) {
	case 0x04: /* OCTET STRING, two length bytes: a PKCS#1 signature of 1024..4096 bits */
		if (avail >= 4 && b[1] == 0x82) {
			size_t len = (size_t)b[2] << 8 | b[3];
			if ((len == 128 || len == 256 || len == 384 || len == 512) &&
			    avail >= 4 + len)
				add_sig(p, b + 4, len);
		} else if (avail >= 3 && b[1] == 0x81 && b[2] == 0x80 && avail >= 3 + 128) {
			add_sig(p, b + 3, 128);
		}
		break;
	case 0xa0: /* PKCS#7 SignedData certificates [0] IMPLICIT, then a Certificate */
		if (avail > 8 && b[1] == 0x82 && b[4] == 0x30 && b[5] == 0x82)
			add_cert(p, b + 4, avail - 4);
		break;
	case '-':
		if (avail > sizeof(pem) && !memcmp(b, pem, sizeof(pem) - 1))
			add_pem_key(p, b, avail);
		break;
	case '"':
		if (avail > sizeof(b64) && !memcmp(b, b64, sizeof(b64) - 1))
			add_b64_sig(p, b + sizeof(b64) - 1, avail - (sizeof(b64) - 1));
		break;
	}
}

/* Positions [0, upto) of buf; every item needs at most MAX_ITEM bytes past its start. */
static void scan_range(struct im_sigpool *p, const uint8_t *buf, size_t len, size_t upto)
{
	for (size_t i = 0; i < upto; i++) {
		uint8_t c = buf[i];
		if (c == 0x04 || c == 0xa0 || c == '-' || c == '"')
			scan_at(p, buf + i, len - i);
		if (len - i >= 40 && buf[i + 22] == 0xf1 && buf[i + 23] == 0x0e &&
		    buf[i + 20] == 0 && buf[i + 21] == 2)
			add_auth(p, buf + i, len - i);
	}
}

void im_sigpool_scan_buf(struct im_sigpool *p, const uint8_t *buf, size_t len)
{
	scan_range(p, buf, len, len);
}

static int scan_archive(struct im_sigpool *p, struct archive *a, int depth, struct im_error *err);

static struct archive *open_reader(void)
{
	struct archive *a = archive_read_new();
	if (!a)
		return NULL;
	/* built-in decompressors only: no external filter program is ever run */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_raw(a);
	return a;
}

static int looks_nested(const uint8_t *b, size_t n)
{
	return im_compress_detect(b, n) != IM_COMPRESS_NONE ||
	       (n >= 512 && !memcmp(b + 257, "ustar", 5));
}

/* A member that is itself compressed or a tar, read through a second libarchive reader
 * whose input is the outer reader's data (the bytes already read come first): streamed,
 * never held whole. */
struct nest {
	struct archive *outer;
	const uint8_t *first;
	size_t first_len;
	uint8_t buf[1 << 16];
};

static la_ssize_t nest_read(struct archive *a, void *ud, const void **out)
{
	(void)a;
	struct nest *n = ud;
	if (n->first) {
		*out = n->first;
		n->first = NULL;
		return (la_ssize_t)n->first_len;
	}
	*out = n->buf;
	return archive_read_data(n->outer, n->buf, sizeof(n->buf));
}

static int scan_nested(struct im_sigpool *p, struct archive *outer, const uint8_t *first,
		       size_t first_len, int depth, struct im_error *err)
{
	struct nest *n = malloc(sizeof(*n));
	struct archive *in = n ? open_reader() : NULL;
	int rc = 0;
	if (!in) {
		free(n);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	*n = (struct nest){.outer = outer, .first = first, .first_len = first_len};
	if (archive_read_open(in, n, NULL, nest_read, NULL) == ARCHIVE_OK)
		rc = scan_archive(p, in, depth + 1, err);
	archive_read_free(in);
	free(n);
	return rc;
}

/* A tar member or the one raw stream: streamed through the scanner with MAX_ITEM bytes of
 * the previous read kept in front, unless it is itself compressed or a tar (scan_nested). */
static int scan_entry(struct im_sigpool *p, struct archive *a, int64_t size, int depth,
		      struct im_error *err)
{
	uint8_t *buf = malloc(CHUNK + MAX_ITEM);
	size_t have = 0;
	int first = 1, rc = 0;
	if (!buf)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf + have, CHUNK);
		if (n < 0) {
			rc = im_fail(err, IM_EXIT_INVALID, "cannot read: %s",
				     archive_error_string(a));
			break;
		}
		if (first && n > 0 && depth < MAX_DEPTH && size > 0 &&
		    looks_nested(buf, (size_t)n)) {
			rc = scan_nested(p, a, buf, (size_t)n, depth, err);
			break;
		}
		first = 0;
		have += (size_t)n;
		if (n == 0) {
			scan_range(p, buf, have, have);
			break;
		}
		if (have > MAX_ITEM) {
			scan_range(p, buf, have, have - MAX_ITEM);
			memmove(buf, buf + have - MAX_ITEM, MAX_ITEM);
			have = MAX_ITEM;
		}
	}
	free(buf);
	return rc;
}

static int scan_archive(struct im_sigpool *p, struct archive *a, int depth, struct im_error *err)
{
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
		if (archive_entry_filetype(e) != AE_IFREG &&
		    archive_format(a) != ARCHIVE_FORMAT_RAW)
			continue;
		if (scan_entry(p, a, size, depth, err) < 0)
			return -1;
	}
	if (r != ARCHIVE_EOF && depth == 0)
		return im_fail(err, IM_EXIT_INVALID, "cannot read: %s", archive_error_string(a));
	return 0; /* a nested member that is not an archive after all was scanned as it is */
}

int im_sigpool_scan_file(struct im_sigpool *p, const char *path, struct im_error *err)
{
	struct archive *a = open_reader();
	if (!a)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int rc;
	if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK)
		rc = im_fail(err, IM_EXIT_MISSING, "%s: %s", path, archive_error_string(a));
	else if ((rc = scan_archive(p, a, 0, err)) < 0)
		im_fail(err, err->code, "%s: %s", path, err->msg);
	archive_read_free(a);
	return rc;
}

size_t im_sigpool_count(const struct im_sigpool *p, size_t *certs, size_t *keys)
{
	if (certs)
		*certs = (size_t)sk_X509_num(p->certs);
	if (keys)
		*keys = p->nkeys;
	return p->nsigs;
}

/* ---- lookups ------------------------------------------------------------------------------ */

static int fingerprint_is(const unsigned char *der, int n, const uint8_t fp[32])
{
	uint8_t md[32];
	return n > 0 && EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL) &&
	       !memcmp(md, fp, 32);
}

X509 *im_sigpool_cert(const struct im_sigpool *p, const uint8_t fp[32])
{
	for (int i = 0; i < sk_X509_num(p->certs); i++) {
		X509 *x = sk_X509_value(p->certs, i);
		unsigned char *der = NULL;
		int n = i2d_X509(x, &der), hit = fingerprint_is(der, n, fp);
		OPENSSL_free(der);
		if (hit)
			return x;
	}
	return NULL;
}

EVP_PKEY *im_sigpool_pubkey(const struct im_sigpool *p, const uint8_t fp[32])
{
	for (size_t i = 0; i < p->nkeys; i++) {
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(p->keys[i], &der), hit = fingerprint_is(der, n, fp);
		OPENSSL_free(der);
		if (hit)
			return p->keys[i];
	}
	return NULL;
}

const uint8_t *im_sigpool_auth(const struct im_sigpool *p, const uint8_t sha[32], size_t *len)
{
	for (size_t i = 0; i < p->nauths; i++)
		if (!memcmp(p->auths[i].sha, sha, 32)) {
			*len = p->auths[i].len;
			return p->auths[i].b;
		}
	return NULL;
}

/* ---- the pool signer ---------------------------------------------------------------------- */

/* RSA_METHOD rsa_sign: the pool signature that verifies over (type, m), else zeros. */
static int pool_sign(int type, const unsigned char *m, unsigned int m_len, unsigned char *sigret,
		     unsigned int *siglen, const RSA *rsa)
{
	struct im_sigpool *p = RSA_get_ex_data(rsa, ex_index);
	size_t size = (size_t)RSA_size(rsa);
	p->asked++;
	for (size_t i = 0; i < p->nsigs; i++) {
		if (p->sigs[i].len != size)
			continue;
		/* the default method's public operation checks it (the method only adds sign) */
		if (RSA_verify(type, m, m_len, p->sigs[i].b, (unsigned int)size, (RSA *)rsa) == 1) {
			memcpy(sigret, p->sigs[i].b, size);
			*siglen = (unsigned int)size;
			return 1;
		}
		ERR_clear_error();
	}
	p->misses++;
	memset(sigret, 0, size);
	*siglen = (unsigned int)size;
	return 1;
}

int im_sigpool_signer(struct im_sigpool *p, EVP_PKEY *pub, EVP_PKEY **out, struct im_error *err)
{
	*out = NULL;
	const RSA *src = EVP_PKEY_get0_RSA(pub);
	if (!src)
		return im_fail(err, IM_EXIT_INVALID,
			       "keyless verification: the public key is not an RSA key");
	if (ex_index < 0)
		ex_index = RSA_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (!p->meth && (p->meth = RSA_meth_dup(RSA_PKCS1_OpenSSL())))
		RSA_meth_set_sign(p->meth, pool_sign);
	RSA *r = p->meth && ex_index >= 0 ? RSA_new() : NULL;
	BIGNUM *n = BN_dup(RSA_get0_n(src)), *e = BN_dup(RSA_get0_e(src));
	EVP_PKEY *k = EVP_PKEY_new();
	if (!r || !n || !e || !k || RSA_set_method(r, p->meth) != 1 ||
	    RSA_set0_key(r, n, e, NULL) != 1) {
		BN_free(n);
		BN_free(e);
		RSA_free(r);
		EVP_PKEY_free(k);
		return im_fail(err, IM_EXIT_INTERNAL, "keyless verification: cannot make a signer");
	}
	RSA_set_ex_data(r, ex_index, p);
	if (EVP_PKEY_assign_RSA(k, r) != 1) {
		RSA_free(r);
		EVP_PKEY_free(k);
		return im_fail(err, IM_EXIT_INTERNAL, "keyless verification: cannot make a signer");
	}
	*out = k;
	return 0;
}

size_t im_sigpool_asked(const struct im_sigpool *p, size_t *misses)
{
	if (misses)
		*misses = p->misses;
	return p->asked;
}
