/* Unit tests for lib/fstree.c: sorted trees, normalised modes, path rules, errors. */
#include "testutil.h"

#include <sys/stat.h>

#include "imager/fs/fstree.h"

static int collect(struct im_node *n, void *ctx)
{
	char *buf = ctx;
	strcat(buf, n->path[0] ? n->path : "/");
	strcat(buf, ";");
	return 0;
}

static void test_from_dir_sorted_and_normalised(void **state)
{
	(void)state;
	char *d = tu_tmpdir();
	assert_int_equal(tu_sh("cd %s && mkdir -p b/sub A && echo hi > b/z && echo x > a.txt && "
			       "chmod 664 a.txt && chmod 775 b/z && chmod 700 b/sub && "
			       "ln -s ../a.txt b/link && touch _ B",
			       d),
			 0);
	struct im_error err = {0};
	struct im_tree *t;
	assert_int_equal(im_tree_from_dir(&t, d, 42, &err), 0);
	char walk[512] = "";
	im_tree_walk(t, collect, walk);
	/* byte order: upper case before '_' before lower case */
	assert_string_equal(walk, "/;A;B;_;a.txt;b;b/link;b/sub;b/z;");
	assert_int_equal(t->count, 9);
	assert_int_equal(im_tree_lookup(t, "a.txt")->mode, 0644);
	assert_int_equal(im_tree_lookup(t, "b/z")->mode, 0755);
	assert_int_equal(im_tree_lookup(t, "b/sub")->mode, 0755);
	assert_int_equal(im_tree_lookup(t, "b/z")->size, 3);
	struct im_node *l = im_tree_lookup(t, "b/link");
	assert_int_equal(l->type, IM_NODE_SYMLINK);
	assert_string_equal(l->target, "../a.txt");
	assert_null(im_tree_lookup(t, "b/nope"));
	assert_null(im_tree_lookup(t, "a.txt/x"));
	im_tree_number(t);
	assert_int_equal(t->root->ino, 1);
	assert_int_equal(im_tree_lookup(t, "b/z")->ino, 9);
	im_tree_free(t);
	tu_rmtree(d);
	free(d);
}

static void test_add_entries(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);
	assert_int_equal(im_tree_add_file_mem(t, "etc/deep/f", "abc", 3, 0600, &err), 0);
	assert_int_equal(im_tree_lookup(t, "etc")->type, IM_NODE_DIR);
	assert_int_equal(im_tree_lookup(t, "etc/deep")->mode, 0755);
	assert_memory_equal(im_tree_lookup(t, "etc/deep/f")->data, "abc", 3);
	assert_int_equal(im_tree_add_chrdev(t, "dev/console", 0600, 5, 1, &err), 0);
	assert_int_equal(im_tree_lookup(t, "dev/console")->rdev_major, 5);
	assert_int_equal(im_tree_add_symlink(t, "/lnk", "etc", &err), 0);
	assert_non_null(im_tree_lookup(t, "lnk"));
	assert_int_equal(im_tree_add_file_mem(t, "empty", "", 0, 0644, &err), 0);
	assert_int_equal(im_tree_lookup(t, "empty")->size, 0);
	im_tree_free(t);
}

static void expect_add_error(struct im_tree *t, const char *path, const char *msg)
{
	struct im_error err = {0};
	assert_int_equal(im_tree_add_dir(t, path, 0755, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, msg));
}

static void test_bad_paths(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);
	assert_int_equal(im_tree_add_file_mem(t, "f", "x", 1, 0644, &err), 0);
	expect_add_error(t, "f", "already present");
	expect_add_error(t, "../x", "invalid path");
	expect_add_error(t, "a/./b", "invalid path");
	expect_add_error(t, "", "invalid path");
	expect_add_error(t, "f/under", "is not a directory");
	im_tree_free(t);
}

static void test_errors_from_dir(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = (void *)1;
	assert_int_equal(im_tree_from_dir(&t, "/nonexistent/imager", 0, &err), -1);
	assert_null(t);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_string_equal(err.msg, "/nonexistent/imager: No such file or directory");

	char *d = tu_tmpdir();
	assert_int_equal(tu_sh("mkfifo %s/pipe", d), 0);
	struct im_error e2 = {0};
	assert_int_equal(im_tree_from_dir(&t, d, 0, &e2), -1);
	assert_int_equal(e2.code, IM_EXIT_INVALID);
	assert_non_null(strstr(e2.msg, "/pipe: unsupported file type"));

	struct im_error e3 = {0};
	char f[512];
	snprintf(f, sizeof(f), "%s/pipe", d);
	assert_int_equal(im_tree_from_dir(&t, f, 0, &e3), -1);
	assert_non_null(strstr(e3.msg, "not a directory"));
	tu_rmtree(d);
	free(d);
}

