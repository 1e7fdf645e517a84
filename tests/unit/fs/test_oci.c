/* lib/oci.c: tar archives and OCI image layouts (layers, whiteouts, digests) into trees. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "fixtures/extension/mktar.h"
#include "imager/fs/oci.h"

struct fx {
	char *dir;
	struct im_stage st;
	struct im_tree *t;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct im_error err = {0};

	f->dir = tu_tmpdir();
	assert_int_equal(im_stage_create(&f->st, &err), 0);
	f->t = im_tree_new(0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char *stage = strdup(f->st.dir);

	im_tree_free(f->t);
	im_stage_remove(&f->st);
	assert_int_equal(stat(stage, &st), -1); /* the staging folder is gone */
	tu_rmtree(f->dir);
	free(stage);
	free(f->dir);
	free(f);
	return 0;
}

static char *path_in(struct fx *f, const char *name)
{
	char *p;
	assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
	return p;
}

static void expect_dump(struct im_tree *t, const char *want)
{
	char *got = dump_tree(t);
	assert_string_equal(got, want);
	free(got);
}

static void test_tar_plain(void **state)
{
	struct fx *f = *state;
	struct im_error err = {0};
	const struct tent e[] = {
	    {"./", 'd', 0755, NULL},
	    {"./etc/", 'd', 0750, NULL},
	    {"./etc/motd", 'f', 0644, "first\n"},
	    {"etc/motd", 'f', 0600, "second wins\n"}, /* tar: a later entry replaces */
	    {"/usr//bin/./tool", 'f', 04755, "#!/bin/sh\n"},
	    {"usr/bin/link", 'l', 0777, "tool"},
	    {"usr/bin/hard", 'h', 0, "usr/bin/tool"},
	    {"opt", 'f', 0644, "a file first"},
	    {"opt/now-a-dir/x", 'f', 0644, "x"}, /* replaces the file "opt" by a folder */
	};
	char *tar = path_in(f, "plain.tar.gz");

	mktar(tar, "gzip", e, sizeof(e) / sizeof(e[0]));
	assert_int_equal(im_tar_apply(f->t, &f->st, tar, false, "plain.tar.gz", &err), 0);
	expect_dump(f->t, "d  0755\n"
			  "d etc 0750\n"
			  "f etc/motd 0600 second wins\n\n"
			  "d opt 0755\n"
			  "d opt/now-a-dir 0755\n"
			  "f opt/now-a-dir/x 0644 x\n"
			  "d usr 0755\n"
			  "d usr/bin 0755\n"
			  "f usr/bin/hard 4755 #!/bin/sh\n\n"
			  "l usr/bin/link -> tool\n"
			  "f usr/bin/tool 4755 #!/bin/sh\n\n");
	free(tar);
}

static void expect_tar_error(struct fx *f, const struct tent *e, size_t n, int code,
			     const char *msg)
{
	struct im_error err = {0};
	char *tar = path_in(f, "bad.tar");

	mktar(tar, "none", e, n);
	assert_int_equal(im_tar_apply(f->t, &f->st, tar, false, "bad.tar", &err), -1);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, msg))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
	free(tar);
}

