/* Outputs are written under a temporary name in the destination folder and renamed
 * into place only when complete, so a failure never leaves a half-written file. */
#ifndef IMAGER_OUTFILE_H
#define IMAGER_OUTFILE_H

#include <stddef.h>

#include "imager/util/error.h"

struct im_outfile {
	int fd;
	char *path;  /* final name */
	char *tmp;   /* temporary name in the same folder */
	int cleanup; /* cleanup.h handle: removed if the process is interrupted */
};

/* Create "<dir>/.<base>.XXXXXX" next to `path`. The final file gets mode 0666 & ~umask. */
int im_outfile_open(struct im_outfile *o, const char *path, struct im_error *err);
/* fsync, close and rename over `path`. On failure the temporary file is removed. */
int im_outfile_commit(struct im_outfile *o, struct im_error *err);
/* Close and remove the temporary file; safe to call after commit or twice. */
void im_outfile_abort(struct im_outfile *o);

/* write() the whole buffer, retrying on EINTR/short writes. */
int im_write_all(int fd, const void *buf, size_t len, const char *what, struct im_error *err);
/* pwrite() the whole buffer at an offset. */
int im_pwrite_all(int fd, const void *buf, size_t len, long long off, const char *what,
		  struct im_error *err);

/* Append the whole content of file `src` to fd (streamed). A missing/unreadable source is
 * IM_EXIT_MISSING naming it. */
int im_copy_file_to_fd(const char *src, int fd, struct im_error *err);

/* Write a whole output file atomically from a source file / from memory. */
int im_output_copy(const char *src, const char *dst, struct im_error *err);
int im_output_buffer(const char *dst, const void *buf, size_t len, struct im_error *err);

#endif
