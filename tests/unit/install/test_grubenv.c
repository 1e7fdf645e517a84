/* lib/grubenv.c, judged by GRUB's own grub-editenv (grub-common): it lists what we write,
 * we read what it writes, and the same edits give the same bytes. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "imager/install/grubenv.h"

#define SIG IM_GRUBENV_SIGNATURE

static void get(const char *file, char *buf, size_t len)
{
	FILE *f = fopen(file, "rb");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, len, f), len);
	assert_int_equal(fgetc(f), EOF);
	fclose(f);
}

static void test_new_block(void **state)
{
	(void)state;
	char buf[IM_GRUBENV_SIZE], want[IM_GRUBENV_SIZE];
	struct im_error err = {0};
	const char *kv[] = {IM_GRUBENV_SAVED_ENTRY, "A", NULL};
	assert_int_equal(im_grubenv_new_block(buf, sizeof(buf), kv, &err), 0);
	memset(want, '#', sizeof(want));
	memcpy(want, SIG "saved_entry=A\n", strlen(SIG "saved_entry=A\n"));
	assert_memory_equal(buf, want, sizeof(want));

	/* empty: the signature and fill; the same as `grub-editenv F create` minus its
	 * "# WARNING" comment line */
	assert_int_equal(im_grubenv_new_block(buf, sizeof(buf), NULL, &err), 0);
	memset(want, '#', sizeof(want));
	memcpy(want, SIG, strlen(SIG));
	assert_memory_equal(buf, want, sizeof(want));
}

/* grub-editenv lists exactly what we wrote, escapes included. */
static void test_grub_reads_ours(void **state)
{
	(void)state;
	char buf[IM_GRUBENV_SIZE];
	struct im_error err = {0};
	const char *kv[] = {"saved_entry", "Talos-A", "next_entry",
			    "Talos-B",	   "odd",     "back\\slash and\nnewline\\",
			    "empty",	   "",	      NULL};
	assert_int_equal(im_grubenv_new_block(buf, sizeof(buf), kv, &err), 0);
	char *env = tu_path("ours.env"), *out = tu_path("list.out"), *want = tu_path("list.want");
	tu_write_file(env, buf, sizeof(buf));
	const char *w = "saved_entry=Talos-A\nnext_entry=Talos-B\n"
			"odd=back\\slash and\nnewline\\\nempty=\n";
	tu_write_file(want, w, strlen(w));
	assert_int_equal(
	    tu_sh("grub-editenv '%s' list > '%s' && cmp '%s' '%s'", env, out, out, want), 0);
	/* and grub-editenv can edit it in place (free space found, the block not "broken") */
	assert_int_equal(tu_sh("grub-editenv '%s' set extra=1 && grub-editenv '%s' list | "
			       "tail -n1 | grep -qx extra=1",
			       env, env),
			 0);
	free(env);
	free(out);
	free(want);
}

