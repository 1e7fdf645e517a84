/* lib/fat.c, judged by independent tools: fsck.fat -n (dosfstools) and mtools (mdir,
 * mcopy, minfo). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "imager/fs/fat.h"
#include "imager/fs/fstree.h"

#define MTIME	 1700000000 /* 2023-11-14 22:13:20 UTC */
#define MIB	 (1024ull * 1024)
#define BIG_SIZE (3 * MIB + 12345)
#define BIG_PATH "EFI/Linux/Talos-v1.0.0-A+3.efi"
#define MANY	 300 /* many/: 600 entries, more than one cluster of any size used here */

struct fx {
	char *dir; /* scratch folder */
	char *big; /* host file behind BIG_PATH */
	char *ref; /* the tree as a host folder, for diff -r against what mcopy extracts */
};
static struct fx fx;

/* Add a file to the tree (NULL = the big host file) and to the reference folder. */
static void add(struct im_tree *t, const char *path, const void *data, size_t len)
{
	struct im_error err = {0};
	char ref[4096];
	snprintf(ref, sizeof(ref), "%s/%s", fx.ref, path);
	assert_int_equal(tu_sh("mkdir -p \"$(dirname '%s')\"", ref), 0);
	if (data) {
		assert_int_equal(im_tree_add_file_mem(t, path, data, len, 0644, &err), 0);
		tu_write_file(ref, data, len);
	} else {
		assert_int_equal(im_tree_add_file_src(t, path, fx.big, 0644, &err), 0);
		assert_int_equal(tu_sh("cp '%s' '%s'", fx.big, ref), 0);
	}
}

/* The boot-asset-like tree every image test writes. */
static struct im_tree *make_tree(void)
{
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(MTIME);
	assert_non_null(t);
	static uint8_t boot[5000], kernel[4096];
	tu_pattern(boot, sizeof(boot), 1);
	tu_pattern(kernel, sizeof(kernel), 2);
	assert_int_equal(tu_sh("rm -rf '%s' && mkdir -p '%s'", fx.ref, fx.ref), 0);
	add(t, "EFI/BOOT/BOOTX64.EFI", boot, sizeof(boot));
	add(t, "EFI/systemd/systemd-bootx64.efi", "systemd-boot\n", 13);
	add(t, BIG_PATH, NULL, 0);
	add(t, "loader/loader.conf", "default Talos-*\ntimeout 3\n", 26);
	add(t, "loader/entries/Talos-v1.0.0.conf", "title Talos\n", 12);
	assert_int_equal(im_tree_add_dir(t, "loader/keys/auto", 0755, &err), 0);
	assert_int_equal(tu_sh("mkdir -p '%s/loader/keys/auto'", fx.ref), 0);
	add(t, "README.TXT", "read me\n", 8);
	add(t, "vmlinuz", kernel, sizeof(kernel)); /* exactly one 4 KiB cluster */
	add(t, "empty", "", 0);
	add(t, "Long File Name One.txt", "one\n", 4);
	add(t, "Long File Name Two.txt", "two\n", 4);
	add(t, "caf\xc3\xa9.txt", "accent\n", 7);
	add(t, "alias/foobarbaz.txt", "tail 2\n", 7);
	add(t, "alias/foobar~1.txt", "lossless\n", 9);
	for (int i = 0; i < MANY; i++) {
		char p[64];
		snprintf(p, sizeof(p), "many/file-%03d.txt", i);
		add(t, p, p, strlen(p));
	}
	assert_int_equal(err.code, 0);
	return t;
}

