/* lib/fs/oci_write.c (tar of a tree, OCI layout archives), lib/fs/tarstream.c and
 * lib/fs/oci_bundle.c (reading them back without libarchive). The layout written is also
 * read by the libarchive-based reader of lib/fs/oci.c, an independent check. */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "imager/fs/oci.h"
#include "imager/fs/oci_bundle.h"
#include "imager/fs/oci_write.h"
#include "imager/fs/tarstream.h"
#include "imager/util/sha256.h"

static struct im_tree *small_tree(void)
{
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(1700000000);
	assert_int_equal(im_tree_add_file_mem(t, "usr/bin/installer", "#!x\n", 4, 0755, &err), 0);
	assert_int_equal(
	    im_tree_add_file_mem(t, "usr/install/amd64/cmdline", "a=b\n", 4, 0644, &err), 0);
	assert_int_equal(im_tree_add_symlink(t, "lib64/ld.so", "/lib/ld.so", &err), 0);
	return t;
}

static char *write_tar(struct im_tree *t, bool gzip, struct im_tar_sums *sums)
{
	struct im_error err = {0};
	char *p = tu_path(gzip ? "t.tar.gz" : "t.tar");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(im_tar_write_tree(t, fd, gzip, "t", sums, &err), 0);
	close(fd);
	return p;
}

/* Golden vector: the bytes of a small tree's tar never change (reproducibility), and the
 * ustar header fields are what POSIX says (owner 0, mtime, magic). */
static void test_tar_golden(void **state)
{
	(void)state;
	struct im_tree *t = small_tree();
	struct im_tar_sums s;
	char *p = write_tar(t, false, &s);
	size_t len;
	uint8_t *b = tu_read_file(p, &len);
	char hex[65];
	im_sha256_hex(b, len, hex);
	assert_string_equal(hex, s.digest);
	assert_int_equal(len, 10240); /* one libarchive record */
	assert_string_equal((char *)b, "lib64/");
	assert_memory_equal(b + 257,
			    "ustar\0"
			    "00",
			    8);
	assert_memory_equal(b + 108, "000000 \0", 8);	  /* uid 0 */
	assert_memory_equal(b + 136, "14524770400 ", 12); /* 1700000000 octal */
	assert_string_equal(hex,
			    "d105954f8fa49506026c5a3b2163de7e8077ad4be5d879d128ba47c091240728");
	free(b);
	free(p);
	im_tree_free(t);
}

struct mem {
	const uint8_t *b;
	size_t len, off;
};

static long mem_read(void *ctx, void *buf, size_t n, struct im_error *err)
{
	(void)err;
	struct mem *m = ctx;
	if (n > m->len - m->off)
		n = m->len - m->off;
	memcpy(buf, m->b + m->off, n);
	m->off += n;
	return (long)n;
}

/* tarstream reads what libarchive's pax writer makes: a long name in a pax header. */
static void test_tarstream_pax(void **state)
{
	(void)state;
	static uint8_t out[1 << 16];
	size_t used = 0;
	char name[300];
	memset(name, 'n', sizeof(name));
	memcpy(name, "d/", 2);
	name[299] = 0;
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	archive_write_set_format_pax(a);
	assert_int_equal(archive_write_open_memory(a, out, sizeof(out), &used), ARCHIVE_OK);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 5);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, "hello", 5), 5);
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);

	struct mem m = {out, used, 0};
	struct im_tar_in t;
	struct im_tar_entry te;
	struct im_error err = {0};
	char buf[16] = {0};
	im_tar_in_init(&t, mem_read, &m, "pax");
	assert_int_equal(im_tar_next(&t, &te, &err), 1);
	assert_string_equal(te.path, name);
	assert_int_equal(te.size, 5);
	assert_int_equal(im_tar_read(&t, buf, sizeof(buf), &err), 5);
	assert_string_equal(buf, "hello");
	assert_int_equal(im_tar_next(&t, &te, &err), 0);

	/* cut inside the data: truncated */
	struct mem cut = {out, 1536 + 3, 0};
	im_tar_in_init(&t, mem_read, &cut, "cut");
	int r;
	while ((r = im_tar_next(&t, &te, &err)) > 0)
		;
	assert_int_equal(r, -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "cut: truncated archive"));

	struct mem junk = {(const uint8_t *)"not a tar", 9, 0};
	struct im_error e2 = {0};
	im_tar_in_init(&t, mem_read, &junk, "junk");
	assert_int_equal(im_tar_next(&t, &te, &e2), -1);
	assert_non_null(strstr(e2.msg, "junk: "));
}

static char *write_layout(const char *arch)
{
	struct im_error err = {0};
	struct im_tree *t = small_tree();
	struct im_tree *layers[1] = {t};
	struct im_oci_image img = {.arch = arch,
				   .created = 1700000000,
				   .entrypoint = "/usr/bin/installer",
				   .layers = layers,
				   .n_layers = 1};
	char *p = tu_path("bundle.tar");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(im_oci_write(fd, "bundle.tar", tu_dir, &img, &err), 0);
	close(fd);
	im_tree_free(t);
	return p;
}

