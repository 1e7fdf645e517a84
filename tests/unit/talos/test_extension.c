/* lib/extension.c: loading extensions from every input form, the DESIGN §5 / Talos rules,
 * and the initramfs they are appended to (checked with libarchive and rdsquashfs). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fixtures/extension/mktar.h"
#include "imager/fs/cpio.h"
#include "imager/talos/extension.h"
#include "imager/fs/squashfs.h"

#define FIXTURE IMAGER_SOURCE_DIR "/tests/unit/fixtures/extension/hello"
#define MTIME	1700000000

struct fx {
	char *dir;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = tu_tmpdir();
	/* a copy of the fixture with modes independent of the checkout's umask */
	assert_int_equal(tu_sh("cp -a '%s' '%s/hello' && chmod -R u=rwX,go=rX '%s/hello' && "
			       "chmod 755 '%s/hello/rootfs/usr/local/lib/containers/hello/hello'",
			       FIXTURE, f->dir, f->dir, f->dir),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tu_rmtree(f->dir);
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

static struct im_ext *load_ok(const char *path)
{
	struct im_ext *x = NULL;
	struct im_error err = {0};
	if (im_ext_load(path, &x, &err) < 0)
		fail_msg("load %s: %s", path, err.msg);
	return x;
}

static void test_load_folder(void **state)
{
	struct fx *f = *state;
	char *dir = path_in(f, "hello");
	struct im_ext *x = load_ok(dir);
	struct im_error err = {0};

	assert_string_equal(x->meta.manifest_version, "v1alpha1");
	assert_string_equal(x->meta.name, "hello");
	assert_string_equal(x->meta.version, "1.0.0");
	assert_string_equal(x->meta.author, "imager tests");
	assert_non_null(strstr(x->meta.description, "\"microcode\".\n"));
	assert_string_equal(x->meta.constraint, ">= v1.0.0");
	assert_null(x->stage.dir); /* folders are read in place */
	assert_int_equal(im_ext_validate(x, "v1.0.0", &err), 0);
	assert_int_equal(im_ext_validate(x, "v1.7.3", &err), 0);
	/* Talos compares the core version: a pre-release of 1.0.0 qualifies */
	assert_int_equal(im_ext_validate(x, "v1.0.0-beta.1", &err), 0);
	im_ext_free(x);
	free(dir);
}

/* Every input form of the same extension loads to the same tree. */
static void test_load_forms(void **state)
{
	struct fx *f = *state;
	char *dir = path_in(f, "hello");
	struct im_ext *ref = load_ok(dir);
	char *want = dump_tree(ref->tree);
	struct im_error err = {0};
	const char *tars[] = {"hello.tar", "hello.tar.gz", "hello.tar.zst", "hello.tar.xz"};
	const char *flags[] = {"", "-z", "--zstd", "-J"};

	for (int i = 0; i < 4; i++) {
		char *tar = path_in(f, tars[i]);
		assert_int_equal(tu_sh("bsdtar -C '%s' %s -cf '%s' .", dir, flags[i], tar), 0);
		struct im_ext *x = load_ok(tar);
		char *got = dump_tree(x->tree);
		assert_string_equal(got, want);
		char *stage = strdup(x->stage.dir);
		im_ext_free(x);
		assert_int_equal(access(stage, F_OK), -1); /* staged content removed */
		free(stage);
		free(got);
		free(tar);
	}

	char *sqsh = path_in(f, "hello.sqsh");
	assert_int_equal(im_squashfs_write(ref->tree, sqsh, NULL, &err), 0);
	struct im_ext *x = load_ok(sqsh);
	char *got = dump_tree(x->tree);
	assert_string_equal(got, want);
	assert_int_equal(im_ext_validate(x, "v1.0.0", &err), 0);
	free(got);
	im_ext_free(x);

	/* an OCI layout tar with the extension as its only layer */
	char *oci = path_in(f, "oci");
	assert_int_equal(
	    tu_sh("set -e; mkdir -p '%s/blobs/sha256'; cd '%s'; bsdtar -C '%s' -czf l.tgz .; "
		  "L=$(sha256sum l.tgz | cut -d' ' -f1); mv l.tgz blobs/sha256/$L; "
		  "printf '{\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1."
		  "tar+gzip\",\"digest\":\"sha256:%%s\"}]}' $L > m.json; "
		  "M=$(sha256sum m.json | cut -d' ' -f1); mv m.json blobs/sha256/$M; "
		  "printf '{\"manifests\":[{\"digest\":\"sha256:%%s\"}]}' $M > index.json; "
		  "echo '{\"imageLayoutVersion\":\"1.0.0\"}' > oci-layout; "
		  "bsdtar -cf ../oci.tar oci-layout index.json blobs",
		  oci, oci, dir),
	    0);
	x = load_ok(oci);
	got = dump_tree(x->tree);
	assert_string_equal(got, want);
	free(got);
	im_ext_free(x);
	char *ocitar = path_in(f, "oci.tar");
	x = load_ok(ocitar);
	got = dump_tree(x->tree);
	assert_string_equal(got, want);
	free(got);
	im_ext_free(x);

	free(ocitar);
	free(oci);
	free(sqsh);
	free(want);
	im_ext_free(ref);
	free(dir);
}

/* Load (and validate) must fail with `code` and a message naming the input and `msg`. */
static void expect_rejected(const char *path, const char *version, int code, const char *msg)
{
	struct im_ext *x = NULL;
	struct im_error err = {0};
	int rc = im_ext_load(path, &x, &err);

	if (rc == 0) {
		rc = im_ext_validate(x, version, &err);
		im_ext_free(x);
	} else {
		assert_null(x);
	}
	if (rc != -1)
		fail_msg("%s was accepted (want \"%s\")", path, msg);
	if (err.code != code || !strstr(err.msg, path) || !strstr(err.msg, msg))
		fail_msg("%s: got %d \"%s\", want %d \"...%s...\"", path, err.code, err.msg, code,
			 msg);
}

/* A modified copy of the fixture: `cmd` runs inside it. */
static char *variant(struct fx *f, const char *name, const char *cmd)
{
	char *d = path_in(f, name);
	assert_int_equal(tu_sh("cp -a '%s/hello' '%s' && cd '%s' && %s", f->dir, d, d, cmd), 0);
	return d;
}

static void test_rules(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *name, *cmd, *msg;
	} cases[] = {
	    {"abs-link", "ln -s /etc/passwd rootfs/usr/local/abs",
	     "rootfs/usr/local/abs: absolute symlink to \"/etc/passwd\""},
	    {"esc-link", "ln -s ../../../etc/passwd rootfs/usr/local/esc",
	     "rootfs/usr/local/esc: symlink to \"../../../etc/passwd\" leaves rootfs/"},
	    {"bad-path", "mkdir -p rootfs/etc && echo x > rootfs/etc/shadow",
	     "rootfs/etc/shadow: path not allowed in extensions"},
	    {"prefix-only", "echo x > rootfs/usr/localx", "rootfs/usr/localx: path not allowed"},
	    {"extra-top", "echo x > README", "unexpected \"README\" at the top"},
	    {"no-rootfs", "rm -rf rootfs", "no rootfs/ folder"},
	    {"no-manifest", "rm manifest.yaml", "no manifest.yaml"},
	    {"manifest-v1", "sed -i 's/^version: v1alpha1/version: v1/' manifest.yaml",
	     "manifest.yaml: version \"v1\": expected v1alpha1"},
	    {"bad-name", "sed -i 's/name: hello/name: Hello_World/' manifest.yaml",
	     "metadata.name \"Hello_World\": expected a name of a-z, 0-9 and '-'"},
	    {"no-version", "sed -i '/  version: 1.0.0/d' manifest.yaml",
	     "metadata.version \"\": expected a version"},
	    {"bad-range", "sed -i 's/\">= v1.0.0\"/\">= banana\"/' manifest.yaml",
	     "metadata.compatibility.talos.version constraint \">= banana\""},
	    {"too-new", "sed -i 's/\">= v1.0.0\"/\">= v9.0.0\"/' manifest.yaml",
	     "extension hello requires Talos version \">= v9.0.0\", but the profile version is "
	     "v1.0.0"},
	    {"meta-list", "printf 'version: v1alpha1\\nmetadata: [a]\\n' > manifest.yaml",
	     "manifest.yaml: metadata: expected a mapping"},
	    {"name-map",
	     "printf 'version: v1alpha1\\nmetadata:\\n  name: {a: b}\\n' > "
	     "manifest.yaml",
	     "manifest.yaml: metadata.name: expected a string"},
	    {"not-yaml", "printf 'version: [\\n' > manifest.yaml", "manifest.yaml:2:1: "},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = variant(f, cases[i].name, cases[i].cmd);
		expect_rejected(d, "v1.0.0", IM_EXIT_INVALID, cases[i].msg);
		free(d);
	}
	char *d = path_in(f, "hello");
	expect_rejected(d, "latest", IM_EXIT_INVALID, "profile version \"latest\"");
	free(d);
	d = path_in(f, "missing");
	expect_rejected(d, "v1.0.0", IM_EXIT_MISSING, "expected a folder, tar, squashfs or OCI");
	free(d);
}

