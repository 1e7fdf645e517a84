/* META (Talos ADV) images, INSTALLER_META_BASE64 strings and --meta parsing. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/evp.h>

#include "imager/util/base64.h"
#include "imager/disk/meta.h"

#define COPY IM_META_COPY_SIZE

static void set_str(struct im_meta *m, unsigned key, const char *v)
{
	struct im_error err = {0};
	if (im_meta_set(m, key, v, strlen(v), &err))
		fail_msg("set 0x%x: %s", key, err.msg);
}

static void expect_str(const struct im_meta *m, unsigned key, const char *want)
{
	size_t len;
	const uint8_t *v = im_meta_get(m, key, &len);
	assert_non_null(v);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(v, want, len);
}

static uint8_t *golden_image(void)
{
	struct im_error err = {0};
	struct im_meta m;
	im_meta_init(&m);
	set_str(&m, 0xc, "x"); /* set out of order: records must come out ascending */
	set_str(&m, 0xa, "network-config");
	uint8_t *buf = malloc(IM_META_IMAGE_SIZE);
	memset(buf, 0xee, IM_META_IMAGE_SIZE);
	assert_int_equal(im_meta_encode_image(&m, buf, &err), 0);
	im_meta_free(&m);
	return buf;
}

static void test_image_golden(void **state)
{
	(void)state;
	uint8_t *buf = golden_image();
	/* clang-format off */
	static const uint8_t head[] = {
		0x5a, 0x4b, 0x3c, 0x2d,                         /* magic1 */
		0, 0, 0, 0x0a, 0, 0, 0, 14,                     /* tag 0xa, len 14 */
		'n', 'e', 't', 'w', 'o', 'r', 'k', '-', 'c', 'o', 'n', 'f', 'i', 'g',
		0, 0, 0, 0x0c, 0, 0, 0, 1, 'x',                 /* tag 0xc, len 1 */
		0, 0, 0, 0, 0, 0, 0, 0,                         /* tag 0: end */
	};
	/* clang-format on */
	assert_memory_equal(buf, head, sizeof(head));
	for (size_t i = sizeof(head); i < COPY - 36; i++)
		if (buf[i])
			fail_msg("non-zero fill at %zu", i);
	static const uint8_t magic2[] = {0xa5, 0xb4, 0xc3, 0xd2};
	assert_memory_equal(buf + COPY - 4, magic2, 4);

	/* SHA-256 recomputed here with OpenSSL over the copy with the hash zeroed. */
	uint8_t copy[COPY], sum[32];
	memcpy(copy, buf, COPY);
	memset(copy + COPY - 36, 0, 32);
	unsigned n = 0;
	assert_int_equal(EVP_Digest(copy, COPY, sum, &n, EVP_sha256(), NULL), 1);
	assert_memory_equal(buf + COPY - 36, sum, 32);
	/* ... and against a digest computed independently (Python hashlib). */
	/* clang-format off */
	static const uint8_t golden[32] = {
		0xef, 0xc2, 0x8d, 0x74, 0xf0, 0x03, 0x31, 0x38, 0xa5, 0x8d, 0x01,
		0x4b, 0x46, 0x6a, 0x93, 0xdc, 0xc8, 0xf1, 0x8d, 0x3d, 0x77, 0xed,
		0x4c, 0xfe, 0x5a, 0xdf, 0xef, 0x15, 0xe7, 0x9e, 0x6c, 0xc6,
	};
	/* clang-format on */
	assert_memory_equal(sum, golden, 32);

	assert_memory_equal(buf + COPY, buf, COPY); /* second copy identical */
	for (size_t i = 2 * COPY; i < IM_META_IMAGE_SIZE; i++)
		if (buf[i])
			fail_msg("non-zero tail at %zu", i);

	struct im_error err = {0};
	struct im_meta m;
	im_meta_init(&m);
	assert_int_equal(im_meta_decode_image(buf, IM_META_IMAGE_SIZE, "t", &m, &err), 0);
	assert_int_equal(im_meta_count(&m), 2);
	expect_str(&m, 0xa, "network-config");
	expect_str(&m, 0xc, "x");
	im_meta_free(&m);
	free(buf);
}

