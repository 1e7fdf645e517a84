/* lib/disk/vhd.c: CHS geometry by the spec's appendix (golden values), the footer's fields
 * and checksum, the MiB rounding and the 2040 GiB limit; qemu-img (vpc driver) reads the
 * fixed and the dynamic VHD as the raw disk. */
#include "sparse_fixture.h"

#include "imager/disk/gpt.h"
#include "imager/disk/vhd.h"

#define EPOCH 1700000000

static int write_vhd(const struct im_extents *x, int fd, struct im_sink *s, void *arg,
		     struct im_error *err)
{
	return im_vhd_write(x, fd, *(enum im_vhd_type *)arg, "test.vhd", EPOCH, s, NULL, err);
}

static void expect_chs(uint64_t size, uint16_t c, uint8_t h, uint8_t s)
{
	uint16_t cc;
	uint8_t hh, ss;
	im_vhd_chs(size, &cc, &hh, &ss);
	assert_int_equal(cc, c);
	assert_int_equal(hh, h);
	assert_int_equal(ss, s);
}

static void test_chs(void **state)
{
	(void)state;
	expect_chs(71 * SF_MIB, 950, 9, 17);
	expect_chs(3246 * SF_MIB, 6595, 16, 63);
	expect_chs(8192 * SF_MIB, 16644, 16, 63);
	expect_chs(130ull << 30, 65535, 16, 255); /* capped at the largest geometry */
}

static void check_footer(const uint8_t *f, uint32_t type, uint64_t data_offset)
{
	assert_memory_equal(f, "conectix", 8);
	assert_int_equal(sf_be(f + 8, 4), 2);
	assert_int_equal(sf_be(f + 12, 4), 0x10000);
	assert_int_equal(sf_be(f + 16, 8), data_offset);
	assert_int_equal(sf_be(f + 24, 4), EPOCH - 946684800);
	assert_memory_equal(f + 28, "qem2", 4);
	assert_int_equal(sf_be(f + 40, 8), 71 * SF_MIB); /* 70 MiB + 512 rounded up */
	assert_int_equal(sf_be(f + 48, 8), 71 * SF_MIB);
	assert_int_equal(sf_be(f + 56, 2), 950);
	assert_int_equal(f[58], 9);
	assert_int_equal(f[59], 17);
	assert_int_equal(sf_be(f + 60, 4), type);
	uint8_t id[16];
	im_guid_from_label("test.vhd", id);
	assert_memory_equal(f + 68, id, 16);
	uint32_t sum = 0;
	for (int i = 0; i < 512; i++)
		sum += i >= 64 && i < 68 ? 0 : f[i];
	assert_int_equal(sf_be(f + 64, 4), (uint32_t)~sum);
}

static void test_fixed(void **state)
{
	(void)state;
	struct im_extents x;
	int fd;
	enum im_vhd_type t = IM_VHD_FIXED;
	char *raw = sf_make("f.raw", &fd, &x);
	char *v = sf_write("f.vhd", &x, fd, write_vhd, &t);
	struct stat st;
	assert_int_equal(stat(v, &st), 0);
	assert_int_equal(st.st_size, 71 * SF_MIB + 512);
	assert_true(st.st_blocks * 512 < 4 * (off_t)SF_MIB); /* holes stay holes */
	size_t len;
	uint8_t *b = tu_read_file(v, &len);
	check_footer(b + len - 512, 2, ~0ull);
	assert_int_equal(tu_sh("qemu-img compare -q -f raw -F vpc '%s' '%s'", raw, v), 0);
	free(b);
	free(v);
	free(raw);
	close(fd);
	im_extents_free(&x);
}

static void test_dynamic(void **state)
{
	(void)state;
	struct im_extents x;
	int fd;
	enum im_vhd_type t = IM_VHD_DYNAMIC;
	char *raw = sf_make("d.raw", &fd, &x);
	char *v = sf_write("d.vhd", &x, fd, write_vhd, &t);
	size_t len;
	uint8_t *b = tu_read_file(v, &len);
	check_footer(b, 3, 512); /* the copy at the start */
	assert_memory_equal(b, b + len - 512, 512);
	assert_memory_equal(b + 512, "cxsparse", 8);
	assert_int_equal(sf_be(b + 512 + 16, 8), 1536); /* BAT */
	assert_int_equal(sf_be(b + 512 + 28, 4), 36);	/* 71 MiB in 2 MiB blocks */
	assert_int_equal(sf_be(b + 512 + 32, 4), 2u << 20);
	/* blocks 0 (data), 5 (the written zeros), 15 and 16 (across 32 MiB), 34 and 35
	 * (the tail crosses 70 MiB) */
	assert_int_equal(len, 2048 + 6 * (512 + (2u << 20)) + 512);
	assert_int_equal(sf_be(b + 1536, 4), 4);	      /* block 0 after the BAT */
	assert_int_equal(sf_be(b + 1536 + 4, 4), 0xffffffff); /* block 1: not present */
	assert_int_equal(tu_sh("qemu-img compare -q -f raw -F vpc '%s' '%s'", raw, v), 0);
	free(b);
	free(v);
	free(raw);
	close(fd);
	im_extents_free(&x);
}

static void test_limits(void **state)
{
	(void)state;
	uint64_t v = 0;
	struct im_error err = {0};
	assert_int_equal(im_vhd_size(2040ull << 30, "big.vhd", &v, &err), 0);
	assert_int_equal(v, 2040ull << 30);
	assert_int_equal(im_vhd_size((2040ull << 30) + 1, "big.vhd", &v, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_string_equal(
	    err.msg, "big.vhd: 2088961 MiB is larger than a VHD can hold (at most 2040 GiB)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chs),
	    cmocka_unit_test(test_fixed),
	    cmocka_unit_test(test_dynamic),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
