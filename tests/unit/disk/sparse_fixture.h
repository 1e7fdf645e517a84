/* A sparse disk for the disk-format writer tests (tests/unit/disk/): 70 MiB + 512 bytes
 * (not a whole MiB, not a whole cluster), data at the start, a few KiB inside one
 * cluster, a run across the 32 MiB grain-table boundary, a 64 KiB run of written zeros
 * (allocated, yet all zero) and a tail at the very end. */
#ifndef IMAGER_TEST_SPARSE_FIXTURE_H
#define IMAGER_TEST_SPARSE_FIXTURE_H

#include "testutil.h"

#include <fcntl.h>

#include "imager/disk/extents.h"

#define SF_MIB	(1ull << 20)
#define SF_SIZE (70 * SF_MIB + 512)

static void sf_put(int fd, uint64_t off, size_t len, uint32_t seed)
{
	uint8_t *b = malloc(len);
	assert_non_null(b);
	if (seed)
		tu_pattern(b, len, seed);
	else
		memset(b, 0, len);
	assert_int_equal(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
	free(b);
}

/* Build the fixture at tu_path(name); *fd stays open for reading, x lists its extents. */
static inline char *sf_make(const char *name, int *fd, struct im_extents *x)
{
	char *path = tu_path(name);
	int w = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(w >= 0);
	assert_int_equal(ftruncate(w, (off_t)SF_SIZE), 0);
	sf_put(w, 0, 64 << 10, 1);
	sf_put(w, SF_MIB + 4096, 8192, 2);
	sf_put(w, 32 * SF_MIB - 4096, 8192, 3);
	sf_put(w, 10 * SF_MIB, 64 << 10, 0);
	sf_put(w, SF_SIZE - 8192, 8192, 4);
	close(w);
	*fd = open(path, O_RDONLY);
	assert_true(*fd >= 0);
	struct im_error err = {0};
	assert_int_equal(im_extents_scan(*fd, path, x, &err), 0);
	return path;
}

/* Run a writer into a fresh file: out is opened, handed to fn through an fd sink,
 * finished (sparse-aware), closed. */
typedef int (*sf_writer)(const struct im_extents *x, int fd, struct im_sink *s, void *arg,
			 struct im_error *err);

static inline char *sf_write(const char *name, const struct im_extents *x, int fd, sf_writer fn,
			     void *arg)
{
	char *path = tu_path(name);
	int o = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(o >= 0);
	struct im_sink s;
	struct im_error err = {0};
	im_sink_fd(&s, o);
	int rc = fn(x, fd, &s, arg, &err);
	if (rc)
		fail_msg("writer: %s", err.msg);
	assert_int_equal(im_sink_fd_finish(&s, path, &err), 0);
	close(o);
	return path;
}

static inline uint64_t sf_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t sf_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

#endif
