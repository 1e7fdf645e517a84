/* Output kinds `installer` and `secureboot-installer`: installer-<arch>[-secureboot].tar, an
 * OCI image layout archive (DESIGN.md §7 "Installer bundle"; lib/fs/oci_write.c), in two
 * layers:
 *   1. the target-arch installer root: /usr/bin/installer with exactly its loader and
 *      shared libraries (<inputs>/installer-root, which pkgs/payload.sh stages; or the
 *      base installer's), so `installer` runs in an otherwise empty root;
 *   2. /usr/install/<arch>/: vmlinuz, initramfs.xz (extensions appended), systemd-stub.efi,
 *      systemd-boot.efi (signed for Secure Boot), grub/, and the record `installer install`
 *      applies (installer/common.c inst_assets): cmdline, name, version, bootloader, meta
 *      (INSTALLER_META_BASE64 form); the UKI: vmlinuz.efi, or for Secure Boot signed as
 *      uki.efi (slot A's command line; with .pcrsig; the installer uses it as is), the
 *      esp/loader/keys/auto/ .auth files and loader.conf.extra.
 * Nothing of the target arch runs: the layers are files. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/fs/oci_write.h"
#include "imager/util/epoch.h"
#include "imager/util/outfile.h"
#include "iso_efi.h"
#include "plan.h"
#include "uki.h"

struct layer2 {
	struct im_plan *pl;
	struct im_tree *t;
	char base[64]; /* "usr/install/<arch>" */
	uint8_t *uki, *sdboot;
	size_t uki_len, sdboot_len;
	struct im_tree *auth;
};

static int add_src(struct layer2 *l, const char *name, const char *src, struct im_error *err)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s", l->base, name);
	return im_tree_add_file_src(l->t, path, src, 0644, err);
}

static int add_mem(struct layer2 *l, const char *name, const void *data, size_t len,
		   struct im_error *err)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s", l->base, name);
	return im_tree_add_file_mem(l->t, path, data, len, 0644, err);
}

