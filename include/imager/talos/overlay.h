/* Board overlays (DESIGN.md §6): declarative board support, so that images for arm64
 * single-board computers are built on any host. An overlay is data only: nothing in it is
 * ever executed. It is a folder or a tarball (any tree input, content.h) holding
 * overlay.yaml and the files that file names it:
 *
 *   name: rock64                    [a-z0-9_-], 1..63; must equal --overlay-name if given
 *   arch: arm64                     the only arch it builds for
 *   description: ...                optional
 *   bootloader: grub                grub (U-Boot -> EFI -> GRUB, slots BOOT-A/B, grubenv
 *                                   rollback without EFI variables) | sd-boot; default grub
 *   kernelArgs: [console=ttyS2,1500000]     appended to the command line (DESIGN §4)
 *   partitionTable:
 *     type: gpt                     gpt | hybrid (GPT + an MBR whose first record is the
 *                                   EFI partition as FAT32-LBA, for boot ROMs that read only
 *                                   an MBR, e.g. the Raspberry Pi's); default gpt
 *     entries: 56                   GPT entry array length (default 128); fewer entries keep
 *                                   the table clear of blobs at low offsets
 *     firstPartition: 16MiB         where the first partition starts (default 1 MiB)
 *   options:                        what --overlay-option K=V may set; any other key is an
 *     - name: firmware              error. Types: text (any string; K=@file reads a file),
 *       type: path                  int (decimal), bool (true/false), path (a host file or
 *       required: true              folder). `default` is a string; a default (not a value
 *       description: ...            the user gives) may use {{other}} of other options.
 *   files:                          copied into the EFI partition (FAT) at install
 *     - from: input:u-boot/rpi_arm64/u-boot.bin    input:P  = <inputs folder>/P (payload)
 *       to: u-boot.bin                             overlay:P = P inside the overlay
 *     - from: option:firmware                      option:N  = the path option N
 *       to: /                       a folder source is copied with its content under `to`
 *   dtbs:                           device trees from <inputs>/dtb, into the EFI partition
 *     to: dtb/rockchip              folder (default "dtb"); files keep their base name
 *     files: [rockchip/rk3328-rock64.dtb]     globs (fnmatch) on the file name
 *   templates:                      files rendered with the options: {{name}} is replaced
 *     - template: config.txt.in     by the option's value (a template in the overlay)
 *       to: config.txt
 *   blobs:                          raw data at byte offsets of the disk (boot loaders the
 *     - from: input:u-boot/rock64-rk3328/idbloader.img      SoC's ROM reads by offset)
 *       offset: 32KiB               sizes/offsets as in profiles: 512, 32KiB, 8MiB
 *
 * Errors name the overlay (its path) and the field: IM_EXIT_INVALID for a malformed
 * overlay or option, IM_EXIT_MISSING for a missing input or option. */
#ifndef IMAGER_OVERLAY_H
#define IMAGER_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imager/fs/content.h"
#include "imager/util/error.h"
#include "imager/install/install.h"

enum im_ovl_type { IM_OVL_TEXT, IM_OVL_INT, IM_OVL_BOOL, IM_OVL_PATH };
enum im_ovl_table { IM_OVL_GPT, IM_OVL_HYBRID };

struct im_ovl_option {
	char *name, *description, *def; /* def: NULL = no default */
	enum im_ovl_type type;
	bool required;
	char *value; /* set by the user (NULL = not given) */
	bool from_user;
};

struct im_ovl_copy {
	char *from, *to; /* from: "input:P", "overlay:P" or "option:N" */
};

struct im_ovl_blob {
	char *from;
	uint64_t offset;
};

struct im_overlay {
	char *path; /* as given: names the overlay in messages */
	char *name, *arch, *description;
	enum im_bootloader bootloader;
	enum im_ovl_table table;
	unsigned gpt_entries;	  /* 0 = 128 */
	uint64_t first_partition; /* 0 = 1 MiB */
	char **kernel_args;
	size_t n_kernel_args;
	struct im_ovl_option *opts;
	size_t n_opts;
	struct im_ovl_copy *files, *templates; /* templates: from = template, to = dest */
	size_t n_files, n_templates;
	char *dtb_to;
	char **dtbs;
	size_t n_dtbs;
	struct im_ovl_blob *blobs;
	size_t n_blobs;
	struct im_tree *tree;
	struct im_stage stage;
};

/* Load `path` (a folder or tarball with overlay.yaml, or a folder whose `name`/overlay.yaml
 * is the overlay when name is not NULL). name, when given, must equal the overlay's. */
int im_overlay_load(const char *path, const char *name, struct im_overlay **out,
		    struct im_error *err);
void im_overlay_free(struct im_overlay *o);

/* --overlay-option KEY=VALUE: the key must be declared, the value of its type. A text
 * value "@FILE" is the content of FILE. */
int im_overlay_set_option(struct im_overlay *o, const char *key, const char *value,
			  struct im_error *err);

/* The declared option `name`, or NULL. */
struct im_ovl_option *im_overlay_find_option(const struct im_overlay *o, const char *name);

/* Ready to build for `arch`: the overlay's arch, every required option given. */
int im_overlay_check(const struct im_overlay *o, const char *arch, struct im_error *err);

/* The value of option `name` with defaults applied and templates in defaults rendered
 * (malloc'd); NULL with err set when the option is unknown. */
char *im_overlay_option(const struct im_overlay *o, const char *name, struct im_error *err);

/* Render template text: {{name}} -> im_overlay_option(name). malloc'd, NULL on error. */
char *im_overlay_render(const struct im_overlay *o, const char *text, const char *what,
			struct im_error *err);

/* What the overlay adds to an install, resolved against the inputs folder. */
struct im_overlay_assets {
	struct im_install_file *files; /* for the EFI partition (im_install_assets.esp_files) */
	size_t n_files;
	struct im_install_blob *blobs; /* for im_install_board */
	size_t n_blobs;
	char **strings; /* owned memory behind files/blobs */
	size_t n_strings;
};

int im_overlay_resolve(const struct im_overlay *o, const char *inputs,
		       struct im_overlay_assets *out, struct im_error *err);
void im_overlay_assets_free(struct im_overlay_assets *a);

/* The board part of the install options (blobs from `a`). */
void im_overlay_board(const struct im_overlay *o, const struct im_overlay_assets *a,
		      struct im_install_board *b);

#endif
