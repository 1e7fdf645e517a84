/* Streaming xz / zstd / gzip writers (see compress.h).
 *
 * Determinism: liblzma's multi-threaded encoder is used even with one thread and with a
 * fixed block size, so the block layout (and hence every byte) is the same for any thread
 * count; zstd is always run in its worker mode (nbWorkers >= 1), whose output the zstd
 * manual guarantees not to depend on the number of workers. */
#include "imager/util/compress.h"
#include "imager/util/outfile.h"
#include "imager/util/threads.h"
#include "imager/util/xzblocks.h"

#include <lzma.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IM_XZ_BLOCK_SIZE (8u << 20)
#define IM_CBUF_SIZE	 (1u << 16)
#define ZERO_RUN_MIN	 (1u << 20) /* shorter zero runs are compressed as data */
#define ZERO_CHUNK	 (1u << 20)

struct im_cstream {
	enum im_compress kind;
	int fd;
	lzma_stream xz;
	struct im_xzb *xzb; /* disk images: the block writer instead of xz (xzblocks.h) */
	ZSTD_CCtx *zs;
	z_stream gz;
	gz_header gzh;
	/* Disk images: zero runs are cheap (im_cstream_write_zeros). zstd: bytes given to the
	 * frame being built (a zero run of ZERO_RUN_MIN or more ends it and goes as a frame
	 * of RLE blocks). gzip: raw deflate in our own RFC 1952 wrapper, so a zero run can be
	 * a repeat of one pre-compressed chunk; crc/isize are the trailer's. */
	bool image, zs_frames;
	uint64_t zs_pending;
	uint32_t gz_crc, gz_isize;
	uint8_t *gz_zero; /* the deflate form of ZERO_CHUNK zeros after a full flush */
	size_t gz_zero_len;
	unsigned char out[IM_CBUF_SIZE];
};

static int xz_open(struct im_cstream *s, int level, int threads, struct im_error *err)
{
	lzma_mt mt = {
	    .threads = (uint32_t)im_compress_threads(threads),
	    .block_size = IM_XZ_BLOCK_SIZE,
	    .preset = (uint32_t)(level < 0 ? 6 : level),
	    .check = LZMA_CHECK_CRC32, /* the kernel's xz decoder supports CRC32 only */
	};
	s->xz = (lzma_stream)LZMA_STREAM_INIT;
	if (lzma_stream_encoder_mt(&s->xz, &mt) != LZMA_OK)
		return im_fail(err, IM_EXIT_INTERNAL, "xz: cannot initialise encoder (level %d)",
			       level);
	return 0;
}

static int zstd_open(struct im_cstream *s, int level, int threads, struct im_error *err)
{
	s->zs = ZSTD_createCCtx();
	if (!s->zs)
		return im_fail(err, IM_EXIT_INTERNAL, "zstd: out of memory");
	ZSTD_CCtx_setParameter(s->zs, ZSTD_c_compressionLevel, level < 0 ? 3 : level);
	ZSTD_CCtx_setParameter(s->zs, ZSTD_c_checksumFlag, 1);
	if (ZSTD_isError(
		ZSTD_CCtx_setParameter(s->zs, ZSTD_c_nbWorkers, im_compress_threads(threads))))
		return im_fail(err, IM_EXIT_INTERNAL,
			       "zstd: library built without threads; output would not be stable");
	return 0;
}