static void test_tar_refused(void **state)
{
	struct fx *f = *state;
	const struct tent up[] = {{"a/../../etc/passwd", 'f', 0644, "x"}};
	const struct tent chr[] = {{"dev/null", 'c', 0666, NULL}};
	const struct tent fifo[] = {{"run/fifo", 'p', 0644, NULL}};
	const struct tent hard[] = {{"a", 'h', 0, "missing"}};

	expect_tar_error(f, up, 1, IM_EXIT_INVALID,
			 "bad.tar: \"a/../../etc/passwd\": path leaves the archive root");
	expect_tar_error(f, chr, 1, IM_EXIT_INVALID,
			 "bad.tar: \"dev/null\": character device not allowed");
	expect_tar_error(f, fifo, 1, IM_EXIT_INVALID, "bad.tar: \"run/fifo\": FIFO not allowed");
	expect_tar_error(f, hard, 1, IM_EXIT_INVALID, "hard link to \"missing\"");

	struct im_error err = {0};
	assert_int_equal(im_tar_apply(f->t, &f->st, "/nonexistent.tar", false, "x.tar", &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);

	char *junk = path_in(f, "junk.tar");
	assert_int_equal(tu_sh("head -c 3000 /dev/urandom > '%s'", junk), 0);
	err = (struct im_error){0};
	assert_int_equal(im_tar_apply(f->t, &f->st, junk, false, "junk.tar", &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "expected a tar archive"));
	free(junk);
}

/* Issue 17 finding 8: only the built-in filters we support. A tar with lrzip's magic made
 * libarchive (filter_all) run an external `lrzip -d`: a fake one on PATH records it. */
static void test_no_external_filters(void **state)
{
	struct fx *f = *state;
	char *bin = path_in(f, "bin"), *mark = path_in(f, "ran"), *lrz = path_in(f, "x.tar.lrz");
	assert_int_equal(tu_sh("mkdir -p '%s' && printf '#!/bin/sh\ntouch %s\ncat >/dev/null\n' "
			       "> '%s/lrzip' && chmod +x '%s/lrzip'",
			       bin, mark, bin, bin),
			 0);
	/* lrzip header: "LRZI", major 0, minor 6, then size and flags */
	assert_int_equal(tu_sh("printf 'LRZI\\000\\006\\000\\000\\000\\000\\000\\000\\000\\000"
			       "\\000\\000\\000\\000\\000\\000\\000\\000' > '%s'",
			       lrz),
			 0);
	char *path = getenv("PATH"), *saved = strdup(path ? path : ""), *np;
	assert_true(asprintf(&np, "%s:%s", bin, saved) > 0);
	setenv("PATH", np, 1);
	struct im_error err = {0};
	int rc = im_tar_apply(f->t, &f->st, lrz, false, "x.tar.lrz", &err);
	setenv("PATH", saved, 1);
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_int_equal(access(mark, F_OK), -1); /* no program was run */
	free(np);
	free(saved);
	free(bin);
	free(mark);
	free(lrz);
}

/* Issue 17 finding 8: the total extracted size and entry count are capped (a sparse entry
 * can claim terabytes); the caps are overridable through the environment. */
static void test_size_caps(void **state)
{
	struct fx *f = *state;
	const struct tent e[] = {{"a", 'f', 0644, "0123456789"}, {"b", 'f', 0644, "0123456789"}};
	char *tar = path_in(f, "caps.tar");
	mktar(tar, "none", e, 2);
	struct im_error err = {0};
	setenv("IMAGER_CONTENT_MAX_BYTES", "15", 1);
	assert_int_equal(im_tar_apply(f->t, &f->st, tar, false, "caps.tar", &err), -1);
	unsetenv("IMAGER_CONTENT_MAX_BYTES");
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "caps.tar: \"b\": more than 15 bytes of content "
					"(IMAGER_CONTENT_MAX_BYTES)"));
	err = (struct im_error){0};
	setenv("IMAGER_CONTENT_MAX_ENTRIES", "1", 1);
	assert_int_equal(im_tar_apply(f->t, &f->st, tar, false, "caps.tar", &err), -1);
	unsetenv("IMAGER_CONTENT_MAX_ENTRIES");
	assert_non_null(strstr(err.msg, "more than 1 entries (IMAGER_CONTENT_MAX_ENTRIES)"));
	free(tar);
}

/* Issue 17 finding 7: a tar nested 2000 folders deep is refused with the limit named. */
static void test_deep_tar(void **state)
{
	struct fx *f = *state;
	static char deep[4100];
	deep[0] = 0;
	for (int i = 0; i < 2000; i++)
		strcat(deep, "d/");
	strcat(deep, "f");
	const struct tent e[] = {{deep, 'f', 0644, "x"}};
	expect_tar_error(f, e, 1, IM_EXIT_INVALID, "levels deep");
}

/* OCI layer.md "Whiteouts": they hide lower-layer entries only. */
static void test_whiteouts(void **state)
{
	struct fx *f = *state;
	struct im_error err = {0};
	const struct tent l1[] = {
	    {"a/keep", 'f', 0644, "keep"},   {"a/gone", 'f', 0644, "gone"},
	    {"b/x", 'f', 0644, "x"},	     {"b/sub/y", 'f', 0644, "y"},
	    {"c/deep/file", 'f', 0644, "c"}, {"d", 'f', 0644, "file d"},
	};
	const struct tent l2[] = {
	    {"a/same", 'f', 0644, "same"},     {"a/.wh.gone", 'f', 0644, ""},
	    {"a/.wh.same", 'f', 0644, ""}, /* same layer: a/same stays */
	    {"b/", 'd', 0700, NULL},	       {"b/z", 'f', 0644, "z"},
	    {"b/.wh..wh..opq", 'f', 0644, ""}, {".wh.c", 'f', 0644, ""},
	    {"d/", 'd', 0755, NULL},	     /* a folder replaces a file */
	    {".wh..wh.plnk", 'f', 0644, ""}, /* aufs metadata: ignored */
	};
	char *t1 = path_in(f, "l1.tar.zst"), *t2 = path_in(f, "l2.tar");

	mktar(t1, "zstd", l1, sizeof(l1) / sizeof(l1[0]));
	mktar(t2, "none", l2, sizeof(l2) / sizeof(l2[0]));
	assert_int_equal(im_tar_apply(f->t, &f->st, t1, true, "l1", &err), 0);
	assert_int_equal(im_tar_apply(f->t, &f->st, t2, true, "l2", &err), 0);
	expect_dump(f->t, "d  0755\n"
			  "d a 0755\n"
			  "f a/keep 0644 keep\n"
			  "f a/same 0644 same\n"
			  "d b 0700\n"
			  "f b/z 0644 z\n"
			  "d d 0755\n");
	assert_int_equal(f->t->count, 7);
	free(t1);
	free(t2);
}

