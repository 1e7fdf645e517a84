/* lib/install_board.c: blobs must keep clear of both partition tables, every partition
 * and each other, and fit the disk; the hybrid MBR names the EFI partition first, then
 * the 0xEE record from LBA 1 (read back with sfdisk -t dos). */
#include "testutil.h"

#include <fcntl.h>

#include "imager/disk/gpt.h"
#include "imager/install/install.h"

static struct im_gpt_part parts[] = {
    {.name = "EFI", .type = "esp", .size_bytes = 4 << 20, .start_bytes = 16 << 20},
    {.name = "META", .type = "linux", .size_bytes = 1 << 20},
};

static void plan(unsigned entries, struct im_gpt_disk *d)
{
	struct im_gpt_layout l = {
	    .disk_size = 64 << 20, .max_entries = entries, .parts = parts, .n = 2};
	struct im_error err = {0};
	assert_int_equal(im_gpt_plan(&l, d, &err), 0);
}

static int check(unsigned entries, uint64_t off, size_t len, const char *want)
{
	struct im_gpt_disk d;
	struct im_install_blob bl[2] = {{.what = "first", .len = 4096, .offset = 32768},
					{.what = "x", .len = len, .offset = off}};
	struct im_install_board b = {.blobs = bl, .n_blobs = 2};
	struct im_error err = {0};
	plan(entries, &d);
	int rc = im_install_board_check(&b, &d, "disk", &err);
	im_gpt_disk_free(&d);
	if (want && (rc == 0 || !strstr(err.msg, want)))
		fail_msg("got \"%s\", want \"%s\"", err.msg, want);
	if (!want && rc)
		fail_msg("unexpected: %s", err.msg);
	return rc;
}

static void test_overlaps(void **state)
{
	(void)state;
	check(128, 8192, 4096, "overlaps the primary partition table");
	check(56, 8192, 4096, NULL); /* 56 entries end at 8 KiB: the sunxi SPL's offset */
	check(56, 8191, 4096, "overlaps the primary partition table");
	check(128, 34000, 100, "overlaps blob first");
	check(128, 8 << 20, 1 << 20, NULL);
	check(128, (16 << 20) - 4096, 8192, "overlaps partition EFI");
	check(128, (64 << 20) - 4096, 512, "overlaps the backup partition table");
	check(128, 64 << 20, 1, "does not fit the");
}

static void test_hybrid(void **state)
{
	(void)state;
	char *img = tu_path("h.img");
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	struct im_gpt_layout l = {.disk_size = 64 << 20, .parts = parts, .n = 2};
	struct im_gpt_disk d;
	struct im_error err = {0};
	assert_int_equal(im_gpt_write(fd, img, &l, &d, &err), 0);
	struct im_install_board b = {.hybrid_mbr = true};
	assert_int_equal(im_install_board_write(fd, img, &b, &d, &err), 0);
	close(fd);
	im_gpt_disk_free(&d);
	assert_int_equal(tu_sh("fdisk -l -t dos '%s' | grep -Eq 'h.img1 +32768 +40959 +8192 +4M +c "
			       "W95 FAT32 \\(LBA\\)'",
			       img),
			 0);
	assert_int_equal(
	    tu_sh("fdisk -l -t dos '%s' | grep -Eq 'h.img2 +1 +32767 +32767 .* ee GPT'", img), 0);
	assert_int_equal(
	    tu_sh("sfdisk --verify '%s' >/dev/null 2>&1 && sfdisk -J '%s' | grep -q META", img,
		  img),
	    0);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_overlaps),
	    cmocka_unit_test(test_hybrid),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
