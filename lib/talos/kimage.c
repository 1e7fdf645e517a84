/* The embedded kernel configuration (CONFIG_IKCONFIG), found in-process. See
 * include/imager/talos/kimage.h for the formats and where they are specified. */
#include "imager/talos/kimage.h"

#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "imager/util/readfile.h"

/* kernel/configs.c: "IKCFG_ST" then the gzip member (RFC 1952 magic 1f 8b, method 8). */
static const uint8_t ikcfg_start[] = {'I', 'K', 'C', 'F', 'G', '_', 'S', 'T', 0x1f, 0x8b, 0x08};
#define START_LEN  sizeof(ikcfg_start)
#define START_MARK 8 /* "IKCFG_ST"; the gzip data begins right after it */
#define END_MARK   "IKCFG_ED"
#define MAX_BLOB   (4u << 20)	/* config.gz is tens of KiB; a bigger blob is damage */
#define MAX_TEXT   (16u << 20)	/* a .config is a few hundred KiB */
#define MAX_KERNEL (1ull << 30) /* decompressed images stop here (bounded work) */
#define CHUNK	   (256u << 10)

enum comp { COMP_NONE, COMP_GZIP, COMP_XZ, COMP_ZSTD, COMP_LZMA, COMP_OTHER };

/* Streamed decompressed output goes through this: it looks for the markers across chunk
 * boundaries and keeps only the blob between them (memory stays bounded by MAX_BLOB),
 * or, for a compressed .config file (allow_text), the whole text. */
struct scan {
	uint8_t carry[START_LEN - 1];
	size_t ncarry;
	int found, done, allow_text, text_mode, started;
	uint8_t *blob;
	size_t blen, bcap;
	uint64_t total;
	const char *what;
	struct im_error *err;
};

static int blob_append(struct scan *s, const uint8_t *p, size_t n, size_t max)
{
	if (s->blen + n > max)
		return im_fail(s->err, IM_EXIT_INVALID,
			       s->text_mode ? "%s: configuration larger than %zu MiB"
					    : "%s: IKCFG_ST marker without IKCFG_ED within %zu MiB",
			       s->what, max >> 20);
	if (s->blen + n + 1 > s->bcap) {
		size_t nc = s->bcap ? s->bcap : 65536;
		while (nc < s->blen + n + 1)
			nc *= 2;
		uint8_t *nb = realloc(s->blob, nc);
		if (!nb)
			return im_fail(s->err, IM_EXIT_INTERNAL, "out of memory");
		s->blob = nb;
		s->bcap = nc;
	}
	memcpy(s->blob + s->blen, p, n);
	s->blen += n;
	s->blob[s->blen] = 0;
	return 0;
}

/* After the start marker: collect until "IKCFG_ED". */
static int scan_blob(struct scan *s, const uint8_t *p, size_t n)
{
	size_t from = s->blen > 7 ? s->blen - 7 : 0;
	if (blob_append(s, p, n, MAX_BLOB) < 0)
		return -1;
	uint8_t *e = memmem(s->blob + from, s->blen - from, END_MARK, 8);
	if (e) {
		s->blen = (size_t)(e - s->blob);
		s->done = 1;
	}
	return 0;
}

static int begin_blob(struct scan *s, const uint8_t *p, size_t n)
{
	s->found = 1;
	return scan_blob(s, p, n);
}

/* A compressed file whose content starts like a .config ("#" comment or CONFIG_). */
static int looks_like_config(const uint8_t *p, size_t n)
{
	return (n >= 7 && !memcmp(p, "CONFIG_", 7)) || (n >= 2 && p[0] == '#' && p[1] != '!');
}

