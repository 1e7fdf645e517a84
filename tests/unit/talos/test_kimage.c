/* lib/talos/kimage.c: the embedded configuration of kernel images. The fixtures are made
 * here: a gzip'd .config between the IKCFG markers inside a fake kernel, compressed
 * with gzip, zstd, xz, wrapped as bzImage and EFI zboot. */
#include "testutil.h"

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "imager/talos/kimage.h"

static const char config_text[] = "#\n# Automatically generated file; DO NOT EDIT.\n"
				  "CONFIG_OVERLAY_FS=m\n"
				  "CONFIG_SQUASHFS=m\n"
				  "# CONFIG_DEVMEM is not set\n";

/* Golden vector: gzip (RFC 1952) of "CONFIG_OVERLAY_FS=y\n# CONFIG_DEVMEM is not set\n"
 * with mtime 0, made by Python's gzip module, not by the zlib this code reads it with. */
static const uint8_t golden_gz[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x73, 0xf6, 0xf7, 0x73, 0xf3, 0x74,
    0x8f, 0xf7, 0x0f, 0x73, 0x0d, 0xf2, 0x71, 0x8c, 0x8c, 0x77, 0x0b, 0xb6, 0xad, 0xe4, 0x52, 0x56,
    0x70, 0x86, 0x88, 0xba, 0xb8, 0x86, 0xf9, 0xba, 0xfa, 0x2a, 0x64, 0x16, 0x2b, 0xe4, 0xe5, 0x97,
    0x28, 0x14, 0xa7, 0x96, 0x70, 0x01, 0x00, 0x3b, 0xed, 0x07, 0xaa, 0x2f, 0x00, 0x00, 0x00};

struct buf {
	uint8_t *p;
	size_t n;
};

static struct buf gz(const void *in, size_t n)
{
	struct buf b = {malloc(compressBound(n) + 64), 0};
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = b.p;
	z.avail_out = (uInt)(compressBound(n) + 64);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	b.n = z.total_out;
	deflateEnd(&z);
	return b;
}

static struct buf zst(const void *in, size_t n)
{
	struct buf b = {malloc(ZSTD_compressBound(n)), 0};
	b.n = ZSTD_compress(b.p, ZSTD_compressBound(n), in, n, 3);
	assert_false(ZSTD_isError(b.n));
	return b;
}

static struct buf xz(const void *in, size_t n)
{
	struct buf b = {malloc(lzma_stream_buffer_bound(n)), 0};
	assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, in, n, b.p, &b.n,
						 lzma_stream_buffer_bound(n)),
			 LZMA_OK);
	return b;
}

/* A fake decompressed kernel of `size` bytes with the config blob at `at` (or none). */
static struct buf vmlinux(size_t size, size_t at, int with_config, int with_end)
{
	struct buf g = gz(config_text, strlen(config_text));
	struct buf k = {malloc(size + g.n + 16), size};
	tu_pattern(k.p, size, 7);
	for (size_t i = 0; i < size; i++)
		k.p[i] &= 0x3f; /* compressible, and never a marker by chance */
	if (with_config) {
		memmove(k.p + at + 8 + g.n + 8, k.p + at, size - at);
		memcpy(k.p + at, "IKCFG_ST", 8);
		memcpy(k.p + at + 8, g.p, g.n);
		memcpy(k.p + at + 8 + g.n, with_end ? "IKCFG_ED" : "XXXXXXXX", 8);
		k.n += g.n + 16;
	}
	free(g.p);
	return k;
}

static int run(const struct buf *b, char **text, const char **format, struct im_error *err)
{
	size_t tlen;
	return im_kimage_config(b->p, b->n, "k", text, &tlen, format, err);
}

static void expect_config(const struct buf *b, const char *want_format)
{
	char *text;
	const char *format;
	struct im_error err = {0};
	int r = run(b, &text, &format, &err);
	if (r != IM_KIMAGE_CONFIG)
		fail_msg("%s: result %d (%s)", want_format, r, err.msg);
	assert_string_equal(text, config_text);
	assert_string_equal(format, want_format);
	free(text);
}

