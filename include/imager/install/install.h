/* Installing the OS onto a disk (a block device or an image file) and keeping its A/B boot
 * slots: the code shared by the `installer` program and by the imager's `image` output,
 * which runs the same install in image mode against its output file (DESIGN.md §7).
 *
 * Disk layout (GPT, 1 MiB aligned, GUIDs from labels; gpt.h):
 *   EFI     ESP, FAT32, label "EFI": 100 MiB, or 3 x the slot UKI + 16 MiB when sd-boot
 *           carries UKIs (room for two slot UKIs while one is being replaced); 260 MiB on
 *           4096-byte sectors, the smallest FAT32 with 4 KiB clusters (FAT32 needs 65525
 *           clusters), the size Microsoft documents for 4Kn ESPs.
 *   BIOS    1 MiB, GRUB core.img (amd64, GRUB or dual-boot, 512-byte sectors only: BIOS
 *           boot code reads 512-byte sectors; biosboot.h)
 *   BOOT-A  1000 MiB FAT32 "BOOT-A": vmlinuz, initramfs.xz, boot.cfg, os-release (GRUB and
 *   BOOT-B  dual-boot only; the same size in image mode so that an image written to a disk
 *           is what `installer install` makes and later upgrades fit)
 *   META    1 MiB (meta.h)
 *   STATE   100 MiB, EPHEMERAL the rest: only when not in image mode
 *
 * Boot slots, GRUB (BIOS; and UEFI in `grub` mode): the ESP holds /grub/grub.cfg (written
 * once at install: grubcfg.h im_grubcfg_ab) and /grub/grubenv (saved_entry = committed slot,
 * next_entry = one-shot trial, cleared by grub.cfg before it boots the trial). A slot's own
 * command line lives in its BOOT-x partition (boot.cfg, sourced by the menu entry), so an
 * upgrade never rewrites grub.cfg.
 * systemd-boot (UEFI in `sd-boot` and `dual-boot`): EFI/Linux/<name>-<version>-<slot>.efi
 * per slot (its command line carries imager.slot=<slot>); a trial is written as
 * ...-<slot>+1.efi (UAPI Boot Loader Specification "Boot counting": systemd-boot renames it
 * to +0-1 before starting it, and sorts an entry with no tries left last). loader/loader.conf
 * has a fixed size (IM_LOADER_CONF_SIZE) and is edited in place: its `default` glob names
 * the trial (`<name>-*-<slot>+1.efi`, which stops matching once systemd-boot has counted
 * the try) or else the committed slot (`<name>-*-<slot>.efi`).
 * dual-boot keeps both states (BIOS boots GRUB, UEFI boots systemd-boot) and every operation
 * updates both; a trial one of the two paths has used up counts as used up.
 *
 * Modifying the ESP: it is never rebuilt after install. A small FAT16/32 editor
 * (im_fatfs_*, below) finds files, rewrites the fixed-size grubenv and loader.conf in place
 * (one sector changes), creates, renames and deletes UKIs. Write order is what makes a
 * power loss harmless: file data before FAT chains before directory entries when
 * creating; directory entries before FAT chains when deleting.
 *
 * Upgrade order (power loss at any point leaves the committed slot booting): disarm any
 * trial, write the inactive BOOT-x partition and/or UKI, set META tag 6 = the committed
 * (previous) slot, and arm the trial last (grubenv next_entry, loader.conf default).
 *
 * Slot records: GRUB slots by BOOT-x/os-release (NAME, VERSION_ID, IMAGER_SLOT) and
 * boot.cfg (the command line); sd-boot slots by the UKI's name and its .osrel/.cmdline. */
#ifndef IMAGER_INSTALL_H
#define IMAGER_INSTALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"
#include "imager/disk/meta.h"

