/* Output kind `image`: a disk image written by the installer's own code in image mode
 * (lib/install.c, as Talos's imager runs its installer against the output file), then
 * compressed per outFormat: <platform>-<arch>[-secureboot].raw[.xz|.zst|.gz].
 * Formats other than raw (qcow2, vhd, ova, .tar.gz) answer "not supported yet". */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/util/cleanup.h"
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

static int compression(const struct im_profile *p, enum im_compress *c, struct im_error *err)
{
	switch (p->output.out_format) {
	case IM_PROF_FMT_XZ:
		*c = IM_COMPRESS_XZ;
		return 0;
	case IM_PROF_FMT_ZST:
		*c = IM_COMPRESS_ZSTD;
		return 0;
	case IM_PROF_FMT_GZ:
		*c = IM_COMPRESS_GZIP;
		return 0;
	case IM_PROF_FMT_TAR_GZ:
		return im_fail(err, IM_EXIT_UNSUPPORTED, "outFormat .tar.gz: not supported yet");
	default:
		*c = IM_COMPRESS_NONE;
		return 0;
	}
}

/* Stream the raw image through the compressor into the final output. Holes read as
 * zeros; the compressed stream is small for them. */
static int compress_file(const char *raw, const char *dst, enum im_compress c, bool quiet,
			 struct im_error *err)
{
	struct im_outfile o;
	struct im_cstream *s = NULL;
	struct im_progress pr;
	struct stat st;
	char label[200];
	int in = open(raw, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		if (in >= 0)
			close(in);
		return im_fail_errno(err, IM_EXIT_IO, "%s", raw);
	}
	const char *base = strrchr(dst, '/');
	snprintf(label, sizeof(label), "compressing %s", base ? base + 1 : dst);
	im_progress_start(&pr, label, (uint64_t)st.st_size, quiet);
	if (im_outfile_open(&o, dst, err) < 0) {
		close(in);
		return -1;
	}
	int rc = im_cstream_open_image(&s, c, o.fd, err);
	static char buf[1 << 20];
	ssize_t n;
	while (rc == 0 && (n = read(in, buf, sizeof(buf))) > 0) {
		rc = im_cstream_write(s, buf, (size_t)n, err);
		im_progress_add(&pr, (uint64_t)n);
	}
	im_progress_end(&pr);
	if (rc == 0)
		rc = im_cstream_finish(s, err);
	else
		im_cstream_free(s);
	close(in);
	if (rc < 0) {
		im_outfile_abort(&o);
		return -1;
	}
	return im_outfile_commit(&o, err);
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

static int write_raw(struct im_plan *pl, int fd, const char *what, struct im_error *err)
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
		im_overlay_board(pl->overlay, &ov, &board);
		o.board = &board;
		if (rc == 0)
			rc = merge_files(&a, &ov, &files, err);
	}
	/* DESIGN §4: the profile's size plus the boot slots when GRUB has BOOT-A/B. */
	o.disk_size = p->output.image_options.disk_size;
	if (o.bootloader != IM_BOOT_SDBOOT)
		o.disk_size += 2 * IM_INSTALL_BOOT_SIZE;
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

int im_out_image(struct im_plan *pl, struct im_error *err)
{
	const struct im_profile *p = pl->p;
	enum im_compress c = IM_COMPRESS_NONE;
	if (p->output.image_options.disk_format != IM_PROF_DISK_RAW &&
	    p->output.image_options.disk_format != IM_PROF_DISK_UNSET)
		return im_fail(err, IM_EXIT_UNSUPPORTED, "diskFormat %s: not supported yet",
			       im_prof_disk_format_name(p->output.image_options.disk_format));
	if (compression(p, &c, err) < 0)
		return -1;
	char name[160];
	snprintf(name, sizeof(name), "%s-%s%s.raw%s", p->platform, pl->arch,
		 p->secureboot ? "-secureboot" : "", im_compress_suffix(c));
	char *dst = im_plan_output_path(pl, name), *raw = NULL;
	struct im_outfile o = {.fd = -1};
	int rc = -1, raw_cleanup = 0;
	if (!dst || asprintf(&raw, "%s/.disk.%d.raw", pl->out_dir, (int)getpid()) < 0) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	/* the raw image outlives its outfile while it is compressed */
	if (c != IM_COMPRESS_NONE)
		raw_cleanup = im_cleanup_add(raw, false);
	/* Uncompressed: build straight into the output's temporary file. */
	if (im_outfile_open(&o, c == IM_COMPRESS_NONE ? dst : raw, err) < 0)
		goto out;
	if (write_raw(pl, o.fd, name, err) < 0) {
		im_outfile_abort(&o);
		goto out;
	}
	if (im_outfile_commit(&o, err) < 0)
		goto out;
	rc = c == IM_COMPRESS_NONE ? 0 : compress_file(raw, dst, c, pl->quiet, err);
	if (rc == 0 && !pl->quiet)
		fprintf(stderr, "imager: wrote %s\n", dst);
out:
	if (raw && c != IM_COMPRESS_NONE) {
		unlink(raw);
		im_cleanup_forget(raw_cleanup);
	}
	free(raw);
	free(dst);
	return rc;
}