/* What a folder in a checkout cannot hold, in tars. */
static void test_rules_tar(void **state)
{
	struct fx *f = *state;
	const char *manifest = "version: v1alpha1\nmetadata:\n  name: t\n  version: \"1\"\n";
	struct tent dev[] = {{"manifest.yaml", 'f', 0644, manifest},
			     {"rootfs/", 'd', 0755, NULL},
			     {"rootfs/usr/local/null", 'c', 0666, NULL}};
	struct tent ww[] = {{"manifest.yaml", 'f', 0644, manifest},
			    {"rootfs/usr/local/bin/tool", 'f', 0777, "x"}};
	struct tent ok[] = {{"manifest.yaml", 'f', 0644, manifest},
			    {"rootfs/lib/modules/6.1.0/extra/x.ko", 'f', 0644, "ko"},
			    {"rootfs/usr/local/bin/tool", 'f', 04755, "x"},
			    {"rootfs/usr/local/bin/tool2", 'h', 0, "rootfs/usr/local/bin/tool"},
			    {"rootfs/usr/local/lib/l", 'l', 0777, "../../../lib/modules"}};
	char *tar = path_in(f, "dev.tar");

	mktar(tar, "none", dev, 3);
	expect_rejected(tar, "v1.0.0", IM_EXIT_INVALID,
			"\"rootfs/usr/local/null\": character device not allowed");
	mktar(tar, "gzip", ww, 2);
	expect_rejected(tar, "v1.0.0", IM_EXIT_INVALID,
			"rootfs/usr/local/bin/tool: world-writable entries are not allowed");
	mktar(tar, "zstd", ok, 5);
	struct im_ext *x = load_ok(tar);
	struct im_error err = {0};
	assert_int_equal(im_ext_validate(x, "v1.0.0", &err), 0);
	assert_int_equal(im_tree_lookup(x->tree, "rootfs/usr/local/bin/tool2")->mode, 04755);
	im_ext_free(x);
	free(tar);
}

