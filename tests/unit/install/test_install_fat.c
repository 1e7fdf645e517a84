/* lib/install/install_fat.c + install_fatedit.c, the installer's FAT editor, on hostile
 * filesystems (review findings of issue 17): a file size that wraps the read buffer, a
 * folder that is missing, a folder with no clusters, a long name of 20 entries, and
 * writes bounded by the partition. Images are made by our own FAT writer (lib/fs/fat.c)
 * and then damaged. */
#include "testutil.h"

#include <fcntl.h>

#include "imager/disk/gpt.h"
#include "imager/disk/meta.h"
#include "imager/fs/fat.h"
#include "imager/fs/fstree.h"
#include "imager/install/install.h"

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = tu_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(dir);
	free(dir);
	return 0;
}

/* A FAT image of `size` bytes at offset 0 of a new file holding `files` (path, content,
 * ... NULL); returns the fd (O_RDWR). */
static int make_fat(const char *name, uint64_t size, uint32_t cluster, const char *const *files)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);
	for (size_t i = 0; files && files[i]; i += 2)
		assert_int_equal(im_tree_add_file_mem(t, files[i], files[i + 1],
						      strlen(files[i + 1]), 0644, &err),
				 0);
	struct im_fat_opts fo = {.size_bytes = size, .cluster_size = cluster, .label = "T"};
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (im_fat_write(fd, 0, &fo, t, &err))
		fail_msg("im_fat_write: %s", err.msg);
	im_tree_free(t);
	return fd;
}

/* Leave non-zero bytes where the next call's locals will be (a free of stack garbage then
 * shows instead of passing by luck). */
static __attribute__((noinline)) void dirty_stack(void)
{
	volatile uint8_t junk[8192];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0x41;
}

/* Finding 1: a directory entry of size 0xFFFFFFFF with a chain long enough to "hold" it:
 * malloc(size + 1) wrapped to malloc(0) and 4 GiB were read into it. */
static void test_read_size_wraps(void **state)
{
	(void)state;
	static const char *const files[] = {"f", "x", NULL};
	uint64_t size = 4400ull << 20; /* FAT32, 64 KiB clusters: a chain can pass 4 GiB */
	int fd = make_fat("big.img", size, 65536, files);
	struct im_fatfs fs;
	struct im_error err = {0};
	struct im_fat_dirent e;
	assert_int_equal(im_fatfs_open(&fs, fd, "big.img", 0, size, 0, &err), 0);
	assert_int_equal(fs.type, 32);
	assert_int_equal(im_fatfs_lookup(&fs, "f", &e, &err), 1);
	/* chain the file through every cluster after its own (in memory: what a hostile FAT
	 * on disk would give) */
	for (uint32_t c = e.first; c < fs.nclus + 1; c++)
		im_fat_set(&fs, c, c + 1);
	im_fat_set(&fs, fs.nclus + 1, 0x0FFFFFFF);
	assert_true((uint64_t)(fs.nclus + 2 - e.first) * fs.cb >= 0xFFFFFFFFull);
	e.size = 0xFFFFFFFF;
	uint8_t *buf = NULL;
	size_t len = 0;
	assert_int_equal(im_fatfs_read(&fs, &e, &buf, &len, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "big.img: f:"));
	im_fatfs_close(&fs);
	close(fd);
}

/* Finding 2: listing or creating in a folder that does not exist (an ESP with
 * loader/loader.conf but no EFI/Linux) freed an uninitialised im_fat_dir. */
