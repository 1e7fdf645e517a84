/* Writing a squashfs 4.0 image (zstd) from an in-memory file tree, in-process with
 * libsquashfs. The image depends only on the tree and the options below, never on the
 * host's clock, directory order or the number of worker threads:
 *  - owners are 0:0 (one ID table entry), every inode's mtime and the superblock's
 *    modification time are the tree's mtime (SOURCE_DATE_EPOCH);
 *  - directory entries follow the tree's byte order, inode numbers are assigned by
 *    im_tree_number() (pre-order walk, root = 1);
 *  - file data is written in pre-order walk order, tail ends are packed into fragment
 *    blocks, identical blocks and fragments are stored once, all-zero blocks are sparse;
 *  - the image is padded to a multiple of 4 KiB; no xattrs, no NFS export table.
 * File content is streamed from the host (n->src) or taken from n->data, so memory stays
 * bounded by a few blocks per worker whatever the size of the files. */
#ifndef IMAGER_SQUASHFS_H
#define IMAGER_SQUASHFS_H

#include "imager/util/error.h"
#include "imager/fs/fstree.h"

struct im_squashfs_opts {
	int level;	     /* zstd level 1..22; 0 means 3 */
	unsigned block_size; /* data block size, a power of two in 4 KiB..1 MiB; 0 means 128 KiB */
	unsigned workers;    /* compression threads, 0 means 1; never changes the output bytes */
};

/* Write `t` as a squashfs image to `out_path` (via a temporary file renamed into place).
 * `o` may be NULL for the defaults. Numbers the tree's inodes (im_tree_number).
 * Returns 0, or -1 with `err` set and nothing left at `out_path`:
 *  IM_EXIT_MISSING  a file's host source cannot be opened (the message names it);
 *  IM_EXIT_INVALID  bad options, an mtime outside 0..2^32-1, a name over 256 bytes, a
 *                   device number that does not fit, or a source file that changed size;
 *  IM_EXIT_IO/ENV   reading a source or writing the image failed (ENV: disk full). */
int im_squashfs_write(struct im_tree *t, const char *out_path, const struct im_squashfs_opts *o,
		      struct im_error *err);

#endif