/* We read grub-editenv's block, render it back byte for byte, and make the same edits. */
static void test_we_read_grubs(void **state)
{
	(void)state;
	char *env = tu_path("grub.env"), *mine = tu_path("mine.env");
	assert_int_equal(tu_sh("rm -f '%s' && grub-editenv '%s' create && grub-editenv '%s' set "
			       "saved_entry=A next_entry=B 'x=a\\b\nc' && grub-editenv '%s' set "
			       "a=b",
			       env, env, env, env),
			 0);
	char buf[IM_GRUBENV_SIZE], out[IM_GRUBENV_SIZE];
	get(env, buf, sizeof(buf));
	struct im_grubenv e;
	struct im_error err = {0};
	if (im_grubenv_parse(&e, buf, sizeof(buf), &err))
		fail_msg("%s", err.msg);
	assert_int_equal(e.size, IM_GRUBENV_SIZE);
	assert_string_equal(im_grubenv_get(&e, "saved_entry"), "A");
	assert_string_equal(im_grubenv_get(&e, "next_entry"), "B");
	assert_string_equal(im_grubenv_get(&e, "x"), "a\\b\nc");
	assert_string_equal(im_grubenv_get(&e, "a"), "b");
	assert_null(im_grubenv_get(&e, "nope"));
	assert_null(e.lines[0].name); /* grub-editenv's "# WARNING: ..." comment is kept */
	assert_int_equal(e.n, 5);
	assert_int_equal(im_grubenv_render(&e, out, sizeof(out), &err), 0);
	assert_memory_equal(out, buf, sizeof(buf));

	/* the same edits as grub-editenv: shorter, longer, new, removed */
	assert_int_equal(im_grubenv_set(&e, "saved_entry", "B-longer", &err), 0);
	assert_int_equal(im_grubenv_set(&e, "x", "", &err), 0);
	assert_int_equal(im_grubenv_set(&e, "new_one", "v", &err), 0);
	assert_true(im_grubenv_unset(&e, "next_entry"));
	assert_false(im_grubenv_unset(&e, "next_entry"));
	assert_int_equal(im_grubenv_render(&e, out, sizeof(out), &err), 0);
	tu_write_file(mine, out, sizeof(out));
	assert_int_equal(tu_sh("grub-editenv '%s' set saved_entry=B-longer x= new_one=v && "
			       "grub-editenv '%s' unset next_entry && cmp '%s' '%s'",
			       env, env, env, mine),
			 0);
	im_grubenv_free(&e);

	/* edit_block: the installer's one-shot trial and commit */
	assert_int_equal(im_grubenv_edit_block(out, sizeof(out), "next_entry", "Talos-B", &err), 0);
	tu_write_file(mine, out, sizeof(out));
	assert_int_equal(
	    tu_sh("grub-editenv '%s' set next_entry=Talos-B && cmp '%s' '%s'", env, env, mine), 0);
	assert_int_equal(im_grubenv_edit_block(out, sizeof(out), "next_entry", NULL, &err), 0);
	tu_write_file(mine, out, sizeof(out));
	assert_int_equal(
	    tu_sh("grub-editenv '%s' unset next_entry && cmp '%s' '%s'", env, env, mine), 0);
	free(env);
	free(mine);
}

