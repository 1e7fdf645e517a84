/* The reference init's own inflate (RFC 1951/1952), lib/sha256.c (FIPS 180-4, also in /init) and
 * META string decoder, compiled here on the host; judged against zlib, OpenSSL and known vectors.
 */
#include "testutil.h"

#include <openssl/evp.h>
#include <zlib.h>

#include "imager/disk/meta.h"

#include "../../../pkgs/init/inflate.c"
#include "../../../pkgs/init/meta.c"
#include "imager/util/sha256.h"

/* ---- SHA-256 -------------------------------------------------------------------------- */

static void test_sha256_vectors(void **state)
{
	(void)state;
	char hex[65];

	/* FIPS 180-4 examples (csrc.nist.gov "SHA256.pdf", "SHA2_Additional.pdf") */
	im_sha256_hex("", 0, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	im_sha256_hex("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	im_sha256_hex(two, strlen(two), hex);
	assert_string_equal(hex,
			    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

	struct im_sha256 s;
	uint8_t d[32], block[1000];
	memset(block, 'a', sizeof(block));
	im_sha256_init(&s);
	for (int i = 0; i < 1000; i++)
		im_sha256_update(&s, block, sizeof(block));
	im_sha256_final(&s, d);
	assert_int_equal(d[0], 0xcd);
	assert_int_equal(d[1], 0xc7);
	assert_int_equal(d[31], 0xd0); /* cdc76e5c...046539c112d0 */
}

/* Every length around the padding boundaries, against OpenSSL. */
static void test_sha256_lengths(void **state)
{
	(void)state;
	uint8_t data[300], md[32];
	char hex[65], want[65];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(data); len++) {
		assert_int_equal(EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL), 1);
		for (int i = 0; i < 32; i++)
			snprintf(want + 2 * i, 3, "%02x", md[i]);
		im_sha256_hex(data, len, hex);
		assert_string_equal(hex, want);
	}
}

/* ---- inflate -------------------------------------------------------------------------- */

/* gzip with zlib; `named` adds FNAME, FCOMMENT, FEXTRA and FHCRC to the header. */
static uint8_t *zlib_gzip(const uint8_t *in, size_t len, int level, int strategy, bool named,
			  size_t *outlen)
{
	z_stream z = {0};
	gz_header h = {0};
	size_t cap = len + len / 10 + 1024;
	uint8_t *out = malloc(cap);

	assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, strategy), Z_OK);
	if (named) {
		h.name = (Bytef *)"meta.txt";
		h.comment = (Bytef *)"a comment";
		h.extra = (Bytef *)"XYZ";
		h.extra_len = 3;
		h.hcrc = 1;
		assert_int_equal(deflateSetHeader(&z, &h), Z_OK);
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

/* Text-like data with repeats (long matches, far distances) and a noisy tail. */
static uint8_t *sample(size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	uint32_t x = 12345;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		if (i < len / 2)
			p[i] = (uint8_t)("0xa=network config yaml: interfaces;"[i % 37] +
					 (i % 4096 == 0));
		else
			p[i] = (uint8_t)(x >> 16);
	}
	return p;
}

static void roundtrip(size_t len, int level, int strategy, bool named)
{
	uint8_t *data = sample(len), *out = NULL;
	size_t zlen, outlen = 0;
	uint8_t *z = zlib_gzip(data, len, level, strategy, named, &zlen);
	const char *why = NULL;

	if (gunzip(z, zlen, 1u << 24, &out, &outlen, &why) < 0)
		fail_msg("len %zu level %d strategy %d: %s", len, level, strategy, why);
	assert_int_equal(outlen, len);
	assert_memory_equal(out, data, len);
	free(out);
	free(z);
	free(data);
}

static void test_inflate_zlib(void **state)
{
	(void)state;
	const size_t sizes[] = {0, 1, 2, 100, 257, 4096, 65535, 65536, 70000, 300000};
	const int levels[] = {0, 1, 6, 9};
	const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FIXED, Z_HUFFMAN_ONLY, Z_RLE, Z_FILTERED};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++)
			roundtrip(sizes[i], levels[l], Z_DEFAULT_STRATEGY, i % 2);
		for (size_t s = 0; s < sizeof(strategies) / sizeof(strategies[0]); s++)
			roundtrip(sizes[i], 9, strategies[s], false);
	}
}

static void expect_gunzip_error(const uint8_t *z, size_t zlen, size_t max, const char *msg)
{
	uint8_t *out = NULL;
	size_t outlen;
	const char *why = NULL;

	assert_int_equal(gunzip(z, zlen, max, &out, &outlen, &why), -1);
	assert_null(out);
	assert_non_null(why);
	if (msg && strcmp(why, msg) != 0)
		fail_msg("got \"%s\", want \"%s\"", why, msg);
}

