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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IM_XZ_BLOCK_SIZE (8u << 20)
#define IM_CBUF_SIZE	 (1u << 16)

struct im_cstream {
	enum im_compress kind;
	int fd;
	lzma_stream xz;
	struct im_xzb *xzb; /* disk images: the block writer instead of xz (xzblocks.h) */
	ZSTD_CCtx *zs;
	z_stream gz;
	gz_header gzh;
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
		if (r == Z_STREAM_END)
			return 0;
	}
}

int im_cstream_open_image(struct im_cstream **out, enum im_compress kind, int fd,
			  struct im_error *err)
{
	if (kind != IM_COMPRESS_XZ)
		return im_cstream_open(out, kind, -1, 0, fd, err);
	struct im_cstream *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	s->kind = kind;
	s->fd = fd;
	if (im_xzb_open(&s->xzb, -1, fd, err) < 0) {
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

int im_cstream_write(struct im_cstream *s, const void *buf, size_t len, struct im_error *err)
{
	if (s->xzb)
		return im_xzb_write(s->xzb, buf, len, err);
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
	case IM_COMPRESS_ZSTD:
		rc = zstd_run(s, NULL, 0, ZSTD_e_end, err);
		break;
	case IM_COMPRESS_GZIP:
		rc = gzip_run(s, NULL, 0, Z_FINISH, err);
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
	free(s);
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
