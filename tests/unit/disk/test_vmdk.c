/* lib/disk/vmdk.c: the sparse extent header, descriptor and stream layout (markers, grain
 * table, grain directory, footer, end of stream) are checked field by field against
 * VMware's Virtual Disk Format 1.1; qemu-img finds the file clean and identical to the
 * raw disk; the allocated-but-zero grain is left out. */
#include "sparse_fixture.h"

#include "imager/disk/vmdk.h"

static struct im_vmdk_info info;

static int write_vmdk(const struct im_extents *x, int fd, struct im_sink *s, void *arg,
		      struct im_error *err)
{
	(void)arg;
	return im_vmdk_write(x, fd, "t.vmdk", s, &info, NULL, err);
}

static void check_header(const uint8_t *h, uint64_t gd)
{
	assert_memory_equal(h, "KDMV", 4);
	assert_int_equal(sf_le(h + 4, 4), 3);
	assert_int_equal(sf_le(h + 8, 4), 0x30001);
	assert_int_equal(sf_le(h + 12, 8), (SF_SIZE + 511) / 512);
	assert_int_equal(sf_le(h + 20, 8), 128);
	assert_int_equal(sf_le(h + 28, 8), 1);
	assert_int_equal(sf_le(h + 44, 4), 512);
	assert_int_equal(sf_le(h + 56, 8), gd);
	assert_int_equal(sf_le(h + 64, 8), 128);
	assert_memory_equal(h + 73, "\n \r\n", 4);
	assert_int_equal(sf_le(h + 77, 2), 1);
}

static void test_stream(void **state)
{
	(void)state;
	struct im_extents x;
	int fd;
	char *raw = sf_make("v.raw", &fd, &x);
	char *v = sf_write("v.vmdk", &x, fd, write_vmdk, NULL);
	size_t len;
	uint8_t *b = tu_read_file(v, &len);
	check_header(b, ~0ull);
	assert_non_null(strstr((char *)b + 512, "createType=\"streamOptimized\""));
	assert_non_null(strstr((char *)b + 512, "RW 143361 SPARSE \"t.vmdk\""));
	/* the first grain at sector 128: its marker names guest sector 0 */
	assert_int_equal(sf_le(b + 128 * 512, 8), 0);
	/* the end: EOS marker, footer (GD pointer set) behind its marker */
	const uint8_t *eos = b + len - 512, *foot = b + len - 1024, *fm = b + len - 1536;
	for (int i = 0; i < 512; i++)
		assert_int_equal(eos[i], 0);
	assert_int_equal(sf_le(fm, 8), 1);
	assert_int_equal(sf_le(fm + 12, 4), 3);
	uint64_t gd = sf_le(foot + 56, 8);
	check_header(foot, gd);
	assert_int_equal(sf_le(b + (gd - 1) * 512 + 12, 4), 2); /* GD marker */
	for (int i = 0; i < 3; i++) /* three grain tables of 32 MiB, each maps data */
		assert_true(sf_le(b + gd * 512 + 4 * i, 4) > 128);
	/* 6 grains hold data (0, 16, 511, 512, 1119, 1120): the zeros at 10 MiB are left out */
	assert_int_equal(info.populated, 6 * IM_VMDK_GRAIN);
	assert_int_equal(tu_sh("qemu-img check -q '%s'", v), 0);
	assert_int_equal(tu_sh("qemu-img compare -q -f raw -F vmdk '%s' '%s'", raw, v), 0);
	free(b);
	free(v);
	free(raw);
	close(fd);
	im_extents_free(&x);
}

/* Only the tail: grain tables 0 and 1 map nothing, are not written, their GD entries 0. */
static void test_empty_grain_tables(void **state)
{
	(void)state;
	struct im_extents x, tail = {0};
	struct im_error err = {0};
	int fd;
	char *raw = sf_make("e.raw", &fd, &x);
	assert_int_equal(im_extents_add(&tail, SF_SIZE - 8192, 8192, &err), 0);
	tail.size = SF_SIZE;
	char *v = sf_write("e.vmdk", &tail, fd, write_vmdk, NULL);
	size_t len;
	uint8_t *b = tu_read_file(v, &len);
	uint64_t gd = sf_le(b + len - 1024 + 56, 8);
	assert_int_equal(sf_le(b + gd * 512, 4), 0);
	assert_int_equal(sf_le(b + gd * 512 + 4, 4), 0);
	assert_true(sf_le(b + gd * 512 + 8, 4) > 128);
	assert_int_equal(info.populated, 2 * IM_VMDK_GRAIN);
	assert_int_equal(tu_sh("qemu-img check -q '%s'", v), 0);
	assert_int_equal(tu_sh("qemu-img compare -q -f vmdk -F raw '%s' '%s' 2>/dev/null", v, raw),
			 1); /* the fixture's other data is not in it */
	free(b);
	free(v);
	free(raw);
	close(fd);
	im_extents_free(&x);
	im_extents_free(&tail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stream),
	    cmocka_unit_test(test_empty_grain_tables),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