#define IM_INSTALL_MIB	      (1024ull * 1024)
#define IM_INSTALL_ESP_SIZE   (100 * IM_INSTALL_MIB)
#define IM_INSTALL_ESP_4K     (260 * IM_INSTALL_MIB)
#define IM_INSTALL_BIOS_SIZE  (1 * IM_INSTALL_MIB)
#define IM_INSTALL_BOOT_SIZE  (1000 * IM_INSTALL_MIB)
#define IM_INSTALL_META_SIZE  (1 * IM_INSTALL_MIB)
#define IM_INSTALL_STATE_SIZE (100 * IM_INSTALL_MIB)
#define IM_LOADER_CONF_SIZE   512

/* Bit set: GRUB = 1, systemd-boot = 2, dual-boot = both. */
enum im_bootloader {
	IM_BOOT_GRUB = 1,
	IM_BOOT_SDBOOT = 2,
	IM_BOOT_DUAL = 3,
};

/* "grub", "sd-boot", "dual-boot"; anything else is IM_EXIT_INVALID listing the three. */
int im_bootloader_parse(const char *s, enum im_bootloader *out, struct im_error *err);
const char *im_bootloader_name(enum im_bootloader b);

/* An extra file for the ESP (e.g. loader/keys/auto/PK.auth for Secure Boot). */
struct im_install_file {
	const char *path;    /* in the ESP, e.g. "loader/keys/auto/db.auth" */
	const char *src;     /* host file, or NULL ... */
	const uint8_t *data; /* ... content in memory */
	size_t len;
};

struct im_install_assets {
	const char *arch;		/* "amd64" | "arm64" */
	const char *name, *version;	/* OS name and version: [A-Za-z0-9._+-], 1..63 chars */
	const char *kernel, *initramfs; /* host paths */
	const char *cmdline;		/* the slot's kernel command line; " imager.slot=X" is
					 * appended by the install code */
	const char *grub_dir;		/* boot.img, core.img, grubx64.efi/grubaa64.efi */
	const char *sdboot_efi;		/* systemd-boot (path) ... */
	const uint8_t *sdboot;		/* ... or in memory (e.g. signed); used when non-NULL */
	size_t sdboot_len;
	const char *sdstub_efi; /* systemd-stub: the slot UKI is built from it ... */
	const uint8_t *uki;	/* ... unless a ready UKI is given (used as is: Secure Boot) */
	size_t uki_len;
	const char *loader_conf_extra; /* extra loader.conf lines ("secure-boot-enroll force\n") */
	const struct im_install_file *esp_files; /* extra ESP files (install only) */
	size_t n_esp_files;
};

/* Raw data at a byte offset of the disk: a board's boot loader that its ROM reads by
 * offset (overlay.h). Never inside the partition table or a partition. */
struct im_install_blob {
	const char *what;    /* names it in messages (e.g. "input:u-boot/x/idbloader.img") */
	const char *src;     /* host file, or NULL ... */
	const uint8_t *data; /* ... content in memory */
	size_t len;
	uint64_t offset; /* bytes from the start of the disk */
};

/* Board constraints (overlays, DESIGN.md §6): a shorter GPT entry array, where the first
 * partition starts, a hybrid MBR (its first record is the EFI partition as FAT32-LBA,
 * the second the 0xEE record from LBA 1, for boot ROMs that read only an MBR), blobs. */
struct im_install_board {
	unsigned gpt_entries;	  /* 0 = 128 */
	uint64_t first_partition; /* bytes; 0 = 1 MiB */
	bool hybrid_mbr;
	const struct im_install_blob *blobs;
	size_t n_blobs;
};

typedef void (*im_install_warn_fn)(const char *msg, void *ctx);

struct im_install_opts {
	enum im_bootloader bootloader;
	uint32_t sector_size;	    /* 512 or 4096 (0 = 512, or the block device's) */
	uint64_t disk_size;	    /* bytes; 0 = the file/device size, or the layout minimum for
				     * an empty file */
	int image_mode;		    /* no STATE/EPHEMERAL */
	const struct im_meta *meta; /* META content (NULL = empty) */
	int64_t epoch;		    /* every timestamp (SOURCE_DATE_EPOCH) */
	const struct im_install_board *board; /* NULL = none */
	im_install_warn_fn warn;	      /* NULL = stderr "installer: warning: ..." */
	void *warn_ctx;
};

