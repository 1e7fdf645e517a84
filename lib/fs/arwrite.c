/* A tree node's content into a libarchive writer (see include/imager/fs/arwrite.h). */
#include "imager/fs/arwrite.h"

#include <errno.h>
#include <unistd.h>

static int write_failed(struct archive *ar, const char *a, const char *b, struct im_error *err)
{
	return im_fail(err, IM_EXIT_IO, "%s: %s: %s", a, b, archive_error_string(ar));
}

int im_archive_write_node_data(struct archive *ar, const struct im_node *n, const char *a,
			       const char *b, struct im_error *err)
{
	if (!n->src)
		return n->size && archive_write_data(ar, n->data, n->size) != (la_ssize_t)n->size
			   ? write_failed(ar, a, b, err)
			   : 0;
	int fd = im_node_open(n, err);
	if (fd < 0)
		return -1;
	static __thread char buf[1 << 16];
	uint64_t left = n->size;
	int rc = 0;
	while (left && rc == 0) {
		ssize_t r = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			rc = im_fail_errno(err, r < 0 ? IM_EXIT_MISSING : IM_EXIT_IO, "%s: %s",
					   n->src, r < 0 ? "read" : "file shrank while reading");
		else if (archive_write_data(ar, buf, (size_t)r) != r)
			rc = write_failed(ar, a, b, err);
		else
			left -= (uint64_t)r;
	}
	close(fd);
	return rc;
}