static void test_raw_golden(void **state)
{
	(void)state;
	uint8_t img[512] = {0};
	/* An ELF vmlinux with the golden blob between the markers. */
	memcpy(img,
	       "\x7f"
	       "ELF",
	       4);
	memcpy(img + 100, "IKCFG_ST", 8);
	memcpy(img + 108, golden_gz, sizeof(golden_gz));
	memcpy(img + 108 + sizeof(golden_gz), "IKCFG_ED", 8);
	char *text;
	size_t tlen;
	const char *format;
	struct im_error err = {0};
	assert_int_equal(im_kimage_config(img, sizeof(img), "k", &text, &tlen, &format, &err),
			 IM_KIMAGE_CONFIG);
	assert_string_equal(text, "CONFIG_OVERLAY_FS=y\n# CONFIG_DEVMEM is not set\n");
	assert_int_equal(tlen, 47);
	assert_string_equal(format, "ELF vmlinux");
	free(text);
}

static void test_compressed(void **state)
{
	(void)state;
	struct buf k = vmlinux(3 << 20, 1 << 20, 1, 1);
	struct buf c[3] = {gz(k.p, k.n), zst(k.p, k.n), xz(k.p, k.n)};
	expect_config(&c[0], "gzip");
	expect_config(&c[1], "zstd");
	expect_config(&c[2], "xz");
	for (int i = 0; i < 3; i++)
		free(c[i].p);
	free(k.p);
}

/* The marker straddling the decompressor's output chunks (256 KiB) at every split. */
static void test_chunk_edges(void **state)
{
	(void)state;
	for (size_t d = 0; d <= 12; d++) {
		struct buf k = vmlinux(600 << 10, (256 << 10) - d, 1, 1);
		struct buf c = gz(k.p, k.n);
		expect_config(&c, "gzip");
		free(c.p);
		free(k.p);
	}
}

/* bzImage (boot protocol 2.15 header) and EFI zboot wrappers around a payload. */
static struct buf wrap(const struct buf *payload, int zboot, const char *tail)
{
	size_t head = zboot ? 4096 : 1024 + 512; /* setup_sects 1: pm code at 1024 */
	struct buf b = {calloc(1, head + payload->n + 64), head + payload->n + strlen(tail)};
	if (zboot) {
		memcpy(b.p, "MZ\0\0zimg", 8);
		uint32_t off = (uint32_t)head, len = (uint32_t)payload->n;
		memcpy(b.p + 8, &off, 4);
		memcpy(b.p + 12, &len, 4);
		memcpy(b.p + 24, "gzip", 5);
	} else {
		memcpy(b.p, "MZ", 2);
		b.p[0x1f1] = 1;
		memcpy(b.p + 0x202, "HdrS", 4);
		b.p[0x206] = 0x0f;
		b.p[0x207] = 0x02;
		uint32_t off = 512, len = (uint32_t)payload->n;
		memcpy(b.p + 0x248, &off, 4);
		memcpy(b.p + 0x24c, &len, 4);
	}
	memcpy(b.p + head, payload->p, payload->n);
	memcpy(b.p + head + payload->n, tail, strlen(tail)); /* e.g. the size trailer */
	return b;
}

static void test_containers(void **state)
{
	(void)state;
	struct buf k = vmlinux(1 << 20, 4000, 1, 1);
	struct buf g = gz(k.p, k.n), z = zst(k.p, k.n), x = xz(k.p, k.n);
	struct buf w[4] = {wrap(&x, 0, "\x01\x02\x03\x04"), wrap(&z, 0, ""), wrap(&g, 1, ""),
			   wrap(&z, 1, "")};
	expect_config(&w[0], "bzImage, xz");
	expect_config(&w[1], "bzImage, zstd");
	expect_config(&w[2], "EFI zboot, gzip");
	expect_config(&w[3], "EFI zboot, zstd");
	for (int i = 0; i < 4; i++)
		free(w[i].p);
	/* arm64 Image: uncompressed, magic at 0x38. */
	memset(k.p, 0, 64);
	memcpy(k.p + 0x38, "ARM\x64", 4);
	expect_config(&k, "arm64 Image");
	free(g.p);
	free(z.p);
	free(x.p);
	free(k.p);
}

