/* Unit tests for lib/compress.c: each format decodes with the reference tool, xz uses the
 * CRC32 check the kernel needs, the thread count never changes the bytes, and image
 * streams take zero runs cheaply. */
#include "testutil.h"

#include <fcntl.h>
#include <stdbool.h>

#include "imager/util/compress.h"

/* Pseudo-random but compressible data, deterministic. */
static unsigned char *make_data(size_t len)
{
	unsigned char *b = malloc(len);
	uint32_t x = 12345;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)("abcdefgh"[(x >> 16) & 7] + ((i / 4096) & 1));
	}
	return b;
}

static void compress_to(const char *path, enum im_compress kind, int threads,
			const unsigned char *data, size_t len)
{
	struct im_error err = {0};
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	struct im_cstream *s;
	assert_int_equal(im_cstream_open(&s, kind, -1, threads, fd, &err), 0);
	/* odd-sized pieces exercise the buffering */
	for (size_t off = 0; off < len;) {
		size_t n = len - off < 100003 ? len - off : 100003;
		assert_int_equal(im_cstream_write(s, data + off, n, &err), 0);
		off += n;
	}
	assert_int_equal(im_cstream_finish(s, &err), 0);
	close(fd);
}

static const size_t LEN = 20u << 20; /* > two xz blocks of 8 MiB */

static void roundtrip(enum im_compress kind, const char *decoder)
{
	char *d = tu_tmpdir();
	unsigned char *data = make_data(LEN);
	char raw[512], c1[512], c4[512];
	snprintf(raw, sizeof(raw), "%s/raw", d);
	snprintf(c1, sizeof(c1), "%s/c1", d);
	snprintf(c4, sizeof(c4), "%s/c4", d);
	FILE *f = fopen(raw, "wb");
	assert_int_equal(fwrite(data, 1, LEN, f), LEN);
	fclose(f);
	compress_to(c1, kind, 1, data, LEN);
	compress_to(c4, kind, 4, data, LEN);
	assert_int_equal(tu_sh("cmp -s %s %s", c1, c4), 0);
	assert_int_equal(tu_sh("%s < %s | cmp -s - %s", decoder, c1, raw), 0);
	free(data);
	tu_rmtree(d);
	free(d);
}

static void test_xz(void **state)
{
	(void)state;
	roundtrip(IM_COMPRESS_XZ, "xz -dc");
	char *d = tu_tmpdir();
	char p[512];
	snprintf(p, sizeof(p), "%s/x.xz", d);
	compress_to(p, IM_COMPRESS_XZ, 0, (const unsigned char *)"abc", 3);
	/* xz file format 1.0.4 §2.1.1.2: stream flags 00 01 = CRC32 */
	assert_int_equal(tu_sh("test \"$(od -An -tx1 -j6 -N2 %s | tr -d ' ')\" = 0001", p), 0);
	assert_int_equal(tu_sh("xz --robot -lvv %s | grep -q CRC32", p), 0);
	tu_rmtree(d);
	free(d);
}

static void test_zstd(void **state)
{
	(void)state;
	roundtrip(IM_COMPRESS_ZSTD, "zstd -dc");
}

static void test_gzip_header_fixed(void **state)
{
	(void)state;
	roundtrip(IM_COMPRESS_GZIP, "gzip -dc");
	char *d = tu_tmpdir();
	char p[512];
	snprintf(p, sizeof(p), "%s/x.gz", d);
	compress_to(p, IM_COMPRESS_GZIP, 0, (const unsigned char *)"abc", 3);
	/* RFC 1952 §2.3: ID1 ID2 CM FLG MTIME(4) XFL OS -> no name, mtime 0, OS 3 */
	assert_int_equal(
	    tu_sh("test \"$(od -An -tx1 -N10 %s | tr -d ' ')\" = 1f8b0800000000000203", p), 0);
	tu_rmtree(d);
	free(d);
}

static void test_none_and_names(void **state)
{
	(void)state;
	char *d = tu_tmpdir();
	char p[512];
	snprintf(p, sizeof(p), "%s/plain", d);
	compress_to(p, IM_COMPRESS_NONE, 0, (const unsigned char *)"abc", 3);
	assert_int_equal(tu_sh("test \"$(cat %s)\" = abc", p), 0);
	assert_int_equal(im_compress_from_name(".xz"), IM_COMPRESS_XZ);
	assert_int_equal(im_compress_from_name("zstd"), IM_COMPRESS_ZSTD);
	assert_int_equal(im_compress_from_name(".zst"), IM_COMPRESS_ZSTD);
	assert_int_equal(im_compress_from_name("gz"), IM_COMPRESS_GZIP);
	assert_int_equal(im_compress_from_name("raw"), IM_COMPRESS_NONE);
	assert_int_equal(im_compress_from_name("lz4"), -1);
	assert_string_equal(im_compress_suffix(IM_COMPRESS_ZSTD), ".zst");
	assert_string_equal(im_compress_suffix(IM_COMPRESS_NONE), "");
	tu_rmtree(d);
	free(d);
}

