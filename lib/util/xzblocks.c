/* An .xz writer for disk images (see include/imager/xzblocks.h): the .xz container
 * (XZ File Format 1.2.0 §2: stream header, blocks, index, stream footer) written here,
 * each fixed-size block compressed on its own with liblzma's block encoder. A disk image
 * is mostly holes; an all-zero block always compresses to the same bytes, so it is
 * compressed once and repeated: a 100 GiB image costs what its data costs. */
#include "imager/util/xzblocks.h"

#include <lzma.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "imager/util/threads.h"
#include "imager/util/outfile.h"

#define MAX_THREADS 8

/* One block: its input and its encoded form. */
struct slot {
	uint8_t *in, *out;
	size_t in_len, out_len;
	lzma_vli unpadded;
	bool zero, cached; /* all zeros; its bytes come from the cache */
	lzma_ret rc;
	const lzma_filter *filters;
};

struct im_xzb {
	int fd;
	lzma_options_lzma lzma;
	lzma_filter filters[2];
	lzma_index *index;
	struct slot slot[MAX_THREADS];
	size_t nslots, cur; /* blocks encoded in parallel per batch; the one being filled */
	size_t out_cap;
	uint8_t *zero; /* the encoded all-zero block (NULL until the first one) */
	size_t zero_len;
	lzma_vli zero_unpadded;
};

