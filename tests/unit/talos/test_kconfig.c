/* lib/talos/kconfig.c and kfrag_builtin.c: .config parsing, fragments, the check, and
 * the fragments shipped in kernel-config/. */
#include "testutil.h"

#include "imager/talos/kconfig.h"
#include "imager/talos/kfrags.h"

static struct im_kconfig parse_ok(const char *text)
{
	struct im_kconfig kc;
	struct im_error err = {0};
	if (im_kconfig_parse(text, strlen(text), "t.config", &kc, &err) < 0)
		fail_msg("%s", err.msg);
	return kc;
}

static void parse_bad(const char *text, int code, const char *msg)
{
	struct im_kconfig kc;
	struct im_error err = {0};
	assert_int_equal(im_kconfig_parse(text, strlen(text), "t.config", &kc, &err), -1);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, msg))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
	assert_int_equal(kc.n, 0);
}

static void test_parse(void **state)
{
	(void)state;
	struct im_kconfig kc = parse_ok("#\n# Automatically generated file; DO NOT EDIT.\n"
					"CONFIG_B=m\r\n"
					"# CONFIG_C is not set\n"
					"\n"
					"CONFIG_A=y\n"
					"CONFIG_S=\"a b=c\"\n"
					"CONFIG_N=-1\n"
					"CONFIG_B=y\n" /* the last assignment wins, as in Kconfig */
					"CONFIG_LAST=0x10");
	assert_int_equal(kc.n, 6);
	assert_string_equal(kc.v[0].name, "A"); /* sorted */
	assert_string_equal(im_kconfig_get(&kc, "A"), "y");
	assert_string_equal(im_kconfig_get(&kc, "B"), "y");
	assert_string_equal(im_kconfig_get(&kc, "C"), "n");
	assert_string_equal(im_kconfig_get(&kc, "S"), "\"a b=c\"");
	assert_string_equal(im_kconfig_get(&kc, "N"), "-1");
	assert_string_equal(im_kconfig_get(&kc, "LAST"), "0x10");
	assert_null(im_kconfig_get(&kc, "D"));
	assert_null(im_kconfig_get(&kc, "CONFIG_A"));
	im_kconfig_free(&kc);
}

static void test_parse_bad(void **state)
{
	(void)state;
	parse_bad("CONFIG_A=y\nfoo bar\n", IM_EXIT_INVALID,
		  "t.config:2: expected CONFIG_NAME=value");
	parse_bad("CONFIG_A\n", IM_EXIT_INVALID, "t.config:1: expected");
	parse_bad("CONFIG_=y\n", IM_EXIT_INVALID, "t.config:1: expected");
	parse_bad("CONFIG_A=\n", IM_EXIT_INVALID, "t.config:1: expected");
	parse_bad("# just comments\n\n", IM_EXIT_INVALID, "no CONFIG_ option");
	parse_bad("", IM_EXIT_INVALID, "no CONFIG_ option");
	struct im_kconfig kc;
	struct im_error err = {0};
	assert_int_equal(im_kconfig_parse("CONFIG_A=y\0\x01", 12, "k", &kc, &err), -1);
	assert_non_null(strstr(err.msg, "k: not a kernel configuration (binary data"));
}

