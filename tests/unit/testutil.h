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

#endif
