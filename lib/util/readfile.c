/* Whole-file reads (see readfile.h). */
#include "imager/util/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int im_read_file(const char *path, const char *what, uint8_t **buf, size_t *len,
		 struct im_error *err)
{
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s (%s)", path, what);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return im_fail(err, IM_EXIT_MISSING, "%s (%s): not a regular file", path, what);
	}
	uint8_t *b = malloc((size_t)st.st_size + 1); /* + a terminator, for text */
	if (!b) {
		close(fd);
		return im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory", path);
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(b);
			close(fd);
			return im_fail_errno(err, IM_EXIT_MISSING, "%s (%s): read", path, what);
		}
		got += (size_t)n;
	}
	close(fd);
	b[got] = 0;
	*buf = b;
	*len = got;
	return 0;
}
