/* An .xz writer for disk images (see include/imager/xzblocks.h): the .xz container
 * (XZ File Format 1.2.0 §2: stream header, blocks, index, stream footer) written here,
 * each fixed-size block compressed on its own with liblzma's block encoder. A disk image
 * is mostly holes; an all-zero block always compresses to the same bytes, so it is
 * compressed once and repeated: a 100 GiB image costs what its data costs. */
#include "imager/xzblocks.h"

#include <lzma.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "imager/outfile.h"

struct im_xzb {
	int fd;
	lzma_options_lzma lzma;
	lzma_filter filters[2];
	lzma_index *index;
	uint8_t *in, *out; /* one block of input; its encoded form */
	size_t in_len, out_cap;
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
	x->in = malloc(IM_XZB_BLOCK_SIZE);
	x->out = malloc(x->out_cap);
	x->index = lzma_index_init(NULL);
	if (!x->in || !x->out || !x->index) {
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

/* Encode the buffered block into x->out; *unpadded for the index. */
static int encode(struct im_xzb *x, size_t *len, lzma_vli *unpadded, struct im_error *err)
{
	lzma_block b = {.version = 0, .check = LZMA_CHECK_CRC32, .filters = x->filters};
	*len = 0;
	lzma_ret r = lzma_block_buffer_encode(&b, NULL, x->in, x->in_len, x->out, len, x->out_cap);
	if (r != LZMA_OK)
		return im_fail(err, IM_EXIT_INTERNAL, "xz: block encoder error %d", (int)r);
	*unpadded = lzma_block_unpadded_size(&b);
	return 0;
}

static int flush_block(struct im_xzb *x, struct im_error *err)
{
	const uint8_t *data = x->out;
	size_t len = 0;
	lzma_vli unpadded = 0;
	bool zero_block = x->in_len == IM_XZB_BLOCK_SIZE && all_zero(x->in, x->in_len);
	if (zero_block && x->zero) {
		data = x->zero;
		len = x->zero_len;
		unpadded = x->zero_unpadded;
	} else {
		if (encode(x, &len, &unpadded, err) < 0)
			return -1;
		if (zero_block) {
			if (!(x->zero = malloc(len)))
				return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
			memcpy(x->zero, x->out, len);
			x->zero_len = len;
			x->zero_unpadded = unpadded;
		}
	}
	if (lzma_index_append(x->index, NULL, unpadded, x->in_len) != LZMA_OK)
		return im_fail(err, IM_EXIT_INTERNAL, "xz: index: out of memory");
	x->in_len = 0;
	return im_write_all(x->fd, data, len, "compressed output", err);
}

int im_xzb_write(struct im_xzb *x, const void *buf, size_t len, struct im_error *err)
{
	const uint8_t *p = buf;
	while (len) {
		size_t n = IM_XZB_BLOCK_SIZE - x->in_len;
		n = n < len ? n : len;
		memcpy(x->in + x->in_len, p, n);
		x->in_len += n;
		p += n;
		len -= n;
		if (x->in_len == IM_XZB_BLOCK_SIZE && flush_block(x, err) < 0)
			return -1;
	}
	return 0;
}

int im_xzb_finish(struct im_xzb *x, struct im_error *err)
{
	uint8_t footer[LZMA_STREAM_HEADER_SIZE];
	int rc = x->in_len ? flush_block(x, err) : 0;
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
	free(x->in);
	free(x->out);
	free(x->zero);
	free(x);
}
