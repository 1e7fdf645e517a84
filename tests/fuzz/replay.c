/* Regression driver for the fuzz targets without libFuzzer: feeds every file named on the
 * command line (folders: every file in them, sorted) to LLVMFuzzerTestOneInput once, in
 * the normal ASan/UBSan build, and prints one TAP line. A crash, a sanitizer report or a
 * leak ends the process with a non-zero status before the "ok" line, which tests/run.sh
 * counts as a failure. Used by `make check` to replay tests/fuzz/corpus/<target>/ and
 * tests/fuzz/regressions/<target>/. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuzz.h"

static size_t replayed;
static double slowest;
static char slowest_name[4096];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("not ok - %s: cannot open\n", path);
		return -1;
	}
	size_t cap = 4096, n = 0, got;
	uint8_t *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
		}
	}
	fclose(f);
	if (!buf)
		abort();
	/* an exact-size copy, so ASan sees reads past the input's end */
	uint8_t *in = malloc(n ? n : 1);
	memcpy(in, buf, n);
	free(buf);
	double t0 = now();
	LLVMFuzzerTestOneInput(in, n);
	double dt = now() - t0;
	free(in);
	if (dt > slowest) {
		slowest = dt;
		snprintf(slowest_name, sizeof(slowest_name), "%s", path);
	}
	replayed++;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0; /* an absent folder (no regressions yet) holds nothing */
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (!names || asprintf(&names[n], "%s/%s", path, e->d_name) < 0)
			abort();
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = replay(names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	for (int i = 1; i < argc; i++)
		if (replay(argv[i]) < 0)
			return 1;
	if (!replayed) {
		printf("not ok - %s: no inputs to replay\n", name);
		return 1;
	}
	printf("ok - %s: %zu inputs replayed (corpus and regressions), slowest %.0f ms (%s)\n",
	       name, replayed, slowest * 1000, slowest_name);
	return 0;
}
