/* qcow2 version 3 writer (qemu docs/interop/qcow2.txt): only the clusters the extent stream
 * touches are stored, with their L1/L2 tables and 16-bit refcounts, all metadata first and
 * the data clusters after it in guest order. The layout is computed from the extent list
 * before the first byte goes out, so the output is one sequential stream (it can go
 * through a compressor: oracle-amd64.qcow2.zst). */
#ifndef IMAGER_DISK_QCOW2_H
#define IMAGER_DISK_QCOW2_H

#include "imager/disk/extents.h"

#define IM_QCOW2_DEFAULT_CLUSTER_BITS 16 /* 64 KiB, qemu-img's default */

/* diskFormatOptions as qemu-img takes them ("cluster_size=8k", comma-separated); NULL or
 * "" leaves the default. Unknown options and sizes that are not a power of two between
 * 512 bytes and 2 MiB are IM_EXIT_INVALID. */
int im_qcow2_parse_options(const char *opts, unsigned *cluster_bits, struct im_error *err);

/* The qcow2 image of the disk (fd, extents x) into out. */
int im_qcow2_write(const struct im_extents *x, int fd, unsigned cluster_bits, struct im_sink *out,
		   struct im_progress *pr, struct im_error *err);

#endif