static int scan_feed(struct scan *s, const uint8_t *p, size_t n)
{
	if (!n || s->done)
		return 0;
	if (!s->started) {
		s->started = 1;
		s->text_mode = s->allow_text && looks_like_config(p, n);
	}
	s->total += n;
	if (s->text_mode)
		return blob_append(s, p, n, MAX_TEXT);
	if (s->found)
		return scan_blob(s, p, n);
	/* A marker that straddles the previous chunk and this one (it is longer than the
	 * carry, so a match in edge starts in the carry). */
	uint8_t edge[2 * START_LEN];
	size_t head = n < START_LEN - 1 ? n : START_LEN - 1;
	memcpy(edge, s->carry, s->ncarry);
	memcpy(edge + s->ncarry, p, head);
	uint8_t *m = memmem(edge, s->ncarry + head, ikcfg_start, START_LEN);
	if (m) {
		size_t skip = (size_t)(m - edge) + START_MARK; /* bytes of edge before gzip */
		size_t in_p = skip > s->ncarry ? skip - s->ncarry : 0;
		if (skip < s->ncarry &&
		    blob_append(s, s->carry + skip, s->ncarry - skip, MAX_BLOB) < 0)
			return -1;
		return begin_blob(s, p + in_p, n - in_p);
	}
	m = memmem(p, n, ikcfg_start, START_LEN);
	if (m)
		return begin_blob(s, m + START_MARK, n - (size_t)(m - p) - START_MARK);
	/* Keep the stream's last START_LEN - 1 bytes for the next chunk. */
	size_t cl = sizeof(s->carry);
	if (n >= cl) {
		memcpy(s->carry, p + n - cl, cl);
		s->ncarry = cl;
	} else {
		uint8_t t[2 * sizeof(s->carry)];
		memcpy(t, s->carry, s->ncarry);
		memcpy(t + s->ncarry, p, n);
		size_t tl = s->ncarry + n, k = tl < cl ? tl : cl;
		memcpy(s->carry, t + tl - k, k);
		s->ncarry = k;
	}
	return 0;
}

static int too_big(struct scan *s)
{
	return s->total > MAX_KERNEL ? im_fail(s->err, IM_EXIT_INVALID,
					       "%s: decompresses to more than 1 GiB", s->what)
				     : 0;
}

/* --- decompressors: each streams its output into the scanner ---------------------------- */

static int run_gzip(const uint8_t *in, size_t len, struct scan *s)
{
	z_stream z = {0};
	uint8_t *out = malloc(CHUNK);
	int rc = -1, zr = Z_OK;
	/* 16 + MAX_WBITS: a gzip wrapper (RFC 1952), as the kernel's gzip payloads have. */
	if (!out || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		free(out);
		return im_fail(s->err, IM_EXIT_INTERNAL, "out of memory");
	}
	z.next_in = (Bytef *)in;
	z.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
	while (!s->done && zr != Z_STREAM_END) {
		z.next_out = out;
		z.avail_out = CHUNK;
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			im_fail(s->err, IM_EXIT_INVALID, "%s: damaged gzip stream (%s)", s->what,
				z.msg ? z.msg : "truncated");
			goto out;
		}
		if (scan_feed(s, out, CHUNK - z.avail_out) < 0 || too_big(s) < 0)
			goto out;
	}
	rc = 0;
out:
	inflateEnd(&z);
	free(out);
	return rc;
}

static int run_zstd(const uint8_t *in, size_t len, struct scan *s)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	uint8_t *out = malloc(CHUNK);
	int rc = -1;
	if (!d || !out) {
		im_fail(s->err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	/* Kernels use zstd -22 --ultra: allow its window (the default limit is 2^27). */
	ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 31);
	ZSTD_inBuffer ib = {in, len, 0};
	size_t zr = 1;
	while (!s->done && zr != 0) {
		ZSTD_outBuffer ob = {out, CHUNK, 0};
		zr = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(zr)) {
			im_fail(s->err, IM_EXIT_INVALID, "%s: damaged zstd stream (%s)", s->what,
				ZSTD_getErrorName(zr));
			goto out;
		}
		if (scan_feed(s, out, ob.pos) < 0 || too_big(s) < 0)
			goto out;
		if (zr != 0 && ib.pos == ib.size && ob.pos < CHUNK) {
			im_fail(s->err, IM_EXIT_INVALID, "%s: truncated zstd stream", s->what);
			goto out;
		}
	}
	rc = 0;
out:
	ZSTD_freeDStream(d);
	free(out);
	return rc;
}

