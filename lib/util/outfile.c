/* Atomic outputs: temp file in the destination folder + rename (see outfile.h). */
#include "imager/util/outfile.h"

#include "imager/util/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int im_outfile_open(struct im_outfile *o, const char *path, struct im_error *err)
{
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	char *d = strdup(path), *b = strdup(path);
	if (!d || !b) {
		free(d);
		free(b);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	int n = asprintf(&o->tmp, "%s/.%s.XXXXXX", dirname(d), basename(b));
	free(d);
	free(b);
	if (n < 0 || !(o->path = strdup(path))) {
		im_outfile_abort(o);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0) {
		free(o->tmp);
		o->tmp = NULL;
		int code = errno == ENOSPC ? IM_EXIT_ENV : IM_EXIT_IO;
		im_fail_errno(err, code, "%s: cannot create output", path);
		im_outfile_abort(o);
		return -1;
	}
	o->cleanup = im_cleanup_add(o->tmp, false);
	mode_t mask = umask(0);
	umask(mask);
	fchmod(o->fd, 0666 & ~mask);
	return 0;
}

int im_outfile_commit(struct im_outfile *o, struct im_error *err)
{
	if (fsync(o->fd) < 0 && errno != EINVAL) {
		im_fail_errno(err, IM_EXIT_IO, "%s: sync", o->path);
		im_outfile_abort(o);
		return -1;
	}
	if (close(o->fd) < 0) {
		o->fd = -1;
		im_fail_errno(err, IM_EXIT_IO, "%s: close", o->path);
		im_outfile_abort(o);
		return -1;
	}
	o->fd = -1;
	if (rename(o->tmp, o->path) < 0) {
		im_fail_errno(err, IM_EXIT_IO, "%s: rename into place", o->path);
		im_outfile_abort(o);
		return -1;
	}
	free(o->tmp);
	o->tmp = NULL;
	im_outfile_abort(o);
	return 0;
}

void im_outfile_abort(struct im_outfile *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->tmp)
		unlink(o->tmp);
	im_cleanup_forget(o->cleanup);
	o->cleanup = 0;
	free(o->tmp);
	free(o->path);
	o->tmp = NULL;
	o->path = NULL;
}

int im_write_all(int fd, const void *buf, size_t len, const char *what, struct im_error *err)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return im_fail_errno(err, errno == ENOSPC ? IM_EXIT_ENV : IM_EXIT_IO,
					     "%s: write", what);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int im_pwrite_all(int fd, const void *buf, size_t len, long long off, const char *what,
		  struct im_error *err)
{
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return im_fail_errno(err, errno == ENOSPC ? IM_EXIT_ENV : IM_EXIT_IO,
					     "%s: write at offset %lld", what, off);
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int im_copy_file_to_fd(const char *src, int fd, struct im_error *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s", src);
	static __thread char buf[1 << 16];
	int rc = 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = im_fail_errno(err, IM_EXIT_MISSING, "%s: read", src);
			break;
		}
		if (n == 0 || (rc = im_write_all(fd, buf, (size_t)n, "output", err)) < 0)
			break;
	}
	close(in);
	return rc;
}

int im_output_copy(const char *src, const char *dst, struct im_error *err)
{
	struct im_outfile o;
	if (im_outfile_open(&o, dst, err) < 0)
		return -1;
	if (im_copy_file_to_fd(src, o.fd, err) < 0) {
		im_outfile_abort(&o);
		return -1;
	}
	return im_outfile_commit(&o, err);
}

int im_output_buffer(const char *dst, const void *buf, size_t len, struct im_error *err)
{
	struct im_outfile o;
	if (im_outfile_open(&o, dst, err) < 0)
		return -1;
	if (im_write_all(o.fd, buf, len, dst, err) < 0) {
		im_outfile_abort(&o);
		return -1;
	}
	return im_outfile_commit(&o, err);
}
