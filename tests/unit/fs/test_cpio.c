/* Unit tests for lib/cpio.c, judged by bsdtar and GNU cpio. */
#include "testutil.h"

#include <fcntl.h>

#include "imager/fs/cpio.h"

static struct im_tree *sample_tree(const char *hostfile)
{
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(1700000000);
	assert_int_equal(im_tree_add_file_mem(t, "init", "#!x\n", 4, 0755, &err), 0);
	assert_int_equal(im_tree_add_file_src(t, "lib/modules/m.ko", hostfile, 0644, &err), 0);
	assert_int_equal(im_tree_add_symlink(t, "bin", "lib", &err), 0);
	assert_int_equal(im_tree_add_chrdev(t, "dev/console", 0600, 5, 1, &err), 0);
	assert_int_equal(im_tree_add_dir(t, "proc", 0555, &err), 0);
	return t;
}

static void test_newc_listing(void **state)
{
	(void)state;
	char *d = tu_tmpdir();
	char host[512], out[512];
	snprintf(host, sizeof(host), "%s/m.ko", d);
	snprintf(out, sizeof(out), "%s/a.cpio", d);
	assert_int_equal(tu_sh("head -c 300000 /dev/urandom > %s", host), 0);
	struct im_tree *t = sample_tree(host);
	struct im_error err = {0};
	struct im_cpio_opts o = {.compress = IM_COMPRESS_NONE, .level = -1};
	assert_int_equal(im_cpio_write(t, out, &o, &err), 0);
	/* newc magic (Documentation/driver-api/early-userspace/buffer-format.rst) */
	assert_int_equal(tu_sh("test \"$(head -c 6 %s)\" = 070701", out), 0);
	assert_int_equal(tu_sh("cd %s && bsdtar -tvf a.cpio --numeric-owner | "
			       "awk '{print $1, $3, $4, $NF}' > got && printf '%%s\\n' "
			       "'lrwxrwxrwx 0 0 lib' 'crw------- 0 0 dev/console' "
			       "'drwxr-xr-x 0 0 dev' 'dr-xr-xr-x 0 0 proc' "
			       "'-rwxr-xr-x 0 0 init' 'drwxr-xr-x 0 0 lib' "
			       "'drwxr-xr-x 0 0 lib/modules' '-rw-r--r-- 0 0 lib/modules/m.ko' | "
			       "sort > want && sort got | diff - want",
			       d),
			 0);
	assert_int_equal(
	    tu_sh("cd %s && mkdir x && cd x && cpio -idm --quiet < ../a.cpio 2>/dev/null; "
		  "cmp lib/modules/m.ko ../m.ko && test \"$(cat init)\" = '#!x' && "
		  "test \"$(readlink bin)\" = lib && "
		  "test \"$(stat -c %%Y init)\" = 1700000000",
		  d),
	    0);
	im_tree_free(t);
	tu_rmtree(d);
	free(d);
}

static void test_compressed_reproducible_and_concatenated(void **state)
{
	(void)state;
	char *d = tu_tmpdir();
	char host[512], p1[512], p2[512];
	snprintf(host, sizeof(host), "%s/m.ko", d);
	assert_int_equal(tu_sh("head -c 50000 /dev/zero > %s", host), 0);
	struct im_error err = {0};
	struct im_cpio_opts o = {.compress = IM_COMPRESS_XZ, .level = 1};
	for (int i = 0; i < 2; i++) {
		struct im_tree *t = sample_tree(host);
		snprintf(p1, sizeof(p1), "%s/i%d.xz", d, i);
		assert_int_equal(im_cpio_write(t, p1, &o, &err), 0);
		im_tree_free(t);
	}
	snprintf(p1, sizeof(p1), "%s/i0.xz", d);
	snprintf(p2, sizeof(p2), "%s/i1.xz", d);
	assert_int_equal(tu_sh("cmp %s %s", p1, p2), 0);
	assert_int_equal(tu_sh("xz -dc %s | bsdtar -tf - | grep -qx init", p1), 0);

	/* Two archives in one file, as the kernel reads an initramfs with extensions. */
	snprintf(p2, sizeof(p2), "%s/cat.cpio", d);
	int fd = open(p2, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct im_tree *t = sample_tree(host);
	struct im_tree *t2 = im_tree_new(0);
	assert_int_equal(im_tree_add_file_mem(t2, "second", "2", 1, 0644, &err), 0);
	struct im_cpio_opts plain = {.compress = IM_COMPRESS_NONE};
	assert_int_equal(im_cpio_write_fd(t, fd, &plain, &err), 0);
	assert_int_equal(im_cpio_write_fd(t2, fd, &plain, &err), 0);
	close(fd);
	/* Appending writes exactly the two archives back to back; the kernel unpacks
	 * concatenated newc archives in order (buffer-format.rst), each 4-byte aligned. */
	char s1[512], s2[512];
	snprintf(s1, sizeof(s1), "%s/one.cpio", d);
	snprintf(s2, sizeof(s2), "%s/two.cpio", d);
	assert_int_equal(im_cpio_write(t, s1, &plain, &err), 0);
	assert_int_equal(im_cpio_write(t2, s2, &plain, &err), 0);
	assert_int_equal(tu_sh("cat %s %s | cmp - %s", s1, s2, p2), 0);
	assert_int_equal(tu_sh("test $(( $(stat -c %%s %s) %% 4 )) = 0", s1), 0);
	assert_int_equal(tu_sh("bsdtar -tf %s | grep -qx second", s2), 0);
	im_tree_free(t);
	im_tree_free(t2);
	tu_rmtree(d);
	free(d);
}

static void test_missing_source_leaves_nothing(void **state)
{
	(void)state;
	char *d = tu_tmpdir();
	char host[512], out[512];
	snprintf(host, sizeof(host), "%s/m.ko", d);
	snprintf(out, sizeof(out), "%s/o/a.cpio.xz", d);
	assert_int_equal(tu_sh("echo x > %s && mkdir %s/o", host, d), 0);
	struct im_tree *t = sample_tree(host);
	unlink(host);
	struct im_error err = {0};
	struct im_cpio_opts o = {.compress = IM_COMPRESS_XZ, .level = 0};
	assert_int_equal(im_cpio_write(t, out, &o, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_non_null(strstr(err.msg, host));
	assert_int_equal(tu_sh("test -z \"$(ls -A %s/o)\"", d), 0);
	im_tree_free(t);
	tu_rmtree(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_newc_listing),
	    cmocka_unit_test(test_compressed_reproducible_and_concatenated),
	    cmocka_unit_test(test_missing_source_leaves_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
