/* Output kind `image`: a disk image written by the installer's own code in image mode
 * (lib/install/, as Talos's imager runs its installer against the output file), then
 * streamed as extents through the writer of its diskFormat and the compressor of its
 * outFormat (lib/disk/diskout.c): <platform>-<arch>[-secureboot].<raw|qcow2|vhd|ova>
 * [.xz|.zst|.gz], or GCP's <platform>-<arch>.raw.tar.gz holding disk.raw. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/disk/diskout.h"
#include "imager/disk/qcow2.h"
#include "imager/disk/vhd.h"
#include "imager/util/compress.h"
#include "imager/util/epoch.h"
#include "imager/install/install.h"
#include "imager/util/outfile.h"
#include "imager/util/progress.h"
#include "iso_efi.h"
#include "plan.h"
#include "uki.h"

static enum im_bootloader bootloader(const struct im_plan *pl)
{
	const struct im_profile *p = pl->p;
	if (pl->overlay) /* the board's choice (U-Boot's EFI runs GRUB or systemd-boot) */
		return pl->overlay->bootloader;
	switch (p->output.image_options.bootloader) {
	case IM_PROF_BOOT_GRUB:
		return IM_BOOT_GRUB;
	case IM_PROF_BOOT_SDBOOT:
		return IM_BOOT_SDBOOT;
	default:
		return IM_BOOT_DUAL;
	}
}

/* diskFormat and outFormat -> the disk writer and its compressor. outFormat .tar.gz is
 * GCP's form: a gzip'd tar holding disk.raw, so it takes a raw disk only. */
static int output_format(const struct im_profile *p, struct im_disk_output *d, struct im_error *err)
{
	const char *opts = p->output.image_options.disk_format_options;
	enum im_vhd_type vt;
	int rc = 0;
	switch (p->output.image_options.disk_format) {
	case IM_PROF_DISK_QCOW2:
		d->format = IM_DISK_QCOW2;
		rc = im_qcow2_parse_options(opts, &d->qcow2_cluster_bits, err);
		break;
	case IM_PROF_DISK_VHD:
		rc = im_vhd_parse_options(opts, &vt, err);
		d->format = vt == IM_VHD_FIXED ? IM_DISK_VHD : IM_DISK_VHD_DYNAMIC;
		break;
	case IM_PROF_DISK_VHD_DYNAMIC:
		d->format = IM_DISK_VHD_DYNAMIC;
		break;
	case IM_PROF_DISK_OVA:
		d->format = IM_DISK_OVA;
		break;
	default:
		d->format = IM_DISK_RAW;
	}
	switch (p->output.out_format) {
	case IM_PROF_FMT_XZ:
		d->compress = IM_COMPRESS_XZ;
		break;
	case IM_PROF_FMT_ZST:
		d->compress = IM_COMPRESS_ZSTD;
		break;
	case IM_PROF_FMT_GZ:
		d->compress = IM_COMPRESS_GZIP;
		break;
	case IM_PROF_FMT_TAR_GZ:
		if (rc == 0 && d->format != IM_DISK_RAW)
			return im_fail(
			    err, IM_EXIT_INVALID,
			    "%s: outFormat .tar.gz holds a raw disk (disk.raw), not "
			    "diskFormat %s",
			    p->origin,
			    im_prof_disk_format_name(p->output.image_options.disk_format));
		d->format = IM_DISK_GCP_TAR;
		d->compress = IM_COMPRESS_GZIP;
		break;
	default:
		d->compress = IM_COMPRESS_NONE;
	}
	return rc;
}

/* Secure Boot: the install code takes a ready, signed UKI (slot A's: its cmdline says
 * imager.slot=A), a signed systemd-boot, loader.conf's secure-boot-enroll and the
 * PK/KEK/db .auth files for systemd-boot's enrollment. */
struct sb_assets {
	uint8_t *uki, *sdboot;
	size_t uki_len, sdboot_len;
	char conf[96];
	struct im_tree *auth;
	struct im_install_file files[3];
};