static void test_node_open(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);
	assert_int_equal(im_tree_add_file_src(t, "os", "/etc/os-release", 0644, &err), 0);
	int fd = im_node_open(im_tree_lookup(t, "os"), &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(im_tree_add_file_src(t, "x", "/nonexistent", 0644, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	im_tree_free(t);
}

/* Issue 17 finding 9: a path component over 255 bytes was cut silently when it named a
 * parent folder (two different long names became one node). */
static void test_long_parent_name(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);
	char path[700];
	memset(path, 'a', 300);
	snprintf(path + 300, sizeof(path) - 300, "/f");
	assert_int_equal(im_tree_add_file_mem(t, path, "x", 1, 0644, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "name too long"));
	assert_int_equal(t->count, 1); /* nothing was added */
	im_tree_free(t);
}

/* Issue 17 finding 7: trees deeper than IM_TREE_MAX_DEPTH are refused (the walks that
 * copy them recurse with PATH_MAX buffers per level). */
static void test_depth_limit(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);
	char path[2 * (IM_TREE_MAX_DEPTH + 2) + 1] = "";
	for (int i = 0; i < IM_TREE_MAX_DEPTH; i++)
		strcat(path, i ? "/d" : "d");
	assert_int_equal(im_tree_add_dir(t, path, 0755, &err), 0);
	strcat(path, "/d");
	assert_int_equal(im_tree_add_dir(t, path, 0755, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "levels deep"));
	im_tree_free(t);
}

/* Symlinks followed inside the tree only (overlays copied into FAT, issue 18). */
static void test_resolve(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);
	assert_int_equal(im_tree_add_file_mem(t, "d/f", "x", 1, 0644, &err), 0);
	assert_int_equal(im_tree_add_symlink(t, "rel", "d/f", &err), 0);
	assert_int_equal(im_tree_add_symlink(t, "d/up", "../rel", &err), 0); /* a chain */
	assert_int_equal(im_tree_add_symlink(t, "dl", "d", &err), 0);	     /* a folder link */
	assert_int_equal(im_tree_add_symlink(t, "abs", "/etc/shadow", &err), 0);
	assert_int_equal(im_tree_add_symlink(t, "out", "d/../../x", &err), 0);
	assert_int_equal(im_tree_add_symlink(t, "a", "b", &err), 0);
	assert_int_equal(im_tree_add_symlink(t, "b", "a", &err), 0);
	assert_int_equal(im_tree_add_symlink(t, "gone", "nothing", &err), 0);
	const struct im_node *n, *l;
	const struct im_node *f = im_tree_lookup(t, "d/f");
	assert_int_equal(im_tree_resolve(t, "rel", &n, &l), IM_RESOLVE_OK);
	assert_ptr_equal(n, f);
	assert_string_equal(l->path, "rel");
	assert_int_equal(im_tree_resolve(t, "d/up", &n, &l), IM_RESOLVE_OK);
	assert_ptr_equal(n, f);
	assert_int_equal(im_tree_resolve(t, "dl/f", &n, &l), IM_RESOLVE_OK);
	assert_ptr_equal(n, f);
	assert_int_equal(im_tree_resolve(t, "d/f", &n, &l), IM_RESOLVE_OK);
	assert_null(l);
	assert_int_equal(im_tree_resolve(t, "abs", &n, &l), IM_RESOLVE_ABSOLUTE);
	assert_null(n);
	assert_string_equal(l->target, "/etc/shadow");
	assert_int_equal(im_tree_resolve(t, "out", &n, &l), IM_RESOLVE_ESCAPES);
	assert_int_equal(im_tree_resolve(t, "..", &n, &l), IM_RESOLVE_ESCAPES);
	assert_int_equal(im_tree_resolve(t, "a", &n, &l), IM_RESOLVE_LOOP);
	assert_int_equal(im_tree_resolve(t, "gone", &n, &l), IM_RESOLVE_MISSING);
	assert_int_equal(im_tree_resolve(t, "d/f/x", &n, &l), IM_RESOLVE_MISSING);
	/* adding in-memory content without bytes is refused, not undefined behaviour */
	assert_int_equal(im_tree_add_file_mem(t, "null", NULL, 4, 0644, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INTERNAL);
	im_tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resolve),
	    cmocka_unit_test(test_from_dir_sorted_and_normalised),
	    cmocka_unit_test(test_add_entries),
	    cmocka_unit_test(test_bad_paths),
	    cmocka_unit_test(test_errors_from_dir),
	    cmocka_unit_test(test_node_open),
	    cmocka_unit_test(test_long_parent_name),
	    cmocka_unit_test(test_depth_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
