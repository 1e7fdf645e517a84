/* A small sequential tar reader with no library behind it (POSIX.1-2008 "pax" interchange
 * format: ustar headers, pax 'x' extended headers for path/linkpath/size; GNU 'L'/'K' long
 * names), for code that must not pull in libarchive: the installer reads its bundle with
 * it (oci_bundle.h) in the reference initramfs, which carries only the libraries the
 * installer links. Data comes from a read callback, so the same reader walks a tar file
 * and a tar inflated on the fly. */
#ifndef IMAGER_TARSTREAM_H
#define IMAGER_TARSTREAM_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"

/* Read up to n bytes; returns the count (less than n only at the end of the stream) or -1
 * with err set. */
typedef long (*im_tar_read_fn)(void *ctx, void *buf, size_t n, struct im_error *err);

struct im_tar_in {
	im_tar_read_fn read;
	void *ctx;
	const char *what; /* names the archive in messages */
	uint64_t pos;	  /* stream bytes consumed so far */
	uint64_t left;	  /* data bytes of the current entry not read yet */
	uint64_t pad;	  /* padding after the current entry's data */
	int entries;	  /* headers seen (the first bad one means "not a tar archive") */
};

struct im_tar_entry {
	char path[PATH_MAX]; /* without a leading "./" or "/", no trailing "/" */
	char link[PATH_MAX]; /* symlink target or hard link name */
	char type;	     /* ustar typeflag: '0' file, '1' hard link, '2' symlink, '5' dir... */
	uint32_t mode;	     /* permission bits */
	uint64_t size;	     /* data bytes */
	uint64_t offset;     /* stream position of the data */
};

void im_tar_in_init(struct im_tar_in *t, im_tar_read_fn read, void *ctx, const char *what);

/* The next entry: 1, or 0 at the end-of-archive marker (a zero block). The data of the
 * previous entry that was not read is skipped. A stream that ends before the marker or
 * inside an entry is IM_EXIT_INVALID "<what>: truncated ..."; a first block that is no
 * ustar header is IM_EXIT_INVALID "<what>: not a tar archive ...". */
int im_tar_next(struct im_tar_in *t, struct im_tar_entry *e, struct im_error *err);

/* Read the current entry's data: returns the bytes read (0 at its end) or -1. */
long im_tar_read(struct im_tar_in *t, void *buf, size_t n, struct im_error *err);

/* A read callback over a file descriptor (ctx: a pointer to the int fd). */
long im_tar_read_fd(void *ctx, void *buf, size_t n, struct im_error *err);

#endif