static int gzip_open(struct im_cstream *s, int level, struct im_error *err)
{
	memset(&s->gz, 0, sizeof(s->gz));
	/* windowBits 15 + 16 selects the gzip wrapper (RFC 1952). */
	if (deflateInit2(&s->gz, level < 0 ? 9 : level, Z_DEFLATED, 15 + 16, 9,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return im_fail(err, IM_EXIT_INTERNAL, "gzip: cannot initialise encoder");
	memset(&s->gzh, 0, sizeof(s->gzh));
	s->gzh.os = 3; /* RFC 1952 "Unix", fixed whatever the host; mtime 0, no name */
	deflateSetHeader(&s->gz, &s->gzh);
	return 0;
}

int im_cstream_open(struct im_cstream **out, enum im_compress kind, int level, int threads, int fd,
		    struct im_error *err)
{
	struct im_cstream *s = calloc(1, sizeof(*s));
	if (!s)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	s->kind = kind;
	s->fd = fd;
	int rc = 0;
	switch (kind) {
	case IM_COMPRESS_NONE:
		break;
	case IM_COMPRESS_XZ:
		rc = xz_open(s, level, threads, err);
		break;
	case IM_COMPRESS_ZSTD:
		rc = zstd_open(s, level, threads, err);
		break;
	case IM_COMPRESS_GZIP:
		rc = gzip_open(s, level, err);
		break;
	}
	if (rc < 0) {
		im_cstream_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

static int xz_run(struct im_cstream *s, const void *buf, size_t len, lzma_action act,
		  struct im_error *err)
{
	s->xz.next_in = buf;
	s->xz.avail_in = len;
	for (;;) {
		s->xz.next_out = s->out;
		s->xz.avail_out = sizeof(s->out);
		lzma_ret r = lzma_code(&s->xz, act);
		if (r != LZMA_OK && r != LZMA_STREAM_END)
			return im_fail(err, IM_EXIT_INTERNAL, "xz: encoder error %d", (int)r);
		size_t n = sizeof(s->out) - s->xz.avail_out;
		if (n && im_write_all(s->fd, s->out, n, "compressed output", err) < 0)
			return -1;
		if (act == LZMA_RUN && s->xz.avail_in == 0)
			return 0;
		if (r == LZMA_STREAM_END)
			return 0;
	}
}

static int zstd_run(struct im_cstream *s, const void *buf, size_t len, ZSTD_EndDirective end,
		    struct im_error *err)
{
	ZSTD_inBuffer in = {buf, len, 0};
	for (;;) {
		ZSTD_outBuffer o = {s->out, sizeof(s->out), 0};
		size_t left = ZSTD_compressStream2(s->zs, &o, &in, end);
		if (ZSTD_isError(left))
			return im_fail(err, IM_EXIT_INTERNAL, "zstd: %s", ZSTD_getErrorName(left));
		if (o.pos && im_write_all(s->fd, s->out, o.pos, "compressed output", err) < 0)
			return -1;
		if (end == ZSTD_e_continue ? in.pos == in.size : left == 0)
			return 0;
	}
}

static int gzip_run(struct im_cstream *s, const void *buf, size_t len, int flush,
		    struct im_error *err)
{
	s->gz.next_in = (Bytef *)buf;
	s->gz.avail_in = (uInt)len;
	for (;;) {
		s->gz.next_out = s->out;
		s->gz.avail_out = sizeof(s->out);
		int r = deflate(&s->gz, flush);
		if (r == Z_STREAM_ERROR)
			return im_fail(err, IM_EXIT_INTERNAL, "gzip: encoder error");
		size_t n = sizeof(s->out) - s->gz.avail_out;
		if (n && im_write_all(s->fd, s->out, n, "compressed output", err) < 0)
			return -1;
		if (flush == Z_NO_FLUSH && s->gz.avail_in == 0)
			return 0;
		if (flush == Z_FULL_FLUSH && s->gz.avail_out != 0)
			return 0;
		if (r == Z_STREAM_END)
			return 0;
	}
}

/* RFC 1952 member header as zlib writes it for our settings (no name, mtime 0, XFL 2 for
 * level 9, OS 3), so the image bytes are those of zlib's own gzip wrapper. */
static int gzip_open_raw(struct im_cstream *s, struct im_error *err)
{
	static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3};
	memset(&s->gz, 0, sizeof(s->gz));
	if (deflateInit2(&s->gz, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return im_fail(err, IM_EXIT_INTERNAL, "gzip: cannot initialise encoder");
	s->gz_crc = (uint32_t)crc32(0, NULL, 0);
	return im_write_all(s->fd, hdr, sizeof(hdr), "compressed output", err);
}

int im_cstream_open_image(struct im_cstream **out, enum im_compress kind, int fd,
			  struct im_error *err)
{
	*out = NULL;
	if (kind == IM_COMPRESS_ZSTD || kind == IM_COMPRESS_NONE) {
		if (im_cstream_open(out, kind, -1, 0, fd, err) < 0)
			return -1;
		(*out)->image = true;
		return 0;
	}
	struct im_cstream *s = calloc(1, sizeof(*s));
	if (!s)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	s->kind = kind;
	s->fd = fd;
	s->image = true;
	int rc = kind == IM_COMPRESS_XZ ? im_xzb_open(&s->xzb, -1, fd, err) : gzip_open_raw(s, err);
	if (rc < 0) {
		im_cstream_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

int im_cstream_write(struct im_cstream *s, const void *buf, size_t len, struct im_error *err)
{
	if (s->xzb)
		return im_xzb_write(s->xzb, buf, len, err);
	if (s->image && s->kind == IM_COMPRESS_GZIP) {
		s->gz_crc = (uint32_t)crc32_z(s->gz_crc, buf, len);
		s->gz_isize += (uint32_t)len;
	}
	s->zs_pending += len;
	/* zlib counts in uInt: feed it in pieces. */
	while (s->kind == IM_COMPRESS_GZIP && len > (1u << 30)) {
		if (gzip_run(s, buf, 1u << 30, Z_NO_FLUSH, err) < 0)
			return -1;
		buf = (const char *)buf + (1u << 30);
		len -= 1u << 30;
	}
	switch (s->kind) {
	case IM_COMPRESS_NONE:
		return im_write_all(s->fd, buf, len, "output", err);
	case IM_COMPRESS_XZ:
		return xz_run(s, buf, len, LZMA_RUN, err);
	case IM_COMPRESS_ZSTD:
		return zstd_run(s, buf, len, ZSTD_e_continue, err);
	case IM_COMPRESS_GZIP:
		return gzip_run(s, buf, len, Z_NO_FLUSH, err);
	}
	return 0;
}

int im_cstream_finish(struct im_cstream *s, struct im_error *err)
{
	if (s->xzb) {
		int rc = im_xzb_finish(s->xzb, err); /* frees the writer */
		free(s);
		return rc;
	}
	int rc = 0;
	switch (s->kind) {
	case IM_COMPRESS_NONE:
		break;
	case IM_COMPRESS_XZ:
		rc = xz_run(s, NULL, 0, LZMA_FINISH, err);
		break;
	case IM_COMPRESS_ZSTD: /* no empty frame after a last zero-run frame */
		if (s->zs_pending || !s->zs_frames)
			rc = zstd_run(s, NULL, 0, ZSTD_e_end, err);
		break;
	case IM_COMPRESS_GZIP:
		rc = gzip_run(s, NULL, 0, Z_FINISH, err);
		if (rc == 0 && s->image) {
			uint8_t t[8];
			for (int i = 0; i < 4; i++) {
				t[i] = (uint8_t)(s->gz_crc >> (8 * i));
				t[4 + i] = (uint8_t)(s->gz_isize >> (8 * i));
			}
			rc = im_write_all(s->fd, t, sizeof(t), "compressed output", err);
		}
		break;
	}
	im_cstream_free(s);
	return rc;
}

void im_cstream_free(struct im_cstream *s)
{
	if (!s)
		return;
	if (s->xzb)
		im_xzb_free(s->xzb);
	else if (s->kind == IM_COMPRESS_XZ)
		lzma_end(&s->xz);
	if (s->zs)
		ZSTD_freeCCtx(s->zs);
	if (s->kind == IM_COMPRESS_GZIP)
		deflateEnd(&s->gz);
	free(s->gz_zero);
	free(s);
}

static int feed_zeros(struct im_cstream *s, uint64_t len, struct im_error *err)
{
	static const uint8_t z[1 << 16];
	while (len) {
		size_t n = len < sizeof(z) ? (size_t)len : sizeof(z);
		if (im_cstream_write(s, z, n, err) < 0)
			return -1;
		len -= n;
	}
	return 0;
}

/* RFC 8878 §3.1.1: a frame (no checksum, window 128 KiB, 8-byte content size) of RLE
 * blocks (§3.1.1.2, type 1: one byte repeated Block_Size times, at most 128 KiB). Any
 * zstd decoder reads concatenated frames as one stream; 4 bytes per 128 KiB of zeros. */
static int zstd_zero_frame(struct im_cstream *s, uint64_t len, struct im_error *err)
{
	enum { BLK = 128 << 10, PER = 4096 };
	uint8_t hdr[14] = {0x28, 0xb5, 0x2f, 0xfd, 0xc0, 0x38}; /* magic, FHD: FCS 8, WD 2^17 */
	for (int i = 0; i < 8; i++)
		hdr[6 + i] = (uint8_t)(len >> (8 * i));
	if (im_write_all(s->fd, hdr, sizeof(hdr), "compressed output", err) < 0)
		return -1;
	static uint8_t blocks[PER * 4];
	uint32_t bh = (uint32_t)BLK << 3 | 1u << 1; /* Block_Size | RLE, not last */
	for (int i = 0; i < PER; i++)
		memcpy(blocks + 4 * i, (uint8_t[4]){bh, bh >> 8, bh >> 16, 0}, 4);
	uint64_t nblk = (len + BLK - 1) / BLK;
	while (nblk > 1) { /* all full blocks but the last one */
		uint64_t k = nblk - 1 < PER ? nblk - 1 : PER;
		if (im_write_all(s->fd, blocks, (size_t)k * 4, "compressed output", err) < 0)
			return -1;
		nblk -= k;
	}
	uint32_t last = (uint32_t)(len - (len - 1) / BLK * BLK);
	uint32_t lh = last << 3 | 1u << 1 | 1u;
	uint8_t lb[4] = {(uint8_t)lh, (uint8_t)(lh >> 8), (uint8_t)(lh >> 16), 0};
	return im_write_all(s->fd, lb, sizeof(lb), "compressed output", err);
}

/* CRC-32 of n zero bytes (zlib's crc32_combine, by doubling). */
static uint32_t crc_zeros(uint64_t n)
{
	uLong r = crc32(0, NULL, 0), blk = crc32(0, (const Bytef *)"", 1);
	for (uint64_t blen = 1; n; n >>= 1, blen *= 2) {
		if (n & 1)
			r = crc32_combine(r, blk, (z_off_t)blen);
		if (n > 1)
			blk = crc32_combine(blk, blk, (z_off_t)blen);
	}
	return (uint32_t)r;
}

/* The deflate form of ZERO_CHUNK zeros from a fresh stream, ended by a full flush: it
 * starts byte-aligned with no history and ends byte-aligned, so after a full flush of the
 * main stream (which forgets its history too) it can be repeated as is. */
static int gzip_zero_chunk(struct im_cstream *s, struct im_error *err)
{
	z_stream z = {0};
	size_t cap = ZERO_CHUNK / 8;
	uint8_t *in = calloc(1, ZERO_CHUNK);
	s->gz_zero = malloc(cap);
	if (!in || !s->gz_zero || deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY)) {
		free(in);
		return im_fail(err, IM_EXIT_INTERNAL, "gzip: out of memory");
	}
	z.next_in = in;
	z.avail_in = ZERO_CHUNK;
	z.next_out = s->gz_zero;
	z.avail_out = (uInt)cap;
	int r = deflate(&z, Z_FULL_FLUSH);
	s->gz_zero_len = cap - z.avail_out;
	bool ok = r == Z_OK && z.avail_in == 0 && z.avail_out != 0;
	deflateEnd(&z);
	free(in);
	return ok ? 0 : im_fail(err, IM_EXIT_INTERNAL, "gzip: zero chunk");
}

static int gzip_zeros(struct im_cstream *s, uint64_t len, struct im_error *err)
{
	uint64_t k = len / ZERO_CHUNK;
	if ((!s->gz_zero && gzip_zero_chunk(s, err) < 0) ||
	    gzip_run(s, NULL, 0, Z_FULL_FLUSH, err) < 0)
		return -1;
	for (uint64_t i = 0; i < k; i++)
		if (im_write_all(s->fd, s->gz_zero, s->gz_zero_len, "compressed output", err) < 0)
			return -1;
	s->gz_crc = (uint32_t)crc32_combine(s->gz_crc, crc_zeros(k * ZERO_CHUNK),
					    (z_off_t)(k * ZERO_CHUNK));
	s->gz_isize += (uint32_t)(k * ZERO_CHUNK);
	return feed_zeros(s, len - k * ZERO_CHUNK, err);
}

int im_cstream_write_zeros(struct im_cstream *s, uint64_t len, struct im_error *err)
{
	if (s->xzb)
		return im_xzb_write_zeros(s->xzb, len, err);
	if (!s->image || len < ZERO_RUN_MIN || s->kind == IM_COMPRESS_NONE)
		return feed_zeros(s, len, err);
	if (s->kind == IM_COMPRESS_GZIP)
		return gzip_zeros(s, len, err);
	if (s->kind != IM_COMPRESS_ZSTD)
		return feed_zeros(s, len, err);
	if (s->zs_pending && zstd_run(s, NULL, 0, ZSTD_e_end, err) < 0)
		return -1;
	s->zs_pending = 0;
	s->zs_frames = true;
	return zstd_zero_frame(s, len, err);
}

enum im_compress im_compress_detect(const void *buf, size_t len)
{
	static const uint8_t xz[] = {0xfd, '7', 'z', 'X', 'Z', 0}, zst[] = {0x28, 0xb5, 0x2f, 0xfd},
			     gz[] = {0x1f, 0x8b};
	if (len >= sizeof(xz) && !memcmp(buf, xz, sizeof(xz)))
		return IM_COMPRESS_XZ;
	if (len >= sizeof(zst) && !memcmp(buf, zst, sizeof(zst)))
		return IM_COMPRESS_ZSTD;
	if (len >= sizeof(gz) && !memcmp(buf, gz, sizeof(gz)))
		return IM_COMPRESS_GZIP;
	return IM_COMPRESS_NONE;
}

int im_compress_from_name(const char *name)
{
	if (name[0] == '.')
		name++;
	if (!strcmp(name, "xz"))
		return IM_COMPRESS_XZ;
	if (!strcmp(name, "zst") || !strcmp(name, "zstd"))
		return IM_COMPRESS_ZSTD;
	if (!strcmp(name, "gz") || !strcmp(name, "gzip"))
		return IM_COMPRESS_GZIP;
	if (!strcmp(name, "none") || !strcmp(name, "raw") || !*name)
		return IM_COMPRESS_NONE;
	return -1;
}

const char *im_compress_suffix(enum im_compress kind)
{
	switch (kind) {
	case IM_COMPRESS_XZ:
		return ".xz";
	case IM_COMPRESS_ZSTD:
		return ".zst";
	case IM_COMPRESS_GZIP:
		return ".gz";
	default:
		return "";
	}
}