static void test_satisfies(void **state)
{
	(void)state;
	/* want, have, holds */
	static const struct {
		const char *want, *have;
		int ok;
	} t[] = {
	    {"y", "y", 1},	   {"y", "m", 0},	 {"y", "n", 0},	     {"y", NULL, 0},
	    {"m", "y", 1},	   {"m", "m", 1},	 {"m", "n", 0},	     {"m", NULL, 0},
	    {"n", NULL, 1},	   {"n", "n", 1},	 {"n", "y", 0},	     {"n", "m", 0},
	    {"65536", "65536", 1}, {"65536", "4096", 0}, {"65536", NULL, 0}, {"-1", "0", 0},
	    {"\"x\"", "\"x\"", 1}, {"\"x\"", "x", 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (im_kconfig_satisfies(t[i].want, t[i].have) != t[i].ok)
			fail_msg("want %s have %s: expected %d", t[i].want,
				 t[i].have ? t[i].have : "(absent)", t[i].ok);
}

static const char frag_text[] = "# header comment\n"
				"\n"
				"# reason of A\n"
				"CONFIG_A=y\n"
				"# reason of B\n"
				"CONFIG_B=m\n"
				"# @or CONFIG_B_NEW=y\n"
				"# C must be off\n"
				"# CONFIG_C is not set\n"
				"# @recommended\n"
				"# the number\n"
				"CONFIG_NUM=65536\n"
				"# reason of D\n"
				"CONFIG_D=y\n";

static void test_fragment(void **state)
{
	(void)state;
	struct im_kfrag f;
	struct im_error err = {0};
	assert_int_equal(im_kfrag_parse(frag_text, strlen(frag_text), "t.config", &f, &err), 0);
	assert_string_equal(f.name, "t.config");
	assert_int_equal(f.n, 5);
	assert_string_equal(f.v[0].want.name, "A");
	assert_string_equal(f.v[0].reason, "reason of A");
	assert_int_equal(f.v[0].level, IM_KFRAG_REQUIRED);
	assert_int_equal(f.v[0].line, 4);
	assert_int_equal(f.v[1].n_alt, 1);
	assert_string_equal(f.v[1].alt[0].name, "B_NEW");
	assert_string_equal(f.v[1].alt[0].value, "y");
	assert_string_equal(f.v[2].want.value, "n");
	assert_string_equal(f.v[2].reason, "C must be off");
	assert_int_equal(f.v[3].level, IM_KFRAG_RECOMMENDED);
	assert_int_equal(f.v[4].level, IM_KFRAG_RECOMMENDED);

	struct im_kconfig kc = parse_ok("CONFIG_A=m\nCONFIG_B_NEW=y\nCONFIG_C=y\nCONFIG_NUM=4096\n"
					"CONFIG_D=y\n");
	struct im_kcheck c;
	assert_int_equal(im_kcheck_run(&kc, &f, 1, &c, &err), 0);
	assert_int_equal(c.n_checked, 5);
	assert_int_equal(c.n, 3); /* A (m, needs y), C (y, needs off), NUM; B holds by @or */
	assert_int_equal(c.n_required, 2);
	assert_int_equal(c.n_recommended, 1);
	char d[160];
	assert_string_equal(c.v[0].opt->want.name, "A");
	im_kcheck_describe(&c.v[0], d, sizeof(d));
	assert_string_equal(d, "is m, needs y (built in)");
	assert_string_equal(im_kcheck_state(&c.v[0]), "wrong");
	assert_string_equal(c.v[1].opt->want.name, "C");
	im_kcheck_describe(&c.v[1], d, sizeof(d));
	assert_string_equal(d, "is y, needs off");
	assert_string_equal(c.v[2].opt->want.name, "NUM");
	im_kcheck_describe(&c.v[2], d, sizeof(d));
	assert_string_equal(d, "is 4096, needs 65536");
	im_kcheck_free(&c);
	im_kconfig_free(&kc);

	kc = parse_ok("CONFIG_OTHER=y\n# CONFIG_B is not set\n");
	assert_int_equal(im_kcheck_run(&kc, &f, 1, &c, &err), 0);
	assert_int_equal(c.n, 4); /* all but C, which is absent = off */
	im_kcheck_describe(&c.v[0], d, sizeof(d));
	assert_string_equal(d, "is missing, needs y");
	assert_string_equal(im_kcheck_state(&c.v[0]), "missing");
	im_kcheck_describe(&c.v[1], d, sizeof(d));
	assert_string_equal(d, "is off, needs y or m");
	assert_string_equal(im_kcheck_state(&c.v[1]), "missing");
	im_kcheck_free(&c);
	im_kconfig_free(&kc);
	im_kfrag_free(&f);
}

static void frag_bad(const char *text, const char *msg)
{
	struct im_kfrag f;
	struct im_error err = {0};
	assert_int_equal(im_kfrag_parse(text, strlen(text), "bad.config", &f, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	if (!strstr(err.msg, msg))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
}

static void test_fragment_bad(void **state)
{
	(void)state;
	frag_bad("CONFIG_A=y\n", "bad.config:1: CONFIG_A has no reason");
	frag_bad("# why\n\nCONFIG_A=y\n", "bad.config:3: CONFIG_A has no reason");
	frag_bad("# why\nCONFIG_A=y\nCONFIG_B=y\n", "bad.config:3: CONFIG_B has no reason");
	frag_bad("# why\nCONFIG_A=y\n# again\nCONFIG_A=m\n",
		 "bad.config:4: CONFIG_A is already set on line 2");
	frag_bad("# @or CONFIG_A=y\n", "bad.config:1: expected \"# @or CONFIG_NAME=value\"");
	frag_bad("# why\nCONFIG_A=y\n# @or nonsense\n", "bad.config:3: expected \"# @or");
	frag_bad("# @optional\n", "bad.config:1: unknown directive");
	frag_bad("# why\nCONFIG_A y\n", "bad.config:2: expected CONFIG_NAME=value");
}

/* The shipped fragments parse, and no option is in two fragments of one set (the report
 * would name it twice, and merge_config.sh would warn about a redefinition). */
static void test_builtin_fragments(void **state)
{
	(void)state;
	const char *arches[] = {"amd64", "arm64"};
	for (size_t a = 0; a < 2; a++) {
		struct im_kfrag *f;
		size_t n;
		struct im_error err = {0};
		if (im_kfrags_for(arches[a], 1, &f, &n, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(n, 4);
		assert_string_equal(f[0].name, "base.config");
		assert_string_equal(f[2].name, "hardening.config");
		assert_string_equal(f[3].name, "secureboot.config");
		size_t total = 0;
		for (size_t i = 0; i < n; i++) {
			assert_true(f[i].n > 0);
			for (size_t j = 0; j < f[i].n; j++) {
				total++;
				assert_true(strlen(f[i].v[j].reason) > 5);
				for (size_t k = i; k < n; k++)
					for (size_t l = k == i ? j + 1 : 0; l < f[k].n; l++)
						if (!strcmp(f[i].v[j].want.name,
							    f[k].v[l].want.name))
							fail_msg("CONFIG_%s in %s and %s",
								 f[i].v[j].want.name, f[i].name,
								 f[k].name);
			}
		}
		assert_true(total > 100);
		im_kfrags_free(f, n);
		assert_int_equal(im_kfrags_for(arches[a], 0, &f, &n, &err), 0);
		assert_int_equal(n, 3);
		im_kfrags_free(f, n);
	}
	struct im_kfrag *f;
	size_t n;
	struct im_error err = {0};
	assert_int_equal(im_kfrags_for("riscv64", 0, &f, &n, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "no kernel-config fragment riscv64.config"));
}

/* base.config's own rules, as the docs state them: what must be built in is built in. */
static void test_base_builtin_options(void **state)
{
	(void)state;
	struct im_kfrag *f;
	size_t n;
	struct im_error err = {0};
	assert_int_equal(im_kfrags_for("amd64", 0, &f, &n, &err), 0);
	const char *must_y[] = {"BLK_DEV_INITRD", "RD_XZ",   "DEVTMPFS",     "EFI_STUB",
				"EFI_PARTITION",  "MODULES", "SQUASHFS_ZSTD"};
	for (size_t i = 0; i < sizeof(must_y) / sizeof(must_y[0]); i++) {
		int found = 0;
		for (size_t j = 0; j < f[0].n; j++)
			if (!strcmp(f[0].v[j].want.name, must_y[i])) {
				assert_string_equal(f[0].v[j].want.value, "y");
				assert_int_equal(f[0].v[j].level, IM_KFRAG_REQUIRED);
				found = 1;
			}
		if (!found)
			fail_msg("base.config lacks CONFIG_%s", must_y[i]);
	}
	im_kfrags_free(f, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_satisfies),
	    cmocka_unit_test(test_fragment),
	    cmocka_unit_test(test_fragment_bad),
	    cmocka_unit_test(test_builtin_fragments),
	    cmocka_unit_test(test_base_builtin_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