/* The smallest disk for these options and assets (bytes); 0 when invalid. */
/* The size of an image the imager builds: the profile's diskSize plus the two boot slots
 * BOOT-A/B when GRUB boots them (DESIGN §4; sd-boot keeps its slots in the ESP). */
uint64_t im_install_image_size(uint64_t disk_size, enum im_bootloader bl);
uint64_t im_install_min_size(const struct im_install_opts *o, const struct im_install_assets *a);

/* Write the whole layout onto fd (regular file: extended sparsely to disk_size; block
 * device: its size). Slot A gets the assets and is committed (grubenv saved_entry=A,
 * loader.conf default = slot A's UKI); slot B is empty. `what` names fd in messages.
 * Errors: bad options/assets IM_EXIT_INVALID/IM_EXIT_MISSING, a disk smaller than the
 * layout IM_EXIT_INVALID naming both sizes, I/O IM_EXIT_IO, the rest IM_EXIT_INSTALL. */
int im_install(int fd, const char *what, const struct im_install_opts *o,
	       const struct im_install_assets *a, struct im_error *err);

/* Write the assets into the slot that is not committed, then arm it as a one-shot trial and
 * set META tag 6 to the committed slot. a->grub_dir/sdboot are not used (the boot loaders
 * stay); a->arch NULL means the disk's (its removable-media loader's name). Any armed trial
 * is disarmed first. No committed slot is IM_EXIT_INSTALL; a disk without our layout is
 * IM_EXIT_INSTALL or IM_EXIT_INVALID. `epoch` stamps the new files. `slot_out` (may be
 * NULL) receives the slot written. */
int im_upgrade(int fd, const char *what, const struct im_install_assets *a, int64_t epoch,
	       char *slot_out, struct im_error *err);

/* Make `slot` ('A' or 'B': the slot the running system booted) the committed one: GRUB
 * saved_entry, the UKI without its counter, loader.conf default; clears META tag 6.
 * A slot without a payload is IM_EXIT_INSTALL. */
int im_commit(int fd, const char *what, char slot, int64_t epoch, struct im_error *err);

/* Arm the slot that is not committed as a one-shot trial (as an upgrade would, without
 * writing it) and set META tag 6 to the committed slot. IM_EXIT_INSTALL when it holds no
 * payload. `slot_out` (may be NULL) receives the armed slot. */
int im_rollback(int fd, const char *what, int64_t epoch, char *slot_out, struct im_error *err);

enum im_slot_state {
	IM_SLOT_EMPTY,	   /* no payload */
	IM_SLOT_COMMITTED, /* boots by default */
	IM_SLOT_TRIAL,	   /* armed: boots once next time */
	IM_SLOT_FAILED,	   /* a trial that was used up (booted, or crashed) without a commit */
	IM_SLOT_INACTIVE,  /* a previous payload, not armed */
};

struct im_slot_info {
	char slot; /* 'A' or 'B' */
	enum im_slot_state state;
	char name[64], version[64];
	char uki[256];	/* sd-boot: the UKI file name in EFI/Linux ("" when none) */
	int tries_left; /* sd-boot boot counter: -1 when none */
	char *cmdline;	/* malloc'd; NULL when unknown */
};

struct im_status {
	enum im_bootloader bootloader;
	uint32_t sector_size;
	char committed; /* 'A', 'B' or 0 */
	char trial;	/* armed trial slot, or 0 */
	char previous;	/* META tag 6 (upgrade in progress: the slot to fall back to), or 0 */
	struct im_slot_info slot[2];
};

/* Read the A/B state (nothing is written). Not our layout: IM_EXIT_INSTALL. */
int im_status(int fd, const char *what, struct im_status *out, struct im_error *err);
void im_status_free(struct im_status *st);
const char *im_slot_state_name(enum im_slot_state s);

