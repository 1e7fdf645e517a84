/* Kernel command line: multimap rules and the DESIGN.md §4 platform table. */
#include "testutil.h"

#include "imager/talos/cmdline.h"

#define HARDEN "init_on_alloc=1 init_on_free=1 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on"
#define T1S0   "console=tty1 console=ttyS0 net.ifnames=0"

static char *build(const char *platform, const char *arch, const char *const *user, size_t n)
{
	struct im_error err = {0};
	struct im_cmdline_params p = {
	    .platform = platform, .arch = arch, .user_args = user, .n_user_args = n};
	struct im_cmdline *cl = im_cmdline_build(&p, &err);
	if (!cl)
		fail_msg("build %s/%s: %s", platform, arch, err.msg);
	char *s = im_cmdline_render(cl);
	im_cmdline_free(cl);
	return s;
}

static void expect_line(const char *platform, const char *arch, const char *want)
{
	char *s = build(platform, arch, NULL, 0);
	if (strcmp(s, want) != 0)
		fail_msg("%s/%s:\n got: %s\nwant: %s", platform, arch, s, want);
	free(s);
}

static void test_metal_default(void **state)
{
	(void)state;
	expect_line("metal", "amd64",
		    "talos.platform=metal console=tty0 init_on_alloc=1 init_on_free=1 "
		    "slab_nomerge pti=on consoleblank=0 printk.devkmsg=on");
	expect_line("metal", NULL, "talos.platform=metal console=tty0 " HARDEN);
	expect_line("metal", "arm64", "talos.platform=metal console=ttyAMA0 console=tty0 " HARDEN);
}

/* clang-format off */
static const struct {
	const char *platform, *amd64, *arm64;
} table[] = {
	{"aws", T1S0 " nvme_core.io_timeout=4294967295", NULL},
	{"gcp", "console=ttyS0 net.ifnames=0 talos.dashboard.disabled=1 "
		"sysctl.kernel.kexec_load_disabled=1", NULL},
	{"azure", "console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300 net.ifnames=0 "
		  "talos.dashboard.disabled=1 sysctl.kernel.kexec_load_disabled=1", NULL},
	{"digital-ocean", "console=ttyS0 console=tty0 console=tty1 net.ifnames=0", NULL},
	{"akamai", "console=ttyS0 console=tty0 console=tty1 net.ifnames=0", NULL},
	{"nocloud", T1S0, NULL},
	{"openstack", T1S0, NULL},
	{"hcloud", T1S0, NULL},
	{"exoscale", T1S0, NULL},
	{"oracle", T1S0 " talos.dashboard.disabled=1", NULL},
	{"scaleway", T1S0 " talos.dashboard.disabled=1", NULL},
	{"upcloud", "net.ifnames=0", NULL},
	{"vultr", "net.ifnames=0", NULL},
	{"vmware", "talos.config=guestinfo console=tty0 console=ttyS0 earlyprintk=ttyS0,115200 "
		   "net.ifnames=0",
	 "talos.config=guestinfo console=tty0 console=ttyAMA0 net.ifnames=0"},
};
/* clang-format on */

static void test_all_platforms(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		char want[1024];
		snprintf(want, sizeof(want), "talos.platform=%s %s " HARDEN, table[i].platform,
			 table[i].amd64);
		expect_line(table[i].platform, "amd64", want);
		snprintf(want, sizeof(want), "talos.platform=%s %s " HARDEN, table[i].platform,
			 table[i].arm64 ? table[i].arm64 : table[i].amd64);
		expect_line(table[i].platform, "arm64", want);
	}
}

static void test_platform_list(void **state)
{
	(void)state;
	const char *const *names = im_cmdline_platforms();
	size_t n = 0;
	for (; names[n]; n++) {
		assert_true(im_cmdline_platform_valid(names[n]));
		assert_non_null(im_cmdline_platform_args(names[n], "amd64"));
		assert_non_null(im_cmdline_platform_args(names[n], "arm64"));
	}
	assert_int_equal(n, 1 + sizeof(table) / sizeof(table[0]));
	assert_string_equal(names[0], "metal");
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		assert_string_equal(names[i + 1], table[i].platform);
	assert_false(im_cmdline_platform_valid("nope"));
	assert_false(im_cmdline_platform_valid(NULL));
	assert_null(im_cmdline_platform_args("metal", "riscv64"));
}

static void test_user_args(void **state)
{
	(void)state;
	const char *user[] = {"console=ttyS0", "-pti", "foo=1"};
	char *s = build("metal", "amd64", user, 3);
	assert_string_equal(s, "talos.platform=metal console=ttyS0 init_on_alloc=1 init_on_free=1 "
			       "slab_nomerge consoleblank=0 printk.devkmsg=on foo=1");
	free(s);
}

static void test_console_replace_then_append(void **state)
{
	(void)state;
	/* The first user console replaces the built-in ones in place; later ones append. */
	const char *user[] = {"console=ttyS1", "x", "console=tty0"};
	char *s = build("aws", "amd64", user, 3);
	assert_string_equal(s, "talos.platform=aws console=ttyS1 console=tty0 net.ifnames=0 "
			       "nvme_core.io_timeout=4294967295 " HARDEN " x");
	free(s);
}

static void test_platform_replace(void **state)
{
	(void)state;
	const char *user[] = {"talos.platform=openstack", "console=ttyS0"};
	char *s = build("upcloud", "amd64", user, 2);
	assert_string_equal(s, "talos.platform=openstack net.ifnames=0 " HARDEN " console=ttyS0");
	free(s);
}