/* Image streams: data and zero runs (some shorter than the 1 MiB threshold, some not, one
 * at the end) decode to the same bytes as writing the zeros; a long run costs next to
 * nothing (zstd: RLE blocks, gzip: a repeated pre-deflated chunk); without zero runs an
 * image gzip stream is byte for byte zlib's own gzip stream. */
static void image_stream(const char *path, enum im_compress kind, const unsigned char *data,
			 bool runs)
{
	static const uint64_t zeros[] = {(5u << 20) + 123, 300u << 10, 64u << 20};
	struct im_error err = {0};
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct im_cstream *s;
	assert_int_equal(im_cstream_open_image(&s, kind, fd, &err), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(im_cstream_write(s, data + i * 100000, 100000, &err), 0);
		if (runs)
			assert_int_equal(im_cstream_write_zeros(s, zeros[i], &err), 0);
	}
	assert_int_equal(im_cstream_finish(s, &err), 0);
	close(fd);
}

static void test_image_zero_runs(void **state)
{
	(void)state;
	char *d = tu_tmpdir();
	unsigned char *data = make_data(300000);
	char ref[512], c[512], plain[512];
	snprintf(ref, sizeof(ref), "%s/ref", d);
	FILE *f = fopen(ref, "wb");
	fwrite(data, 1, 100000, f);
	fseek(f, (5 << 20) + 123, SEEK_CUR);
	fwrite(data + 100000, 1, 100000, f);
	fseek(f, 300 << 10, SEEK_CUR);
	fwrite(data + 200000, 1, 100000, f);
	fclose(f);
	assert_int_equal(truncate(ref, 300000 + (5 << 20) + 123 + (300 << 10) + (64 << 20)), 0);
	const struct {
		enum im_compress kind;
		const char *dec;
		long max;
	} k[] = {{IM_COMPRESS_ZSTD, "zstd -dcq", 4000}, /* over the data alone */
		 {IM_COMPRESS_GZIP, "gzip -dc", 100000},
		 {IM_COMPRESS_XZ, "xz -dc", 30000}};
	for (int i = 0; i < 3; i++) {
		snprintf(c, sizeof(c), "%s/c%d", d, i);
		image_stream(c, k[i].kind, data, true);
		assert_int_equal(tu_sh("%s < %s | cmp -s - %s", k[i].dec, c, ref), 0);
		struct stat st, st0;
		snprintf(plain, sizeof(plain), "%s/d%d", d, i);
		image_stream(plain, k[i].kind, data, false);
		assert_int_equal(stat(c, &st), 0);
		assert_int_equal(stat(plain, &st0), 0);
		if (st.st_size - st0.st_size >= k[i].max)
			fail_msg("%s: %ld bytes for the zero runs", k[i].dec,
				 (long)(st.st_size - st0.st_size));
	}
	assert_int_equal(tu_sh("gzip -t %s/c1", d), 0);
	snprintf(c, sizeof(c), "%s/g-image", d);
	snprintf(plain, sizeof(plain), "%s/g-plain", d);
	image_stream(c, IM_COMPRESS_GZIP, data, false);
	compress_to(plain, IM_COMPRESS_GZIP, 1, data, 300000);
	assert_int_equal(tu_sh("cmp -s %s %s", c, plain), 0);
	free(data);
	tu_rmtree(d);
	free(d);
}

/* Our own streams are told apart by their headers; short or other bytes are not. */
static void test_detect(void **state)
{
	(void)state;
	static const enum im_compress kinds[] = {IM_COMPRESS_XZ, IM_COMPRESS_ZSTD,
						 IM_COMPRESS_GZIP};
	char *d = tu_tmpdir(), p[512];
	snprintf(p, sizeof(p), "%s/x", d);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		unsigned char head[16] = {0};
		compress_to(p, kinds[i], 0, (const unsigned char *)"hello", 5);
		FILE *f = fopen(p, "rb");
		assert_non_null(f);
		size_t n = fread(head, 1, sizeof(head), f);
		fclose(f);
		assert_int_equal(im_compress_detect(head, n), kinds[i]);
		assert_int_equal(im_compress_detect(head, 1), IM_COMPRESS_NONE);
	}
	tu_rmtree(d);
	free(d);
	assert_int_equal(im_compress_detect("ustar", 5), IM_COMPRESS_NONE);
	assert_int_equal(im_compress_detect("", 0), IM_COMPRESS_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xz),
	    cmocka_unit_test(test_zstd),
	    cmocka_unit_test(test_gzip_header_fixed),
	    cmocka_unit_test(test_none_and_names),
	    cmocka_unit_test(test_image_zero_runs),
	    cmocka_unit_test(test_detect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
