/* Unit tests for lib/epoch.c: SOURCE_DATE_EPOCH parsing. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "imager/util/epoch.h"

static void test_epoch(void **state)
{
	(void)state;
	struct im_error err = {0};
	int64_t v = -1;
	unsetenv("SOURCE_DATE_EPOCH");
	assert_int_equal(im_source_date_epoch(&v, &err), 0);
	assert_int_equal(v, 0);
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	assert_int_equal(im_source_date_epoch(&v, &err), 0);
	assert_int_equal(v, 1700000000);
	const char *bad[] = {"-1", "12x", "+5", "1e9", " 1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct im_error e = {0};
		setenv("SOURCE_DATE_EPOCH", bad[i], 1);
		assert_int_equal(im_source_date_epoch(&v, &e), -1);
		assert_int_equal(e.code, IM_EXIT_INVALID);
		assert_non_null(strstr(e.msg, "SOURCE_DATE_EPOCH"));
	}
	unsetenv("SOURCE_DATE_EPOCH");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_epoch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
