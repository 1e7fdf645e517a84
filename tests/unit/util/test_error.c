/* Unit tests for lib/error.c: first error wins, one line, errno text. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "imager/util/error.h"

static void test_error_first_wins_one_line(void **state)
{
	(void)state;
	struct im_error err = {0};
	assert_int_equal(im_fail(&err, IM_EXIT_INVALID, "bad %s\nvalue", "x"), -1);
	assert_int_equal(im_fail(&err, IM_EXIT_IO, "second"), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_string_equal(err.msg, "bad x value");
	struct im_error e2 = {0};
	errno = ENOENT;
	im_fail_errno(&e2, 0, "/p");
	assert_int_equal(e2.code, IM_EXIT_INTERNAL);
	assert_string_equal(e2.msg, "/p: No such file or directory");
	assert_int_equal(im_exit_for_input_errno(EACCES), IM_EXIT_MISSING);
	assert_int_equal(im_exit_for_input_errno(EIO), IM_EXIT_IO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_first_wins_one_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