static void test_config_yaml(void **state)
{
	(void)state;
	struct im_ext a = {.meta = {.name = "a",
				    .version = "1.0",
				    .author = "Me \"q\"",
				    .description = "line1\nline2\\ \x01"}},
		      b = {.meta = {.name = "b", .version = "v2"}};
	struct im_ext *list[] = {&a, &b};
	char *y = im_ext_config_yaml(list, 2);

	assert_string_equal(y, "layers:\n"
			       "  - image: \"0.sqsh\"\n"
			       "    metadata:\n"
			       "      name: \"a\"\n"
			       "      version: \"1.0\"\n"
			       "      author: \"Me \\\"q\\\"\"\n"
			       "      description: \"line1\\nline2\\\\ \\x01\"\n"
			       "  - image: \"1.sqsh\"\n"
			       "    metadata:\n"
			       "      name: \"b\"\n"
			       "      version: \"v2\"\n"
			       "      author: \"\"\n"
			       "      description: \"\"\n");
	free(y);
	y = im_ext_config_yaml(list, 0);
	assert_string_equal(y, "layers: []\n");
	free(y);
}

/* ---- the appended initramfs ----------------------------------------------------------- */

static void *slurp(const char *path, size_t *len)
{
	FILE *in = fopen(path, "rb");
	assert_non_null(in);
	fseek(in, 0, SEEK_END);
	long n = ftell(in);
	fseek(in, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, in), (size_t)n);
	fclose(in);
	*len = (size_t)n;
	return buf;
}

/* A small compressed base initramfs. */
static char *make_base(struct fx *f, const char *name, enum im_compress c)
{
	struct im_tree *t = im_tree_new(MTIME);
	struct im_error err = {0};
	struct im_cpio_opts o = {.compress = c, .level = -1, .threads = 1};
	char *p = path_in(f, name);

	assert_int_equal(im_tree_add_file_mem(t, "init", "#!/bin/init\n", 12, 0755, &err), 0);
	assert_int_equal(im_tree_add_file_mem(t, "rootfs.sqsh", "sqsh", 4, 0644, &err), 0);
	assert_int_equal(im_cpio_write(t, p, &o, &err), 0);
	im_tree_free(t);
	return p;
}