/* xz (.xz container) and legacy lzma (.lzma "alone" format) through liblzma. */
static int run_lzma(const uint8_t *in, size_t len, int alone, struct scan *s)
{
	lzma_stream z = LZMA_STREAM_INIT;
	uint8_t *out = malloc(CHUNK);
	int rc = -1;
	lzma_ret lr =
	    alone ? lzma_alone_decoder(&z, UINT64_MAX) : lzma_stream_decoder(&z, UINT64_MAX, 0);
	if (!out || lr != LZMA_OK) {
		free(out);
		lzma_end(&z);
		return im_fail(s->err, IM_EXIT_INTERNAL, "out of memory");
	}
	z.next_in = in;
	z.avail_in = len;
	while (!s->done && lr != LZMA_STREAM_END) {
		z.next_out = out;
		z.avail_out = CHUNK;
		lr = lzma_code(&z, LZMA_FINISH);
		if (lr != LZMA_OK && lr != LZMA_STREAM_END) {
			im_fail(s->err, IM_EXIT_INVALID, "%s: damaged %s stream (liblzma error %d)",
				s->what, alone ? "lzma" : "xz", (int)lr);
			goto out;
		}
		if (scan_feed(s, out, CHUNK - z.avail_out) < 0 || too_big(s) < 0)
			goto out;
	}
	rc = 0;
out:
	lzma_end(&z);
	free(out);
	return rc;
}

/* Compression by magic number (RFC 1952; zstd RFC 8878 §3.1.1; xz file format §2.1.1.1;
 * lzma-alone: properties byte 0x5d and a 2^n dictionary size, as the kernel's lzma
 * payloads have; bzip2 "BZh"; lz4 legacy frame 02 21 4c 18; lzo "\x89LZO"). */
static enum comp comp_of(const uint8_t *p, size_t n)
{
	if (n >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 0x08)
		return COMP_GZIP;
	if (n >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4))
		return COMP_ZSTD;
	if (n >= 6 && !memcmp(p,
			      "\xfd"
			      "7zXZ\0",
			      6))
		return COMP_XZ;
	if (n >= 5 && p[0] == 0x5d && p[1] == 0 && p[2] == 0 && p[4] == 0)
		return COMP_LZMA;
	if ((n >= 3 && !memcmp(p, "BZh", 3)) || (n >= 4 && !memcmp(p, "\x02\x21\x4c\x18", 4)) ||
	    (n >= 4 && !memcmp(p, "\x89LZO", 4)))
		return COMP_OTHER;
	return COMP_NONE;
}

static int decompress(enum comp c, const uint8_t *in, size_t len, struct scan *s)
{
	switch (c) {
	case COMP_GZIP:
		return run_gzip(in, len, s);
	case COMP_ZSTD:
		return run_zstd(in, len, s);
	case COMP_XZ:
		return run_lzma(in, len, 0, s);
	case COMP_LZMA:
		return run_lzma(in, len, 1, s);
	case COMP_NONE:
		return scan_feed(s, in, len);
	default:
		return im_fail(s->err, IM_EXIT_UNSUPPORTED,
			       "%s: kernel payload compressed with bzip2/lz4/lzo: not supported "
			       "(pass its .config with --config FILE)",
			       s->what);
	}
}

/* --- containers ------------------------------------------------------------------------ */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum container { CONT_RAW, CONT_BZIMAGE, CONT_ZBOOT, CONT_IMAGE, CONT_ELF, CONT_NONE };

static const char *const format_names[][6] = {
    /* indexed by container, then comp */
    [CONT_RAW] = {"uncompressed", "gzip", "xz", "zstd", "lzma", "other"},
    [CONT_BZIMAGE] = {"bzImage", "bzImage, gzip", "bzImage, xz", "bzImage, zstd", "bzImage, lzma",
		      "bzImage"},
    [CONT_ZBOOT] = {"EFI zboot", "EFI zboot, gzip", "EFI zboot, xz", "EFI zboot, zstd",
		    "EFI zboot, lzma", "EFI zboot"},
    [CONT_IMAGE] = {"arm64 Image"},
    [CONT_ELF] = {"ELF vmlinux"},
};

