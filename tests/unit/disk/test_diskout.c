/* lib/disk/diskout.c: the names of the formats, the VHD limit checked before any work, a
 * write through writer + compressor (the output decodes to the writer's bytes), the raw
 * form through the extent stream (holes kept), and a failing writer's error. */
#include "sparse_fixture.h"

#include "imager/disk/diskout.h"

static void test_names_and_check(void **state)
{
	(void)state;
	struct im_error err = {0};
	assert_string_equal(im_disk_format_ext(IM_DISK_RAW), ".raw");
	assert_string_equal(im_disk_format_ext(IM_DISK_QCOW2), ".qcow2");
	assert_string_equal(im_disk_format_ext(IM_DISK_VHD_DYNAMIC), ".vhd");
	assert_string_equal(im_disk_format_ext(IM_DISK_OVA), ".ova");
	assert_string_equal(im_disk_format_ext(IM_DISK_GCP_TAR), ".raw.tar");
	struct im_disk_output o = {.format = IM_DISK_QCOW2};
	assert_int_equal(im_disk_output_check(&o, 3000ull << 30, "x.qcow2", &err), 0);
	o.format = IM_DISK_VHD;
	assert_int_equal(im_disk_output_check(&o, 3000ull << 30, "x.vhd", &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
}

static int write_to(const struct im_disk_output *o, int fd, const char *path, struct im_error *err)
{
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(out >= 0);
	int rc = im_disk_output_write(o, fd, out, path, err);
	close(out);
	return rc;
}

static void test_write(void **state)
{
	(void)state;
	struct im_extents x;
	struct im_error err = {0};
	int fd;
	char *raw = sf_make("w.raw", &fd, &x);
	struct im_disk_output o = {.format = IM_DISK_QCOW2,
				   .compress = IM_COMPRESS_ZSTD,
				   .base = "w",
				   .arch = "amd64",
				   .tmp_dir = tu_dir,
				   .quiet = true};
	char *dst = tu_path("w.qcow2.zst");
	assert_int_equal(write_to(&o, fd, dst, &err), 0);
	assert_int_equal(tu_sh("zstd -dqc '%s' > '%s.q' && qemu-img compare -q -f raw -F qcow2 "
			       "'%s' '%s.q'",
			       dst, dst, raw, dst),
			 0);
	/* uncompressed raw through the extent stream: the same file, holes kept */
	o.format = IM_DISK_RAW;
	o.compress = IM_COMPRESS_NONE;
	char *dst2 = tu_path("w2.raw");
	assert_int_equal(write_to(&o, fd, dst2, &err), 0);
	assert_int_equal(
	    tu_sh("cmp '%s' '%s' && [ $(du -k '%s' | cut -f1) -lt 1024 ]", raw, dst2, dst2), 0);
	/* a failing writer (the OVA cannot stage its vmdk) says why */
	o.format = IM_DISK_OVA;
	o.tmp_dir = "/nonexistent";
	char *dst3 = tu_path("w3.ova");
	assert_int_equal(write_to(&o, fd, dst3, &err), -1);
	assert_int_equal(err.code, IM_EXIT_IO);
	assert_non_null(strstr(err.msg, "/nonexistent"));
	free(dst3);
	free(dst2);
	free(dst);
	free(raw);
	close(fd);
	im_extents_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_and_check),
	    cmocka_unit_test(test_write),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