/* The GPT of an installed disk, as every verb reads it (im_gpt_read: entries outside the
 * disk refused). A corrupt primary with a valid backup is said in one warning line
 * (im_warn) and, when `writable`, rewritten from the backup in a power-safe order before
 * the verb writes anything else. */
struct im_gpt_disk;
int im_install_read_gpt(int fd, const char *what, bool writable, struct im_gpt_disk *d,
			struct im_error *err);

/* META partition of an installed disk: read / replace it (both copies, copy 1 first). */
int im_install_meta_read(int fd, const char *what, struct im_meta *m, struct im_error *err);
int im_install_meta_write(int fd, const char *what, const struct im_meta *m, struct im_error *err);

/* ---- test hook ------------------------------------------------------------------------ */

/* Power-loss simulation: when > 0, the n-th write of the install code fails with
 * IM_EXIT_IO "simulated power loss" and nothing more is written. A write point is each
 * im_install_pwrite (META copies, FAT sectors and directory entries of an in-place edit,
 * file data, board blobs, the hybrid MBR) and each whole write done elsewhere, counted once
 * at its call site: a whole filesystem (im_fat_write), the GPT (im_gpt_write, the repair
 * of a corrupt primary), the BIOS boot code. With im_install_fault_torn, an
 * im_install_pwrite cut at point n first writes its whole 512-byte sectors up to its
 * middle (a torn write); a whole write cut is not started. Set from $IMAGER_INSTALL_FAULT
 * by the installer program. im_install_writes counts the write points passed so far. */
extern unsigned im_install_fault_at;
extern bool im_install_fault_torn;
extern unsigned im_install_writes;

/* ---- UKI ------------------------------------------------------------------------------ */

/* The value of KEY= in os-release text (quotes removed), malloc'd; NULL when absent. */
char *im_install_osrel_get(const char *osrel, const char *key);

/* A UKI's .osrel NAME/VERSION_ID and .cmdline (malloc'd, each may be NULL). */
int im_install_uki_info(const uint8_t *buf, size_t len, const char *what, char **name,
			char **version, char **cmdline, struct im_error *err);

/* ---- minimal FAT16/FAT32 editor (lib/install_fat.c) ------------------------------------ */

/* Microsoft "FAT32 File System Specification" (fatgen103): BPB, FAT entries, directory
 * entries, long names. FAT12 is refused. The first FAT is kept in memory (4 bytes per
 * cluster); changes are written to every FAT copy. */
struct im_fatfs {
	int fd;
	const char *what;
	uint64_t off;	       /* filesystem start in fd */
	uint64_t size;	       /* partition size: no read or write goes past off + size */
	int type;	       /* 16 or 32 */
	uint32_t ss;	       /* bytes per sector */
	uint32_t cb;	       /* bytes per cluster */
	uint32_t nfats, fatsz; /* FAT copies; sectors per FAT */
	uint64_t fat_off;      /* first FAT, bytes from off */
	uint64_t root_off;     /* FAT16 fixed root directory, bytes from off */
	uint32_t root_ents;
	uint32_t root_clus;  /* FAT32 root directory cluster */
	uint64_t data_off;   /* cluster 2, bytes from off */
	uint32_t nclus;	     /* data clusters: numbers 2 .. nclus + 1 */
	uint32_t fsinfo;     /* FAT32 FSInfo sector (0 = none) */
	uint32_t *fat;	     /* nclus + 2 entries */
	uint16_t date, time; /* timestamp of new entries */
};

struct im_fat_dirent {
	char name[256 * 3 + 1]; /* UTF-8: the long name, else the 8.3 name ("NAME.EXT") */
	uint8_t sfn[11];
	uint8_t attr;
	uint32_t first; /* first cluster */
	uint32_t size;
	uint32_t dir;	 /* cluster of the directory holding it (0: FAT16 root) */
	uint32_t slot;	 /* index of its first entry (long-name entries first) */
	uint32_t nslots; /* entries used, long-name entries included */
};

#define IM_FAT_ATTR_DIR 0x10

