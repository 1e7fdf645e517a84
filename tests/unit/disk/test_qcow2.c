/* lib/disk/qcow2.c: the header fields and the layout of a small image are golden values
 * (qemu docs/interop/qcow2.txt), and qemu-img, an independent reader, finds the image
 * clean (refcounts included) and identical to the raw disk, for 64 KiB and 8 KiB clusters
 * and through a zstd stream. */
#include "sparse_fixture.h"

#include "imager/disk/qcow2.h"

static int write_qcow2(const struct im_extents *x, int fd, struct im_sink *s, void *arg,
		       struct im_error *err)
{
	return im_qcow2_write(x, fd, *(unsigned *)arg, s, NULL, err);
}

static void test_header_and_layout(void **state)
{
	(void)state;
	struct im_extents x;
	int fd;
	unsigned cb = 16;
	char *raw = sf_make("q.raw", &fd, &x);
	char *q = sf_write("q.qcow2", &x, fd, write_qcow2, &cb);
	size_t len;
	uint8_t *b = tu_read_file(q, &len);
	const uint64_t c = 65536;
	/* clusters: header, refcount table, 1 refcount block, L1, 1 L2, data clusters
	 * 0, 16 (1 MiB + 4 KiB), 160 (the written zeros), 511 and 512 (across 32 MiB),
	 * 1119 and 1120 (the tail, past 70 MiB by 512 bytes) */
	assert_int_equal(len, 12 * c);
	assert_memory_equal(b, "QFI\xfb", 4);
	assert_int_equal(sf_be(b + 4, 4), 3);
	assert_int_equal(sf_be(b + 20, 4), 16);
	assert_int_equal(sf_be(b + 24, 8), SF_SIZE);
	assert_int_equal(sf_be(b + 36, 4), 1);	   /* l1_size: 512 MiB per L2 table */
	assert_int_equal(sf_be(b + 40, 8), 3 * c); /* L1 after refcount table and block */
	assert_int_equal(sf_be(b + 48, 8), c);
	assert_int_equal(sf_be(b + 56, 4), 1);
	assert_int_equal(sf_be(b + 96, 4), 4);
	assert_int_equal(sf_be(b + 100, 4), 104);
	assert_int_equal(sf_be(b + c, 8), 2 * c);		       /* refcount table -> block */
	for (int i = 0; i < 13; i++)				       /* 12 clusters in use */
		assert_int_equal(sf_be(b + 2 * c + 2 * i, 2), i < 12); /* refcount 1 each */
	assert_int_equal(sf_be(b + 3 * c, 8), 4 * c | 1ull << 63);     /* L1[0] -> L2, COPIED */
	assert_int_equal(sf_be(b + 4 * c + 8 * 16, 8), 6 * c | 1ull << 63);
	assert_int_equal(sf_be(b + 4 * c + 8 * 1120, 8), 11 * c | 1ull << 63);
	assert_int_equal(sf_be(b + 4 * c + 8 * 17, 8), 0); /* a hole */
	uint8_t *want = malloc(c);
	tu_pattern(want, c, 1);
	assert_memory_equal(b + 5 * c, want, c); /* guest cluster 0 */
	assert_int_equal(tu_sh("qemu-img check -q '%s'", q), 0);
	assert_int_equal(tu_sh("qemu-img compare -q -f raw -F qcow2 '%s' '%s'", raw, q), 0);
	free(want);
	free(b);
	free(q);
	free(raw);
	close(fd);
	im_extents_free(&x);
}

static void test_small_clusters_and_zstd(void **state)
{
	(void)state;
	struct im_extents x;
	int fd;
	unsigned cb;
	struct im_error err = {0};
	char *raw = sf_make("s.raw", &fd, &x);
	assert_int_equal(im_qcow2_parse_options("cluster_size=8k", &cb, &err), 0);
	assert_int_equal(cb, 13);
	char *q = sf_write("s.qcow2", &x, fd, write_qcow2, &cb);
	assert_int_equal(tu_sh("qemu-img check -q '%s'", q), 0);
	assert_int_equal(tu_sh("qemu-img compare -q -f raw -F qcow2 '%s' '%s'", raw, q), 0);
	/* the same stream through zstd decompresses to the same file */
	char *z = tu_path("s.qcow2.zst");
	int o = open(z, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct im_cstream *cs = NULL;
	struct im_sink s;
	assert_int_equal(im_cstream_open_image(&cs, IM_COMPRESS_ZSTD, o, &err), 0);
	im_sink_cstream(&s, cs);
	assert_int_equal(im_qcow2_write(&x, fd, cb, &s, NULL, &err), 0);
	assert_int_equal(im_cstream_finish(cs, &err), 0);
	close(o);
	assert_int_equal(tu_sh("zstd -dcq '%s' | cmp -s - '%s'", z, q), 0);
	free(z);
	free(q);
	free(raw);
	close(fd);
	im_extents_free(&x);
}

static void test_options(void **state)
{
	(void)state;
	unsigned cb = 0;
	struct im_error err = {0};
	assert_int_equal(im_qcow2_parse_options(NULL, &cb, &err), 0);
	assert_int_equal(cb, 16);
	assert_int_equal(im_qcow2_parse_options("cluster_size=2M", &cb, &err), 0);
	assert_int_equal(cb, 21);
	assert_int_equal(im_qcow2_parse_options("cluster_size=3k", &cb, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_string_equal(err.msg, "diskFormatOptions: cluster_size \"3k\": expected a power "
				     "of two from 512 to 2M");
	err = (struct im_error){0};
	assert_int_equal(im_qcow2_parse_options("cluster_size=64k,preallocation=full", &cb, &err),
			 -1);
	assert_string_equal(err.msg, "diskFormatOptions: \"preallocation=full\" is not a qcow2 "
				     "option (known: cluster_size=SIZE)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_and_layout),
	    cmocka_unit_test(test_small_clusters_and_zstd),
	    cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
