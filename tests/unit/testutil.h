/* Helpers shared by the cmocka unit tests. */
#ifndef IMAGER_TESTUTIL_H
#define IMAGER_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A fresh temporary folder per call (removed by tu_rmtree). */
static inline char *tu_tmpdir(void)
{
	char *d = strdup("/tmp/imager-test.XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static inline void tu_rmtree(const char *d)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

/* Run a shell command, return its exit status. */
static inline int tu_sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* One temporary folder per test program, for cmocka group setup/teardown:
 * cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir). */
static __attribute__((unused)) char *tu_dir;

static inline int tu_setup_dir(void **state)
{
	(void)state;
	tu_dir = tu_tmpdir();
	return 0;
}

static inline int tu_teardown_dir(void **state)
{
	(void)state;
	tu_rmtree(tu_dir);
	free(tu_dir);
	return 0;
}

/* "<tu_dir>/<name>", malloc'd. */
static inline char *tu_path(const char *name)
{
	char *p;
	assert_true(asprintf(&p, "%s/%s", tu_dir, name) > 0);
	return p;
}

static inline void tu_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The whole file, NUL-terminated (not counted in *len); NULL when it cannot be opened. */
static inline uint8_t *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct stat st;
	assert_int_equal(fstat(fileno(f), &st), 0);
	uint8_t *b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	b[st.st_size] = 0;
	fclose(f);
	*len = (size_t)st.st_size;
	return b;
}

/* Deterministic pseudo-random bytes (an LCG), so content-sensitive bugs show. */
static inline void tu_pattern(uint8_t *b, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
}

/* A file of the reference payload: $OUT/install/<arch>/<file> (OUT relative to the folder
 * the tests run in, the source tree), else the build tree's out/install. malloc'd. */
static inline char *tu_payload_path(const char *arch, const char *file)
{
	const char *out = getenv("OUT");
	char *p;
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	if (out && *out)
		assert_true(asprintf(&p, "%s%s%s/install/%s/%s", *out == '/' ? "" : cwd,
				     *out == '/' ? "" : "/", out, arch, file) > 0);
	else
		assert_true(asprintf(&p, "%s/out/install/%s/%s", IMAGER_SOURCE_DIR, arch, file) >
			    0);
	return p;
}

/* A payload file's content, or skip() saying which one is missing. */
static inline uint8_t *tu_need_payload(const char *arch, const char *file, size_t *len)
{
	char *p = tu_payload_path(arch, file);
	uint8_t *b = tu_read_file(p, len);
	if (!b)
		print_message("skip: %s is missing (run `make payload`)\n", p);
	free(p);
	if (!b)
		skip(); /* longjmps out of the test */
	return b;
}

#endif