/* The filesystem at `off` of fd, in a partition of `size` bytes: a BPB claiming more is
 * IM_EXIT_INVALID, and every read and write is bounded by the partition. */
int im_fatfs_open(struct im_fatfs *fs, int fd, const char *what, uint64_t off, uint64_t size,
		  int64_t mtime, struct im_error *err);
void im_fatfs_close(struct im_fatfs *fs);
/* 1 found (e filled), 0 absent, -1 error. Names compare ASCII-case-insensitively. */
int im_fatfs_lookup(struct im_fatfs *fs, const char *path, struct im_fat_dirent *e,
		    struct im_error *err);
/* Entries of a directory ("" or "/" = root), without ".", ".." and the volume label. */
int im_fatfs_list(struct im_fatfs *fs, const char *dir, struct im_fat_dirent **out, size_t *n,
		  struct im_error *err);
/* A whole file (malloc'd, NUL after it). Larger than IM_FAT_READ_MAX or than the
 * filesystem, or a chain shorter than its size: IM_EXIT_INVALID. */
#define IM_FAT_READ_MAX (512u << 20)
int im_fatfs_read(struct im_fatfs *fs, const struct im_fat_dirent *e, uint8_t **buf, size_t *len,
		  struct im_error *err);
/* Replace the content of a file with as many bytes as it has, in place. */
int im_fatfs_overwrite(struct im_fatfs *fs, const struct im_fat_dirent *e, const void *buf,
		       size_t len, struct im_error *err);
/* Create `dir`/`name` (dir must exist; name must not) holding buf. */
int im_fatfs_create(struct im_fatfs *fs, const char *dir, const char *name, const void *buf,
		    size_t len, struct im_error *err);
int im_fatfs_delete(struct im_fatfs *fs, const struct im_fat_dirent *e, struct im_error *err);
int im_fatfs_rename(struct im_fatfs *fs, const struct im_fat_dirent *e, const char *name,
		    struct im_error *err);

/* ---- FAT editor internals, shared by lib/install_fat.c and lib/install_fatedit.c ---- */

/* A directory's entries in memory: the FAT16 root (first = 0) or a cluster chain. */
struct im_fat_dir {
	uint32_t first;
	uint8_t *b;	/* all 32-byte entries */
	size_t n;	/* entries */
	uint32_t *clus; /* its chain (NULL for the FAT16 root) */
	size_t nclus;
};

typedef int (*im_fat_dirent_fn)(struct im_fat_dirent *e, const uint8_t *raw, void *ctx);

int im_fat_dir_load(struct im_fatfs *fs, uint32_t first, struct im_fat_dir *d,
		    struct im_error *err);
int im_fat_dir_open(struct im_fatfs *fs, const char *path, struct im_fat_dir *d,
		    struct im_error *err);
void im_fat_dir_free(struct im_fat_dir *d);
/* fn for every named entry (not . .. or the label); stops at the first non-zero return. */
int im_fat_dir_scan(const struct im_fat_dir *d, im_fat_dirent_fn fn, void *ctx);
/* 1 and *out when a long or 8.3 name matches (ASCII case-insensitive), else 0. */
int im_fat_dir_find(const struct im_fat_dir *d, const char *name, struct im_fat_dirent *out);
/* Write entries [i, i+n) of d->b back (one write per cluster touched). */
int im_fat_dir_write(struct im_fatfs *fs, const struct im_fat_dir *d, size_t i, size_t n,
		     struct im_error *err);
uint32_t im_fat_get(const struct im_fatfs *fs, uint32_t c);
void im_fat_set(struct im_fatfs *fs, uint32_t c, uint32_t v);
uint64_t im_fat_clus_off(const struct im_fatfs *fs, uint32_t c);
int im_fat_chain(struct im_fatfs *fs, uint32_t first, uint32_t **out, size_t *n,
		 struct im_error *err);