/* Where the (compressed) kernel is inside `buf` (*off, *plen), and which container. */
static enum container find_payload(const uint8_t *buf, size_t len, size_t *off, size_t *plen)
{
	*off = 0;
	*plen = len;
	/* x86 boot protocol (Documentation/arch/x86/boot.rst): "HdrS" at 0x202, version at
	 * 0x206 (payload fields since 2.08), setup_sects at 0x1f1 (0 means 4); the
	 * protected-mode code starts after the setup sectors and the boot sector, and
	 * payload_offset (0x248) / payload_length (0x24c) are relative to it. */
	if (len >= 0x250 && !memcmp(buf + 0x202, "HdrS", 4) &&
	    (buf[0x206] | buf[0x207] << 8) >= 0x208) {
		size_t setup = buf[0x1f1] ? buf[0x1f1] : 4;
		size_t pm = (setup + 1) * 512, po = le32(buf + 0x248), pl = le32(buf + 0x24c);
		if (pm + po <= len && pl <= len - pm - po) {
			*off = pm + po;
			*plen = pl;
		}
		return CONT_BZIMAGE;
	}
	/* EFI zboot (zboot-header.S): "MZ", "zimg" at 4, payload offset (LE32 at 8) and
	 * size (LE32 at 12) from the start of the file. */
	if (len >= 64 && buf[0] == 'M' && buf[1] == 'Z' && !memcmp(buf + 4, "zimg", 4)) {
		size_t po = le32(buf + 8), pl = le32(buf + 12);
		if (po <= len && pl <= len - po) {
			*off = po;
			*plen = pl;
		}
		return CONT_ZBOOT;
	}
	/* arm64 Image (Documentation/arch/arm64/booting.rst): magic "ARM\x64" at 0x38. */
	if (len >= 64 && le32(buf + 0x38) == 0x644d5241)
		return CONT_IMAGE;
	if (len >= 4 && !memcmp(buf,
				"\x7f"
				"ELF",
				4))
		return CONT_ELF;
	return comp_of(buf, len) != COMP_NONE ? CONT_RAW : CONT_NONE;
}

/* config.gz between the markers -> .config text. */
static int gunzip_blob(const uint8_t *blob, size_t blen, const char *what, char **text,
		       size_t *tlen, struct im_error *err)
{
	struct scan t = {.allow_text = 1, .text_mode = 1, .started = 1, .what = what, .err = err};
	if (run_gzip(blob, blen, &t) < 0) {
		free(t.blob);
		return -1;
	}
	if (!t.blob) {
		t.blob = (uint8_t *)strdup("");
		if (!t.blob)
			return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	*text = (char *)t.blob;
	*tlen = t.blen;
	return 0;
}

int im_kimage_config(const uint8_t *buf, size_t len, const char *what, char **text, size_t *tlen,
		     const char **format, struct im_error *err)
{
	size_t off, plen;
	*text = NULL;
	*tlen = 0;
	*format = NULL;
	enum container c = find_payload(buf, len, &off, &plen);
	if (c == CONT_NONE)
		return IM_KIMAGE_NOT_KERNEL;
	enum comp k = c == CONT_IMAGE || c == CONT_ELF ? COMP_NONE : comp_of(buf + off, plen);
	*format = format_names[c][k];
	struct scan s = {.allow_text = c == CONT_RAW, .what = what, .err = err};
	if (decompress(k, buf + off, plen, &s) < 0)
		goto fail;
	if (s.text_mode) {
		*format = c == CONT_RAW && k == COMP_GZIP ? "gzip'd .config" : "compressed .config";
		*text = (char *)s.blob;
		*tlen = s.blen;
		return IM_KIMAGE_CONFIG;
	}
	if (!s.found) {
		free(s.blob);
		return IM_KIMAGE_NO_CONFIG;
	}
	if (!s.done) {
		im_fail(err, IM_EXIT_INVALID, "%s: IKCFG_ST marker without IKCFG_ED", what);
		goto fail;
	}
	int rc = gunzip_blob(s.blob, s.blen, what, text, tlen, err);
	free(s.blob);
	return rc < 0 ? -1 : IM_KIMAGE_CONFIG;
fail:
	free(s.blob);
	return -1;
}

int im_kconfig_load(const char *path, struct im_kconfig *kc, const char **source,
		    struct im_error *err)
{
	uint8_t *buf;
	size_t len, tlen;
	char *text;
	memset(kc, 0, sizeof(*kc));
	*source = NULL;
	if (im_read_file(path, "kernel or kernel configuration", &buf, &len, err) < 0)
		return -1;
	int r = im_kimage_config(buf, len, path, &text, &tlen, source, err);
	if (r == IM_KIMAGE_NOT_KERNEL) {
		*source = ".config";
		if (memchr(buf, '\0', len)) {
			free(buf);
			return im_fail(
			    err, IM_EXIT_INVALID,
			    "%s: neither a kernel image (bzImage, EFI zboot, arm64 Image, "
			    "ELF, gzip/xz/zstd/lzma) nor a .config",
			    path);
		}
		r = im_kconfig_parse((const char *)buf, len, path, kc, err);
		free(buf);
		return r;
	}
	free(buf);
	if (r < 0 || r == IM_KIMAGE_NO_CONFIG)
		return r < 0 ? -1 : 1;
	r = im_kconfig_parse(text, tlen, path, kc, err);
	free(text);
	return r;
}
