/* GUID Partition Tables on plain image files and block devices (DESIGN.md §7), written and
 * read with libfdisk; no loop device, no external tool.
 *
 * GUIDs are never random (DESIGN.md §1 rule 2): they are derived from labels.
 *   uuid(label) = first 16 bytes of SHA-256(16 zero bytes ‖ label), then the RFC 9562 §5.8
 *                 version (byte 6 high nibble = 8) and variant (byte 8 top bits = 10) set.
 * This is RFC 9562's name-based UUIDv8 with SHA-256 (its Appendix B.2) in the nil
 * namespace. The 16 bytes are the UUID in RFC 9562 (big-endian field) order, the order of
 * its text form "xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx". On disk, GPT stores the first
 * three fields little-endian (UEFI 2.10 Appendix A "EFI GUID" / §5.3.3 DiskGUID); libfdisk
 * converts the text form to that mixed-endian layout, and im_guid_to_gpt() does the same.
 *
 *   disk GUID            = uuid(disk_label)             disk_label: "talos-image-disk"
 *   partition GUID       = uuid(disk_label "/" name)    e.g. uuid("talos-image-disk/EFI")
 *
 * so two disks with different disk labels never share partition GUIDs.
 *
 * Layout (UEFI 2.10 §5.3): protective MBR at LBA 0 (§5.2.3), primary header at LBA 1, the
 * entry array from LBA 2, partitions aligned to 1 MiB by default, backup entries and the
 * backup header at the end of the disk. Sizes and offsets in this API are in bytes. */
#ifndef IMAGER_GPT_H
#define IMAGER_GPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"

/* Partition type GUIDs (text form). */
#define IM_GPT_TYPE_ESP	  "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" /* EFI System Partition */
#define IM_GPT_TYPE_BIOS  "21686148-6449-6E6F-744E-656564454649" /* BIOS boot (GRUB core.img) */
#define IM_GPT_TYPE_LINUX "0FC63DAF-8483-4772-8E79-3D69D8477DE4" /* Linux filesystem data */

/* Partition attribute bits (UEFI 2.10 §5.3.3 Table 5.8). GRUB's boot.img does not need
 * bit 2 (it loads core.img by LBA); syslinux's gptmbr.bin does. */
#define IM_GPT_ATTR_REQUIRED	(1ULL << 0)
#define IM_GPT_ATTR_NO_BLOCK_IO (1ULL << 1)
#define IM_GPT_ATTR_LEGACY_BOOT (1ULL << 2)

#define IM_GPT_DISK_LABEL "talos-image-disk"
#define IM_GPT_ALIGN	  (1024 * 1024)
#define IM_GPT_ENTRIES	  128 /* the UEFI minimum array is 16 KiB = 128 entries */
#define IM_GPT_NAME_MAX	  36  /* UTF-16 code units of a partition name */
#define IM_GUID_STR_LEN	  36

/* ---- GUIDs ------------------------------------------------------------------------- */

/* RFC 9562 name-based UUIDv8: SHA-256(ns ‖ name)[0..15] with version 8 / variant 10. */
void im_uuid_v8_sha256(const uint8_t ns[16], const void *name, size_t len, uint8_t out[16]);
/* im_uuid_v8_sha256 in the nil namespace: the derivation of DESIGN.md §7. */
void im_guid_from_label(const char *label, uint8_t out[16]);
/* Text form, upper-case (as libfdisk and sfdisk print GUIDs); out holds 37 bytes. */
void im_guid_to_string(const uint8_t uuid[16], char out[IM_GUID_STR_LEN + 1]);
/* Parse 8-4-4-4-12 hex (either case); 0 or -1 when malformed. */
int im_guid_parse(const char *s, uint8_t out[16]);
/* RFC order <-> GPT on-disk order (byte-swap fields 1-3); its own inverse. */
void im_guid_to_gpt(const uint8_t in[16], uint8_t out[16]);
/* Text of uuid(label): 37 bytes. */
void im_guid_label_string(const char *label, char out[IM_GUID_STR_LEN + 1]);

/* ---- protective MBR (UEFI 2.10 §5.2.1 legacy MBR, §5.2.3 protective MBR) ------------- */

