/* lib/semver.c: semver 2.0 precedence and the blang/semver range syntax Talos uses. */
#include "testutil.h"

#include "imager/util/semver.h"

static struct im_semver V(const char *s) {
	struct im_semver v;
	struct im_error err = {0};

	if (im_semver_parse(s, "test version", &v, &err) < 0)
		fail_msg("%s: %s", s, err.msg);
	return v;
}

static void
test_parse(void **state)
{
	(void)state;
	struct im_semver v = V("v1.6.0");
	assert_int_equal(v.major, 1);
	assert_int_equal(v.minor, 6);
	assert_int_equal(v.patch, 0);
	assert_string_equal(v.pre, "");

	v = V("10.20.30-alpha.1+build.5");
	assert_int_equal(v.major, 10);
	assert_int_equal(v.patch, 30);
	assert_string_equal(v.pre, "alpha.1");

	v = V("v1.7"); /* tolerant: missing patch is 0 */
	assert_int_equal(v.minor, 7);
	assert_int_equal(v.patch, 0);

	const char *bad[] = {"",       "v",	   "1.",      "01.2.3",
			     "1.2.3-", "1.2.3-01", "1.2.3+",  "1.2.3-a..b",
			     "1.2.3 ", "x1.2.3",   "1.2.3.4", "99999999999999999999.0.0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct im_error err = {0};
		struct im_semver w;
		assert_int_equal(im_semver_parse(bad[i], "profile version", &w, &err), -1);
		assert_int_equal(err.code, IM_EXIT_INVALID);
		assert_non_null(strstr(err.msg, "profile version"));
		assert_non_null(strstr(err.msg, "expected a semantic version"));
	}
}

/* The ordering example of semver §11.4, plus numeric-vs-length cases. */
static void test_precedence(void **state)
{
	(void)state;
	const char *order[] = {"1.0.0-alpha",  "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
			       "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",	    "1.0.0",
			       "1.0.1",	       "1.2.0",		"1.10.0",	    "2.0.0-0",
			       "2.0.0-1",      "2.0.0-9",	"2.0.0-10",	    "2.0.0-a",
			       "2.0.0",	       "10.0.0"};
	size_t n = sizeof(order) / sizeof(order[0]);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			struct im_semver a = V(order[i]), b = V(order[j]);
			int c = im_semver_cmp(&a, &b);
			int want = i < j ? -1 : i > j;
			if (c != want)
				fail_msg("cmp(%s, %s) = %d, want %d", order[i], order[j], c, want);
		}
	struct im_semver a = V("1.0.0+build.1"), b = V("1.0.0+other");
	assert_int_equal(im_semver_cmp(&a, &b), 0);
}

static bool check(const char *range, const char *version)
{
	struct im_semver v = V(version);
	struct im_error err = {0};
	bool ok = false;

	if (im_semver_range_check(range, &v, &ok, &err) < 0)
		fail_msg("range \"%s\": %s", range, err.msg);
	return ok;
}

static void test_ranges(void **state)
{
	(void)state;
	assert_true(check(">= v1.6.0", "1.6.0"));
	assert_true(check(">= v1.6.0", "1.7.2"));
	assert_false(check(">= v1.6.0", "1.5.9"));
	assert_true(check(">=v1.0.0", "v1.0.0"));
	assert_true(check(">=1.0.0 <2.0.0", "1.99.0"));
	assert_false(check(">=1.0.0 <2.0.0", "2.0.0"));
	assert_false(check(">=1.0.0 <2.0.0", "0.9.0"));
	assert_true(check("<2.0.0", "2.0.0-rc.1"));
	assert_false(check(">=2.0.0", "2.0.0-rc.1"));
	assert_true(check("<= 1.2.3", "1.2.3"));
	assert_false(check("< 1.2.3", "1.2.3"));
	assert_true(check("> 1.2.3", "1.2.4"));
	assert_true(check("=1.2.3", "1.2.3"));
	assert_true(check("==1.2.3", "1.2.3"));
	assert_true(check("1.2.3", "1.2.3"));
	assert_false(check("1.2.3", "1.2.4"));
	assert_true(check("!=1.2.3", "1.2.4"));
	assert_false(check("!1.2.3", "1.2.3"));
	assert_true(check("<1.0.0 || >=2.0.0", "2.1.0"));
	assert_true(check("<1.0.0 || >=2.0.0", "0.1.0"));
	assert_false(check("<1.0.0 || >=2.0.0", "1.5.0"));
	assert_true(check("  >=  1.0.0   <  2.0.0  ", "1.0.0"));
}

static void test_bad_ranges(void **state)
{
	(void)state;
	const char *bad[] = {"",	  "   ",      ">=",	  ">= foo",	   "~1.2.3",
			     ">=1.0.0 <", "1.0.0 ||", "=> 1.0.0", ">=1.0.0,<2.0.0"};
	struct im_semver v = V("1.0.0");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct im_error err = {0};
		bool ok = true;
		if (im_semver_range_check(bad[i], &v, &ok, &err) != -1)
			fail_msg("range \"%s\" accepted", bad[i]);
		assert_int_equal(err.code, IM_EXIT_INVALID);
		assert_non_null(strstr(err.msg, "version constraint \""));
		assert_non_null(strstr(err.msg, "expected comparisons"));
		assert_false(ok);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_bad_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