static void test_no_config(void **state)
{
	(void)state;
	struct buf k = vmlinux(1 << 20, 0, 0, 0);
	struct buf z = zst(k.p, k.n);
	struct buf w = wrap(&z, 0, "");
	char *text;
	const char *format;
	struct im_error err = {0};
	assert_int_equal(run(&w, &text, &format, &err), IM_KIMAGE_NO_CONFIG);
	assert_string_equal(format, "bzImage, zstd");
	assert_null(text);
	assert_int_equal(err.code, 0);
	free(w.p);
	free(z.p);
	free(k.p);

	/* Start marker without the end marker: damaged. */
	k = vmlinux(1 << 20, 5000, 1, 0);
	z = gz(k.p, k.n);
	assert_int_equal(run(&z, &text, &format, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "k: IKCFG_ST marker without IKCFG_ED"));
	free(z.p);
	free(k.p);
}

static void test_damaged_and_unsupported(void **state)
{
	(void)state;
	struct buf k = vmlinux(1 << 20, 9000, 1, 1);
	struct buf g = gz(k.p, k.n);
	char *text;
	const char *format;
	struct im_error err = {0};
	g.n = 100; /* truncated long before the config */
	assert_int_equal(run(&g, &text, &format, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "k: damaged gzip stream"));
	free(g.p);

	struct buf bz = {(uint8_t *)"BZh91AY&SY", 10};
	struct buf w = wrap(&bz, 0, "");
	struct im_error err2 = {0};
	assert_int_equal(run(&w, &text, &format, &err2), -1);
	assert_int_equal(err2.code, IM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(err2.msg, "--config FILE"));
	free(w.p);

	struct buf t = {(uint8_t *)"CONFIG_A=y\n", 11};
	assert_int_equal(run(&t, &text, &format, &err), IM_KIMAGE_NOT_KERNEL);
	free(k.p);
}

/* im_kconfig_load: .config, config.gz, kernel with and without one, garbage. */
static void test_load(void **state)
{
	(void)state;
	char *cfg = tu_path("config"), *cgz = tu_path("config.gz"), *kern = tu_path("vmlinuz"),
	     *bare = tu_path("bare"), *junk = tu_path("junk");
	tu_write_file(cfg, config_text, strlen(config_text));
	struct buf g = gz(config_text, strlen(config_text));
	tu_write_file(cgz, g.p, g.n);
	free(g.p);
	struct buf k = vmlinux(1 << 19, 100, 1, 1), z = zst(k.p, k.n), w = wrap(&z, 1, "");
	tu_write_file(kern, w.p, w.n);
	free(k.p);
	free(z.p);
	free(w.p);
	k = vmlinux(1 << 19, 0, 0, 0);
	z = xz(k.p, k.n);
	w = wrap(&z, 0, "");
	tu_write_file(bare, w.p, w.n);
	free(k.p);
	free(z.p);
	free(w.p);
	tu_write_file(junk, "\x00\x01\x02garbage", 10);

	const char *paths[] = {cfg, cgz, kern};
	const char *sources[] = {".config", "gzip'd .config", "EFI zboot, zstd"};
	for (int i = 0; i < 3; i++) {
		struct im_kconfig kc;
		const char *src;
		struct im_error err = {0};
		if (im_kconfig_load(paths[i], &kc, &src, &err) != 0)
			fail_msg("%s: %s", paths[i], err.msg);
		assert_string_equal(src, sources[i]);
		assert_string_equal(im_kconfig_get(&kc, "OVERLAY_FS"), "m");
		assert_string_equal(im_kconfig_get(&kc, "DEVMEM"), "n");
		im_kconfig_free(&kc);
	}
	struct im_kconfig kc;
	const char *src;
	struct im_error err = {0};
	assert_int_equal(im_kconfig_load(bare, &kc, &src, &err), 1);
	assert_string_equal(src, "bzImage, xz");
	assert_int_equal(err.code, 0);
	assert_int_equal(im_kconfig_load(junk, &kc, &src, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "neither a kernel image"));
	struct im_error err2 = {0};
	char *none = tu_path("none");
	assert_int_equal(im_kconfig_load(none, &kc, &src, &err2), -1);
	assert_int_equal(err2.code, IM_EXIT_MISSING);
	free(none);
	free(cfg);
	free(cgz);
	free(kern);
	free(bare);
	free(junk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_raw_golden),	cmocka_unit_test(test_compressed),
	    cmocka_unit_test(test_chunk_edges), cmocka_unit_test(test_containers),
	    cmocka_unit_test(test_no_config),	cmocka_unit_test(test_damaged_and_unsupported),
	    cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