static void test_overflow(void **state)
{
	(void)state;
	char buf[IM_GRUBENV_SIZE];
	struct im_error err = {0};
	struct im_grubenv e;
	im_grubenv_init(&e, 0);
	assert_int_equal(e.size, IM_GRUBENV_SIZE);
	assert_int_equal(im_grubenv_set(&e, "saved_entry", "A", &err), 0);
	/* fill the block exactly: 25 signature + 14 "saved_entry=A\n" + "v=" + value + "\n" */
	size_t room = IM_GRUBENV_SIZE - strlen(SIG) - 14 - 3;
	char *v = malloc(room + 2);
	memset(v, 'x', room + 1);
	v[room + 1] = '\0';
	assert_int_equal(im_grubenv_set(&e, "v", v, &err), -1); /* one byte too many */
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "v ("));
	assert_non_null(strstr(err.msg, "1025 bytes"));
	assert_non_null(strstr(err.msg, "holds 1024"));
	assert_int_equal(e.n, 1); /* unchanged */
	v[room] = '\0';
	err = (struct im_error){0};
	assert_int_equal(im_grubenv_set(&e, "v", v, &err), 0);
	assert_int_equal(im_grubenv_used(&e), IM_GRUBENV_SIZE);
	assert_int_equal(im_grubenv_render(&e, buf, sizeof(buf), &err), 0);
	assert_int_equal(buf[IM_GRUBENV_SIZE - 1], '\n'); /* no fill left */
	char *env = tu_path("full.env");
	tu_write_file(env, buf, sizeof(buf));
	assert_int_equal(tu_sh("grub-editenv '%s' list | grep -qx 'v=x*' && "
			       "! grub-editenv '%s' set more=1 2>/dev/null",
			       env, env),
			 0);
	/* an escaped character counts twice */
	v[room - 1] = '\n';
	assert_int_equal(im_grubenv_set(&e, "v", v, &err), -1);
	/* replacing by a shorter value and new_block overflow */
	err = (struct im_error){0};
	assert_int_equal(im_grubenv_set(&e, "v", "short", &err), 0);
	assert_string_equal(im_grubenv_get(&e, "v"), "short");
	const char *kv[] = {"a", v, NULL};
	assert_int_equal(im_grubenv_new_block(buf, 512, kv, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	/* render into a smaller block than the lines need */
	err = (struct im_error){0};
	assert_int_equal(im_grubenv_render(&e, buf, 30, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	im_grubenv_free(&e);
	free(v);
	free(env);
}

static void expect_parse_error(const char *text, size_t len, const char *word)
{
	char buf[IM_GRUBENV_SIZE];
	memset(buf, '#', sizeof(buf));
	memcpy(buf, text, len);
	struct im_grubenv e;
	struct im_error err = {0};
	assert_int_equal(im_grubenv_parse(&e, buf, sizeof(buf), &err), -1);
	im_grubenv_free(&e);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	if (!strstr(err.msg, word))
		fail_msg("\"%s\" not in: %s", word, err.msg);
}

static void test_invalid(void **state)
{
	(void)state;
	expect_parse_error("# GRUB Environment\n", 19, "not a GRUB environment block");
	expect_parse_error(SIG "novalue\n", strlen(SIG) + 8, "byte 25");
	expect_parse_error(SIG "=v\n", strlen(SIG) + 3, "byte 25");
	expect_parse_error(SIG "a=1\nb=unterminated", strlen(SIG) + 18, "byte 29");
	expect_parse_error(SIG "a=1\nb=\0\n", strlen(SIG) + 8, "NUL");
	struct im_grubenv e;
	struct im_error err = {0};
	assert_int_equal(im_grubenv_parse(&e, "# GRUB", 6, &err), -1);
	im_grubenv_free(&e);

	im_grubenv_init(&e, 0);
	const char *bad[] = {"", "1abc", "a=b", "a b", "a\nb", "#x", "ä"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = (struct im_error){0};
		assert_int_equal(im_grubenv_set(&e, bad[i], "v", &err), -1);
		assert_int_equal(err.code, IM_EXIT_INVALID);
		assert_non_null(strstr(err.msg, "variable name"));
	}
	assert_int_equal(im_grubenv_set(&e, "_Ok_9", "v", &err), 0);
	im_grubenv_free(&e);
	char buf[IM_GRUBENV_SIZE];
	const char *odd[] = {"a", NULL};
	err = (struct im_error){0};
	assert_int_equal(im_grubenv_new_block(buf, sizeof(buf), odd, &err), -1);
	assert_non_null(strstr(err.msg, "no value"));
}

/* Comments, escaped newlines in comments, duplicates, other block sizes. */
static void test_edge_cases(void **state)
{
	(void)state;
	char buf[IM_GRUBENV_SIZE], out[IM_GRUBENV_SIZE];
	const char *t = SIG "# note \\\n still the note\na=1\nb=x\na=2\n";
	memset(buf, '#', sizeof(buf));
	memcpy(buf, t, strlen(t));
	struct im_grubenv e;
	struct im_error err = {0};
	assert_int_equal(im_grubenv_parse(&e, buf, sizeof(buf), &err), 0);
	assert_int_equal(e.n, 4);
	assert_null(e.lines[0].name);
	assert_string_equal(e.lines[0].value, "# note \\\n still the note");
	assert_string_equal(im_grubenv_get(&e, "a"), "2"); /* load_env: the last one wins */
	assert_int_equal(im_grubenv_render(&e, out, sizeof(out), &err), 0);
	assert_memory_equal(out, buf, sizeof(buf));
	char *env = tu_path("edge.env");
	tu_write_file(env, buf, sizeof(buf));
	assert_int_equal(
	    tu_sh("test \"$(grub-editenv '%s' list | tr '\\n' ' ')\" = 'a=1 b=x a=2 '", env), 0);
	assert_int_equal(im_grubenv_set(&e, "a", "3", &err), 0);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.lines[1].name, "a");
	assert_string_equal(im_grubenv_get(&e, "a"), "3");
	assert_true(im_grubenv_unset(&e, "a"));
	assert_null(im_grubenv_get(&e, "a"));
	im_grubenv_free(&e);

	/* a 2048-byte block (grub-editenv works on any size) */
	char big[2048];
	const char *kv[] = {"saved_entry", "B", NULL};
	assert_int_equal(im_grubenv_new_block(big, sizeof(big), kv, &err), 0);
	assert_int_equal(im_grubenv_parse(&e, big, sizeof(big), &err), 0);
	assert_int_equal(e.size, 2048);
	assert_string_equal(im_grubenv_get(&e, "saved_entry"), "B");
	im_grubenv_free(&e);
	tu_write_file(env, big, sizeof(big));
	assert_int_equal(tu_sh("grub-editenv '%s' list | grep -qx saved_entry=B", env), 0);
	free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_block),	  cmocka_unit_test(test_grub_reads_ours),
	    cmocka_unit_test(test_we_read_grubs), cmocka_unit_test(test_overflow),
	    cmocka_unit_test(test_invalid),	  cmocka_unit_test(test_edge_cases),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