/* Written, then read back by both readers; no temporary layer file is left. */
static void test_oci_roundtrip(void **state)
{
	(void)state;
	struct im_error err = {0};
	char *p = write_layout("amd64"), *dest = tu_path("unpacked"), *f;
	assert_int_equal(tu_sh("test -z \"$(ls -A '%s' | grep '^[.]layer')\"", tu_dir), 0);
	assert_int_equal(im_oci_unpack(p, "amd64", dest, &err), 0);
	size_t len;
	assert_true(asprintf(&f, "%s/usr/install/amd64/cmdline", dest) > 0);
	uint8_t *b = tu_read_file(f, &len);
	assert_non_null(b);
	assert_string_equal((char *)b, "a=b\n");
	char link[64] = {0};
	free(f);
	assert_true(asprintf(&f, "%s/lib64/ld.so", dest) > 0);
	assert_true(readlink(f, link, sizeof(link)) > 0);
	assert_string_equal(link, "/lib/ld.so");
	struct stat st;
	free(f);
	assert_true(asprintf(&f, "%s/usr/bin/installer", dest) > 0);
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);

	struct im_stage stg;
	assert_int_equal(im_stage_create(&stg, &err), 0);
	struct im_tree *t = im_tree_new(0);
	assert_int_equal(im_oci_read(t, &stg, p, true, &err), 0);
	assert_non_null(im_tree_lookup(t, "usr/install/amd64/cmdline"));
	im_tree_free(t);
	im_stage_remove(&stg);

	/* the same input gives the same bytes */
	uint8_t *one = tu_read_file(p, &len);
	size_t len2;
	free(p);
	p = write_layout("amd64");
	uint8_t *two = tu_read_file(p, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(one, two, len);
	im_rmtree(dest);
	free(one);
	free(two);
	free(b);
	free(f);
	free(p);
	free(dest);
}

static void expect_unpack_error(const char *p, const char *arch, int code, const char *msg)
{
	struct im_error err = {0};
	char *dest = tu_path("bad");
	assert_int_equal(im_oci_unpack(p, arch, dest, &err), -1);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, msg))
		fail_msg("got \"%s\", want \"%s\"", err.msg, msg);
	im_rmtree(dest);
	free(dest);
}

static void test_oci_errors(void **state)
{
	(void)state;
	char *p = write_layout("arm64");
	expect_unpack_error(p, "amd64", IM_EXIT_INVALID,
			    "image for linux/arm64 (expected linux/amd64)");
	size_t len;
	uint8_t *b = tu_read_file(p, &len);
	/* the first blob's data starts after the two folder headers and its own header */
	b[3 * 512 + 10] ^= 1;
	char *bad = tu_path("corrupt.tar");
	tu_write_file(bad, b, len);
	expect_unpack_error(bad, "arm64", IM_EXIT_INVALID, "content has digest sha256:");
	b[3 * 512 + 10] ^= 1;
	tu_write_file(bad, b, len / 3);
	expect_unpack_error(bad, "arm64", IM_EXIT_INVALID, "truncated archive");
	tu_write_file(bad, "hello", 5);
	expect_unpack_error(bad, "arm64", IM_EXIT_INVALID, "corrupt.tar: not a tar archive");
	tu_write_file(bad, "", 0);
	expect_unpack_error(bad, "arm64", IM_EXIT_INVALID, "corrupt.tar: empty file");
	expect_unpack_error("/nonexistent.tar", "arm64", IM_EXIT_MISSING, "/nonexistent.tar");
	free(b);
	free(bad);
	free(p);
}

/* layer.md whiteouts: a later layer's a/.wh.b removes a/b; ".wh..." is refused. */
static void test_oci_whiteout(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *l1 = small_tree(), *l2 = im_tree_new(1700000000);
	assert_int_equal(im_tree_add_file_mem(l2, "usr/bin/.wh.installer", "", 0, 0644, &err), 0);
	struct im_tree *layers[2] = {l1, l2};
	struct im_oci_image img = {
	    .arch = "amd64", .created = 0, .entrypoint = "/x", .layers = layers, .n_layers = 2};
	char *p = tu_path("wh.tar"), *dest = tu_path("wh"), *f;
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(im_oci_write(fd, "wh.tar", tu_dir, &img, &err), 0);
	close(fd);
	assert_int_equal(im_oci_unpack(p, "amd64", dest, &err), 0);
	assert_true(asprintf(&f, "%s/usr/bin/installer", dest) > 0);
	assert_int_equal(access(f, F_OK), -1);
	free(f);
	assert_true(asprintf(&f, "%s/usr/install/amd64/cmdline", dest) > 0);
	assert_int_equal(access(f, F_OK), 0);
	im_rmtree(dest);
	im_tree_free(l2);
	l2 = im_tree_new(0);
	layers[1] = l2;
	assert_int_equal(im_tree_add_file_mem(l2, "usr/.wh...", "", 0, 0644, &err), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(im_oci_write(fd, "wh.tar", tu_dir, &img, &err), 0);
	close(fd);
	expect_unpack_error(p, "amd64", IM_EXIT_INVALID, "names no entry");
	im_tree_free(l1);
	im_tree_free(l2);
	free(f);
	free(p);
	free(dest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tar_golden),	  cmocka_unit_test(test_tarstream_pax),
	    cmocka_unit_test(test_oci_roundtrip), cmocka_unit_test(test_oci_errors),
	    cmocka_unit_test(test_oci_whiteout),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
