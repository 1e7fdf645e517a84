/* Unit tests for lib/outfile.c: temp file + rename, abort leaves nothing. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "imager/util/outfile.h"

static int count_entries(const char *d)
{
	return tu_sh("exit $(ls -A '%s' | wc -l)", d);
}

static void test_outfile_commit_and_abort(void **state)
{
	(void)state;
	char *d = tu_tmpdir();
	char p[512];
	snprintf(p, sizeof(p), "%s/out.bin", d);
	struct im_error err = {0};
	struct im_outfile o;
	mode_t old = umask(027);
	assert_int_equal(im_outfile_open(&o, p, &err), 0);
	assert_int_equal(count_entries(d), 1); /* the temporary file */
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(im_write_all(o.fd, "hello", 5, "t", &err), 0);
	assert_int_equal(im_pwrite_all(o.fd, "J", 1, 0, "t", &err), 0);
	assert_int_equal(im_outfile_commit(&o, &err), 0);
	umask(old);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(tu_sh("test \"$(cat '%s')\" = Jello", p), 0);
	assert_int_equal(count_entries(d), 1);

	assert_int_equal(im_outfile_open(&o, p, &err), 0);
	im_outfile_abort(&o);
	im_outfile_abort(&o); /* twice is safe */
	assert_int_equal(count_entries(d), 1);
	assert_int_equal(tu_sh("test \"$(cat '%s')\" = Jello", p), 0);

	snprintf(p, sizeof(p), "%s/missing/out.bin", d);
	assert_int_equal(im_outfile_open(&o, p, &err), -1);
	assert_int_equal(err.code, IM_EXIT_IO);
	assert_non_null(strstr(err.msg, "cannot create output"));
	tu_rmtree(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outfile_commit_and_abort),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