static void test_missing_folder(void **state)
{
	(void)state;
	static const char *const files[] = {"loader/loader.conf", "timeout 0\n", NULL};
	int fd = make_fat("esp.img", 40 << 20, 0, files);
	struct im_fatfs fs;
	struct im_error err = {0};
	struct im_fat_dirent *v = NULL;
	size_t n = 0;
	assert_int_equal(im_fatfs_open(&fs, fd, "esp.img", 0, 40 << 20, 0, &err), 0);
	dirty_stack();
	assert_int_equal(im_fatfs_list(&fs, "EFI/Linux", &v, &n, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INSTALL);
	assert_non_null(strstr(err.msg, "esp.img: no folder /EFI/Linux"));
	memset(&err, 0, sizeof(err));
	dirty_stack();
	assert_int_equal(im_fatfs_create(&fs, "EFI/Linux", "a.efi", "x", 1, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INSTALL);
	im_fatfs_close(&fs);
	close(fd);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Finding 3: a folder whose first cluster is end-of-chain loaded with no clusters; creating
 * a file in it indexed clus[-1] and wrote FAT[that]. Now refused, FAT unchanged. */
static void test_folder_without_clusters(void **state)
{
	(void)state;
	static const char *const files[] = {"d/keep", "k", NULL};
	int fd = make_fat("eoc.img", 16 << 20, 0, files);
	struct im_fatfs fs;
	struct im_error err = {0};
	struct im_fat_dirent e;
	assert_int_equal(im_fatfs_open(&fs, fd, "eoc.img", 0, 16 << 20, 0, &err), 0);
	assert_int_equal(fs.type, 16);
	assert_int_equal(im_fatfs_lookup(&fs, "d", &e, &err), 1);
	assert_int_equal(e.dir, 0); /* in the FAT16 root */
	uint8_t ent[32];
	uint64_t at = fs.root_off + (uint64_t)(e.slot + e.nslots - 1) * 32;
	assert_int_equal(pread(fd, ent, 32, (off_t)at), 32);
	put16(ent + 26, 0xFFFF); /* first cluster: end of chain */
	assert_int_equal(pwrite(fd, ent, 32, (off_t)at), 32);
	im_fatfs_close(&fs);
	uint8_t *fat0 = malloc(fs.fatsz * fs.ss), *fat1 = malloc(fs.fatsz * fs.ss);
	assert_int_equal(pread(fd, fat0, fs.fatsz * fs.ss, (off_t)fs.fat_off),
			 (ssize_t)(fs.fatsz * fs.ss));
	assert_int_equal(im_fatfs_open(&fs, fd, "eoc.img", 0, 16 << 20, 0, &err), 0);
	assert_int_equal(im_fatfs_create(&fs, "d", "new.txt", "data", 4, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "eoc.img"));
	assert_int_equal(pread(fd, fat1, fs.fatsz * fs.ss, (off_t)fs.fat_off),
			 (ssize_t)(fs.fatsz * fs.ss));
	assert_memory_equal(fat0, fat1, fs.fatsz * fs.ss);
	free(fat0);
	free(fat1);
	im_fatfs_close(&fs);
	close(fd);
}

/* Finding 6: 20 long-name entries of 3-byte UTF-8 characters (260 units, 780 bytes)
 * overflowed name[769] into sfn/attr/first. More than 255 units is not a valid long name
 * (spec §7): the 8.3 name is used. */
static void test_long_name_of_20_entries(void **state)
{
	(void)state;
	static const char *const files[] = {"AAAA.TXT", "hello", NULL};
	int fd = make_fat("lfn.img", 16 << 20, 0, files);
	struct im_fatfs fs;
	struct im_error err = {0};
	struct im_fat_dirent e;
	assert_int_equal(im_fatfs_open(&fs, fd, "lfn.img", 0, 16 << 20, 0, &err), 0);
	assert_int_equal(im_fatfs_lookup(&fs, "AAAA.TXT", &e, &err), 1);
	uint32_t first = e.first;
	/* the root: 20 long-name entries, then the 8.3 entry of AAAA.TXT */
	uint8_t sfn[32], lfn[20 * 32];
	uint64_t sfn_at = fs.root_off + (uint64_t)e.slot * 32;
	assert_int_equal(pread(fd, sfn, 32, (off_t)sfn_at), 32);
	uint8_t sum = im_fat_lfn_checksum(sfn);
	static const int pos[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
	memset(lfn, 0, sizeof(lfn));
	for (int k = 0; k < 20; k++) {
		uint8_t *p = lfn + k * 32;
		p[0] = (uint8_t)((20 - k) | (k == 0 ? 0x40 : 0));
		p[11] = 0x0F;
		p[13] = sum;
		for (int j = 0; j < 13; j++)
			put16(p + pos[j], 0x4E2D); /* U+4E2D: 3 bytes in UTF-8 */
	}
	uint32_t at = e.slot + 1; /* right after the file's own entry: no end marker between */
	assert_int_equal(pwrite(fd, lfn, sizeof(lfn), (off_t)(fs.root_off + 32ull * at)),
			 (ssize_t)sizeof(lfn));
	assert_int_equal(pwrite(fd, sfn, 32, (off_t)(fs.root_off + 32ull * (at + 20))), 32);
	struct im_fat_dirent *v = NULL;
	size_t n = 0;
	assert_int_equal(im_fatfs_list(&fs, "", &v, &n, &err), 0);
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].slot + v[i].nslots - 1 != at + 20)
			continue;
		seen = 1;
		assert_memory_equal(v[i].sfn, "AAAA    TXT", 11);
		assert_int_equal(v[i].attr, sfn[11]);
		assert_int_equal(v[i].first, first);
		assert_string_equal(v[i].name, "AAAA.TXT");
	}
	assert_true(seen);
	free(v);
	im_fatfs_close(&fs);
	close(fd);
}

/* Finding 4, FAT: a BPB claiming more sectors than the partition is refused, and no write
 * of the editor goes past the partition (the next one stays untouched). */
static void test_fat_bounded_by_partition(void **state)
{
	(void)state;
	static const char *const files[] = {"loader/loader.conf", "timeout 0\n", NULL};
	int fd = make_fat("part.img", 16 << 20, 0, files);
	struct im_fatfs fs;
	struct im_error err = {0};
	assert_int_equal(im_fatfs_open(&fs, fd, "part.img", 0, 8 << 20, 0, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "part.img: FAT filesystem of 16777216 bytes (BPB) in a "
					"8388608-byte partition"));
	/* opened within its partition, a write past the end is refused by the editor */
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_fatfs_open(&fs, fd, "part.img", 0, 16 << 20, 0, &err), 0);
	fs.size = fs.data_off; /* as if the partition ended where the data starts */
	assert_int_equal(im_fatfs_create(&fs, "loader", "new.conf", "x", 1, &err), -1);
	assert_non_null(strstr(err.msg, "past the end of its"));
	im_fatfs_close(&fs);
	close(fd);
}