/* Entries of the first archive in buf as "path size\n" lines, file contents to *files. */
static char *list_cpio(const void *buf, size_t len, char **extyaml, const char *sqsh_out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *text = NULL, data[1 << 16];
	size_t tlen = 0;
	FILE *o = open_memstream(&text, &tlen);

	archive_read_support_filter_all(a);
	archive_read_support_format_cpio(a);
	assert_int_equal(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname(e);
		la_ssize_t n = archive_read_data(a, data, sizeof(data));
		fprintf(o, "%s %lld", p, (long long)archive_entry_size(e));
		if (n > 0 && strncmp(p, "kernel/x86/microcode/", 21) == 0)
			fprintf(o, " %.*s", (int)n, data);
		if (n > 0 && strncmp(p, "lib/firmware/", 13) == 0)
			fprintf(o, " %.*s", (int)n, data);
		fputc('\n', o);
		if (extyaml && strcmp(p, "extensions.yaml") == 0)
			*extyaml = strndup(data, (size_t)n);
		if (sqsh_out && strcmp(p, "0.sqsh") == 0) {
			FILE *s = fopen(sqsh_out, "wb");
			assert_non_null(s);
			do
				fwrite(data, 1, (size_t)n, s);
			while ((n = archive_read_data(a, data, sizeof(data))) > 0);
			fclose(s);
		}
	}
	archive_read_free(a);
	fclose(o);
	return text;
}

/* A second extension: replaces a firmware file of the first, adds Intel microcode. */
static char *make_second(struct fx *f)
{
	char *tar = path_in(f, "second.tar");
	struct tent e[] = {
	    {"manifest.yaml", 'f', 0644,
	     "version: v1alpha1\nmetadata:\n  name: second\n  version: 2.0.0\n"},
	    {"rootfs/lib/firmware/imager-test.fw", 'f', 0644, "second wins"},
	    {"rootfs/lib/firmware/intel-ucode/06-03-01", 'f', 0644, "INTEL-C\n"},
	    {"rootfs/usr/local/share/second", 'f', 0644, "2"},
	};
	mktar(tar, "none", e, 4);
	return tar;
}

static const char *want_early = "kernel 0\n"
				"kernel/x86 0\n"
				"kernel/x86/microcode 0\n"
				"kernel/x86/microcode/AuthenticAMD.bin 13 AMD-0\nAMD-17\n\n"
				"kernel/x86/microcode/GenuineIntel.bin 24 INTEL-A\nINTEL-B\n"
				"INTEL-C\n\n";

static void test_append(void **state)
{
	struct fx *f = *state;
	char *dir = path_in(f, "hello"), *second = make_second(f);
	char *base = make_base(f, "base.xz", IM_COMPRESS_XZ);
	char *out = path_in(f, "out.xz"), *out2 = path_in(f, "out2.xz");
	char *sqsh = path_in(f, "0.sqsh"), *yaml = NULL;
	struct im_ext *exts[2] = {load_ok(dir), load_ok(second)};
	struct im_ext_initramfs_opts o = {.compress = -1, .level = -1, .mtime = MTIME};
	struct im_error err = {0};
	size_t blen, olen, o2len;

	assert_int_equal(im_ext_append_to_initramfs(base, exts, 2, out, &o, &err), 0);
	o.threads = 2; /* threads never change the bytes */
	assert_int_equal(im_ext_append_to_initramfs(base, exts, 2, out2, &o, &err), 0);
	char *b = slurp(base, &blen), *ob = slurp(out, &olen), *ob2 = slurp(out2, &o2len);
	assert_int_equal(olen, o2len);
	assert_memory_equal(ob, ob2, olen);

	/* [uncompressed microcode cpio][base][xz cpio] */
	assert_memory_equal(ob, "070701", 6);
	char *at = memmem(ob, olen, b, blen);
	assert_non_null(at);
	size_t early = (size_t)(at - ob);
	assert_int_equal(early % 4, 0);
	char *got = list_cpio(ob, early, NULL, NULL);
	assert_string_equal(got, want_early);
	free(got);
	const char *late = at + blen;
	assert_memory_equal(late,
			    "\xfd"
			    "7zXZ",
			    5);
	got = list_cpio(late, olen - early - blen, &yaml, sqsh);
	/* byte order: digits before letters */
	assert_memory_equal(got, "0.sqsh ", 7);
	assert_non_null(strstr(got, "\n1.sqsh "));
	assert_non_null(strstr(got, "\nextensions.yaml "));
	assert_non_null(strstr(got, "\nlib/firmware/imager-test.fw 11 second wins\n"));
	assert_non_null(strstr(got, "\nlib/firmware/amd-ucode/README 14 not microcode\n"));
	assert_null(strstr(got, "ucode/06-"));
	assert_null(strstr(got, "microcode_amd"));
	free(got);
	assert_non_null(yaml);
	assert_non_null(strstr(yaml, "layers:\n  - image: \"0.sqsh\"\n    metadata:\n      name: "
				     "\"hello\"\n      version: \"1.0.0\"\n"));
	assert_non_null(strstr(yaml, "  - image: \"1.sqsh\"\n    metadata:\n      name: "
				     "\"second\"\n      version: \"2.0.0\"\n"));

	/* the image holds rootfs/ minus lib/firmware; rdsquashfs is the independent judge */
	assert_int_equal(tu_sh("rdsquashfs -d '%s' > '%s.d'", sqsh, sqsh), 0);
	assert_int_equal(tu_sh("grep -q '^file usr/local/etc/containers/hello.yaml 0644 0 0' "
			       "'%s.d' && grep -q '^slink usr/local/lib/libhello.so 0777 0 0 "
			       "libhello.so.1' '%s.d' && ! grep -q ' lib/firmware' '%s.d'",
			       sqsh, sqsh, sqsh),
			 0);
	free(b);
	free(ob);
	free(ob2);
	free(yaml);
	im_ext_free(exts[0]);
	im_ext_free(exts[1]);
	free(dir);
	free(second);
	free(base);
	free(out);
	free(out2);
	free(sqsh);
}