static void test_empty_image(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m = {0};
	uint8_t *buf = malloc(IM_META_IMAGE_SIZE);
	assert_int_equal(im_meta_encode_image(&m, buf, &err), 0);
	for (size_t i = 4; i < COPY - 36; i++)
		assert_int_equal(buf[i], 0);
	set_str(&m, 0xf, "stale");
	assert_int_equal(im_meta_decode_image(buf, IM_META_IMAGE_SIZE, "t", &m, &err), 0);
	assert_int_equal(im_meta_count(&m), 0);
	free(buf);
}

static void test_copy2_fallback(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m;
	im_meta_init(&m);
	uint8_t *buf = golden_image();
	/* Give copy 2 different (valid) content, then break copy 1: copy 2 must be used. */
	set_str(&m, 0xb, "from copy 2");
	uint8_t *other = malloc(IM_META_IMAGE_SIZE);
	assert_int_equal(im_meta_encode_image(&m, other, &err), 0);
	memcpy(buf + COPY, other, COPY);
	buf[20] ^= 1;
	assert_int_equal(im_meta_decode_image(buf, IM_META_IMAGE_SIZE, "t", &m, &err), 0);
	assert_int_equal(im_meta_count(&m), 1);
	expect_str(&m, 0xb, "from copy 2");

	/* Copy 1 valid: it wins over a different copy 2. */
	buf[20] ^= 1;
	assert_int_equal(im_meta_decode_image(buf, IM_META_IMAGE_SIZE, "t", &m, &err), 0);
	assert_int_equal(im_meta_count(&m), 2);
	expect_str(&m, 0xa, "network-config");

	/* Bad end magic in copy 1 also falls back. */
	buf[COPY - 1] = 0;
	assert_int_equal(im_meta_decode_image(buf, IM_META_IMAGE_SIZE, "t", &m, &err), 0);
	expect_str(&m, 0xb, "from copy 2");
	im_meta_free(&m);
	free(other);
	free(buf);
}

static void test_both_corrupt(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m;
	im_meta_init(&m);
	set_str(&m, 0xd, "kept");
	uint8_t *buf = golden_image();
	buf[100] = 1;	  /* copy 1: checksum */
	buf[COPY] = 0x00; /* copy 2: magic */
	assert_int_equal(im_meta_decode_image(buf, IM_META_IMAGE_SIZE, "disk.raw", &m, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "disk.raw"));
	assert_non_null(strstr(err.msg, "copy 1: SHA-256 mismatch"));
	assert_non_null(strstr(err.msg, "copy 2: magic 0x004b3c2d, expected 0x5a4b3c2d"));
	expect_str(&m, 0xd, "kept"); /* untouched on failure */

	memset(&err, 0, sizeof(err));
	assert_int_equal(im_meta_decode_image(buf, 1000, "short", &m, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "short: 1000 bytes"));
	im_meta_free(&m);
	free(buf);
}