/* ---- OCI layouts ---------------------------------------------------------------------- */

static char *put_blob(const char *layout, const void *data, size_t len)
{
	unsigned char md[32];
	char hex[65], path[4096], *digest;

	assert_int_equal(EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(path, sizeof(path), "%s/blobs/sha256", layout);
	assert_int_equal(tu_sh("mkdir -p '%s'", path), 0);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, hex);
	FILE *o = fopen(path, "wb");
	assert_non_null(o);
	assert_int_equal(fwrite(data, 1, len, o), len);
	fclose(o);
	assert_true(asprintf(&digest, "sha256:%s", hex) > 0);
	return digest;
}

static char *put_file_blob(const char *layout, const char *file)
{
	FILE *in = fopen(file, "rb");
	static char buf[1 << 20];
	assert_non_null(in);
	size_t n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	return put_blob(layout, buf, n);
}

static char *put_json(const char *layout, const char *fmt, ...)
{
	char text[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return put_blob(layout, text, strlen(text));
}

static void write_text(const char *path, const char *text)
{
	FILE *o = fopen(path, "w");
	assert_non_null(o);
	fputs(text, o);
	fclose(o);
}

#define LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"

/* A layout of two layers; nested=true puts an image index between index.json and the
 * manifest. Returns the layout folder. */
static char *make_layout(struct fx *f, bool nested, const char *layer2_type)
{
	char *layout = path_in(f, "layout"), *t1 = path_in(f, "l1.tgz"), *t2 = path_in(f, "l2");
	const struct tent l1[] = {{"manifest.yaml", 'f', 0644, "version: v1alpha1\n"},
				  {"rootfs/usr/local/bin/old", 'f', 0755, "old"},
				  {"rootfs/usr/local/share/doc", 'f', 0644, "doc"}};
	const struct tent l2[] = {{"rootfs/usr/local/bin/new", 'f', 0755, "new"},
				  {"rootfs/usr/local/bin/.wh.old", 'f', 0644, ""}};
	char idx[8192];

	assert_int_equal(tu_sh("mkdir -p '%s'", layout), 0);
	mktar(t1, "gzip", l1, 3);
	mktar(t2, "zstd", l2, 2);
	char *d1 = put_file_blob(layout, t1), *d2 = put_file_blob(layout, t2);
	char *cfg = put_json(layout, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
	/* compact JSON, as Go's encoding/json writes it */
	char *man = put_json(layout,
			     "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image."
			     "manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci."
			     "image.config.v1+json\",\"digest\":\"%s\",\"size\":1},\"layers\":[{"
			     "\"mediaType\":\"" LAYER_GZ "\",\"digest\":\"%s\",\"size\":1},{"
			     "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":1}]}",
			     cfg, d1, layer2_type, d2);
	char *top = man;
	if (nested)
		top = put_json(layout,
			       "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
			       "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":1,"
			       "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
			       man);
	/* index.json pretty-printed with tabs */
	snprintf(idx, sizeof(idx),
		 "{\n\t\"schemaVersion\": 2,\n\t\"manifests\": [\n\t\t{\n\t\t\t\"mediaType\": "
		 "\"application/vnd.oci.image.%s.v1+json\",\n\t\t\t\"digest\": \"%s\",\n\t\t\t"
		 "\"size\": 1\n\t\t}\n\t]\n}\n",
		 nested ? "index" : "manifest", top);
	char p[4096];
	snprintf(p, sizeof(p), "%s/index.json", layout);
	write_text(p, idx);
	snprintf(p, sizeof(p), "%s/oci-layout", layout);
	write_text(p, "{\"imageLayoutVersion\": \"1.0.0\"}");
	if (top != man)
		free(top);
	free(man);
	free(cfg);
	free(d1);
	free(d2);
	free(t1);
	free(t2);
	return layout;
}

static const char *flattened = "d  0755\n"
			       "f manifest.yaml 0644 version: v1alpha1\n\n"
			       "d rootfs 0755\n"
			       "d rootfs/usr 0755\n"
			       "d rootfs/usr/local 0755\n"
			       "d rootfs/usr/local/bin 0755\n"
			       "f rootfs/usr/local/bin/new 0755 new\n"
			       "d rootfs/usr/local/share 0755\n"
			       "f rootfs/usr/local/share/doc 0644 doc\n";