/* Without microcode nothing goes in front; the appended archive follows the base's
 * compression (gzip, zstd) or the one asked for. */
static void test_append_compressors(void **state)
{
	struct fx *f = *state;
	char *second = make_second(f);
	char *d = variant(f, "noucode", "rm -rf rootfs/lib/firmware/*-ucode");
	struct im_ext *x = load_ok(d);
	struct im_ext_initramfs_opts o = {.compress = -1, .level = -1, .mtime = MTIME};
	static const struct {
		enum im_compress base;
		int ask;
		const char *magic;
	} cases[] = {{IM_COMPRESS_GZIP, -1, "\x1f\x8b"},
		     {IM_COMPRESS_ZSTD, -1, "\x28\xb5\x2f\xfd"},
		     {IM_COMPRESS_XZ, IM_COMPRESS_ZSTD, "\x28\xb5\x2f\xfd"}};

	for (size_t i = 0; i < 3; i++) {
		struct im_error err = {0};
		char *base = make_base(f, "base", cases[i].base), *out = path_in(f, "out");
		size_t blen, olen;
		o.compress = cases[i].ask;
		assert_int_equal(im_ext_append_to_initramfs(base, &x, 1, out, &o, &err), 0);
		char *b = slurp(base, &blen), *ob = slurp(out, &olen);
		assert_memory_equal(ob, b, blen);
		assert_memory_equal(ob + blen, cases[i].magic, strlen(cases[i].magic));
		char *got = list_cpio(ob + blen, olen - blen, NULL, NULL);
		assert_non_null(strstr(got, "lib/firmware/imager-test.fw 14 firmware blob\n"));
		free(got);
		free(b);
		free(ob);
		free(base);
		free(out);
	}
	im_ext_free(x);
	free(d);
	free(second);
}

static void test_append_errors(void **state)
{
	struct fx *f = *state;
	char *dir = path_in(f, "hello"), *junk = path_in(f, "junk"), *out = path_in(f, "out");
	struct im_ext *x = load_ok(dir);
	struct im_ext_initramfs_opts o = {.compress = -1, .level = -1, .mtime = MTIME};
	struct im_error err = {0};

	assert_int_equal(tu_sh("printf '0707010000' > '%s'", junk), 0);
	assert_int_equal(im_ext_append_to_initramfs(junk, &x, 1, out, &o, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "base initramfs is not xz, zstd or gzip compressed"));
	assert_int_equal(access(out, F_OK), -1);

	err = (struct im_error){0};
	char *missing = path_in(f, "missing.xz");
	assert_int_equal(im_ext_append_to_initramfs(missing, &x, 1, out, &o, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_non_null(strstr(err.msg, missing));
	assert_int_equal(tu_sh("ls -A '%s' | grep -v -e hello -e junk | grep -q .", f->dir), 1);

	im_ext_free(x);
	free(missing);
	free(dir);
	free(junk);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_load_folder, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rules_tar, setup, teardown),
	    cmocka_unit_test(test_config_yaml),
	    cmocka_unit_test_setup_teardown(test_append, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_compressors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
