/* lib/progress.c: a line on a terminal (here a pty as stderr), nothing on a pipe or file,
 * nothing when quiet; the line names the step and its percentage and is erased at the
 * end. */
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>

#include "imager/util/progress.h"

/* Run a progress sequence with stderr on `fd`; return what was written to it. */
static void run(int fd, bool quiet)
{
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	struct im_progress p;
	im_progress_start(&p, "compressing x.raw.xz", 4096, quiet);
	im_progress_add(&p, 1024);
	im_progress_end(&p);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

/* A pty hands the master what the slave wrote through a kernel work queue, one write()
 * at a time: under load a single read() can return only the first draw. Read until the
 * closing erase sequence arrives (or 5 s pass). */
static ssize_t read_until_erased(int master, char *buf, size_t cap)
{
	size_t n = 0;
	while (n < cap) {
		struct pollfd pfd = {.fd = master, .events = POLLIN};
		if (poll(&pfd, 1, 5000) <= 0)
			break;
		ssize_t r = read(master, buf + n, cap - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = 0;
		if (n >= 4 && strcmp(buf + n - 4, "\r\033[K") == 0)
			break;
	}
	return (ssize_t)n;
}

static void test_tty(void **state)
{
	(void)state;
	int master, slave;
	char buf[512] = {0};
	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	run(slave, false);
	ssize_t n = read_until_erased(master, buf, sizeof(buf) - 1);
	assert_true(n >= 4);
	assert_non_null(strstr(buf, "imager: compressing x.raw.xz   0% (0.0/0.0 GiB)"));
	assert_non_null(strstr(buf + n - 4, "\r\033[K")); /* erased at the end */
	/* quiet: nothing */
	run(slave, true);
	int fl = fcntl(master, F_GETFL);
	fcntl(master, F_SETFL, fl | O_NONBLOCK);
	assert_true(read(master, buf, sizeof(buf)) <= 0);
	close(master);
	close(slave);
}

static void test_not_a_tty(void **state)
{
	(void)state;
	char *f = tu_path("stderr.txt");
	int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	run(fd, false);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(fd);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tty),
	    cmocka_unit_test(test_not_a_tty),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
