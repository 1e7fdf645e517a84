/* GRUB BIOS boot on a GPT disk without grub-install / grub-bios-setup (DESIGN.md §7):
 * the prepared i386-pc boot.img goes into the MBR and core.img into the BIOS boot
 * partition, with the sector numbers patched in, the way grub-bios-setup does it for a
 * GPT disk with a BIOS boot partition ("embedding" into that partition).
 *
 * boot.img (GRUB grub-core/boot/i386/pc/boot.S, offsets from include/grub/i386/pc/boot.h):
 *   0x000-0x002  jmp over the BPB                 copied from boot.img
 *   0x003-0x059  BPB area                         kept from the disk's MBR
 *   0x05A-0x05B  kernel_address (0x8000)          copied
 *   0x05C-0x063  kernel_sector, LE64              = LBA of core.img's first sector
 *   0x064        boot_drive                       = 0xFF: use the drive the BIOS passed in DL
 *   0x066-0x067  boot drive check (a jmp)         = 90 90: NOPs, so a DL without bit 7 set
 *                                                   by a buggy BIOS is forced to 0x80
 *   0x1B8-0x1FD  disk signature + partition table kept from the disk's MBR (protective MBR)
 *   0x1FE-0x1FF  55 AA                            copied
 * core.img starts with diskboot.img, whose blocklist grows down from the end of its
 * sector (grub-core/boot/i386/pc/diskboot.S): at 0x1F4 LE64 start sector, at 0x1FC LE16
 * sector count, at 0x1FE LE16 load segment (0x0820); a zero count ends the list. One
 * entry covers the rest of core.img: start = core LBA + 1, count = core sectors - 1.
 *
 * 512-byte sectors only: boot.img and diskboot.img address the disk with INT 13h LBAs in
 * the disk's own sectors but copy exactly 512 bytes per sector read (diskboot.S shifts the
 * sector count by 9 - 4 bits to advance the load segment), so on a 4Kn disk core.img would
 * be loaded garbled. BIOSes that boot 4Kn disks are rare; such disks boot through UEFI. */
#ifndef IMAGER_BIOSBOOT_H
#define IMAGER_BIOSBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"
#include "imager/disk/gpt.h"

#define IM_GRUB_BOOT_IMG_SIZE 512
#define IM_GRUB_BPB_START     0x03
#define IM_GRUB_BPB_END	      0x5A /* exclusive */
#define IM_GRUB_KERNEL_SECTOR 0x5C
#define IM_GRUB_BOOT_DRIVE    0x64
#define IM_GRUB_DRIVE_CHECK   0x66
#define IM_GRUB_PART_START    0x1B8 /* "Windows NT magic": disk signature, then the table */
#define IM_GRUB_PART_END      0x1FE /* exclusive */
#define IM_GRUB_BLOCKLIST     0x1F4 /* first (highest) diskboot blocklist entry */
#define IM_GRUB_CORE_SEGMENT  0x0820

/* One diskboot.img blocklist entry (12 bytes, little-endian fields). */
struct im_grub_blocklist {
	uint64_t start;	  /* LBA */
	uint16_t len;	  /* sectors; 0 ends the list */
	uint16_t segment; /* real-mode load segment */
} __attribute__((packed));
_Static_assert(sizeof(struct im_grub_blocklist) == 12, "GRUB blocklist entry is 12 bytes");

/* Overlay boot.img on `mbr` (the disk's current LBA 0), keeping the BPB area and the
 * disk signature + partition table, and patch the core.img LBA in. A boot.img that is not
 * 512 bytes ending in 55 AA is IM_EXIT_INVALID. */
int im_biosboot_patch_mbr(uint8_t mbr[512], const uint8_t *boot_img, size_t boot_len,
			  uint64_t core_lba, struct im_error *err);

/* Patch core.img's diskboot blocklist (in place, `core` holds at least 512 bytes) for a
 * core.img of `sectors` 512-byte sectors stored from `core_lba`. A first sector without
 * the diskboot blocklist (segment 0x0820, terminating entry below) is IM_EXIT_INVALID. */
int im_biosboot_patch_core(uint8_t *core, size_t len, uint64_t core_lba, struct im_error *err);

/* Install: write core.img (zero-padded to whole sectors, patched) at byte
 * part_lba * sector_size of fd, then LBA 0 = the current LBA 0 patched with boot.img.
 * `what` names fd in messages. Refuses: sector_size other than 512 (IM_EXIT_UNSUPPORTED,
 * see above), a core.img larger than the partition or than the blocklist can address
 * (IM_EXIT_INVALID naming both sizes), bad images (IM_EXIT_INVALID). */
int im_biosboot_install(int fd, const char *what, uint32_t sector_size, uint64_t part_lba,
			uint64_t part_size, const uint8_t *boot_img, size_t boot_len,
			const uint8_t *core_img, size_t core_len, struct im_error *err);

/* The same for a disk just written by im_gpt_write (or read by im_gpt_read): uses its
 * BIOS boot partition (type IM_GPT_TYPE_BIOS; none is IM_EXIT_INVALID) and reads
 * `grub_dir`/boot.img and `grub_dir`/core.img (missing: IM_EXIT_MISSING naming them). */
int im_biosboot_install_gpt(int fd, const char *what, const struct im_gpt_disk *d,
			    const char *grub_dir, struct im_error *err);

#endif
