/* The installer's FAT16/FAT32 reader and editor (lib/install/install_fat.c,
 * install_fatedit.c) on an ESP it did not make: open, list, look up and read files, then
 * the edits an upgrade does (create a UKI in EFI/Linux, rewrite a file in place, rename,
 * delete). Input: the start of the filesystem; the partition is the input padded with a
 * hole to 32 MiB, and a guard area behind it must stay untouched (every write is bounded
 * by its partition). */
#include "fuzz.h"

#include "imager/install/install.h"

#define PART_SIZE  (32u << 20)
#define GUARD_SIZE (1u << 20)

static void read_all(struct im_fatfs *fs, const char *dir)
{
	struct im_fat_dirent *v = NULL;
	size_t n = 0;
	struct im_error err = {0};
	if (im_fatfs_list(fs, dir, &v, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n && i < 16; i++) {
		uint8_t *buf;
		size_t len;
		if (v[i].attr & IM_FAT_ATTR_DIR)
			continue;
		memset(&err, 0, sizeof(err));
		if (im_fatfs_read(fs, &v[i], &buf, &len, &err) == 0)
			free(buf);
	}
	free(v);
}

static void edit(struct im_fatfs *fs)
{
	static uint8_t data[5000];
	struct im_error err = {0};
	struct im_fat_dirent e;
	uint8_t *buf;
	size_t len;
	if (im_fatfs_lookup(fs, "loader/loader.conf", &e, &err) == 1 &&
	    im_fatfs_read(fs, &e, &buf, &len, &err) == 0) {
		im_fatfs_overwrite(fs, &e, buf, len, &err);
		free(buf);
	}
	memset(&err, 0, sizeof(err));
	im_fatfs_create(fs, "EFI/Linux", "Talos-v1.0.0-B+3.efi", data, sizeof(data), &err);
	memset(&err, 0, sizeof(err));
	if (im_fatfs_lookup(fs, "EFI/Linux/Talos-v1.0.0-B+3.efi", &e, &err) == 1) {
		memset(&err, 0, sizeof(err));
		im_fatfs_rename(fs, &e, "Talos-v1.0.0-B.efi", &err);
	}
	memset(&err, 0, sizeof(err));
	im_fatfs_create(fs, "", "grubenv.new", data, 1024, &err);
	memset(&err, 0, sizeof(err));
	if (im_fatfs_lookup(fs, "grubenv.new", &e, &err) == 1) {
		memset(&err, 0, sizeof(err));
		im_fatfs_delete(fs, &e, &err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > PART_SIZE)
		return 0;
	/* the partition, then a guard partition of 0xAA bytes */
	int fd = fz_memfd(data, size, PART_SIZE);
	uint8_t *guard = malloc(GUARD_SIZE);
	if (!guard)
		abort();
	memset(guard, 0xAA, GUARD_SIZE);
	if (pwrite(fd, guard, GUARD_SIZE, PART_SIZE) != (ssize_t)GUARD_SIZE)
		abort();
	struct im_fatfs fs;
	struct im_error err = {0};
	if (im_fatfs_open(&fs, fd, "fuzz", 0, PART_SIZE, 1700000000, &err) == 0) {
		read_all(&fs, "");
		read_all(&fs, "EFI/Linux");
		read_all(&fs, "loader");
		edit(&fs);
		im_fatfs_close(&fs);
	}
	uint8_t *back = malloc(GUARD_SIZE);
	if (!back || pread(fd, back, GUARD_SIZE, PART_SIZE) != (ssize_t)GUARD_SIZE)
		abort();
	if (memcmp(back, guard, GUARD_SIZE))
		abort(); /* a write landed outside the partition */
	free(back);
	free(guard);
	close(fd);
	return 0;
}