static int setup(void **state)
{
	(void)state;
	fx.dir = tu_tmpdir();
	assert_true(asprintf(&fx.big, "%s/big.bin", fx.dir) > 0);
	assert_true(asprintf(&fx.ref, "%s/ref", fx.dir) > 0);
	uint8_t *b = malloc(BIG_SIZE);
	assert_non_null(b);
	tu_pattern(b, BIG_SIZE, 3);
	tu_write_file(fx.big, b, BIG_SIZE);
	free(b);
	setenv("MTOOLS_SKIP_CHECK", "1", 1);
	setenv("MTOOLSRC", "/dev/null", 1);
	setenv("TZ", "UTC", 1); /* FAT times are local times to mtools */
	setenv("LC_ALL", "C.UTF-8", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(fx.dir);
	free(fx.dir);
	free(fx.big);
	free(fx.ref);
	return 0;
}

static char *scratch(const char *name)
{
	char *s;
	assert_true(asprintf(&s, "%s/%s", fx.dir, name) > 0);
	return s;
}

/* Write `t` with `o` into `path` at `off` (a new sparse file of off + size bytes
 * unless keep is set). Returns im_fat_write's result; err gets the message. */
static int write_img(const char *path, uint64_t off, const struct im_fat_opts *o, struct im_tree *t,
		     struct im_error *err, int keep)
{
	int fd = open(path, O_RDWR | O_CREAT | (keep ? 0 : O_TRUNC), 0644);
	assert_true(fd >= 0);
	if (!keep)
		assert_int_equal(ftruncate(fd, (off_t)(off + o->size_bytes)), 0);
	int r = im_fat_write(fd, off, o, t, err);
	assert_int_equal(close(fd), 0);
	return r;
}

/* Judge an image: fsck.fat finds nothing, mcopy extracts exactly the reference tree
 * (names, long names, contents, empty files and folders), times are MTIME, minfo shows
 * label and serial. */
static void check_image(const char *img, uint64_t off, const struct im_fat_info *in)
{
	char *fs = scratch("fsck.img"), *out = scratch("out.txt"), *dest = scratch("dest");
	char spec[4200];
	snprintf(spec, sizeof(spec), "%s@@%llu", img, (unsigned long long)off);
	if (off)
		assert_int_equal(
		    tu_sh("dd if='%s' of='%s' bs=512 skip=%llu count=%llu "
			  "conv=sparse status=none",
			  img, fs, (unsigned long long)(off / 512),
			  (unsigned long long)in->total_sectors * in->sector_size / 512),
		    0);
	const char *fsck_img = off ? fs : img;
	assert_int_equal(tu_sh("fsck.fat -n '%s' > '%s' 2>&1", fsck_img, out), 0);
	/* version line + "N files, used/total clusters": no complaint at all */
	assert_int_equal(tu_sh("test $(wc -l < '%s') -eq 2", out), 0);
	assert_int_equal(
	    tu_sh("grep -q ' %u/%u clusters$' '%s'", in->used_clusters, in->clusters, out), 0);

	assert_int_equal(tu_sh("rm -rf '%s' && mkdir '%s' && mcopy -s -n -m -i '%s' '::/*' '%s/'",
			       dest, dest, spec, dest),
			 0);
	assert_int_equal(tu_sh("diff -r '%s' '%s'", fx.ref, dest), 0);
	/* mcopy -m keeps the FAT modification time: every entry has MTIME */
	assert_int_equal(tu_sh("test -z \"$(find '%s' -mindepth 1 ! -newermt @%d)\" && "
			       "test -z \"$(find '%s' -mindepth 1 -newermt @%d)\"",
			       dest, MTIME - 1, dest, MTIME),
			 0);

	assert_int_equal(tu_sh("minfo -i '%s' :: > '%s'", spec, out), 0);
	assert_int_equal(tu_sh("grep -q '^serial number: %08X$' '%s'", in->volume_id, out), 0);
	assert_int_equal(tu_sh("grep -q '^disk label=\"%-11s\"$' '%s'", in->label, out), 0);
	assert_int_equal(tu_sh("grep -q '^disk type=\"FAT%d   \"$' '%s'", in->fat_type, out), 0);
	assert_int_equal(tu_sh("grep -q '^sector size: %u bytes$' '%s'", in->sector_size, out), 0);
	assert_int_equal(tu_sh("grep -q '^hidden sectors: %llu$' '%s'",
			       (unsigned long long)(off / in->sector_size), out),
			 0);
	/* mdir shows the volume label, the date and short aliases next to long names */
	assert_int_equal(tu_sh("mdir -i '%s' ::/ > '%s'", spec, out), 0);
	assert_int_equal(tu_sh("grep -q 'Volume in drive : is %s' '%s'", in->label, out), 0);
	assert_int_equal(
	    tu_sh("grep -q '^LONGFI~1 TXT  *4 2023-11-14  22:13  Long File Name One.txt$' '%s' && "
		  "grep -q '^LONGFI~2 TXT  *4 2023-11-14  22:13  Long File Name Two.txt$' '%s' && "
		  "grep -q '^README   TXT  *8 2023-11-14  22:13 *$' '%s' && "
		  "grep -q '^VMLINUZ  *4096 2023-11-14  22:13  vmlinuz$' '%s' && "
		  "grep -q '^EFI  *<DIR>  *2023-11-14  22:13 *$' '%s'",
		  out, out, out, out, out),
	    0);
	assert_int_equal(tu_sh("mdir -i '%s' ::/alias > '%s'", spec, out), 0);
	assert_int_equal(tu_sh("grep -q '^FOOBAR~2 TXT .* foobarbaz.txt$' '%s' && "
			       "grep -q '^FOOBAR~1 TXT .* foobar~1.txt$' '%s'",
			       out, out),
			 0);
	free(fs);
	free(out);
	free(dest);
}

static void write_and_check(uint64_t size, uint32_t ss, int type, int expect_type,
			    uint32_t expect_cluster)
{
	struct im_tree *t = make_tree();
	struct im_error err = {0};
	struct im_fat_opts o = {.size_bytes = size,
				.sector_size = ss,
				.label = "efi",
				.mtime = MTIME,
				.fat_type = type};
	struct im_fat_info in;
	assert_int_equal(im_fat_layout(&o, t, &in, &err), 0);
	assert_int_equal(in.fat_type, expect_type);
	if (expect_cluster)
		assert_int_equal(in.cluster_size, expect_cluster);
	assert_int_equal(in.volume_id, im_fat_volume_id("EFI", MTIME));
	assert_string_equal(in.label, "EFI");
	assert_int_equal(in.data_offset % in.cluster_size, 0); /* data area aligned */
	char *img = scratch("fat.img");
	assert_int_equal(write_img(img, 0, &o, t, &err, 0), 0);
	check_image(img, 0, &in);
	im_tree_free(t);
	free(img);
}

static void test_fat32_34m(void **state)
{
	(void)state;
	write_and_check(34 * MIB, 512, 0, 32, 512);
}

static void test_fat32_100m(void **state)
{
	(void)state;
	write_and_check(100 * MIB, 512, 32, 32, 512);
}

static void test_small_auto(void **state)
{
	(void)state;
	write_and_check(8 * MIB, 512, 0, 16, 0);  /* too small for FAT32 */
	write_and_check(8 * MIB, 4096, 0, 12, 0); /* 4 KiB sectors: < 4085 clusters */
	write_and_check(6 * MIB, 512, 12, 12, 0); /* forced FAT12 */
}

static void test_4k_sectors(void **state)
{
	(void)state;
	write_and_check(300 * MIB, 4096, 0, 32, 4096);
}

/* A BOOT-A/B sized filesystem: 1000 MiB, but only metadata and content hit the disk. */
static void test_1000m_sparse(void **state)
{
	(void)state;
	write_and_check(1000 * MIB, 512, 0, 32, 4096);
	char *img = scratch("fat.img");
	struct stat st;
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal((uint64_t)st.st_size, 1000 * MIB);
	/* two 1000 KiB FATs + 3 MiB of content + directories */
	assert_true((uint64_t)st.st_blocks * 512 < 8 * MIB);
	free(img);
}

/* Inside a bigger file (a partition): only [off, off + size) changes, even over old
 * data, and the boot sector counts the sectors in front as hidden. */
static void test_offset(void **state)
{
	(void)state;
	struct im_tree *t = make_tree();
	struct im_error err = {0};
	struct im_fat_opts o = {.size_bytes = 40 * MIB, .label = "EFI", .mtime = MTIME};
	struct im_fat_info in;
	assert_int_equal(im_fat_layout(&o, t, &in, &err), 0);
	char *img = scratch("disk.img");
	const uint64_t off = MIB;
	assert_int_equal(tu_sh("rm -f '%s' && head -c %llu /dev/zero | tr '\\0' '\\245' > '%s'",
			       img, (unsigned long long)(off + o.size_bytes + MIB), img),
			 0);
	assert_int_equal(write_img(img, off, &o, t, &err, 1), 0);
	check_image(img, off, &in);
	/* the bytes around the filesystem are untouched */
	int fd = open(img, O_RDONLY);
	uint8_t b[2];
	assert_int_equal(pread(fd, b, 1, (off_t)off - 1), 1);
	assert_int_equal(pread(fd, b + 1, 1, (off_t)(off + o.size_bytes)), 1);
	assert_int_equal(b[0], 0xA5);
	assert_int_equal(b[1], 0xA5);
	close(fd);
	im_tree_free(t);
	free(img);
}

static void test_reproducible(void **state)
{
	(void)state;
	struct im_tree *t = make_tree();
	struct im_error err = {0};
	struct im_fat_opts o = {.size_bytes = 34 * MIB, .label = "EFI", .mtime = MTIME};
	char *a = scratch("a.img"), *b = scratch("b.img"), *c = scratch("c.img");
	assert_int_equal(write_img(a, 0, &o, t, &err, 0), 0);
	assert_int_equal(write_img(b, 0, &o, t, &err, 0), 0);
	assert_int_equal(tu_sh("cmp -s '%s' '%s'", a, b), 0);
	/* another epoch: other timestamps and another serial */
	o.mtime = MTIME + 86400;
	assert_int_equal(write_img(c, 0, &o, t, &err, 0), 0);
	assert_int_not_equal(tu_sh("cmp -s '%s' '%s'", a, c), 0);
	assert_int_not_equal(im_fat_volume_id("EFI", MTIME), im_fat_volume_id("EFI", MTIME + 1));
	assert_int_not_equal(im_fat_volume_id("EFI", MTIME), im_fat_volume_id("BOOT-A", MTIME));
	assert_int_equal(im_fat_volume_id("efi", MTIME), im_fat_volume_id("EFI", MTIME));
	/* an explicit serial, no label, and an epoch before 1980 (clamped) */
	struct im_fat_opts p = {.size_bytes = 34 * MIB, .volume_id = 0x1234ABCD, .mtime = 0};
	assert_int_equal(write_img(c, 0, &p, t, &err, 0), 0);
	char *out = scratch("out.txt");
	assert_int_equal(tu_sh("minfo -i '%s' :: > '%s'", c, out), 0);
	assert_int_equal(tu_sh("grep -q '^serial number: 1234ABCD$' '%s' && "
			       "grep -q '^disk label=\"NO NAME    \"$' '%s'",
			       out, out),
			 0);
	assert_int_equal(tu_sh("mdir -i '%s' ::/ > '%s'", c, out), 0);
	assert_int_equal(tu_sh("grep -q 'Volume in drive : has no label' '%s' && "
			       "grep -q '^EFI  *<DIR>  *1980-01-01   0:00 *$' '%s'",
			       out, out),
			 0);
	assert_int_equal(tu_sh("fsck.fat -n '%s' > /dev/null", c), 0);
	im_tree_free(t);
	free(a);
	free(b);
	free(c);
	free(out);
}

static void test_min_size(void **state)
{
	(void)state;
	struct im_tree *t = make_tree();
	struct im_error err = {0};
	struct im_fat_opts o = {.label = "EFI", .mtime = MTIME};
	uint64_t min = im_fat_min_size(t, &o);
	assert_true(min > BIG_SIZE && min < 8 * MIB);
	assert_int_equal(min % 512, 0);
	o.size_bytes = min;
	char *img = scratch("min.img");
	assert_int_equal(write_img(img, 0, &o, t, &err, 0), 0);
	assert_int_equal(tu_sh("fsck.fat -n '%s' > /dev/null", img), 0);
	o.size_bytes = min - 512 * 64;
	assert_int_equal(write_img(img, 0, &o, t, &err, 0), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	/* FAT32 forced: at least the FAT32 minimum; 4 KiB sectors need 4 KiB clusters */
	o.fat_type = 32;
	min = im_fat_min_size(t, &o);
	assert_true(min > 32 * MIB && min < 34 * MIB);
	o.sector_size = 4096;
	min = im_fat_min_size(t, &o);
	assert_true(min > 256 * MIB && min < 258 * MIB);
	assert_int_equal(min % 4096, 0);
	o.size_bytes = min;
	struct im_fat_info in;
	assert_int_equal(im_fat_layout(&o, t, &in, &err), 0);
	assert_int_equal(in.fat_type, 32);
	im_tree_free(t);
	free(img);
}

/* Expect im_fat_write to fail with `code` and a message containing both needles,
 * leaving the (empty) target untouched. */
static void expect_fail(struct im_tree *t, const struct im_fat_opts *o, int code,
			const char *needle1, const char *needle2)
{
	struct im_error err = {0};
	char *img = scratch("err.img");
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(im_fat_write(fd, 0, o, t, &err), -1);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(fd);
	if (err.code != code || !strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
		fail_msg("got %d \"%s\", expected %d with \"%s\"", err.code, err.msg, code,
			 needle1);
	free(img);
}

static void test_errors(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = make_tree();
	struct im_fat_opts o = {.size_bytes = 2 * MIB, .label = "EFI", .mtime = MTIME};
	/* content too large: names the first entry that does not fit and the size needed */
	expect_fail(t, &o, IM_EXIT_INVALID, BIG_PATH ": does not fit", "needs a size of at least");
	o.size_bytes = 16 * MIB;
	o.fat_type = 32;
	expect_fail(t, &o, IM_EXIT_INVALID, "too small for FAT32 (needs >= 33 MiB)", NULL);
	o.fat_type = 0;
	o.size_bytes = 8 * 1024;
	expect_fail(t, &o, IM_EXIT_INVALID, "too small for a FAT filesystem", NULL);
	o.size_bytes = 34 * MIB;
	o.label = "TOO LONG LABEL";
	expect_fail(t, &o, IM_EXIT_INVALID, "longer than 11", NULL);
	o.label = "A*B";
	expect_fail(t, &o, IM_EXIT_INVALID, "'*' not allowed", NULL);
	o.label = "EFI";
	o.sector_size = 1000;
	expect_fail(t, &o, IM_EXIT_INVALID, "sector size 1000", NULL);
	o.sector_size = 4096;
	o.cluster_size = 2048;
	expect_fail(t, &o, IM_EXIT_INVALID, "cluster size 2048", NULL);
	o.sector_size = 0;
	o.cluster_size = 0;
	im_tree_free(t);

	/* what FAT cannot store */
	t = im_tree_new(MTIME);
	assert_int_equal(im_tree_add_symlink(t, "EFI/link", "target", &err), 0);
	expect_fail(t, &o, IM_EXIT_INVALID, "EFI/link: symbolic links", NULL);
	im_tree_free(t);
	t = im_tree_new(MTIME);
	assert_int_equal(im_tree_add_chrdev(t, "dev/console", 0600, 5, 1, &err), 0);
	expect_fail(t, &o, IM_EXIT_INVALID, "dev/console: device nodes", NULL);
	im_tree_free(t);
	t = im_tree_new(MTIME);
	assert_int_equal(im_tree_add_file_mem(t, "EFI/Linux/a.efi", "1", 1, 0644, &err), 0);
	assert_int_equal(im_tree_add_file_mem(t, "EFI/Linux/A.EFI", "2", 1, 0644, &err), 0);
	expect_fail(t, &o, IM_EXIT_INVALID,
		    "EFI/Linux/A.EFI and EFI/Linux/a.efi: names differ only in case", NULL);
	im_tree_free(t);
	t = im_tree_new(MTIME);
	assert_int_equal(im_tree_add_dir(t, "Caf\xc3\xa9", 0755, &err), 0);
	assert_int_equal(im_tree_add_file_mem(t, "CAF\xc3\x89", "2", 1, 0644, &err), 0);
	expect_fail(t, &o, IM_EXIT_INVALID, "differ only in case", NULL);
	im_tree_free(t);
	static const char *bad[] = {"a:b", "what?", "trailing.", "trailing ", "bad\xff"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = im_tree_new(MTIME);
		assert_int_equal(im_tree_add_file_mem(t, bad[i], "x", 1, 0644, &err), 0);
		expect_fail(t, &o, IM_EXIT_INVALID, bad[i], NULL);
		assert_int_equal(im_fat_min_size(t, &o), 0);
		im_tree_free(t);
	}
}

/* Long names: 255 characters (20 LFN entries, the most FAT allows; fstree refuses longer
 * names already), surrogate pairs, aliases numbered past ~9. */
static void test_long_names(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(MTIME);
	char name[300];
	memset(name, 'n', 255);
	name[255] = 0;
	assert_int_equal(im_tree_add_file_mem(t, name, "max", 3, 0644, &err), 0);
	assert_int_equal(
	    im_tree_add_file_mem(t, "emoji-\xf0\x9f\x98\x80.txt", "smile", 5, 0644, &err), 0);
	for (int i = 0; i < 12; i++) {
		char p[64];
		snprintf(p, sizeof(p), "same/Program Files %02d.txt", i);
		assert_int_equal(im_tree_add_file_mem(t, p, p, strlen(p), 0644, &err), 0);
	}
	struct im_fat_opts o = {.size_bytes = 1 * MIB, .label = "LONG", .mtime = MTIME};
	char *img = scratch("long.img"), *out = scratch("out.txt");
	assert_int_equal(write_img(img, 0, &o, t, &err, 0), 0);
	assert_int_equal(
	    tu_sh("fsck.fat -n '%s' > '%s' 2>&1 && test $(wc -l < '%s') -eq 2", img, out, out), 0);
	assert_int_equal(tu_sh("mdir -i '%s' ::/ > '%s'", img, out), 0);
	assert_int_equal(tu_sh("grep -q ' %s$' '%s'", name, out), 0);
	/* mtools shows a surrogate pair as "__": look for the pair (U+1F600) itself, in the
	 * first long-name entry (6 + 2 units: "emoji-" then D83D DE00 at offsets 14, 16) */
	FILE *f = fopen(img, "rb");
	assert_non_null(f);
	static uint8_t raw[1024 * 1024];
	size_t got = fread(raw, 1, sizeof(raw), f);
	fclose(f);
	static const uint8_t pair[] = {'-', 0, 0x3D, 0xD8, 0x00, 0xDE, '.', 0};
	assert_non_null(memmem(raw, got, pair, sizeof(pair)));
	assert_int_equal(tu_sh("mdir -i '%s' ::/same > '%s'", img, out), 0);
	assert_int_equal(tu_sh("grep -q '^PROGRA~1 TXT .* Program Files 00.txt$' '%s' && "
			       "grep -q '^PROGR~10 TXT .* Program Files 09.txt$' '%s' && "
			       "grep -q '^PROGR~12 TXT .* Program Files 11.txt$' '%s'",
			       out, out, out),
			 0);
	im_tree_free(t);
	free(img);
	free(out);
}

/* A root directory larger than FAT12/16's usual 512 entries (the fixed root grows) and
 * than one FAT32 cluster (the root cluster chain grows). */
static void test_big_root(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(MTIME);
	for (int i = 0; i < 700; i++) {
		char p[64];
		snprintf(p, sizeof(p), "Root File %03d.cfg", i);
		assert_int_equal(im_tree_add_file_mem(t, p, p, strlen(p), 0644, &err), 0);
	}
	char *img = scratch("root.img"), *out = scratch("out.txt");
	static const struct {
		uint64_t size;
		int type;
	} cases[] = {{8 * MIB, 16}, {2 * MIB, 12}, {34 * MIB, 32}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct im_fat_opts o = {.size_bytes = cases[i].size, .mtime = MTIME};
		struct im_fat_info in;
		assert_int_equal(im_fat_layout(&o, t, &in, &err), 0);
		assert_int_equal(in.fat_type, cases[i].type);
		if (in.fat_type != 32)
			assert_true(in.root_entries >= 1400);
		assert_int_equal(write_img(img, 0, &o, t, &err, 0), 0);
		assert_int_equal(tu_sh("fsck.fat -n '%s' > '%s' 2>&1 && test $(wc -l < '%s') -eq 2",
				       img, out, out),
				 0);
		assert_int_equal(tu_sh("mdir -i '%s' -/ -b ::/ > '%s'", img, out), 0);
		assert_int_equal(
		    tu_sh("test $(grep -c '^::/Root File [0-9]*.cfg$' '%s') -eq 700 && "
			  "grep -qx '::/Root File 699.cfg' '%s'",
			  out, out),
		    0);
		assert_int_equal(tu_sh("test \"$(mtype -i '%s' '::/Root File 123.cfg')\" = "
				       "'Root File 123.cfg'",
				       img),
				 0);
	}
	im_tree_free(t);
	free(img);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fat32_34m),	 cmocka_unit_test(test_fat32_100m),
	    cmocka_unit_test(test_small_auto),	 cmocka_unit_test(test_4k_sectors),
	    cmocka_unit_test(test_1000m_sparse), cmocka_unit_test(test_offset),
	    cmocka_unit_test(test_reproducible), cmocka_unit_test(test_min_size),
	    cmocka_unit_test(test_errors),	 cmocka_unit_test(test_long_names),
	    cmocka_unit_test(test_big_root),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