struct im_mbr_part {
	uint8_t boot; /* 0x80 = active; 0 in a protective MBR */
	uint8_t chs_start[3];
	uint8_t type; /* 0xEE = GPT protective */
	uint8_t chs_end[3];
	uint32_t lba_start; /* LE */
	uint32_t lba_count; /* LE */
} __attribute__((packed));
_Static_assert(sizeof(struct im_mbr_part) == 16, "MBR partition record is 16 bytes");

struct im_mbr {
	uint8_t boot_code[440];	    /* 0x000: boot code (GRUB boot.img's, for BIOS boot) */
	uint32_t disk_signature;    /* 0x1B8: unused (0) in a protective MBR */
	uint16_t reserved;	    /* 0x1BC */
	struct im_mbr_part part[4]; /* 0x1BE: [0] is the 0xEE record */
	uint16_t signature;	    /* 0x1FE: 0xAA55 (LE bytes 55 AA) */
} __attribute__((packed));
_Static_assert(sizeof(struct im_mbr) == 512, "MBR is 512 bytes");

/* ---- writing ----------------------------------------------------------------------- */

struct im_gpt_part {
	const char *name;     /* GPT name: 1..36 printable ASCII, unique (EFI, BIOS, BOOT-A...) */
	const char *type;     /* "esp", "bios", "linux" or a GUID "xxxxxxxx-xxxx-..." */
	uint64_t size_bytes;  /* multiple of the sector size; 0 = the rest of the disk (last
			       * partition only), rounded down to the alignment */
	uint64_t start_bytes; /* multiple of the sector size; 0 = the next aligned offset */
	uint64_t attrs;	      /* IM_GPT_ATTR_* and type-specific bits 48-63 */
	const char *guid;     /* NULL = uuid(disk_label "/" name) */
};

struct im_gpt_layout {
	uint64_t disk_size;	/* bytes, a multiple of sector_size; 0 = the current size of
				 * the file or device */
	uint32_t sector_size;	/* 512 (also when 0), 1024, 2048 or 4096 */
	unsigned max_entries;	/* GPT entry array length; 0 = 128. Fewer (e.g. 56 for boards
				 * whose boot blobs sit at 8 KiB) is allowed; entries * 128 must
				 * be a multiple of the sector size */
	uint64_t align;		/* bytes; 0 = 1 MiB; a multiple of the sector size */
	const char *disk_label; /* NULL = IM_GPT_DISK_LABEL */
	const char *disk_guid;	/* NULL = uuid(disk_label) */
	const struct im_gpt_part *parts;
	size_t n;
	bool keep_boot_code; /* keep LBA 0's bytes 0..439 (the BIOS boot code) as they are on
			      * the disk instead of zeroing them: an install over a BIOS-booted
			      * disk that rewrites the boot code later stays bootable meanwhile */
};

/* One partition as placed/read. Offsets in bytes. */
struct im_gpt_entry {
	unsigned partno;		    /* 1-based (GPT entry index + 1) */
	char name[IM_GPT_NAME_MAX * 3 + 1]; /* UTF-8 */
	char type[IM_GUID_STR_LEN + 1];	    /* upper-case GUID text */
	char guid[IM_GUID_STR_LEN + 1];	    /* upper-case GUID text */
	uint64_t start;
	uint64_t size;
	uint64_t attrs;
};

struct im_gpt_disk {
	uint32_t sector_size;
	uint64_t disk_size;		/* bytes */
	char guid[IM_GUID_STR_LEN + 1]; /* disk GUID, upper-case */
	unsigned max_entries;
	uint64_t first_usable, last_usable; /* LBAs from the header */
	size_t n;			    /* used entries, in partno order */
	struct im_gpt_entry *parts;
	bool primary_bad; /* read from the backup: the primary header or array is corrupt */
};

/* Place the partitions without touching any file: what im_gpt_write would create.
 * Refuses (IM_EXIT_INVALID, naming the partition and the numbers) bad names/types, sizes
 * that are not sector multiples, overlaps and partitions that do not fit the disk. */
int im_gpt_plan(const struct im_gpt_layout *l, struct im_gpt_disk *out, struct im_error *err);

