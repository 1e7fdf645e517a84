/* lib/xzblocks.c: the disk-image .xz writer. Judged by liblzma's own decoder and by
 * xz(1): the data comes back, every block is listed in the index with CRC32, an all-zero
 * block is stored once-encoded (repeats are the same bytes) and a mostly-empty stream
 * stays small; one thread and three threads give the same bytes. */
#include "testutil.h"

#include <fcntl.h>
#include <lzma.h>

#include "imager/util/xzblocks.h"

#define BS IM_XZB_BLOCK_SIZE

/* zeros | data | zeros | zeros | short data tail, written in odd-sized pieces */
static uint8_t *sample(size_t *len)
{
	*len = 4 * (size_t)BS + 12345;
	uint8_t *b = calloc(1, *len);
	assert_non_null(b);
	tu_pattern(b + BS, BS, 7);
	tu_pattern(b + 4 * (size_t)BS, 12345, 9);
	return b;
}

static char *write_xz(const char *name, const uint8_t *b, size_t len)
{
	char *path = tu_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	struct im_xzb *x = NULL;
	struct im_error err = {0};
	assert_int_equal(im_xzb_open(&x, 1, fd, &err), 0);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < 777777 ? len - off : 777777;
		assert_int_equal(im_xzb_write(x, b + off, n, &err), 0);
		off += n;
	}
	assert_int_equal(im_xzb_finish(x, &err), 0);
	close(fd);
	return path;
}

static void test_roundtrip(void **state)
{
	(void)state;
	size_t len, xlen, got_len;
	uint8_t *b = sample(&len);
	setenv("IMAGER_THREADS", "1", 1);
	char *p = write_xz("a.xz", b, len);
	uint8_t *x = tu_read_file(p, &xlen);
	/* decode with liblzma */
	uint8_t *got = malloc(len + 1);
	size_t in_pos = 0, out_pos = 0;
	uint64_t memlimit = UINT64_MAX;
	assert_int_equal(
	    lzma_stream_buffer_decode(&memlimit, 0, NULL, x, &in_pos, xlen, got, &out_pos, len + 1),
	    LZMA_OK);
	got_len = out_pos;
	assert_int_equal(got_len, len);
	assert_memory_equal(got, b, len);
	assert_true(xlen < (size_t)BS + 100000); /* the zero blocks cost almost nothing */
	/* xz(1) agrees: 5 blocks, CRC32 */
	assert_int_equal(tu_sh("xz -t '%s' && xz -lvv '%s' | grep -q 'Blocks: *5' && "
			       "xz -lvv '%s' | grep -q 'Check: *CRC32'",
			       p, p, p),
			 0);
	/* blocks are encoded on several threads: the count never changes the bytes */
	setenv("IMAGER_THREADS", "3", 1);
	char *q = write_xz("b.xz", b, len);
	setenv("IMAGER_THREADS", "1", 1);
	assert_int_equal(tu_sh("cmp -s '%s' '%s'", p, q), 0);
	free(b);
	free(x);
	free(got);
	free(p);
	free(q);
}

/* The sample's zeros given as zero runs (one mid-block, whole blocks, one from the
 * middle of a block over the next): the same bytes as writing them, for 1 and 3 threads. */
static void test_zero_runs(void **state)
{
	(void)state;
	size_t len;
	uint8_t *b = sample(&len);
	for (int t = 1; t <= 3; t += 2) {
		setenv("IMAGER_THREADS", t == 1 ? "1" : "3", 1);
		char *p = write_xz("w.xz", b, len);
		char *q = tu_path("z.xz");
		int fd = open(q, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		struct im_xzb *x = NULL;
		struct im_error err = {0};
		assert_int_equal(im_xzb_open(&x, 1, fd, &err), 0);
		assert_int_equal(im_xzb_write_zeros(x, 1000, &err), 0);
		assert_int_equal(im_xzb_write_zeros(x, BS - 1000, &err), 0);
		assert_int_equal(im_xzb_write(x, b + BS, BS, &err), 0);
		assert_int_equal(im_xzb_write_zeros(x, 2 * (size_t)BS, &err), 0);
		assert_int_equal(im_xzb_write(x, b + 4 * (size_t)BS, 12345, &err), 0);
		assert_int_equal(im_xzb_finish(x, &err), 0);
		close(fd);
		assert_int_equal(tu_sh("cmp -s '%s' '%s'", p, q), 0);
		free(p);
		free(q);
	}
	setenv("IMAGER_THREADS", "1", 1);
	free(b);
}

static void test_empty(void **state)
{
	(void)state;
	char *p = write_xz("empty.xz", NULL, 0);
	assert_int_equal(tu_sh("test \"$(xz -dc '%s' | wc -c)\" = 0", p), 0);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_zero_runs),
	    cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