static void test_record_overrun(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m = {0};
	uint8_t *buf = golden_image();
	/* A record length past the copy, with a checksum that matches: copy is invalid. */
	buf[8] = 0x7f;
	memset(buf + COPY - 36, 0, 32);
	unsigned n;
	uint8_t sum[32];
	EVP_Digest(buf, COPY, sum, &n, EVP_sha256(), NULL);
	memcpy(buf + COPY - 36, sum, 32);
	assert_int_equal(im_meta_decode_image(buf, COPY, "t", &m, &err), -1);
	assert_non_null(strstr(err.msg, "copy 1: record 0xa of 2130706446 bytes overruns"));
	assert_non_null(strstr(err.msg, "copy 2: missing"));
	/* With copy 2 intact, it is used. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_meta_decode_image(buf, IM_META_IMAGE_SIZE, "t", &m, &err), 0);
	expect_str(&m, 0xa, "network-config");
	im_meta_free(&m);
	free(buf);
}

static void test_set_get_delete(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m;
	im_meta_init(&m);
	assert_null(im_meta_get(&m, 0xa, NULL));
	set_str(&m, 0xa, "one");
	set_str(&m, 0xa, "two"); /* replace */
	expect_str(&m, 0xa, "two");
	assert_int_equal(im_meta_count(&m), 1);
	assert_int_equal(m.records, 8 + 3);
	assert_true(im_meta_delete(&m, 0xa));
	assert_false(im_meta_delete(&m, 0xa));
	assert_false(im_meta_delete(&m, 999));
	assert_null(im_meta_get(&m, 999, NULL));
	assert_int_equal(m.records, 0);

	assert_int_equal(im_meta_set(&m, 0, "x", 1, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "META key 0 is out of range"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_meta_set(&m, 256, "x", 1, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	set_str(&m, 255, "");
	expect_str(&m, 255, "");
	im_meta_free(&m);
}

static void test_space_limit(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m;
	im_meta_init(&m);
	size_t big = IM_META_RECORDS_MAX - 8;
	uint8_t *v = malloc(big + 1);
	for (size_t i = 0; i <= big; i++)
		v[i] = (uint8_t)(i * 7);
	assert_int_equal(im_meta_set(&m, 0xa, v, big + 1, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "META key 0xa: value of 262077 bytes does not fit"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_meta_set(&m, 0xa, v, big, &err), 0);
	assert_int_equal(im_meta_set(&m, 0xa, v + 1, big, &err), 0); /* replace, same size */
	assert_int_equal(im_meta_set(&m, 0xb, "", 0, &err), -1);
	assert_non_null(strstr(err.msg, "META key 0xb"));

	uint8_t *buf = malloc(IM_META_IMAGE_SIZE);
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_meta_encode_image(&m, buf, &err), 0);
	struct im_meta back = {0};
	assert_int_equal(im_meta_decode_image(buf, IM_META_IMAGE_SIZE, "t", &back, &err), 0);
	size_t len;
	const uint8_t *got = im_meta_get(&back, 0xa, &len);
	assert_int_equal(len, big);
	assert_memory_equal(got, v + 1, big);
	im_meta_free(&back);
	im_meta_free(&m);
	free(buf);
	free(v);
}

static void test_files_and_fd(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m = {0}, back = {0};
	char *dir = tu_tmpdir(), path[4096];
	set_str(&m, 6, "A");
	set_str(&m, 0x10, "token");
	snprintf(path, sizeof(path), "%s/meta.img", dir);
	assert_int_equal(im_meta_write_file(path, &m, &err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, IM_META_IMAGE_SIZE);
	assert_int_equal(im_meta_read_file(path, &back, &err), 0);
	expect_str(&back, 6, "A");
	expect_str(&back, 0x10, "token");

	/* At an offset inside a bigger file (a disk image). */
	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	int fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 * 1024 * 1024), 0);
	assert_int_equal(im_meta_write_fd(fd, 2 * 1024 * 1024, path, &m, &err), 0);
	im_meta_free(&back);
	assert_int_equal(im_meta_read_fd(fd, 2 * 1024 * 1024, path, &back, &err), 0);
	expect_str(&back, 0x10, "token");
	assert_int_equal(im_meta_read_fd(fd, 0, path, &back, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_meta_read_fd(fd, 4 * 1024 * 1024 - 4096, path, &back, &err), -1);
	assert_non_null(strstr(err.msg, "only 4096 bytes"));
	close(fd);

	memset(&err, 0, sizeof(err));
	snprintf(path, sizeof(path), "%s/nope.img", dir);
	assert_int_equal(im_meta_read_file(path, &back, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_non_null(strstr(err.msg, path));
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_meta_read_file(dir, &back, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	im_meta_free(&back);
	im_meta_free(&m);
	tu_rmtree(dir);
	free(dir);
}

static char *encode(struct im_meta *m)
{
	struct im_error err = {0};
	char *s = im_meta_encode_string(m, &err);
	if (!s)
		fail_msg("encode: %s", err.msg);
	return s;
}

static void test_string_golden(void **state)
{
	(void)state;
	struct im_meta m = {0};
	char *s = encode(&m);
	assert_string_equal(s, "");
	free(s);
	set_str(&m, 0xb, "bar");
	set_str(&m, 0xa, "foo");
	s = encode(&m); /* base64("0xa=foo;0xb=bar") */
	assert_string_equal(s, "MHhhPWZvbzsweGI9YmFy");
	free(s);
	im_meta_free(&m);
	/* The vector from Talos image-factory's integration test. */
	set_str(&m, 0xa, "{\"externalIPs\":[\"1.2.3.4\"]}");
	s = encode(&m);
	assert_string_equal(s, "MHhhPXsiZXh0ZXJuYWxJUHMiOlsiMS4yLjMuNCJdfQ==");
	struct im_meta back = {0};
	struct im_error err = {0};
	assert_int_equal(im_meta_decode_string(s, &back, &err), 0);
	expect_str(&back, 0xa, "{\"externalIPs\":[\"1.2.3.4\"]}");
	free(s);
	im_meta_free(&back);
	im_meta_free(&m);
}

/* base64-decode an encoded string (the test's own view of the raw bytes). */
static uint8_t *raw_of(const char *s, size_t *len)
{
	uint8_t *raw;
	assert_int_equal(im_base64_decode(s, strlen(s), &raw, len, NULL), 0);
	return raw;
}

static void test_string_gzip(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m = {0}, back = {0};
	char v[400];
	/* "0xa=" + 252 bytes = 256: stays plain. */
	memset(v, 'n', 252);
	v[252] = '\0';
	set_str(&m, 0xa, v);
	char *s = encode(&m);
	size_t len;
	uint8_t *raw = raw_of(s, &len);
	assert_int_equal(len, 256);
	assert_memory_equal(raw, "0xa=nnn", 7);
	free(raw);
	free(s);
	/* 257 bytes: gzip'd, header as Go's gzip writes it (mtime 0, XFL 2, OS 255). */
	strcat(v, "n");
	set_str(&m, 0xa, v);
	memset(v, 'z', 300);
	v[300] = '\0';
	set_str(&m, 0xc, v);
	s = encode(&m);
	raw = raw_of(s, &len);
	static const uint8_t gz_head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff};
	assert_memory_equal(raw, gz_head, 10);
	assert_true(len < 100);
	free(raw);
	assert_int_equal(im_meta_decode_string(s, &back, &err), 0);
	assert_int_equal(im_meta_count(&back), 2);
	expect_str(&back, 0xc, v);
	v[253] = '\0';
	memset(v, 'n', 253);
	expect_str(&back, 0xa, v);
	free(s);
	im_meta_free(&back);

	/* Another gzip implementation (Python, OS byte 3) decodes too. */
	assert_int_equal(im_meta_decode_string("H4sIAAAAAAACAzOoSLRNHAVEA2uDimTbgsqSjPw8A"
					       "NOC92c7AQAA",
					       &back, &err),
			 0);
	memset(v, 'a', 300);
	v[300] = '\0';
	expect_str(&back, 0xa, v);
	expect_str(&back, 0xc, "python");
	im_meta_free(&back);
	im_meta_free(&m);
}

static void test_string_decode_forms(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m = {0};
	assert_int_equal(im_meta_decode_string("", &m, &err), 0);
	assert_int_equal(im_meta_count(&m), 0);
	/* Prefix, whitespace, decimal keys, later duplicates win, '=' inside values. */
	char *b = im_base64_encode("10=a=b;0xb=;0xA=c", 17);
	char in[128];
	snprintf(in, sizeof(in), " INSTALLER_META_BASE64=%s\n", b);
	assert_int_equal(im_meta_decode_string(in, &m, &err), 0);
	expect_str(&m, 0xa, "c");
	expect_str(&m, 0xb, "");
	free(b);
	im_meta_free(&m);
}

static void expect_decode_error(const char *raw, const char *needle)
{
	struct im_error err = {0};
	struct im_meta m = {0};
	char *b = im_base64_encode(raw, strlen(raw));
	assert_int_equal(im_meta_decode_string(b, &m, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	if (!strstr(err.msg, needle))
		fail_msg("decode \"%s\": %s (wanted \"%s\")", raw, err.msg, needle);
	free(b);
	im_meta_free(&m);
}

static void test_string_errors(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m = {0};
	assert_int_equal(im_meta_decode_string("!!!", &m, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "not base64"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_meta_decode_string("MHhhPWZvbw=", &m, &err), -1);
	expect_decode_error("foo", "entry \"foo\" has no '='");
	expect_decode_error("0xa=1;", "entry \"\" has no '='");
	expect_decode_error("0x0=a", "out of range");
	expect_decode_error("0x100=a", "out of range");
	expect_decode_error("zz=a", "expected a number");
	/* gzip magic, then garbage. */
	expect_decode_error("\x1f\x8b\x08garbage!", "invalid gzip data");

	memset(&err, 0, sizeof(err));
	set_str(&m, 0xc, "a;b");
	assert_null(im_meta_encode_string(&m, &err));
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "META key 0xc: value contains ';'"));
	im_meta_free(&m);
}

static void expect_arg_error(const char *arg, int code, const char *needle)
{
	struct im_error err = {0};
	struct im_meta m = {0};
	assert_int_equal(im_meta_set_arg(&m, arg, &err), -1);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, needle))
		fail_msg("--meta \"%s\": %s (wanted \"%s\")", arg, err.msg, needle);
	assert_int_equal(im_meta_count(&m), 0);
}

static void test_meta_args(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_meta m = {0};
	assert_int_equal(im_meta_set_arg(&m, "10=foo", &err), 0);
	assert_int_equal(im_meta_set_arg(&m, "0xB=x=y", &err), 0);
	assert_int_equal(im_meta_set_arg(&m, "0xff=", &err), 0);
	assert_int_equal(im_meta_set_arg(&m, "255=last", &err), 0);
	expect_str(&m, 0xa, "foo");
	expect_str(&m, 0xb, "x=y");
	expect_str(&m, 0xff, "last");

	char *dir = tu_tmpdir(), arg[4200];
	assert_int_equal(tu_sh("printf 'a: 1\\nb: 2\\n' > %s/net.yaml", dir), 0);
	snprintf(arg, sizeof(arg), "0xa=@%s/net.yaml", dir);
	assert_int_equal(im_meta_set_arg(&m, arg, &err), 0);
	expect_str(&m, 0xa, "a: 1\nb: 2\n");
	snprintf(arg, sizeof(arg), "0xa=@%s/missing.yaml", dir);
	expect_arg_error(arg, IM_EXIT_MISSING, "missing.yaml");
	tu_rmtree(dir);
	free(dir);
	im_meta_free(&m);

	expect_arg_error("0=x", IM_EXIT_INVALID, "META key \"0\" in \"0=x\" is out of range");
	expect_arg_error("0x0=x", IM_EXIT_INVALID, "out of range");
	expect_arg_error("256=x", IM_EXIT_INVALID, "META key \"256\" in \"256=x\" is out of range");
	expect_arg_error("0x100=x", IM_EXIT_INVALID, "out of range");
	expect_arg_error("99999999999999999999=x", IM_EXIT_INVALID, "out of range");
	expect_arg_error("abc=x", IM_EXIT_INVALID, "expected a number 1..255");
	expect_arg_error("0x=x", IM_EXIT_INVALID, "expected a number");
	expect_arg_error("010=x", IM_EXIT_INVALID, "without leading zeros");
	expect_arg_error("-1=x", IM_EXIT_INVALID, "expected a number");
	expect_arg_error("=x", IM_EXIT_INVALID, "expected a number");
	expect_arg_error("novalue", IM_EXIT_INVALID, "expected KEY=VALUE");
	expect_arg_error("0xa=@", IM_EXIT_INVALID, "expected a file name");
}

static void test_base64(void **state)
{
	(void)state;
	static const char *vec[][2] = {{"", ""},
				       {"f", "Zg=="},
				       {"fo", "Zm8="},
				       {"foo", "Zm9v"},
				       {"foob", "Zm9vYg=="},
				       {"fooba", "Zm9vYmE="},
				       {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char *e = im_base64_encode(vec[i][0], strlen(vec[i][0]));
		assert_string_equal(e, vec[i][1]);
		free(e);
		uint8_t *d;
		size_t n;
		assert_int_equal(im_base64_decode(vec[i][1], strlen(vec[i][1]), &d, &n, NULL), 0);
		assert_int_equal(n, strlen(vec[i][0]));
		assert_memory_equal(d, vec[i][0], n);
		free(d);
	}
	static const char *bad[] = {"Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "====", "Zm=v"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *d;
		size_t n, at = 99;
		if (im_base64_decode(bad[i], strlen(bad[i]), &d, &n, &at) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	uint8_t *d;
	size_t n, at = 0;
	assert_int_equal(im_base64_decode("Zm9v!A==", 8, &d, &n, &at), -1);
	assert_int_equal(at, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_image_golden),	cmocka_unit_test(test_empty_image),
	    cmocka_unit_test(test_copy2_fallback),	cmocka_unit_test(test_both_corrupt),
	    cmocka_unit_test(test_record_overrun),	cmocka_unit_test(test_set_get_delete),
	    cmocka_unit_test(test_space_limit),		cmocka_unit_test(test_files_and_fd),
	    cmocka_unit_test(test_string_golden),	cmocka_unit_test(test_string_gzip),
	    cmocka_unit_test(test_string_decode_forms), cmocka_unit_test(test_string_errors),
	    cmocka_unit_test(test_meta_args),		cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
