/* The extent stream (include/imager/disk/extents.h).
 *
 * How the allocated extents are learnt: lseek(SEEK_DATA/SEEK_HOLE) on the sparse temporary
 * file the install code wrote. What the install code wrote is exactly what the file system
 * allocated (it never writes zeros over a hole and never fallocates), so the kernel's
 * extent map is the image's; tracking every pwrite of lib/install*, fat, gpt, meta and the
 * overlay blobs instead would thread a recorder through a dozen files and miss any write a
 * later change adds. Where a file system does not report holes, lseek's generic fallback
 * calls the whole file data: the output is still right, only slower. */
#include "imager/disk/extents.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/util/outfile.h"

#define COPY_BUF (1u << 20)

int im_extents_add(struct im_extents *x, uint64_t off, uint64_t len, struct im_error *err)
{
	if (!len)
		return 0;
	if (x->n && x->v[x->n - 1].off + x->v[x->n - 1].len == off) {
		x->v[x->n - 1].len += len;
		x->data += len;
		return 0;
	}
	if ((x->n & (x->n - 1)) == 0) { /* grow at powers of two */
		struct im_extent *v = realloc(x->v, (x->n ? 2 * x->n : 16) * sizeof(*v));
		if (!v)
			return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		x->v = v;
	}
	x->v[x->n++] = (struct im_extent){off, len};
	x->data += len;
	return 0;
}

int im_extents_scan(int fd, const char *what, struct im_extents *x, struct im_error *err)
{
	struct stat st;
	memset(x, 0, sizeof(*x));
	if (fstat(fd, &st) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s", what);
	x->size = (uint64_t)st.st_size;
	off_t pos = 0;
	while ((uint64_t)pos < x->size) {
		off_t d = lseek(fd, pos, SEEK_DATA);
		if (d < 0 && errno == ENXIO) /* only a hole is left */
			break;
		if (d < 0)
			return im_fail_errno(err, IM_EXIT_IO, "%s: SEEK_DATA", what);
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return im_fail_errno(err, IM_EXIT_IO, "%s: SEEK_HOLE", what);
		if (im_extents_add(x, (uint64_t)d, (uint64_t)(h - d), err) < 0)
			return -1;
		pos = h;
	}
	return 0;
}

void im_extents_free(struct im_extents *x)
{
	free(x->v);
	memset(x, 0, sizeof(*x));
}

bool im_extents_any(const struct im_extents *x, uint64_t off, uint64_t len, size_t *hint)
{
	size_t i = hint ? *hint : 0;
	while (i < x->n && x->v[i].off + x->v[i].len <= off)
		i++;
	if (hint)
		*hint = i;
	return i < x->n && x->v[i].off < off + len;
}

static int fd_write(struct im_sink *s, const void *buf, size_t len, struct im_error *err)
{
	return im_write_all(s->fd, buf, len, "output", err);
}

/* A zero run is a hole: move on, the file system reads zeros there. */
static int fd_zeros(struct im_sink *s, uint64_t len, struct im_error *err)
{
	if (lseek(s->fd, (off_t)len, SEEK_CUR) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "output: seek");
	return 0;
}

void im_sink_fd(struct im_sink *s, int fd)
{
	*s = (struct im_sink){.write = fd_write, .zeros = fd_zeros, .fd = fd};
}

int im_sink_fd_finish(struct im_sink *s, const char *what, struct im_error *err)
{
	off_t end = lseek(s->fd, 0, SEEK_CUR);
	if (end < 0 || ftruncate(s->fd, end) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s", what);
	return 0;
}

static int cs_write(struct im_sink *s, const void *buf, size_t len, struct im_error *err)
{
	return im_cstream_write(s->cs, buf, len, err);
}

static int cs_zeros(struct im_sink *s, uint64_t len, struct im_error *err)
{
	return im_cstream_write_zeros(s->cs, len, err);
}

void im_sink_cstream(struct im_sink *s, struct im_cstream *cs)
{
	*s = (struct im_sink){.write = cs_write, .zeros = cs_zeros, .fd = -1, .cs = cs};
}

static int sha_write(struct im_sink *s, const void *buf, size_t len, struct im_error *err)
{
	im_sha256_update(s->sha, buf, len);
	return im_sink_write(s->next, buf, len, err);
}

static int sha_zeros(struct im_sink *s, uint64_t len, struct im_error *err)
{
	static const uint8_t z[4096];
	for (uint64_t left = len; left;) {
		size_t n = left < sizeof(z) ? (size_t)left : sizeof(z);
		im_sha256_update(s->sha, z, n);
		left -= n;
	}
	return im_sink_zeros(s->next, len, err);
}

void im_sink_sha256(struct im_sink *s, struct im_sha256 *sha, struct im_sink *next)
{
	*s = (struct im_sink){
	    .write = sha_write, .zeros = sha_zeros, .fd = -1, .sha = sha, .next = next};
}

int im_sink_write(struct im_sink *s, const void *buf, size_t len, struct im_error *err)
{
	if (!len)
		return 0;
	s->pos += len;
	return s->write(s, buf, len, err);
}

int im_sink_zeros(struct im_sink *s, uint64_t len, struct im_error *err)
{
	if (!len)
		return 0;
	s->pos += len;
	return s->zeros(s, len, err);
}

int im_extents_pread(int fd, void *buf, size_t len, uint64_t off, struct im_error *err)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return im_fail_errno(err, IM_EXIT_IO, "disk image: read");
		if (n == 0) { /* past the end: zeros */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Data [off, end) of the disk, in pieces of COPY_BUF. */
static int copy_data(int fd, uint64_t off, uint64_t end, struct im_sink *s, uint8_t *buf,
		     struct im_progress *pr, struct im_error *err)
{
	while (off < end) {
		size_t n = end - off < COPY_BUF ? (size_t)(end - off) : COPY_BUF;
		if (im_extents_pread(fd, buf, n, off, err) < 0 || im_sink_write(s, buf, n, err) < 0)
			return -1;
		if (pr)
			im_progress_add(pr, n);
		off += n;
	}
	return 0;
}

int im_extents_copy(const struct im_extents *x, int fd, uint64_t from, uint64_t to,
		    struct im_sink *s, struct im_progress *pr, struct im_error *err)
{
	uint8_t *buf = malloc(COPY_BUF);
	if (!buf)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	uint64_t pos = from;
	size_t i = 0;
	int rc = 0;
	im_extents_any(x, from, 1, &i); /* first extent ending after `from` */
	for (; rc == 0 && i < x->n && x->v[i].off < to; i++) {
		uint64_t a = x->v[i].off > pos ? x->v[i].off : pos;
		uint64_t b = x->v[i].off + x->v[i].len < to ? x->v[i].off + x->v[i].len : to;
		rc = im_sink_zeros(s, a - pos, err);
		if (rc == 0 && pr)
			im_progress_add(pr, a - pos);
		if (rc == 0)
			rc = copy_data(fd, a, b, s, buf, pr, err);
		pos = b;
	}
	if (rc == 0 && pos < to) {
		rc = im_sink_zeros(s, to - pos, err);
		if (pr)
			im_progress_add(pr, to - pos);
	}
	free(buf);
	return rc;
}

int im_disk_tmpfile(const char *dir, struct im_error *err)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : im_fail_errno(err, IM_EXIT_IO, "%s", dir);
	char *path = NULL; /* no O_TMPFILE here: a name, removed at once */
	if (asprintf(&path, "%s/.disk.XXXXXX", dir) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	else
		im_fail_errno(err, IM_EXIT_IO, "%s", path);
	free(path);
	return fd;
}