/* The smallest disk size (bytes) on which the layout fits with its fixed-size partitions
 * (a "rest of disk" partition gets one alignment unit); 0 if the layout is invalid. */
uint64_t im_gpt_min_disk_size(const struct im_gpt_layout *l);

/* Write protective MBR + primary and backup GPT to fd (a regular file or a block device;
 * `what` names it in messages). A regular file shorter than disk_size is extended with
 * ftruncate (a hole, so it stays sparse); a longer one is refused. On a block device
 * disk_size must be 0 or the device size, and sector_size 0 or the device's logical
 * sector size; the kernel is asked to re-read the table (failure to do so is ignored).
 * Only the MBR sector, both headers and both entry arrays are written. `out` (may be
 * NULL) receives the result; free it with im_gpt_disk_free. */
int im_gpt_write(int fd, const char *what, const struct im_gpt_layout *l, struct im_gpt_disk *out,
		 struct im_error *err);

/* ---- reading ----------------------------------------------------------------------- */

/* Read the GPT of fd: a block device uses its logical sector size; for a regular file
 * the sector size is sector_size, or when 0 detected from where the "EFI PART" header
 * is (LBA 1 at 512, 1024, 2048 or 4096 bytes). No GPT is IM_EXIT_INVALID naming `what`. */
int im_gpt_read(int fd, const char *what, uint32_t sector_size, struct im_gpt_disk *out,
		struct im_error *err);
/* Every entry must lie inside the disk and the header's usable LBAs: one that does not is
 * IM_EXIT_INVALID naming the partition and the disk size, so nothing is ever written
 * through it. A corrupt primary with a valid backup reads (libfdisk takes the backup) with
 * primary_bad set: the caller says so and may repair it (im_gpt_repair_primary). */
/* Same on a path (opened read-only; missing is IM_EXIT_MISSING). */
int im_gpt_read_path(const char *path, uint32_t sector_size, struct im_gpt_disk *out,
		     struct im_error *err);

/* Whether the primary GPT (header at LBA 1 and its entry array) checks out (UEFI 2.10
 * §5.3.2: signature, sizes, header and array CRC32s). */
bool im_gpt_primary_ok(int fd, uint32_t sector_size);
/* Rewrite the primary GPT of the disk d was read from, from its (valid) backup at the last
 * LBA, in a power-safe order: the backup is never written; the entry array, then the
 * header, each synced. IM_EXIT_INVALID when the backup does not check out. */
int im_gpt_repair_primary(int fd, const char *what, const struct im_gpt_disk *d,
			  struct im_error *err);

/* Where the primary GPT header (LBA 1) says the backup header is (AlternateLBA), or 0 when
 * the primary does not check out. A disk image copied onto a larger disk leaves the backup
 * where the image ended, before the disk's last LBA. */
uint64_t im_gpt_backup_lba(int fd, uint32_t sector_size);

/* How im_gpt_relocate_backup writes (the installer passes its fault-injecting writer);
 * NULL: im_pwrite_all. */
typedef int (*im_gpt_pwrite_fn)(int fd, const void *buf, size_t len, uint64_t off, const char *what,
				struct im_error *err);

/* Move the backup GPT of the disk d was read from (valid primary, backup before the last
 * LBA) to the end of the disk and let the primary's LastUsableLBA grow with it, as
 * `sgdisk -e` does, in a power-safe order, each write synced: (1) the new backup array,
 * (2) the new backup header at the last LBA (the primary still names the old, intact
 * backup), (3) the primary header naming the new one, (4) the protective MBR's size,
 * (5) the old backup header zeroed. A cut anywhere leaves a primary whose backup checks
 * out. 0 when the backup is already at the end. */
int im_gpt_relocate_backup(int fd, const char *what, const struct im_gpt_disk *d,
			   im_gpt_pwrite_fn pwrite_fn, struct im_error *err);

/* The entry named `name` (exact match), or NULL. */
const struct im_gpt_entry *im_gpt_find(const struct im_gpt_disk *d, const char *name);
/* The first entry of type `type` (GUID text, any case), or NULL. */
const struct im_gpt_entry *im_gpt_find_type(const struct im_gpt_disk *d, const char *type);

void im_gpt_disk_free(struct im_gpt_disk *d);

#endif
