/* A streaming .xz writer for disk images: fixed 8 MiB blocks, each compressed alone
 * (CRC32 check, LZMA2 at the given preset), sizes in every block header and the index,
 * so any xz decoder reads it and the bytes never depend on the host. An all-zero block
 * (a hole of the image) is compressed once and its bytes repeated, which makes a large
 * sparse image cost what its data costs (issue 6: a 100 GiB image builds about as fast
 * as a 2 GiB one). Blocks are encoded on up to $IMAGER_THREADS (default: the cores, at
 * most 8) threads at a time; each is encoded alone, so the count never changes a byte. */
#ifndef IMAGER_XZBLOCKS_H
#define IMAGER_XZBLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"

#define IM_XZB_BLOCK_SIZE (8u << 20)

struct im_xzb;

/* level < 0: preset 6. Writes the stream header to fd. */
int im_xzb_open(struct im_xzb **out, int level, int fd, struct im_error *err);
int im_xzb_write(struct im_xzb *x, const void *buf, size_t len, struct im_error *err);
/* len zero bytes, the same bytes as writing them, at the cost of the data around them. */
int im_xzb_write_zeros(struct im_xzb *x, uint64_t len, struct im_error *err);
/* Last block, index and footer; frees x (also on error). */
int im_xzb_finish(struct im_xzb *x, struct im_error *err);
void im_xzb_free(struct im_xzb *x);

#endif
