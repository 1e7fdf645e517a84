/* The extent stream: the one way data leaves a disk image (issue 12). The image is built
 * into a sparse temporary file; its allocated extents (what the install code wrote: GPT,
 * FATs, files, blobs, META) are listed once, in order, and every output writer (raw and
 * its compressed forms, qcow2, VHD, VMDK, tar) is fed from that list: data is read, holes
 * are never read nor compressed byte by byte, they travel as "n zero bytes" to a sink that
 * knows the cheap form of a zero run (a seek in a sparse file, a repeated block in a
 * compressed stream). */
#ifndef IMAGER_DISK_EXTENTS_H
#define IMAGER_DISK_EXTENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imager/util/compress.h"
#include "imager/util/error.h"
#include "imager/util/progress.h"
#include "imager/util/sha256.h"

struct im_extent {
	uint64_t off, len;
};

/* The allocated extents of a disk image, sorted, non-overlapping, inside [0, size). */
struct im_extents {
	struct im_extent *v;
	size_t n;
	uint64_t size; /* the disk's size in bytes */
	uint64_t data; /* sum of the extents' lengths */
};

/* List the data extents of the file fd (lseek SEEK_DATA/SEEK_HOLE). `what` names it in
 * errors. */
int im_extents_scan(int fd, const char *what, struct im_extents *x, struct im_error *err);
/* Append [off, off+len) (tests and callers that know their extents); merges with the last
 * extent when adjacent. Extents must come in ascending order. */
int im_extents_add(struct im_extents *x, uint64_t off, uint64_t len, struct im_error *err);
void im_extents_free(struct im_extents *x);
/* Whether any extent overlaps [off, off+len). *hint: index to start from (ascending
 * queries), may be NULL. */
bool im_extents_any(const struct im_extents *x, uint64_t off, uint64_t len, size_t *hint);

/* A byte sink: where a writer's sequential output goes. */
struct im_sink {
	int (*write)(struct im_sink *s, const void *buf, size_t len, struct im_error *err);
	int (*zeros)(struct im_sink *s, uint64_t len, struct im_error *err);
	uint64_t pos; /* bytes taken so far */
	/* private */
	int fd;
	struct im_cstream *cs;
	struct im_sha256 *sha;
	struct im_sink *next;
};

/* Into a file descriptor at its current offset; zero runs become holes (lseek), so call
 * im_sink_fd_finish to give the file its final size. */
void im_sink_fd(struct im_sink *s, int fd);
int im_sink_fd_finish(struct im_sink *s, const char *what, struct im_error *err);
/* Through a compressor (compress.h); zero runs go to im_cstream_write_zeros. */
void im_sink_cstream(struct im_sink *s, struct im_cstream *cs);
/* Hash everything on its way to `next` (zero runs are hashed too: meant for outputs
 * without long zero runs, e.g. a VMDK inside an OVA). */
void im_sink_sha256(struct im_sink *s, struct im_sha256 *sha, struct im_sink *next);

int im_sink_write(struct im_sink *s, const void *buf, size_t len, struct im_error *err);
int im_sink_zeros(struct im_sink *s, uint64_t len, struct im_error *err);

/* Send bytes [from, to) of the disk (fd, extents x) to s: extents are pread, holes are
 * zero runs; bytes past x->size are zeros too (padding). Progress counts the bytes. */
int im_extents_copy(const struct im_extents *x, int fd, uint64_t from, uint64_t to,
		    struct im_sink *s, struct im_progress *pr, struct im_error *err);
/* pread exactly len bytes at off (short only past the end: the rest is zeroed). */
int im_extents_pread(int fd, void *buf, size_t len, uint64_t off, struct im_error *err);

/* An unnamed read-write file in dir (O_TMPFILE; else a name unlinked at once): a staging
 * file that nothing can leave behind. */
int im_disk_tmpfile(const char *dir, struct im_error *err);

#endif