/* Finding 4, META: a META partition smaller than the 1 MiB image (a disk someone else
 * partitioned) is refused instead of writing over the partition after it. */
static void test_meta_bounded_by_partition(void **state)
{
	(void)state;
	char img[4096];
	snprintf(img, sizeof(img), "%s/meta.img", dir);
	struct im_gpt_part p[] = {{.name = "META", .type = "linux", .size_bytes = 512 << 10},
				  {.name = "NEXT", .type = "linux", .size_bytes = 1 << 20}};
	struct im_gpt_layout l = {.disk_size = 8 << 20, .align = 512 << 10, .parts = p, .n = 2};
	struct im_gpt_disk d;
	struct im_error err = {0};
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (im_gpt_write(fd, img, &l, &d, &err))
		fail_msg("%s", err.msg);
	const struct im_gpt_entry *next = im_gpt_find(&d, "NEXT");
	assert_non_null(next);
	uint8_t *guard = malloc(next->size), *back = malloc(next->size);
	memset(guard, 0xAA, next->size);
	assert_int_equal(pwrite(fd, guard, next->size, (off_t)next->start), (ssize_t)next->size);
	struct im_meta m;
	im_meta_init(&m);
	assert_int_equal(im_meta_set(&m, 0xc, "v", 1, &err), 0);
	assert_int_equal(im_install_meta_write(fd, img, &m, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INSTALL);
	assert_non_null(strstr(err.msg, "META partition"));
	assert_int_equal(pread(fd, back, next->size, (off_t)next->start), (ssize_t)next->size);
	assert_memory_equal(guard, back, next->size);
	im_meta_free(&m);
	im_gpt_disk_free(&d);
	free(guard);
	free(back);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_read_size_wraps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_folder, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_folder_without_clusters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_name_of_20_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fat_bounded_by_partition, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_meta_bounded_by_partition, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