static int add_line(struct layer2 *l, const char *name, const char *value, struct im_error *err)
{
	char *s = NULL;
	if (asprintf(&s, "%s\n", value) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int rc = add_mem(l, name, s, strlen(s), err);
	free(s);
	return rc;
}

/* The prepared GRUB images (a flat folder). */
static int add_grub(struct layer2 *l, struct im_error *err)
{
	char *dir = NULL, *src = NULL, name[300];
	if (im_plan_input(l->pl, l->pl->p->input.grub.path, "grub", "GRUB images", &dir, err) < 0) {
		free(dir);
		return -1;
	}
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = d ? 0 : im_fail_errno(err, IM_EXIT_MISSING, "%s (GRUB images)", dir);
	while (rc == 0 && (e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.' || asprintf(&src, "%s/%s", dir, e->d_name) < 0)
			continue;
		if (stat(src, &st) == 0 && S_ISREG(st.st_mode)) {
			snprintf(name, sizeof(name), "grub/%s", e->d_name);
			rc = add_src(l, name, src, err);
		}
		free(src);
	}
	if (d)
		closedir(d);
	free(dir);
	return rc;
}

static const char *bootloader_name(const struct im_plan *pl)
{
	if (pl->p->secureboot)
		return "sd-boot";
	switch (pl->p->output.image_options.bootloader) {
	case IM_PROF_BOOT_GRUB:
		return "grub";
	case IM_PROF_BOOT_SDBOOT:
		return "sd-boot";
	case IM_PROF_BOOT_DUAL:
		return "dual-boot";
	default: /* the installer's default for the arch */
		return strcmp(pl->arch, "arm64") ? "dual-boot" : "sd-boot";
	}
}

/* Secure Boot: the signed UKI for slot A, signed systemd-boot, the enrollment files. */
static int add_secureboot(struct layer2 *l, const char *sdboot, struct im_error *err)
{
	struct im_plan slot = *l->pl;
	char *cmdline = NULL, conf[96];
	if (asprintf(&cmdline, "%s imager.slot=A", l->pl->cmdline) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	slot.cmdline = cmdline;
	int rc = im_uki_build(&slot, &l->uki, &l->uki_len, err);
	free(cmdline);
	if (rc < 0 ||
	    im_sign_efi_file(l->pl, sdboot, "systemd-boot", &l->sdboot, &l->sdboot_len, err) < 0 ||
	    add_mem(l, "uki.efi", l->uki, l->uki_len, err) < 0 ||
	    add_mem(l, "systemd-boot.efi", l->sdboot, l->sdboot_len, err) < 0)
		return -1;
	if (!(l->auth = im_tree_new(0)) || im_esp_add_auth(l->pl, l->auth, err) < 0)
		return -1;
	static const char *const names[3] = {"PK", "KEK", "db"};
	for (int i = 0; i < 3; i++) {
		char path[64], name[80];
		snprintf(path, sizeof(path), "loader/keys/auto/%s.auth", names[i]);
		struct im_node *n = im_tree_lookup(l->auth, path);
		if (!n)
			return im_fail(err, IM_EXIT_INTERNAL, "%s: not prepared", path);
		snprintf(name, sizeof(name), "esp/%s", path);
		if (n->src ? add_src(l, name, n->src, err)
			   : add_mem(l, name, n->data, n->size, err))
			return -1;
	}
	snprintf(conf, sizeof(conf), "secure-boot-enroll %s\n",
		 im_prof_enroll_name(l->pl->p->output.iso_options.sd_boot_enroll_keys));
	return add_mem(l, "loader.conf.extra", conf, strlen(conf), err);
}

/* Without Secure Boot: the UKI of the bundle's command line as vmlinuz.efi (Talos's name),
 * for direct use; `installer` builds each slot's UKI from systemd-stub.efi instead (their
 * command lines carry imager.slot=). */
static int add_plain_uki(struct layer2 *l, const char *sdboot, struct im_error *err)
{
	return im_uki_build(l->pl, &l->uki, &l->uki_len, err) < 0 ||
		       add_mem(l, "vmlinuz.efi", l->uki, l->uki_len, err) < 0 ||
		       add_src(l, "systemd-boot.efi", sdboot, err) < 0
		   ? -1
		   : 0;
}

static int build_layer2(struct layer2 *l, struct im_error *err)
{
	struct im_plan *pl = l->pl;
	const struct im_profile *p = pl->p;
	char *sdboot = NULL, *stub = NULL;
	int rc = -1;
	snprintf(l->base, sizeof(l->base), "usr/install/%s", pl->arch);
	if (im_plan_input(pl, p->input.sd_boot.path, "systemd-boot.efi", "systemd-boot", &sdboot,
			  err) < 0 ||
	    im_plan_input(pl, p->input.sd_stub.path, "systemd-stub.efi", "systemd-stub", &stub,
			  err) < 0)
		goto out;
	if (add_src(l, "vmlinuz", pl->kernel, err) < 0 ||
	    add_src(l, "initramfs.xz", pl->initramfs, err) < 0 ||
	    add_src(l, "systemd-stub.efi", stub, err) < 0 || add_grub(l, err) < 0 ||
	    add_line(l, "cmdline", pl->cmdline, err) < 0 || add_line(l, "name", p->name, err) < 0 ||
	    add_line(l, "version", p->version, err) < 0 ||
	    add_line(l, "bootloader", bootloader_name(pl), err) < 0 ||
	    (pl->meta_base64 && add_line(l, "meta", pl->meta_base64, err) < 0))
		goto out;
	if (p->secureboot ? add_secureboot(l, sdboot, err) < 0 : add_plain_uki(l, sdboot, err) < 0)
		goto out;
	rc = 0;
out:
	free(sdboot);
	free(stub);
	return rc;
}

/* <inputs>/installer-root, or the base installer's root: usr/bin/installer must be there. */
static int installer_root(struct im_plan *pl, char **out, struct im_error *err)
{
	char *exe = NULL;
	if (pl->installer_root)
		*out = strdup(pl->installer_root);
	else if (asprintf(out, "%s/installer-root", pl->inputs) < 0)
		*out = NULL;
	if (!*out || asprintf(&exe, "%s/usr/bin/installer", *out) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int ok = access(exe, R_OK) == 0;
	free(exe);
	if (ok && !pl->installer_root) /* a base installer's is inside its recorded bundle */
		im_record_input(pl->rec, "installer root", *out);
	if (!ok)
		return im_fail(
		    err, IM_EXIT_MISSING,
		    "%s/usr/bin/installer: missing (the %s installer root with its loader "
		    "and libraries; 'make payload' stages it)",
		    *out, pl->arch);
	return 0;
}

int im_out_installer(struct im_plan *pl, struct im_error *err)
{
	char name[96], *root = NULL, *dst = NULL;
	int64_t epoch;
	struct im_tree *layers[2] = {NULL, NULL};
	struct layer2 l = {.pl = pl};
	struct im_outfile o = {.fd = -1};
	int rc = -1;
	if (pl->overlay)
		return im_fail(err, IM_EXIT_UNSUPPORTED,
			       "installer bundles with a board overlay: not supported yet");
	snprintf(name, sizeof(name), "installer-%s%s.tar", pl->arch,
		 pl->p->secureboot ? "-secureboot" : "");
	if (im_source_date_epoch(&epoch, err) < 0 || installer_root(pl, &root, err) < 0 ||
	    im_tree_from_dir(&layers[0], root, epoch, err) < 0)
		goto out;
	if (!(l.t = layers[1] = im_tree_new(epoch))) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	if (build_layer2(&l, err) < 0)
		goto out;
	static const char *const env[] = {"PATH=/usr/bin:/bin"};
	struct im_oci_image img = {.arch = pl->arch,
				   .created = epoch,
				   .entrypoint = "/usr/bin/installer",
				   .env = env,
				   .n_env = 1,
				   .layers = layers,
				   .n_layers = 2};
	if (!(dst = im_plan_output_path(pl, name))) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	if (im_outfile_open(&o, dst, err) < 0)
		goto out;
	if (im_oci_write(o.fd, name, pl->out_dir, &img, err) < 0) {
		im_outfile_abort(&o);
		goto out;
	}
	if (im_outfile_commit(&o, err) < 0)
		goto out;
	rc = 0;
	im_plan_wrote(pl, dst);
out:
	im_tree_free(layers[0]);
	im_tree_free(layers[1]);
	im_tree_free(l.auth);
	free(l.uki);
	free(l.sdboot);
	free(root);
	free(dst);
	return rc;
}
