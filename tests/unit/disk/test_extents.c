/* lib/disk/extents.c: SEEK_DATA/SEEK_HOLE find what was written (and nothing else), the
 * copy through an fd sink gives back the same file with its holes, zero runs reach the
 * sink as zero runs (never as bytes), and the SHA-256 sink hashes what passes. */
#include "sparse_fixture.h"

#include "imager/util/sha256.h"

static uint64_t zero_bytes, data_bytes;

static int count_write(struct im_sink *s, const void *buf, size_t len, struct im_error *err)
{
	(void)s, (void)buf, (void)err;
	data_bytes += len;
	return 0;
}

static int count_zeros(struct im_sink *s, uint64_t len, struct im_error *err)
{
	(void)s, (void)err;
	zero_bytes += len;
	return 0;
}

static void test_scan(void **state)
{
	(void)state;
	struct im_extents x;
	int fd;
	char *raw = sf_make("x.raw", &fd, &x);
	assert_int_equal(x.size, SF_SIZE);
	assert_int_equal(x.n, 5);
	assert_int_equal(x.v[0].off, 0);
	assert_int_equal(x.v[0].len, 64 << 10);
	assert_int_equal(x.v[1].off, SF_MIB + 4096);
	assert_int_equal(x.v[2].off, 10 * SF_MIB); /* written zeros are data */
	assert_int_equal(x.v[3].off, 32 * SF_MIB - 4096);
	assert_int_equal(x.v[3].len, 8192);
	assert_int_equal(x.v[4].off + x.v[4].len, SF_SIZE);
	size_t hint = 0;
	assert_true(im_extents_any(&x, 0, 1, &hint));
	assert_false(im_extents_any(&x, 2 * SF_MIB, SF_MIB, &hint));
	assert_true(im_extents_any(&x, 9 * SF_MIB, 2 * SF_MIB, &hint));
	assert_false(im_extents_any(&x, SF_SIZE, 1, NULL));
	free(raw);
	close(fd);
	im_extents_free(&x);
}

static void test_copy(void **state)
{
	(void)state;
	struct im_extents x;
	struct im_error err = {0};
	int fd;
	char *raw = sf_make("c.raw", &fd, &x);
	char *out = tu_path("c.out");
	int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct im_sink s, h;
	struct im_sha256 sha;
	uint8_t d[32];
	char hex[65];
	im_sha256_init(&sha);
	im_sink_fd(&s, o);
	im_sink_sha256(&h, &sha, &s);
	assert_int_equal(im_extents_copy(&x, fd, 0, x.size + 1000, &h, NULL, &err), 0);
	assert_int_equal(im_sink_fd_finish(&s, out, &err), 0);
	close(o);
	im_sha256_final(&sha, d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	assert_int_equal(h.pos, SF_SIZE + 1000);
	assert_int_equal(tu_sh("cmp -n %llu '%s' '%s' && [ $(stat -c %%s '%s') = %llu ]",
			       (unsigned long long)SF_SIZE, raw, out, out,
			       (unsigned long long)SF_SIZE + 1000),
			 0);
	assert_int_equal(tu_sh("[ $(du -k '%s' | cut -f1) -lt 1024 ]", out), 0);
	assert_int_equal(tu_sh("[ $(sha256sum < '%s' | cut -c1-64) = %s ]", out, hex), 0);
	/* a middle range: the holes arrive as zero runs */
	struct im_sink c = {.write = count_write, .zeros = count_zeros};
	assert_int_equal(im_extents_copy(&x, fd, SF_MIB, 33 * SF_MIB, &c, NULL, &err), 0);
	assert_int_equal(data_bytes, 8192 + (64 << 10) + 8192);
	assert_int_equal(zero_bytes + data_bytes, 32 * SF_MIB);
	free(out);
	free(raw);
	close(fd);
	im_extents_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scan),
	    cmocka_unit_test(test_copy),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
