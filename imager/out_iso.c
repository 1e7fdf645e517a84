/* Output kind `iso` (DESIGN §7 ISO): <platform>-<arch>[-secureboot].iso.
 *
 * GRUB ISO (amd64 default): ISO9660 holds /boot/vmlinuz, /boot/initramfs.xz, /grub/grub.cfg
 * and GRUB's El Torito image (BIOS); a small FAT image with GRUB EFI + /grub/grub.cfg is
 * the UEFI El Torito image and the appended EFI partition, so the same file boots as a CD
 * and as a disk, on BIOS and UEFI. arm64 is UEFI only.
 * systemd-boot ISO (sd-boot, and always with Secure Boot): the FAT image holds systemd-boot
 * as the removable-media loader, the UKI in EFI/Linux/ and loader/loader.conf; Secure Boot
 * signs both and adds loader/keys/auto/{PK,KEK,db}.auth for systemd-boot's enrollment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imager/util/epoch.h"
#include "imager/fs/fat.h"
#include "imager/install/grubcfg.h"
#include "imager/fs/iso.h"
#include "imager/util/outfile.h"
#include "iso_efi.h"
#include "uki.h"

struct iso_build {
	struct im_plan *pl;
	int64_t epoch;
	int sdboot;
	struct im_tree *iso, *efi;
	char *efi_img; /* temporary FAT image in the output folder */
	char *cfg;
};

static const char *efi_boot_name(const char *arch)
{
	return strcmp(arch, "arm64") ? "BOOTX64.EFI" : "BOOTAA64.EFI";
}

/* GRUB: kernel + initramfs on the ISO9660 side, GRUB EFI in the FAT image. */
/* The GRUB images from the inputs folder: El Torito (amd64 BIOS) on the ISO9660 side,
 * GRUB EFI as the removable-media loader in the FAT image. */
static int add_grub_images(struct iso_build *b, int amd64, struct im_error *err)
{
	char *eltorito = NULL, *grubefi = NULL, efi_path[64];
	snprintf(efi_path, sizeof(efi_path), "EFI/BOOT/%s", efi_boot_name(b->pl->arch));
	int rc = -1;
	if ((!amd64 ||
	     (im_plan_input(b->pl, NULL, "grub/eltorito.img", "GRUB El Torito image", &eltorito,
			    err) == 0 &&
	      im_tree_add_file_src(b->iso, "boot/grub/eltorito.img", eltorito, 0644, err) == 0)) &&
	    im_plan_input(b->pl, NULL, amd64 ? "grub/grubx64.efi" : "grub/grubaa64.efi",
			  "GRUB EFI image", &grubefi, err) == 0 &&
	    im_tree_add_file_src(b->efi, efi_path, grubefi, 0644, err) == 0)
		rc = 0;
	free(eltorito);
	free(grubefi);
	return rc;
}

static int grub_trees(struct iso_build *b, struct im_error *err)
{
	struct im_plan *pl = b->pl;
	int amd64 = !strcmp(pl->arch, "amd64");
	char title[256];
	snprintf(title, sizeof(title), "%s %s", pl->p->name, pl->p->version);
	struct im_grub_iso g = {title, "/boot/vmlinuz", "/boot/initramfs.xz", pl->cmdline, amd64};
	if (!(b->cfg = im_grubcfg_iso(&g)))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	size_t n = strlen(b->cfg);
	if (add_grub_images(b, amd64, err) < 0 ||
	    im_tree_add_file_src(b->iso, "boot/vmlinuz", pl->kernel, 0644, err) < 0 ||
	    im_tree_add_file_src(b->iso, "boot/initramfs.xz", pl->initramfs, 0644, err) < 0 ||
	    im_tree_add_file_mem(b->iso, "grub/grub.cfg", b->cfg, n, 0644, err) < 0 ||
	    im_tree_add_file_mem(b->efi, "grub/grub.cfg", b->cfg, n, 0644, err) < 0)
		return -1;
	return 0;
}

/* Write the FAT image just big enough for its content (it grows with the UKI), with a
 * little slack for firmware that writes to the ESP. */
static int write_efi_image(struct iso_build *b, struct im_error *err)
{
	struct im_fat_opts fo = {.sector_size = 512, .label = "EFIBOOT", .mtime = b->epoch};
	uint64_t min = im_fat_min_size(b->efi, &fo);
	if (min == 0)
		return im_fat_layout(&fo, b->efi, &(struct im_fat_info){0}, err) < 0
			   ? -1
			   : im_fail(err, IM_EXIT_INVALID, "EFI image: content cannot fit FAT");
	fo.size_bytes = (min + (1u << 20) + 0xfffff) & ~(uint64_t)0xfffff;
	if (asprintf(&b->efi_img, "%s/.efiboot.%d.img", b->pl->out_dir, (int)getpid()) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	struct im_outfile o;
	if (im_outfile_open(&o, b->efi_img, err) < 0)
		return -1;
	if (ftruncate(o.fd, (off_t)fo.size_bytes) < 0 ||
	    im_fat_write(o.fd, 0, &fo, b->efi, err) < 0) {
		im_fail_errno(err, IM_EXIT_IO, "%s: EFI image", b->efi_img);
		im_outfile_abort(&o);
		return -1;
	}
	return im_outfile_commit(&o, err);
}

static int iso_name(const struct im_plan *pl, char *out, size_t n)
{
	return snprintf(out, n, "%s-%s%s.iso", pl->p->platform, pl->arch,
			pl->p->secureboot ? "-secureboot" : "") >= (int)n;
}

static void build_free(struct iso_build *b)
{
	if (b->efi_img)
		unlink(b->efi_img);
	free(b->efi_img);
	free(b->cfg);
	im_tree_free(b->iso);
	im_tree_free(b->efi);
}

int im_out_iso(struct im_plan *pl, struct im_error *err)
{
	struct iso_build b = {.pl = pl};
	const struct im_profile *p = pl->p;
	b.sdboot = p->secureboot || p->output.iso_options.bootloader == IM_PROF_BOOT_SDBOOT;
	char name[128], volid[33];
	char *dst = NULL;
	int rc = -1;
	if (im_source_date_epoch(&b.epoch, err) < 0)
		goto out;
	b.iso = im_tree_new(b.epoch);
	b.efi = im_tree_new(b.epoch);
	iso_name(pl, name, sizeof(name));
	if (!b.iso || !b.efi || !(dst = im_plan_output_path(pl, name))) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	if ((b.sdboot ? im_iso_sdboot_trees(pl, b.iso, b.efi, err) : grub_trees(&b, err)) < 0 ||
	    write_efi_image(&b, err) < 0)
		goto out;
	im_iso_volume_id(p->name, p->version, volid);
	int bios = !b.sdboot && !strcmp(pl->arch, "amd64");
	char *mbr = NULL;
	if (bios &&
	    im_plan_input(pl, NULL, "grub/boot_hybrid.img", "GRUB hybrid MBR", &mbr, err) < 0) {
		free(mbr);
		goto out;
	}
	struct im_iso_opts io = {.volume_id = volid,
				 .epoch = b.epoch,
				 .bios_boot_image = bios ? "/boot/grub/eltorito.img" : NULL,
				 .bios_mbr = mbr,
				 .efi_image = b.efi_img};
	rc = im_iso_write(b.iso, dst, &io, err);
	free(mbr);
	if (rc == 0)
		im_plan_wrote(pl, dst);
out:
	free(dst);
	build_free(&b);
	return rc;
}