static void test_oci_dir(void **state)
{
	struct fx *f = *state;
	struct im_error err = {0};
	char *layout = make_layout(f, false, "application/vnd.oci.image.layer.v1.tar+zstd");

	assert_true(im_oci_dir_is_layout(layout));
	assert_false(im_oci_dir_is_layout(f->dir));
	assert_int_equal(im_oci_read(f->t, &f->st, layout, false, &err), 0);
	expect_dump(f->t, flattened);
	free(layout);
}

static void test_oci_nested_tar(void **state)
{
	struct fx *f = *state;
	struct im_error err = {0};
	char *layout = make_layout(f, true, "application/vnd.docker.image.rootfs.diff.tar.gzip");
	char *tar = path_in(f, "image.tar");
	bool yes = false;

	assert_int_equal(
	    tu_sh("cd '%s' && bsdtar -cf '%s' oci-layout index.json blobs", layout, tar), 0);
	assert_int_equal(im_oci_tar_is_layout(tar, &yes, &err), 0);
	assert_true(yes);
	assert_int_equal(im_oci_read(f->t, &f->st, tar, true, &err), 0);
	expect_dump(f->t, flattened);

	/* a plain tar is not a layout */
	const struct tent plain[] = {{"manifest.yaml", 'f', 0644, "x"}};
	mktar(tar, "none", plain, 1);
	assert_int_equal(im_oci_tar_is_layout(tar, &yes, &err), 0);
	assert_false(yes);
	free(layout);
	free(tar);
}

static void expect_oci_error(struct fx *f, const char *layout, int code, const char *msg)
{
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);

	assert_int_equal(im_oci_read(t, &f->st, layout, false, &err), -1);
	im_tree_free(t);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, msg))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
}

static void test_oci_errors(void **state)
{
	struct fx *f = *state;
	char *layout = make_layout(f, false, "application/x-zip");

	expect_oci_error(f, layout, IM_EXIT_UNSUPPORTED,
			 "layer 1: media type \"application/x-zip\"");
	tu_rmtree(layout);
	free(layout);

	layout = make_layout(f, false, LAYER_GZ);
	/* corrupt every layer blob: the first one checked fails its digest */
	assert_int_equal(tu_sh("for b in '%s'/blobs/sha256/*; do printf x >> \"$b\"; done", layout),
			 0);
	expect_oci_error(f, layout, IM_EXIT_INVALID, "(corrupt layout)");
	assert_int_equal(tu_sh("rm -f '%s'/blobs/sha256/*", layout), 0);
	expect_oci_error(f, layout, IM_EXIT_MISSING, "blob sha256:");

	char p[4096];
	snprintf(p, sizeof(p), "%s/index.json", layout);
	write_text(p, "{\"manifests\":[{\"digest\":\"sha512:abcd\"}]}");
	expect_oci_error(f, layout, IM_EXIT_UNSUPPORTED, "only sha256 digests are supported");
	write_text(p, "{\"manifests\":[{\"digest\":\"sha256:../../etc/passwd\"}]}");
	expect_oci_error(f, layout, IM_EXIT_INVALID, "expected sha256:<64 lower-case hex digits>");
	write_text(p, "{\"manifests\":[]}");
	expect_oci_error(f, layout, IM_EXIT_INVALID, "image index lists no manifest");
	write_text(p, "{\"manifests\": [,]");
	expect_oci_error(f, layout, IM_EXIT_INVALID, "index.json:1:");
	unlink(p);
	expect_oci_error(f, layout, IM_EXIT_MISSING, "index.json");
	free(layout);
}

static void test_ydoc(void **state)
{
	(void)state;
	struct im_ydoc d;
	struct im_error err = {0};
	const char *text = "a:\n  b: [1, 2]\n  c: \"x\\ty\"\n";

	assert_int_equal(im_ydoc_load(&d, text, strlen(text), false, "t.yaml", &err), 0);
	yaml_node_t *a = im_ydoc_get(&d, im_ydoc_root(&d), "a");
	assert_non_null(a);
	assert_string_equal(im_ydoc_str(im_ydoc_get(&d, a, "c")), "x\ty");
	assert_null(im_ydoc_str(im_ydoc_get(&d, a, "b")));
	assert_null(im_ydoc_get(&d, a, "zz"));
	assert_null(im_ydoc_get(&d, im_ydoc_get(&d, a, "b"), "x"));
	im_ydoc_free(&d);
	assert_int_equal(im_ydoc_load(&d, "a: [", 4, false, "t.yaml", &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	if (!strstr(err.msg, "t.yaml:2:1: "))
		fail_msg("%s", err.msg);
	assert_non_null(strstr(err.msg, "(expected YAML)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_tar_plain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tar_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_external_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_caps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deep_tar, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oci_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oci_nested_tar, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oci_errors, setup, teardown),
	    cmocka_unit_test(test_ydoc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
