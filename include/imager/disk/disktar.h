/* tar members for disk outputs (POSIX.1-1988 ustar; GNU "oldgnu" for sparse members): an
 * OVA (ustar: the .ovf, the .vmdk, the .mf) and GCP's disk.raw (GNU tar format, a sparse
 * member: Compute Engine's import takes the archive `tar --format=oldgnu -S` makes).
 * Owners 0:0, mode 0644, mtime SOURCE_DATE_EPOCH: reproducible. */
#ifndef IMAGER_DISK_DISKTAR_H
#define IMAGER_DISK_DISKTAR_H

#include "imager/disk/extents.h"

#define IM_TAR_BLOCK 512

/* A regular member's header; its `size` bytes follow, then im_tar_pad. */
int im_tar_header(struct im_sink *s, const char *name, uint64_t size, int64_t mtime,
		  struct im_error *err);
/* Zeros to the next 512-byte boundary after `size` bytes of member data. */
int im_tar_pad(struct im_sink *s, uint64_t size, struct im_error *err);
/* The end of the archive: two zero blocks. */
int im_tar_end(struct im_sink *s, struct im_error *err);
/* The disk (fd, extents x) as an oldgnu sparse member `name` (type 'S', sparse map in the
 * header and extension blocks, the extents' data only). */
int im_tar_sparse_disk(struct im_sink *s, const char *name, const struct im_extents *x, int fd,
		       int64_t mtime, struct im_progress *pr, struct im_error *err);

#endif
