/* lib/util/cleanup.c: what is registered is removed when the process is stopped by a signal
 * (files and whole folders), what was forgotten stays, and the signal still ends it. */
#include "testutil.h"

#include <signal.h>

#include "imager/util/cleanup.h"

static int exists(const char *d, const char *name)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", d, name);
	return lstat(p, &st) == 0;
}

static void child(const char *d, int sig)
{
	char p[4096];
	im_cleanup_install();
	snprintf(p, sizeof(p), "%s/file", d);
	im_cleanup_add(p, false);
	snprintf(p, sizeof(p), "%s/stage", d);
	im_cleanup_add(p, true);
	snprintf(p, sizeof(p), "%s/kept", d);
	im_cleanup_forget(im_cleanup_add(p, false));
	raise(sig);
	_exit(0); /* not reached: the signal ends the process */
}

static void stopped_by(int sig)
{
	char *d = tu_tmpdir();
	assert_int_equal(tu_sh("cd %s && touch file kept && mkdir -p stage/a/b && touch stage/x "
			       "stage/a/y stage/a/b/z && ln -s /etc/passwd stage/a/link",
			       d),
			 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(d, sig);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), sig);
	assert_false(exists(d, "file"));
	assert_false(exists(d, "stage"));
	assert_true(exists(d, "kept"));
	assert_true(access("/etc/passwd", F_OK) == 0); /* a link is removed, not followed */
	tu_rmtree(d);
	free(d);
}

static void test_sigint(void **state)
{
	(void)state;
	stopped_by(SIGINT);
}

static void test_sigterm(void **state)
{
	(void)state;
	stopped_by(SIGTERM);
}

static void test_slots(void **state)
{
	(void)state;
	int h[IM_CLEANUP_SLOTS];
	for (int i = 0; i < IM_CLEANUP_SLOTS; i++)
		assert_true((h[i] = im_cleanup_add("/nonexistent/x", false)) > 0);
	assert_int_equal(im_cleanup_add("/nonexistent/y", false), 0); /* full: not protected */
	for (int i = 0; i < IM_CLEANUP_SLOTS; i++)
		im_cleanup_forget(h[i]);
	im_cleanup_forget(0); /* ignored */
	assert_true(im_cleanup_add("/nonexistent/z", false) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sigint),
	    cmocka_unit_test(test_sigterm),
	    cmocka_unit_test(test_slots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
