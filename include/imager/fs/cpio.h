/* newc ("SVR4 without CRC") cpio archives, the initramfs format the Linux kernel
 * unpacks (Documentation/driver-api/early-userspace/buffer-format.rst), written from an
 * im_tree with libarchive and streamed through a compressor. Several archives may be
 * concatenated in one file: the kernel unpacks them in order (used for extensions and
 * an uncompressed microcode archive in front). */
#ifndef IMAGER_CPIO_H
#define IMAGER_CPIO_H

#include "imager/util/compress.h"
#include "imager/util/error.h"
#include "imager/fs/fstree.h"

struct im_cpio_opts {
	enum im_compress compress;
	int level;   /* < 0: format default */
	int threads; /* <= 0: all cores; never changes the bytes */
};

/* Append one archive of `t` (root entry omitted, inode numbers in walk order) to fd. */
int im_cpio_write_fd(struct im_tree *t, int fd, const struct im_cpio_opts *o, struct im_error *err);

/* Write one archive to `path` (temp + rename). */
int im_cpio_write(struct im_tree *t, const char *path, const struct im_cpio_opts *o,
		  struct im_error *err);

#endif
