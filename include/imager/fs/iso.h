/* ISO 9660 images (Rock Ridge + Joliet), bootable by El Torito on BIOS and UEFI and, being
 * hybrid, also as a hard disk (USB stick, VM disk), written in-process with libxorriso.
 *
 * Layouts (see lib/iso.c for the xorriso commands and why):
 *   no boot image          plain ISO 9660, empty system area
 *   BIOS only              El Torito no-emulation GRUB image; with bios_mbr an MBR (GRUB's
 *                          boot_hybrid.img) with one bootable partition over the ISO
 *   EFI (with/without BIOS) El Torito EFI entry = the FAT image appended after the ISO; GPT
 *                          (partition 1 "ISO9660" mountable, partition 2 EFI System) behind a
 *                          protective MBR that carries GRUB's boot code when bios_mbr is given
 *
 * Every date in the image is `epoch` (volume descriptors, files, boot catalog), owners are
 * 0:0, modes come from the tree, file data is laid out in tree order and the GPT GUIDs derive
 * from the epoch: same tree + same options => byte-identical image.
 *
 * libisoburn keeps process-global state: do not call im_iso_write from two threads at once. */
#ifndef IMAGER_ISO_H
#define IMAGER_ISO_H

#include <stdint.h>

#include "imager/util/error.h"
#include "imager/fs/fstree.h"

struct im_iso_opts {
	const char *volume_id;	     /* [A-Z0-9_]{1,32} (see im_iso_volume_id); NULL: "ISOIMAGE" */
	int64_t epoch;		     /* SOURCE_DATE_EPOCH: every date in the image */
	const char *bios_boot_image; /* path INSIDE the tree of GRUB's i386-pc-eltorito image
				      * (leading '/' optional), or NULL: no BIOS boot */
	const char *bios_mbr;	     /* host path of GRUB's boot_hybrid.img (hybrid MBR), or NULL;
				      * needs bios_boot_image */
	const char *efi_image;	     /* host path of a FAT image holding EFI/BOOT/BOOT*.EFI: the
				      * UEFI El Torito image and the appended EFI System partition,
				      * or NULL: no UEFI boot */
};

/* Write the tree as an ISO image to out_path (temporary name + rename; nothing is left
 * behind on failure). Errors: a tree node that an ISO cannot hold (device node) is
 * IM_EXIT_UNSUPPORTED; a bad volume id, epoch or option combination IM_EXIT_INVALID; a
 * missing boot image (in the tree or on the host) or file source IM_EXIT_MISSING naming it;
 * a libxorriso failure IM_EXIT_IO with xorriso's message. */
int im_iso_write(struct im_tree *t, const char *out_path, const struct im_iso_opts *o,
		 struct im_error *err);

/* Volume id from OS name and version: ASCII letters upper-cased, digits kept, every run of
 * other characters becomes one '_', no leading/trailing '_', at most 32 characters
 * ("Talos", "v1.0.0" -> "TALOS_V1_0_0"). Either argument may be NULL. Returns the length,
 * or -1 (out = "") when nothing usable remains. */
int im_iso_volume_id(const char *name, const char *version, char out[33]);

#endif
