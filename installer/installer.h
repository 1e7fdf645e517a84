/* The installer program: one file per verb (DESIGN.md §7; lib/install*.c does the work). */
#ifndef INSTALLER_H
#define INSTALLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "imager/util/error.h"
#include "imager/install/install.h"

#ifdef __aarch64__
#define HOST_ARCH "arm64"
#else
#define HOST_ARCH "amd64"
#endif

int cmd_install(int argc, char **argv);
int cmd_upgrade(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_meta(int argc, char **argv);

/* Print "installer: <msg>" and return the exit code. */
int inst_report(struct im_error *err);

/* Flags of verbs that take only --disk PATH and --help: 0 = parsed (*disk may stay NULL),
 * 1 = --help was printed with `usage` (exit 0), -1 = a bad flag ("<verb>: unknown or
 * incomplete flag ..." in err). Operands are left at argv[optind]. */
int inst_parse_disk_flag(int argc, char **argv, const char *verb, void (*usage)(FILE *),
			 const char **disk, struct im_error *err);

/* Common start of a verb: $IMAGER_INSTALL_FAULT (test hook), SOURCE_DATE_EPOCH. */
int inst_setup(int64_t *epoch, struct im_error *err);

/* Open an installed disk read-write (or read-only). No --disk: the disk holding a
 * partition named META (sysfs PARTNAME), as on a running system. Read-write, its GPT is
 * checked first (im_install_read_gpt): entries outside the disk are refused, a corrupt
 * primary is repaired from the backup. */
int inst_open_disk(const char *path, int rdonly, int *fd, char **what, struct im_error *err);

/* A block device that is mounted (its own node or a partition, /proc/self/mountinfo) or
 * held open exclusively: IM_EXIT_INSTALL unless force. */
int inst_check_unused(const char *path, int force, struct im_error *err);

/* An assets folder laid out like the inputs folder (DESIGN §3): vmlinuz, initramfs.xz,
 * systemd-stub.efi, systemd-boot.efi, grub/; optional uki.efi (used as is), cmdline,
 * name, version, bootloader, meta (INSTALLER_META_BASE64 form), loader.conf.extra (one
 * line each but the last) and esp/ (files copied into the ESP as they are): the record an
 * installer bundle carries (imager/out_installer.c). */
struct inst_assets {
	char *dir, *kernel, *initramfs, *grub_dir, *sdboot, *sdstub;
	char *cmdline, *name, *version, *bootloader, *meta; /* from the folder's files, or NULL */
	char *loader_conf_extra;
	uint8_t *uki;
	size_t uki_len;
	struct im_install_file *esp; /* esp/ files (paths and host files malloc'd) */
	size_t n_esp;
};

/* The default folder for an arch: $IMAGER_INPUTS, the build tree's out/install/<arch>,
 * /usr/install/<arch> (installer bundle), $(PREFIX)/share/imager/install/<arch>. */
char *inst_default_assets(const char *arch);
int inst_assets_load(const char *dir, struct inst_assets *ia, struct im_error *err);
void inst_assets_free(struct inst_assets *ia);

/* An installer bundle unpacked into a staging folder (installer/bundle.c): `assets` is its
 * /usr/install/<arch>/. Errors name the bundle (lib/fs/oci_bundle.h); a bundle without
 * /usr/install/<arch>/vmlinuz is IM_EXIT_INVALID. */
struct inst_bundle {
	char *stage, *assets;
	int cleanup; /* cleanup.h handle of the staging folder */
};
int inst_bundle_open(const char *bundle, const char *arch, struct inst_bundle *b,
		     struct im_error *err);
void inst_bundle_close(struct inst_bundle *b);

/* "1246MiB", "2G", "4096": bytes (K/M/G/T, optional "iB"/"B": powers of 1024). */
int inst_parse_size(const char *s, const char *what, uint64_t *out, struct im_error *err);

/* The value of `key=` on the running kernel's command line (/proc/cmdline), or 0. */
char inst_booted_slot(void);

#endif