static int sb_prepare(struct im_plan *pl, const char *sdboot, struct sb_assets *sb,
		      struct im_install_assets *a, struct im_error *err)
{
	struct im_plan slot = *pl;
	char *cmdline = NULL;
	if (asprintf(&cmdline, "%s imager.slot=A", pl->cmdline) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	slot.cmdline = cmdline;
	int rc = im_uki_build(&slot, &sb->uki, &sb->uki_len, err);
	free(cmdline);
	if (rc < 0 ||
	    im_sign_efi_file(pl, sdboot, "systemd-boot", &sb->sdboot, &sb->sdboot_len, err) < 0)
		return -1;
	if (!(sb->auth = im_tree_new(0)) || im_esp_add_auth(pl, sb->auth, err) < 0)
		return -1;
	static const char *const names[3] = {"PK", "KEK", "db"};
	for (int i = 0; i < 3; i++) {
		char path[64];
		snprintf(path, sizeof(path), "loader/keys/auto/%s.auth", names[i]);
		struct im_node *n = im_tree_lookup(sb->auth, path);
		if (!n)
			return im_fail(err, IM_EXIT_INTERNAL, "%s: not prepared", path);
		sb->files[i] = (struct im_install_file){n->path, n->src, n->data, n->size};
	}
	snprintf(sb->conf, sizeof(sb->conf), "secure-boot-enroll %s\n",
		 im_prof_enroll_name(pl->p->output.iso_options.sd_boot_enroll_keys));
	a->uki = sb->uki;
	a->uki_len = sb->uki_len;
	a->sdboot = sb->sdboot;
	a->sdboot_len = sb->sdboot_len;
	a->loader_conf_extra = sb->conf;
	a->esp_files = sb->files;
	a->n_esp_files = 3;
	return 0;
}

/* The ESP files of the overlay after those of Secure Boot (*out: the merged array). */
static int merge_files(struct im_install_assets *a, const struct im_overlay_assets *ov,
		       struct im_install_file **out, struct im_error *err)
{
	size_t n = a->n_esp_files + ov->n_files;
	if (!(*out = calloc(n ? n : 1, sizeof(**out))))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (a->n_esp_files)
		memcpy(*out, a->esp_files, a->n_esp_files * sizeof(**out));
	if (ov->n_files)
		memcpy(*out + a->n_esp_files, ov->files, ov->n_files * sizeof(**out));
	a->esp_files = *out;
	a->n_esp_files = n;
	return 0;
}

static int write_raw(struct im_plan *pl, int fd, uint64_t size, const char *what,
		     struct im_error *err)
{
	const struct im_profile *p = pl->p;
	int64_t epoch;
	struct sb_assets sb = {0};
	if (im_source_date_epoch(&epoch, err) < 0)
		return -1;
	/* Only what the bootloader uses has to be there. */
	enum im_bootloader bl = bootloader(pl);
	char *grub = NULL, *sdboot = NULL, *stub = NULL;
	int rc = 0;
	if ((bl != IM_BOOT_SDBOOT &&
	     im_plan_input(pl, p->input.grub.path, "grub", "GRUB images", &grub, err) < 0) ||
	    (bl != IM_BOOT_GRUB && (im_plan_input(pl, p->input.sd_boot.path, "systemd-boot.efi",
						  "systemd-boot", &sdboot, err) < 0 ||
				    im_plan_input(pl, p->input.sd_stub.path, "systemd-stub.efi",
						  "systemd-stub", &stub, err) < 0)))
		rc = -1;
	struct im_install_assets a = {
	    .arch = pl->arch,
	    .name = p->name,
	    .version = p->version,
	    .kernel = pl->kernel,
	    .initramfs = pl->initramfs,
	    .cmdline = pl->cmdline,
	    .grub_dir = grub,
	    .sdboot_efi = sdboot,
	    .sdstub_efi = stub,
	};
	struct im_install_opts o = {
	    .bootloader = bl,
	    .sector_size = p->output.image_options.sector_size,
	    .image_mode = 1,
	    .meta = &pl->meta,
	    .epoch = epoch,
	};
	struct im_overlay_assets ov = {0};
	struct im_install_board board;
	struct im_install_file *files = NULL;
	if (rc == 0 && p->secureboot && pl->overlay && bl != IM_BOOT_SDBOOT)
		rc = im_fail(err, IM_EXIT_INVALID,
			     "overlay %s boots with GRUB: Secure Boot images need sd-boot",
			     pl->overlay->name);
	if (rc == 0 && p->secureboot) /* Secure Boot means sd-boot (profile validation) */
		rc = sb_prepare(pl, sdboot, &sb, &a, err);
	if (rc == 0 && pl->overlay) {
		rc = im_overlay_resolve(pl->overlay, pl->inputs, &ov, err);
		for (size_t i = 0; rc == 0 && i < ov.n_files; i++)
			im_record_input(pl->rec, "overlay file", ov.files[i].src);
		for (size_t i = 0; rc == 0 && i < ov.n_blobs; i++)
			im_record_input(pl->rec, "overlay blob", ov.blobs[i].src);
		im_overlay_board(pl->overlay, &ov, &board);
		o.board = &board;
		if (rc == 0)
			rc = merge_files(&a, &ov, &files, err);
	}
	o.disk_size = size; /* im_install_image_size */
	if (rc == 0)
		rc = im_install(fd, what, &o, &a, err);
	im_overlay_assets_free(&ov);
	free(files);
	free(sb.uki);
	free(sb.sdboot);
	im_tree_free(sb.auth);
	free(grub);
	free(sdboot);
	free(stub);
	return rc;
}

/* The install code writes the raw disk; a raw uncompressed output is built straight into
 * the output's temporary file (nothing to convert), every other form is built into an
 * unnamed sparse file and leaves it through the writer of its format (diskout.h). */
int im_out_image(struct im_plan *pl, struct im_error *err)
{
	const struct im_profile *p = pl->p;
	struct im_disk_output d = {.arch = pl->arch, .tmp_dir = pl->out_dir, .quiet = pl->quiet};
	char base[160], name[200];
	if (output_format(p, &d, err) < 0 || im_source_date_epoch(&d.epoch, err) < 0)
		return -1;
	snprintf(base, sizeof(base), "%s-%s%s", p->platform, pl->arch,
		 p->secureboot ? "-secureboot" : "");
	snprintf(name, sizeof(name), "%s%s%s", base, im_disk_format_ext(d.format),
		 im_compress_suffix(d.compress));
	d.base = base;
	uint64_t size = im_install_image_size(p->output.image_options.disk_size, bootloader(pl));
	if (im_disk_output_check(&d, size, name, err) < 0)
		return -1;
	char *dst = im_plan_output_path(pl, name);
	struct im_outfile o;
	if (!dst)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	/* The output's temporary file exists from the start (an interrupted build is cleaned
	 * up by the outfile registry); the raw disk of a converted output has no name at all. */
	int rc = im_outfile_open(&o, dst, err), opened = rc == 0;
	if (rc == 0 && d.format == IM_DISK_RAW && d.compress == IM_COMPRESS_NONE) {
		rc = write_raw(pl, o.fd, size, name, err);
	} else if (rc == 0) {
		int fd = im_disk_tmpfile(pl->out_dir, err);
		rc = fd < 0 ? -1 : write_raw(pl, fd, size, name, err);
		if (rc == 0)
			rc = im_disk_output_write(&d, fd, o.fd, name, err);
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0)
		rc = im_outfile_commit(&o, err);
	else if (opened)
		im_outfile_abort(&o);
	if (rc == 0)
		im_plan_wrote(pl, dst);
	free(dst);
	return rc;
}
