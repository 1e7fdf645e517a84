/* Helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c). Each target defines
 * LLVMFuzzerTestOneInput and calls the library functions the programs call, on memory;
 * an fd (a memfd) or a path (/proc/self/fd/N of that memfd, or a file in a private
 * temporary folder) only where the API takes one. Built two ways (Makefile): with
 * libFuzzer's driver (clang -fsanitize=fuzzer) for `make fuzz`, and with replay.c's
 * main() under the normal ASan/UBSan build, which replays the corpus and the saved
 * regressions in `make check`. */
#ifndef IMAGER_FUZZ_H
#define IMAGER_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memfd holding data, then zeros up to `pad` bytes (a hole: nothing is allocated). */
static inline int fz_memfd(const uint8_t *data, size_t size, size_t pad)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	size_t done = 0;
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);
		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	if (pad > size && ftruncate(fd, (off_t)pad) < 0)
		abort();
	return fd;
}

/* "/proc/self/fd/N": a path for APIs that open a file by name. */
static inline void fz_fd_path(int fd, char *out, size_t n)
{
	snprintf(out, n, "/proc/self/fd/%d", fd);
}

/* A private folder for the process (created once, removed at exit). */
static char *fz_dir_path;
static inline void fz_dir_cleanup(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz_dir_path);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz: could not remove %s\n", fz_dir_path);
}

static inline const char *fz_dir(void)
{
	if (!fz_dir_path) {
		const char *tmp = getenv("TMPDIR");
		static char buf[512];
		snprintf(buf, sizeof(buf), "%s/imager-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(buf))
			abort();
		fz_dir_path = buf;
		atexit(fz_dir_cleanup);
	}
	return fz_dir_path;
}

/* Write data to `path` (replaced). */
static inline void fz_write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}

/* A NUL-terminated copy (malloc'd). */
static inline char *fz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

#endif
