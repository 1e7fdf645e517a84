/* GRUB i386-pc boot.img + core.img on a GPT disk, patched in-process; see biosboot.h. */
#include "imager/disk/biosboot.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imager/util/outfile.h"
#include "imager/util/readfile.h"

#define SECTOR 512 /* GRUB_DISK_SECTOR_SIZE: the only sector size the i386-pc images load */

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static uint16_t get_le16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

int im_biosboot_patch_mbr(uint8_t mbr[512], const uint8_t *boot_img, size_t boot_len,
			  uint64_t core_lba, struct im_error *err)
{
	if (boot_len != IM_GRUB_BOOT_IMG_SIZE || boot_img[510] != 0x55 || boot_img[511] != 0xAA)
		return im_fail(err, IM_EXIT_INVALID,
			       "boot.img: expected a %d-byte GRUB i386-pc boot.img ending in 55 AA "
			       "(got %zu bytes)",
			       IM_GRUB_BOOT_IMG_SIZE, boot_len);
	uint8_t out[512];
	memcpy(out, boot_img, sizeof(out));
	/* what grub-bios-setup keeps from the disk: BPB, disk signature + partition table */
	memcpy(out + IM_GRUB_BPB_START, mbr + IM_GRUB_BPB_START,
	       IM_GRUB_BPB_END - IM_GRUB_BPB_START);
	memcpy(out + IM_GRUB_PART_START, mbr + IM_GRUB_PART_START,
	       IM_GRUB_PART_END - IM_GRUB_PART_START);
	put_le64(out + IM_GRUB_KERNEL_SECTOR, core_lba);
	out[IM_GRUB_BOOT_DRIVE] = 0xFF;
	out[IM_GRUB_DRIVE_CHECK] = 0x90;
	out[IM_GRUB_DRIVE_CHECK + 1] = 0x90;
	memcpy(mbr, out, sizeof(out));
	return 0;
}

int im_biosboot_patch_core(uint8_t *core, size_t len, uint64_t core_lba, struct im_error *err)
{
	const size_t bl = sizeof(struct im_grub_blocklist);
	if (len < SECTOR || get_le16(core + IM_GRUB_BLOCKLIST + 10) != IM_GRUB_CORE_SEGMENT ||
	    get_le16(core + IM_GRUB_BLOCKLIST - bl + 8) != 0)
		return im_fail(err, IM_EXIT_INVALID,
			       "core.img: not a GRUB i386-pc core.img: expected diskboot.img's "
			       "blocklist (load segment 0x%04x at byte 0x%x, list end below)",
			       IM_GRUB_CORE_SEGMENT, IM_GRUB_BLOCKLIST + 10);
	uint64_t sectors = (len + SECTOR - 1) / SECTOR;
	if (sectors - 1 > UINT16_MAX)
		return im_fail(err, IM_EXIT_INVALID,
			       "core.img: %zu bytes is too large: its blocklist can address at "
			       "most %d sectors",
			       len, UINT16_MAX + 1);
	put_le64(core + IM_GRUB_BLOCKLIST, core_lba + 1);
	put_le16(core + IM_GRUB_BLOCKLIST + 8, (uint16_t)(sectors - 1));
	return 0;
}

static int read_mbr(int fd, const char *what, uint8_t mbr[512], struct im_error *err)
{
	ssize_t n;
	do
		n = pread(fd, mbr, 512, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s: cannot read the MBR", what);
	if (n != 512)
		return im_fail(err, IM_EXIT_INVALID, "%s: shorter than one sector", what);
	return 0;
}

static int check_args(const char *what, uint32_t sector_size, uint64_t part_lba, uint64_t part_size,
		      size_t core_len, struct im_error *err)
{
	if (sector_size != SECTOR)
		return im_fail(err, IM_EXIT_UNSUPPORTED,
			       "%s: GRUB BIOS boot needs 512-byte sectors, the disk has %" PRIu32
			       "-byte sectors (boot it with UEFI)",
			       what, sector_size);
	if (part_lba == 0)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: the BIOS boot partition cannot start at LBA 0", what);
	uint64_t padded = (core_len + SECTOR - 1) / SECTOR * SECTOR;
	if (padded > part_size)
		return im_fail(err, IM_EXIT_INVALID,
			       "core.img (%zu bytes, %" PRIu64 " with padding) does not fit the "
			       "%" PRIu64 "-byte BIOS boot partition of %s",
			       core_len, padded, part_size, what);
	return 0;
}

int im_biosboot_install(int fd, const char *what, uint32_t sector_size, uint64_t part_lba,
			uint64_t part_size, const uint8_t *boot_img, size_t boot_len,
			const uint8_t *core_img, size_t core_len, struct im_error *err)
{
	uint8_t mbr[512];
	if (check_args(what, sector_size, part_lba, part_size, core_len, err) ||
	    read_mbr(fd, what, mbr, err) ||
	    im_biosboot_patch_mbr(mbr, boot_img, boot_len, part_lba, err))
		return -1;
	size_t padded = (core_len + SECTOR - 1) / SECTOR * SECTOR;
	uint8_t *core = calloc(1, padded ? padded : 1);
	if (!core)
		return im_fail(err, IM_EXIT_INTERNAL, "core.img: out of memory");
	memcpy(core, core_img, core_len);
	/* core.img first, the MBR that points at it last */
	int rc = im_biosboot_patch_core(core, core_len, part_lba, err);
	if (!rc)
		rc = im_pwrite_all(fd, core, padded, (long long)(part_lba * SECTOR), what, err);
	if (!rc)
		rc = im_pwrite_all(fd, mbr, sizeof(mbr), 0, what, err);
	free(core);
	return rc;
}

int im_biosboot_install_gpt(int fd, const char *what, const struct im_gpt_disk *d,
			    const char *grub_dir, struct im_error *err)
{
	const struct im_gpt_entry *e = im_gpt_find_type(d, IM_GPT_TYPE_BIOS);
	if (!e)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: no BIOS boot partition (type %s) for GRUB's core.img", what,
			       IM_GPT_TYPE_BIOS);
	if (d->sector_size != SECTOR)
		return check_args(what, d->sector_size, 1, 0, 0, err);
	char bpath[4096], cpath[4096];
	snprintf(bpath, sizeof(bpath), "%s/boot.img", grub_dir);
	snprintf(cpath, sizeof(cpath), "%s/core.img", grub_dir);
	uint8_t *boot = NULL, *core = NULL;
	size_t blen = 0, clen = 0;
	int rc = im_read_file(bpath, "GRUB boot.img", &boot, &blen, err);
	if (!rc)
		rc = im_read_file(cpath, "GRUB core.img", &core, &clen, err);
	if (!rc)
		rc = im_biosboot_install(fd, what, d->sector_size, e->start / SECTOR, e->size, boot,
					 blen, core, clen, err);
	free(boot);
	free(core);
	return rc;
}