static void test_inflate_errors(void **state)
{
	(void)state;
	size_t len = 20000, zlen;
	uint8_t *data = sample(len), *z = zlib_gzip(data, len, 9, Z_DEFAULT_STRATEGY, false, &zlen);

	expect_gunzip_error(z, zlen - 9, 1u << 24, NULL); /* truncated */
	expect_gunzip_error(z, zlen, 1000, "inflated data too large");
	z[zlen - 5] ^= 1; /* ISIZE */
	expect_gunzip_error(z, zlen, 1u << 24, "gzip CRC or length mismatch");
	z[zlen - 5] ^= 1;
	z[zlen - 8] ^= 1; /* CRC32 */
	expect_gunzip_error(z, zlen, 1u << 24, "gzip CRC or length mismatch");
	z[zlen - 8] ^= 1;
	z[3] = 0x80; /* reserved flag */
	expect_gunzip_error(z, zlen, 1u << 24, "unsupported gzip method or flags");
	z[0] = 0;
	expect_gunzip_error(z, zlen, 1u << 24, "not gzip data");
	/* a block of type 3 right after the header */
	const uint8_t bad[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x07, 0, 0, 0, 0, 0, 0, 0, 0};
	expect_gunzip_error(bad, sizeof(bad), 100, "invalid block type");
	free(z);
	free(data);
}

/* ---- META strings --------------------------------------------------------------------- */

struct seen {
	char text[4096];
};

static void collect(unsigned key, const uint8_t *v, size_t len, void *ctx)
{
	struct seen *s = ctx;
	char hex[65];
	im_sha256_hex(v, len, hex);
	size_t n = strlen(s->text);
	snprintf(s->text + n, sizeof(s->text) - n, "0x%x:%zu:%.8s|", key, len, hex);
}

static void test_meta(void **state)
{
	(void)state;
	struct seen s = {{0}};
	uint8_t *raw;
	size_t len;
	const char *why = NULL;

	/* base64("0xa=hello;0xC=a=b;12=") */
	assert_int_equal(meta_decode("MHhhPWhlbGxvOzB4Qz1hPWI7MTI9", &raw, &len, &why), 0);
	assert_int_equal(meta_parse(raw, len, collect, &s, &why), 3);
	assert_string_equal(s.text, "0xa:5:2cf24dba|0xc:3:42144f39|0xc:0:e3b0c442|");
	free(raw);

	/* the gzip form Talos uses for texts over 256 bytes */
	char text[600];
	memset(text, 'v', sizeof(text));
	memcpy(text, "0xb=", 4);
	size_t zlen;
	uint8_t *z = zlib_gzip((uint8_t *)text, sizeof(text), 9, Z_DEFAULT_STRATEGY, false, &zlen);
	unsigned char b64[2048];
	int n = EVP_EncodeBlock(b64, z, (int)zlen);
	assert_true(n > 0);
	assert_int_equal(meta_decode((char *)b64, &raw, &len, &why), 0);
	assert_int_equal(len, sizeof(text));
	s.text[0] = '\0';
	assert_int_equal(meta_parse(raw, len, collect, &s, &why), 1);
	assert_memory_equal(s.text, "0xb:596:", 8);
	free(raw);
	free(z);

	assert_int_equal(meta_decode("MHhh=PWhl", &raw, &len, &why), -1);
	assert_string_equal(why, "INSTALLER_META_BASE64 is not valid base64");
	assert_int_equal(meta_decode("MHh", &raw, &len, &why), -1);
	assert_int_equal(meta_parse((const uint8_t *)"0x100=x", 7, collect, &s, &why), -1);
	assert_int_equal(meta_parse((const uint8_t *)"novalue", 7, collect, &s, &why), -1);
	assert_int_equal(meta_parse((const uint8_t *)"0=x", 3, collect, &s, &why), -1);
}

/* What the imager writes (lib/meta.c, Talos's encoding) the init reads back. */
static void test_meta_from_lib(void **state)
{
	(void)state;
	struct im_meta m;
	struct im_error err = {0};
	struct seen s = {{0}};
	char big[400], hex[65];
	uint8_t *raw;
	size_t len;
	const char *why;

	memset(big, 'n', sizeof(big));
	im_meta_init(&m);
	assert_int_equal(im_meta_set(&m, 0xa, big, sizeof(big), &err), 0);
	assert_int_equal(im_meta_set(&m, 0xc, "user", 4, &err), 0);
	char *enc = im_meta_encode_string(&m, &err);
	assert_non_null(enc);
	assert_int_equal(meta_decode(enc, &raw, &len, &why), 0);
	assert_int_equal(meta_parse(raw, len, collect, &s, &why), 2);
	im_sha256_hex(big, sizeof(big), hex);
	char want[128];
	snprintf(want, sizeof(want), "0xa:400:%.8s|0xc:4:04f8996d|", hex);
	assert_string_equal(s.text, want);
	free(raw);
	free(enc);
	im_meta_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha256_vectors), cmocka_unit_test(test_sha256_lengths),
	    cmocka_unit_test(test_inflate_zlib),   cmocka_unit_test(test_inflate_errors),
	    cmocka_unit_test(test_meta),	   cmocka_unit_test(test_meta_from_lib),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