int im_xzb_open(struct im_xzb **out, int level, int fd, struct im_error *err)
{
	struct im_xzb *x = calloc(1, sizeof(*x));
	uint8_t hdr[LZMA_STREAM_HEADER_SIZE];
	lzma_stream_flags flags = {.version = 0, .check = LZMA_CHECK_CRC32};
	*out = NULL;
	if (!x)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	x->fd = fd;
	x->out_cap = lzma_block_buffer_bound(IM_XZB_BLOCK_SIZE);
	int threads = im_compress_threads(0);
	x->nslots = (size_t)(threads > MAX_THREADS ? MAX_THREADS : threads);
	x->index = lzma_index_init(NULL);
	bool ok = x->index != NULL;
	for (size_t i = 0; i < x->nslots; i++) {
		x->slot[i].in = malloc(IM_XZB_BLOCK_SIZE);
		x->slot[i].out = malloc(x->out_cap);
		x->slot[i].filters = x->filters;
		ok = ok && x->slot[i].in && x->slot[i].out;
	}
	if (!ok) {
		im_xzb_free(x);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	if (lzma_lzma_preset(&x->lzma, (uint32_t)(level < 0 ? 6 : level))) {
		im_xzb_free(x);
		return im_fail(err, IM_EXIT_INTERNAL, "xz: bad level %d", level);
	}
	x->filters[0] = (lzma_filter){LZMA_FILTER_LZMA2, &x->lzma};
	x->filters[1] = (lzma_filter){LZMA_VLI_UNKNOWN, NULL};
	if (lzma_stream_header_encode(&flags, hdr) != LZMA_OK ||
	    im_write_all(fd, hdr, sizeof(hdr), "compressed output", err) < 0) {
		im_xzb_free(x);
		return err->code ? -1 : im_fail(err, IM_EXIT_INTERNAL, "xz: stream header");
	}
	*out = x;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	static const uint8_t z[4096];
	for (; n >= sizeof(z); p += sizeof(z), n -= sizeof(z))
		if (memcmp(p, z, sizeof(z)))
			return false;
	return !n || !memcmp(p, z, n);
}

/* Each block is encoded alone, so blocks can be encoded on any thread in any order: the
 * bytes do not depend on the thread count. */
static void *encode(void *arg)
{
	struct slot *s = arg;
	lzma_block b = {
	    .version = 0, .check = LZMA_CHECK_CRC32, .filters = (lzma_filter *)s->filters};
	s->out_len = 0;
	s->rc = lzma_block_buffer_encode(&b, NULL, s->in, s->in_len, s->out, &s->out_len,
					 lzma_block_buffer_bound(IM_XZB_BLOCK_SIZE));
	s->unpadded = s->rc == LZMA_OK ? lzma_block_unpadded_size(&b) : 0;
	return NULL;
}

/* Encode the filled slots (all-zero full blocks once), then write them in order. */
static int flush_batch(struct im_xzb *x, size_t n, struct im_error *err)
{
	pthread_t th[MAX_THREADS];
	bool started[MAX_THREADS] = {false}, zero_pending = false;
	for (size_t i = 0; i < n; i++) {
		struct slot *s = &x->slot[i];
		s->zero = s->in_len == IM_XZB_BLOCK_SIZE && all_zero(s->in, s->in_len);
		s->cached = s->zero && (x->zero || zero_pending);
		zero_pending = zero_pending || s->zero;
		if (!s->cached)
			started[i] = pthread_create(&th[i], NULL, encode, s) == 0;
		if (!s->cached && !started[i])
			encode(s);
	}
	for (size_t i = 0; i < n; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	for (size_t i = 0; i < n; i++) {
		struct slot *s = &x->slot[i];
		if (!s->cached && s->rc != LZMA_OK)
			return im_fail(err, IM_EXIT_INTERNAL, "xz: block encoder error %d",
				       (int)s->rc);
		if (s->zero && !s->cached) {
			if (!(x->zero = malloc(s->out_len)))
				return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
			memcpy(x->zero, s->out, s->out_len);
			x->zero_len = s->out_len;
			x->zero_unpadded = s->unpadded;
		}
		const uint8_t *data = s->cached ? x->zero : s->out;
		size_t len = s->cached ? x->zero_len : s->out_len;
		lzma_vli unpadded = s->cached ? x->zero_unpadded : s->unpadded;
		if (lzma_index_append(x->index, NULL, unpadded, s->in_len) != LZMA_OK)
			return im_fail(err, IM_EXIT_INTERNAL, "xz: index: out of memory");
		if (im_write_all(x->fd, data, len, "compressed output", err) < 0)
			return -1;
		s->in_len = 0;
	}
	x->cur = 0;
	return 0;
}

int im_xzb_write(struct im_xzb *x, const void *buf, size_t len, struct im_error *err)
{
	const uint8_t *p = buf;
	while (len) {
		struct slot *s = &x->slot[x->cur];
		size_t n = IM_XZB_BLOCK_SIZE - s->in_len;
		n = n < len ? n : len;
		memcpy(s->in + s->in_len, p, n);
		s->in_len += n;
		p += n;
		len -= n;
		if (s->in_len == IM_XZB_BLOCK_SIZE && ++x->cur == x->nslots &&
		    flush_batch(x, x->nslots, err) < 0)
			return -1;
	}
	return 0;
}

/* A zero run: the part of the block being filled as zeros, then whole blocks. A whole zero
 * block is exactly what im_xzb_write would have detected and cached (blocks sit at fixed
 * offsets of the stream), so the bytes are those of writing the zeros, without touching
 * them: the batch before is flushed (order), then each repeat is the cached block. */
int im_xzb_write_zeros(struct im_xzb *x, uint64_t len, struct im_error *err)
{
	while (len) {
		struct slot *s = &x->slot[x->cur];
		if (s->in_len || len < IM_XZB_BLOCK_SIZE || !x->zero) {
			size_t n = IM_XZB_BLOCK_SIZE - s->in_len;
			n = n < len ? n : (size_t)len;
			memset(s->in + s->in_len, 0, n);
			s->in_len += n;
			len -= n;
			if (s->in_len == IM_XZB_BLOCK_SIZE && ++x->cur == x->nslots &&
			    flush_batch(x, x->nslots, err) < 0)
				return -1;
			continue;
		}
		if (x->cur && flush_batch(x, x->cur, err) < 0)
			return -1;
		for (; len >= IM_XZB_BLOCK_SIZE; len -= IM_XZB_BLOCK_SIZE) {
			if (lzma_index_append(x->index, NULL, x->zero_unpadded,
					      IM_XZB_BLOCK_SIZE) != LZMA_OK)
				return im_fail(err, IM_EXIT_INTERNAL, "xz: index: out of memory");
			if (im_write_all(x->fd, x->zero, x->zero_len, "compressed output", err) < 0)
				return -1;
		}
	}
	return 0;
}

int im_xzb_finish(struct im_xzb *x, struct im_error *err)
{
	uint8_t footer[LZMA_STREAM_HEADER_SIZE];
	size_t n = x->cur + (x->slot[x->cur].in_len ? 1 : 0);
	int rc = n ? flush_batch(x, n, err) : 0;
	if (rc == 0) {
		lzma_vli isize = lzma_index_size(x->index);
		uint8_t *ibuf = malloc(isize);
		size_t ipos = 0;
		lzma_stream_flags flags = {
		    .version = 0, .check = LZMA_CHECK_CRC32, .backward_size = isize};
		if (!ibuf || lzma_index_buffer_encode(x->index, ibuf, &ipos, isize) != LZMA_OK ||
		    lzma_stream_footer_encode(&flags, footer) != LZMA_OK)
			rc = im_fail(err, IM_EXIT_INTERNAL, "xz: index or footer");
		else if (im_write_all(x->fd, ibuf, ipos, "compressed output", err) < 0 ||
			 im_write_all(x->fd, footer, sizeof(footer), "compressed output", err) < 0)
			rc = -1;
		free(ibuf);
	}
	im_xzb_free(x);
	return rc;
}

void im_xzb_free(struct im_xzb *x)
{
	if (!x)
		return;
	if (x->index)
		lzma_index_end(x->index, NULL);
	for (size_t i = 0; i < x->nslots; i++) {
		free(x->slot[i].in);
		free(x->slot[i].out);
	}
	free(x->zero);
	free(x);
}
