/* lib/disk/disktar.c: ustar headers (fields, checksum), GNU base-256 for sizes past 11
 * octal digits, and the old-GNU sparse member: GNU tar and bsdtar list it and extract
 * the disk byte for byte, also with a sparse map long enough for extension blocks. */
#include "sparse_fixture.h"

#include "imager/disk/disktar.h"

static int write_sparse(const struct im_extents *x, int fd, struct im_sink *s, void *arg,
			struct im_error *err)
{
	(void)arg;
	if (im_tar_sparse_disk(s, "disk.raw", x, fd, 1700000000, NULL, err) < 0)
		return -1;
	return im_tar_end(s, err);
}

static void test_header_fields(void **state)
{
	(void)state;
	char *path = tu_path("h.tar");
	int o = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct im_sink s;
	struct im_error err = {0};
	im_sink_fd(&s, o);
	assert_int_equal(im_tar_header(&s, "a.ovf", 5, 1700000000, &err), 0);
	assert_int_equal(im_sink_write(&s, "hello", 5, &err), 0);
	assert_int_equal(im_tar_pad(&s, 5, &err), 0);
	assert_int_equal(im_tar_end(&s, &err), 0);
	close(o);
	size_t len;
	uint8_t *b = tu_read_file(path, &len);
	assert_int_equal(len, 4 * 512);
	assert_string_equal((char *)b, "a.ovf");
	assert_string_equal((char *)b + 100, "0000644");
	assert_string_equal((char *)b + 124, "00000000005");
	assert_string_equal((char *)b + 136, "14524770400"); /* 1700000000 in octal */
	assert_int_equal(b[156], '0');
	assert_memory_equal(b + 257, "ustar\00000", 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += i >= 148 && i < 156 ? ' ' : b[i];
	char want[8];
	snprintf(want, sizeof(want), "%06o", sum);
	assert_memory_equal(b + 148, want, 7);
	assert_int_equal(tu_sh("tar -tvf '%s' | grep -q ' 5 2023-11-14 22:13 a.ovf$'", path), 0);
	free(b);
	free(path);
}

static void test_sparse_member(void **state)
{
	(void)state;
	struct im_extents x;
	int fd;
	char *raw = sf_make("disk.raw", &fd, &x);
	char *t = sf_write("d.tar", &x, fd, write_sparse, NULL);
	size_t len;
	uint8_t *b = tu_read_file(t, &len);
	assert_int_equal(b[156], 'S');
	assert_memory_equal(b + 257, "ustar  ", 8);
	assert_int_equal(b[482], 1); /* 5 extents: one extension block */
	assert_int_equal(len, 2 * 512 + (x.data + 511) / 512 * 512 + 1024);
	assert_int_equal(
	    tu_sh("tar -tvf '%s' | grep -q ' %llu .* disk.raw$'", t, (unsigned long long)SF_SIZE),
	    0);
	assert_int_equal(tu_sh("mkdir '%s.x' && tar -xSf '%s' -C '%s.x' && cmp '%s.x/disk.raw' "
			       "'%s'",
			       t, t, t, t, raw),
			 0);
	assert_int_equal(tu_sh("bsdtar -xOf '%s' disk.raw | cmp -s - '%s'", t, raw), 0);
	free(b);
	free(t);
	free(raw);
	close(fd);
	im_extents_free(&x);
}

/* 8 GiB + 40 extents: size and offsets past 11 octal digits (base-256), three extension
 * blocks; GNU tar extracts the right bytes at the right places. */
static void test_large_sparse(void **state)
{
	(void)state;
	struct im_extents x = {0};
	struct im_error err = {0};
	char *path = tu_path("big.raw");
	int w = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(ftruncate(w, (off_t)(8ull << 30)), 0);
	for (int i = 0; i < 40; i++) {
		uint64_t off = (uint64_t)i * (200ull << 20) + 4096;
		sf_put(w, off, 4096, (uint32_t)i + 1);
		assert_int_equal(im_extents_add(&x, off, 4096, &err), 0);
	}
	x.size = 8ull << 30;
	char *t = sf_write("big.tar", &x, w, write_sparse, NULL);
	size_t len;
	uint8_t *b = tu_read_file(t, &len);
	assert_int_equal(b[483], 0x80); /* realsize 8 GiB in base-256 */
	assert_int_equal(sf_be(b + 484, 11), 8ull << 30);
	assert_int_equal(tu_sh("mkdir '%s.x' && tar -xSf '%s' -C '%s.x' && cmp '%s.x/disk.raw' "
			       "'%s' && [ $(du -k '%s.x/disk.raw' | cut -f1) -lt 1024 ]",
			       t, t, t, t, path, t),
			 0);
	free(b);
	free(t);
	free(path);
	close(w);
	im_extents_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_fields),
	    cmocka_unit_test(test_sparse_member),
	    cmocka_unit_test(test_large_sparse),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