/* Chain n free clusters in memory (first fit, else scattered), widening [*lo, *hi]. */
int im_fat_alloc(struct im_fatfs *fs, size_t n, uint32_t *first, uint32_t *lo, uint32_t *hi,
		 struct im_error *err);
/* Write FAT entries lo..hi to every FAT copy; recount FSInfo's free clusters. */
int im_fat_flush(struct im_fatfs *fs, uint32_t lo, uint32_t hi, struct im_error *err);
int im_fat_fsinfo(struct im_fatfs *fs, struct im_error *err);
/* buf (len bytes) over the chain from `first`, in runs of contiguous clusters. */
int im_fat_write_data(struct im_fatfs *fs, uint32_t first, const void *buf, size_t len,
		      struct im_error *err);
int im_fat_pwrite(struct im_fatfs *fs, const void *buf, size_t len, uint64_t off,
		  struct im_error *err);
int im_fat_to_utf16(const char *s, uint16_t out[256]);
uint8_t im_fat_lfn_checksum(const uint8_t sfn[11]);

/* ---- shared by lib/install*.c -------------------------------------------------------- */

struct im_gpt_entry;
struct im_gpt_disk;

/* Name/version/paths present and plain (IM_EXIT_INVALID otherwise). */
int im_install_check_assets(const struct im_install_assets *a, struct im_error *err);
/* "<name>-<version>-<slot>[+<tries>].efi" (no counter when tries <= 0); -1 if too long. */
int im_install_uki_name(const char *name, const char *version, char slot, int tries, char *out,
			size_t n);
/* cmdline + " imager.slot=<slot>" (malloc'd). */
char *im_install_slot_cmdline(const char *cmdline, char slot);
/* The slot's UKI built from a->sdstub_efi into an unnamed file in $TMPDIR (*fd, *len
 * bytes), so that it is copied from there and never held in memory whole; 1 with *fd = -1
 * when $TMPDIR cannot hold one. */
int im_install_slot_uki_file(const struct im_install_assets *a, char slot, int64_t epoch, int *fd,
			     size_t *len, struct im_error *err);
/* The slot's UKI: a copy of a->uki, or built from a->sdstub_efi (malloc'd). */
int im_install_slot_uki(const struct im_install_assets *a, char slot, int64_t epoch, uint8_t **uki,
			size_t *len, struct im_error *err);
/* Write the whole BOOT-<slot> filesystem (a = NULL: empty). One write point. */
int im_install_write_boot(int fd, const char *what, const struct im_gpt_entry *part, uint32_t ss,
			  const struct im_install_assets *a, char slot, int64_t epoch,
			  struct im_error *err);
/* loader.conf of IM_LOADER_CONF_SIZE bytes into out: header, body, "default" glob for the
 * slot (trial: its +1 name), '#' padding. */
int im_install_loader_conf(char *out, const char *name, char slot, int trial, const char *body,
			   struct im_error *err);
/* META image at off, in a partition of `size` bytes (smaller than the image:
 * IM_EXIT_INSTALL): copy 1, then copy 2 (two write points). */
int im_install_meta_put(int fd, const char *what, uint64_t off, uint64_t size,
			const struct im_meta *m, struct im_error *err);

/* Board constraints (lib/install_board.c): every blob clear of the partition tables, the
 * partitions and the other blobs, and inside the disk (IM_EXIT_INVALID naming both). */
int im_install_board_check(const struct im_install_board *b, const struct im_gpt_disk *d,
			   const char *what, struct im_error *err);
/* Write the hybrid MBR records and the blobs (after the GPT). */
int im_install_board_write(int fd, const char *what, const struct im_install_board *b,
			   const struct im_gpt_disk *d, struct im_error *err);

/* The counted write all install code uses (fault hook above). */
int im_install_pwrite(int fd, const void *buf, size_t len, uint64_t off, const char *what,
		      struct im_error *err);
/* Count one write point that is not an im_install_pwrite (e.g. a whole im_fat_write);
 * -1 with the simulated power loss when it is the failing one. */
int im_install_write_point(const char *what, struct im_error *err);

#endif