static void test_drop_one_value(void **state)
{
	(void)state;
	const char *user[] = {"-console=ttyS0", "-net.ifnames=0", "-nothere", "-nothere=1"};
	char *s = build("digital-ocean", "amd64", user, 4);
	assert_string_equal(s, "talos.platform=digital-ocean console=tty0 console=tty1 " HARDEN);
	free(s);
	/* Dropping a value only matches equal values; bare entries need -key. */
	const char *user2[] = {"-slab_nomerge=1", "-pti=off"};
	s = build("upcloud", "arm64", user2, 2);
	assert_string_equal(s, "talos.platform=upcloud net.ifnames=0 " HARDEN);
	free(s);
}

static void test_drop_then_readd_goes_last(void **state)
{
	(void)state;
	const char *user[] = {"-consoleblank", "consoleblank=1", "-pti=on"};
	char *s = build("metal", "amd64", user, 3);
	assert_string_equal(s, "talos.platform=metal console=tty0 init_on_alloc=1 init_on_free=1 "
			       "slab_nomerge printk.devkmsg=on consoleblank=1");
	free(s);
}

static void test_full_build_order(void **state)
{
	(void)state;
	struct im_error err = {0};
	const char *overlay[] = {"console=ttyS2,115200", "sysctl.kernel.kexec_load_disabled=1"};
	const char *user[] = {"talos.environment=A=B quiet", "-init_on_free"};
	struct im_cmdline_params p = {.platform = "metal",
				      .arch = "arm64",
				      .overlay_args = overlay,
				      .n_overlay_args = 2,
				      .secureboot = true,
				      .meta_base64 = "MHhhPWZvbw==",
				      .user_args = user,
				      .n_user_args = 2};
	struct im_cmdline *cl = im_cmdline_build(&p, &err);
	assert_non_null(cl);
	char *s = im_cmdline_render(cl);
	assert_string_equal(s, "talos.platform=metal console=ttyAMA0 console=tty0 "
			       "console=ttyS2,115200 sysctl.kernel.kexec_load_disabled=1 "
			       "init_on_alloc=1 slab_nomerge pti=on consoleblank=0 "
			       "printk.devkmsg=on lockdown=confidentiality "
			       "talos.environment=INSTALLER_META_BASE64=MHhhPWZvbw== "
			       "talos.environment=A=B quiet");
	assert_int_equal(im_cmdline_count(cl, "talos.environment"), 2);
	assert_string_equal(im_cmdline_get(cl, "talos.environment", 1), "A=B");
	assert_string_equal(im_cmdline_get(cl, "quiet", 0), "");
	assert_null(im_cmdline_get(cl, "quiet", 1));
	assert_null(im_cmdline_get(cl, "init_on_free", 0));
	free(s);
	im_cmdline_free(cl);
}

static void test_multimap_basics(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_cmdline *cl = im_cmdline_new();
	char *s = im_cmdline_render(cl);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(im_cmdline_append(cl, "a=1 b  a=2\tc= b", &err), 0);
	assert_int_equal(im_cmdline_append(cl, "", &err), 0);
	s = im_cmdline_render(cl);
	assert_string_equal(s, "a=1 a=2 b b c=");
	free(s);
	assert_true(im_cmdline_remove(cl, "a"));
	assert_false(im_cmdline_remove(cl, "a"));
	assert_int_equal(im_cmdline_apply_user(cl, "-b", &err), 0);
	assert_int_equal(im_cmdline_apply_user(cl, "-c=", &err), 0);
	s = im_cmdline_render(cl);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(err.code, 0);
	im_cmdline_free(cl);
	im_cmdline_free(NULL);
}

static void expect_user_error(const char *arg, const char *needle)
{
	struct im_error err = {0};
	struct im_cmdline *cl = im_cmdline_new();
	assert_int_equal(im_cmdline_apply_user(cl, arg, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	if (!strstr(err.msg, needle))
		fail_msg("error for \"%s\": %s (wanted \"%s\")", arg, err.msg, needle);
	im_cmdline_free(cl);
}

static void test_errors(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_cmdline_params p = {.platform = "bogus"};
	assert_null(im_cmdline_build(&p, &err));
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "\"bogus\""));
	assert_non_null(strstr(err.msg, "metal, aws, gcp, azure, digital-ocean, akamai, nocloud, "
					"openstack, hcloud, exoscale, oracle, scaleway, upcloud, "
					"vultr, vmware"));

	memset(&err, 0, sizeof(err));
	p.platform = NULL;
	assert_null(im_cmdline_build(&p, &err));
	assert_int_equal(err.code, IM_EXIT_INVALID);

	memset(&err, 0, sizeof(err));
	p = (struct im_cmdline_params){.platform = "metal", .arch = "s390x"};
	assert_null(im_cmdline_build(&p, &err));
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "\"s390x\""));

	memset(&err, 0, sizeof(err));
	const char *bad[] = {"ok=1", "=x"};
	p = (struct im_cmdline_params){.platform = "metal", .user_args = bad, .n_user_args = 2};
	assert_null(im_cmdline_build(&p, &err));
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "\"=x\""));

	expect_user_error("", "expected");
	expect_user_error("-", "expected");
	expect_user_error("-=1", "expected");
	expect_user_error("a=\x01", "control characters");

	memset(&err, 0, sizeof(err));
	struct im_cmdline *cl = im_cmdline_new();
	assert_int_equal(im_cmdline_append(cl, "-x", &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	im_cmdline_free(cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metal_default),
	    cmocka_unit_test(test_all_platforms),
	    cmocka_unit_test(test_platform_list),
	    cmocka_unit_test(test_user_args),
	    cmocka_unit_test(test_console_replace_then_append),
	    cmocka_unit_test(test_platform_replace),
	    cmocka_unit_test(test_drop_one_value),
	    cmocka_unit_test(test_drop_then_readd_goes_last),
	    cmocka_unit_test(test_full_build_order),
	    cmocka_unit_test(test_multimap_basics),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
