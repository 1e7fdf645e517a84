/* Plan building: inputs folder lookup, input files, META and the kernel command line. */
#include "plan.h"
#include "imager/util/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "imager/efi/authenticode.h"
#include "imager/efi/sigpool.h"
#include "imager/fs/oci_bundle.h"
#include "imager/talos/cmdline.h"
#include "imager/util/epoch.h"
#include "imager/talos/extension.h"

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* DESIGN §3: --inputs, else $IMAGER_INPUTS, else out/install/<arch>/ of the source tree
 * the binary was built in, else $(PREFIX)/share/imager/install/<arch>/. */
int im_plan_find_inputs(const char *arch, const char *flag, char **dir, struct im_error *err)
{
	const char *env = getenv("IMAGER_INPUTS");
	char *c = NULL;
	*dir = NULL;
	if (flag || (env && *env)) {
		const char *d = flag ? flag : env;
		if (!is_dir(d))
			return im_fail(err, IM_EXIT_MISSING, "%s: inputs folder not found (%s)", d,
				       flag ? "--inputs" : "$IMAGER_INPUTS");
		*dir = strdup(d);
		return *dir ? 0 : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	if (asprintf(&c, "%s/out/install/%s", IMAGER_SOURCE_DIR, arch) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (is_dir(c)) {
		*dir = c;
		return 0;
	}
	free(c);
	if (asprintf(&c, "%s/share/imager/install/%s", IMAGER_PREFIX, arch) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (is_dir(c)) {
		*dir = c;
		return 0;
	}
	im_fail(
	    err, IM_EXIT_MISSING,
	    "no inputs folder for %s: give --inputs DIR or $IMAGER_INPUTS, or run 'make payload' "
	    "(looked in %s/out/install/%s and %s)",
	    arch, IMAGER_SOURCE_DIR, arch, c);
	free(c);
	return -1;
}

int im_plan_input(const struct im_plan *pl, const char *given, const char *name, const char *what,
		  char **out, struct im_error *err)
{
	if (given)
		*out = strdup(given);
	else if (asprintf(out, "%s/%s", pl->inputs, name) < 0)
		*out = NULL;
	if (!*out)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (access(*out, R_OK) < 0)
		return im_fail_errno(err, IM_EXIT_MISSING, "%s (%s)", *out, what);
	im_record_input(pl->rec, what, *out);
	return 0;
}

static int build_meta(struct im_plan *pl, struct im_error *err)
{
	const struct im_prof_meta_list *l = &pl->p->customization.meta_contents;
	im_meta_init(&pl->meta);
	for (size_t i = 0; i < l->n; i++)
		if (im_meta_set(&pl->meta, l->v[i].key, l->v[i].value, strlen(l->v[i].value), err) <
		    0)
			return -1;
	if (l->n == 0)
		return 0;
	pl->meta_base64 = im_meta_encode_string(&pl->meta, err);
	return pl->meta_base64 ? 0 : -1;
}

/* Kinds booted without a META partition carry META on the command line (DESIGN §4). */
static int meta_on_cmdline(enum im_prof_kind k)
{
	return k == IM_PROF_KIND_ISO || k == IM_PROF_KIND_UKI || k == IM_PROF_KIND_KERNEL ||
	       k == IM_PROF_KIND_INITRAMFS || k == IM_PROF_KIND_CMDLINE;
}

/* Linux copies at most COMMAND_LINE_SIZE bytes, the NUL included (2048 on x86 and arm64:
 * arch/x86/include/asm/setup.h, arch/arm64/include/uapi/asm/setup.h), and cuts a longer
 * line silently at boot: refuse to build one rather than lose its end (META values on the
 * line are its usual cause). */
#define KERNEL_CMDLINE_MAX 2047

static int check_cmdline_length(const struct im_plan *pl, const char *meta, struct im_error *err)
{
	size_t len = strlen(pl->cmdline);
	if (len <= KERNEL_CMDLINE_MAX)
		return 0;
	if (meta)
		return im_fail(err, IM_EXIT_INVALID,
			       "kernel command line of %zu bytes, META values taking %zu of them: "
			       "Linux keeps at most %d (COMMAND_LINE_SIZE); write META to a disk "
			       "image instead",
			       len, strlen(meta), KERNEL_CMDLINE_MAX);
	return im_fail(
	    err, IM_EXIT_INVALID,
	    "kernel command line of %zu bytes: Linux keeps at most %d (COMMAND_LINE_SIZE)", len,
	    KERNEL_CMDLINE_MAX);
}

static int build_cmdline(struct im_plan *pl, struct im_error *err)
{
	const struct im_profile *p = pl->p;
	struct im_cmdline_params cp = {
	    .platform = p->platform,
	    .arch = pl->arch,
	    .secureboot = p->secureboot,
	    .meta_base64 = meta_on_cmdline(p->output.kind) ? pl->meta_base64 : NULL,
	    .user_args = (const char *const *)p->customization.extra_kernel_args.v,
	    .n_user_args = p->customization.extra_kernel_args.n,
	    .overlay_args = pl->overlay ? (const char *const *)pl->overlay->kernel_args : NULL,
	    .n_overlay_args = pl->overlay ? pl->overlay->n_kernel_args : 0,
	};
	struct im_cmdline *cl = im_cmdline_build(&cp, err);
	if (!cl)
		return -1;
	pl->cmdline = im_cmdline_render(cl);
	im_cmdline_free(cl);
	if (!pl->cmdline)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	return check_cmdline_length(pl, cp.meta_base64, err);
}

static int make_out_dir(const char *d, struct im_error *err)
{
	if (mkdir(d, 0755) < 0 && errno != EEXIST)
		return im_fail_errno(err, errno == ENOENT ? IM_EXIT_MISSING : IM_EXIT_IO,
				     "%s: cannot create output folder", d);
	if (!is_dir(d))
		return im_fail(err, IM_EXIT_IO, "%s: output path is not a folder", d);
	return 0;
}

/* Talos file names in a --secureboot-keys folder (talosctl gen secureboot). */
static int key_path(const char *given, const char *dir, const char *name, const char *what,
		    char **out, struct im_error *err)
{
	if (given)
		*out = strdup(given);
	else if (!dir || asprintf(out, "%s/%s", dir, name) < 0)
		*out = NULL;
	if (!*out)
		return im_fail(
		    err, IM_EXIT_MISSING,
		    "secureboot profile without %s: give --secureboot-keys DIR (with %s) "
		    "or input.secureboot in the profile",
		    what, name);
	if (access(*out, R_OK) < 0)
		return im_fail_errno(err, IM_EXIT_MISSING, "%s (%s)", *out, what);
	return 0;
}

static int resolve_keys(struct im_plan *pl, const char *dir, struct im_error *err)
{
	const struct im_prof_secureboot *sb = &pl->p->input.secureboot;
	if (pl->keyless) {
		pl->sb_cert = strdup(pl->keyless->cert_path);
		return pl->sb_cert ? 0 : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	return key_path(sb->key_path, dir, "uki-signing-key.pem", "UKI signing key", &pl->sb_key,
			err) < 0 ||
		       key_path(sb->cert_path, dir, "uki-signing-cert.pem",
				"UKI signing certificate", &pl->sb_cert, err) < 0 ||
		       key_path(sb->pcr_key_path, dir, "pcr-signing-key.pem", "PCR signing key",
				&pl->pcr_key, err) < 0
		   ? -1
		   : 0;
}

/* System extensions (DESIGN §5), in the order given, appended to the initramfs once;
 * every output kind then uses the result. The file lives in the output folder under a
 * hidden temporary name and is removed with the plan. */
static int apply_extensions(struct im_plan *pl, struct im_error *err)
{
	const struct im_prof_container_list *l = &pl->p->input.system_extensions;
	if (l->n == 0)
		return 0;
	struct im_ext **exts = calloc(l->n, sizeof(*exts));
	char *tmp = NULL;
	int64_t epoch;
	int rc = -1;
	if (!exts ||
	    asprintf(&tmp, "%s/.initramfs-extensions.%d", pl->out_dir, (int)getpid()) < 0) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	if (im_source_date_epoch(&epoch, err) < 0)
		goto out;
	for (size_t i = 0; i < l->n; i++)
		im_record_input(pl->rec, "system extension", l->v[i].path);
	for (size_t i = 0; i < l->n; i++)
		if (im_ext_load(l->v[i].path, &exts[i], err) < 0 ||
		    im_ext_validate(exts[i], pl->p->version, err) < 0)
			goto out;
	const char *threads = getenv("IMAGER_THREADS");
	struct im_ext_initramfs_opts o = {
	    .compress = -1, .level = -1, .mtime = epoch, .threads = threads ? atoi(threads) : 0};
	/* registered before it exists: between its rename into place and the end of the
	 * build, an interrupted run must remove it too */
	int cleanup = im_cleanup_add(tmp, false);
	if (im_ext_append_to_initramfs(pl->initramfs, exts, l->n, tmp, &o, err) < 0) {
		im_cleanup_forget(cleanup);
		goto out;
	}
	free(pl->initramfs);
	pl->initramfs = tmp;
	pl->initramfs_is_temp = 1;
	pl->initramfs_cleanup = cleanup;
	tmp = NULL;
	rc = 0;
out:
	for (size_t i = 0; exts && i < l->n; i++)
		im_ext_free(exts[i]);
	free(exts);
	free(tmp);
	return rc;
}

/* The board overlay (DESIGN §6): loaded once, its options set from the profile and
 * checked against the arch, before the command line (it adds kernel arguments). */
static int load_overlay(struct im_plan *pl, struct im_error *err)
{
	const struct im_profile *p = pl->p;
	if (!p->overlay.name && !p->overlay.image.path)
		return 0;
	if (!p->overlay.image.path)
		return im_fail(
		    err, IM_EXIT_INVALID,
		    "overlay %s: no overlay image: give --overlay-image PATH (a folder or "
		    "tarball with overlay.yaml, e.g. overlays/%s)",
		    p->overlay.name, p->overlay.name);
	im_record_input(pl->rec, "overlay", p->overlay.image.path);
	if (im_overlay_load(p->overlay.image.path, p->overlay.name, &pl->overlay, err) < 0)
		return -1;
	for (size_t i = 0; i < p->overlay.options.n; i++)
		if (im_overlay_set_option(pl->overlay, p->overlay.options.v[i].key,
					  p->overlay.options.v[i].value, err) < 0)
			return -1;
	return im_overlay_check(pl->overlay, pl->arch, err);
}

/* --base-installer-image (Talos's customisation flow): the base bundle's /usr/install/<arch>/
 * replaces the inputs folder, so assets the profile does not name come from it; its root
 * without usr/install is the installer root of a new bundle. */
static int unpack_base(struct im_plan *pl, const char *bundle, struct im_error *err)
{
	const char *tmp = getenv("TMPDIR");
	char *root = NULL, *from = NULL, *kernel = NULL;
	int rc = -1;
	if (asprintf(&pl->base_stage, "%s/imager-base.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) {
		pl->base_stage = NULL;
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	if (!mkdtemp(pl->base_stage)) {
		im_fail_errno(err, IM_EXIT_ENV, "%s: cannot create a staging folder",
			      pl->base_stage);
		free(pl->base_stage);
		pl->base_stage = NULL;
		return -1;
	}
	pl->base_cleanup = im_cleanup_add(pl->base_stage, true); /* removed if interrupted */
	if (asprintf(&root, "%s/root", pl->base_stage) < 0 ||
	    asprintf(&from, "%s/usr/install", root) < 0 ||
	    asprintf(&pl->inputs, "%s/install/%s", pl->base_stage, pl->arch) < 0 ||
	    asprintf(&kernel, "%s/vmlinuz", pl->inputs) < 0) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	im_record_input(pl->rec, "base installer", bundle);
	if (im_oci_unpack(bundle, pl->arch, root, err) < 0)
		goto out;
	char *to = NULL;
	if (asprintf(&to, "%s/install", pl->base_stage) < 0) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	int moved = rename(from, to);
	free(to);
	if (moved < 0 || access(kernel, R_OK) < 0) {
		im_fail(err, IM_EXIT_INVALID,
			"%s: no /usr/install/%s/vmlinuz (expected an installer bundle for %s)",
			bundle, pl->arch, pl->arch);
		goto out;
	}
	pl->installer_root = root;
	root = NULL;
	rc = 0;
out:
	free(root);
	free(from);
	free(kernel);
	return rc;
}

int im_plan_init(struct im_plan *pl, const struct im_profile *p, const char *inputs_flag,
		 const char *keys_dir, const char *out_dir, int strict_kernel, struct im_error *err)
{
	struct im_record *rec = pl->rec; /* the caller's, kept */
	const struct im_keyless *keyless = pl->keyless;
	memset(pl, 0, sizeof(*pl));
	pl->rec = rec;
	pl->keyless = keyless;
	pl->p = p;
	pl->arch = im_prof_arch_name(p->arch);
	pl->keys_dir = keys_dir;
	pl->out_dir = strdup(out_dir);
	if (!pl->out_dir)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (load_overlay(pl, err) < 0 || build_meta(pl, err) < 0 || build_cmdline(pl, err) < 0)
		return -1;
	if (p->output.kind == IM_PROF_KIND_CMDLINE)
		return make_out_dir(out_dir, err); /* needs no input file */
	if (p->secureboot && resolve_keys(pl, keys_dir, err) < 0)
		return -1;
	if (p->secureboot && pl->rec)
		pl->rec->keys = keys_dir;
	if (p->secureboot && !pl->keyless)
		im_record_secureboot(pl->rec, pl->sb_cert, pl->pcr_key);
	if (p->input.base_installer.path) {
		if (unpack_base(pl, p->input.base_installer.path, err) < 0)
			return -1;
	} else if (im_plan_find_inputs(pl->arch, inputs_flag, &pl->inputs, err) < 0)
		return -1;
	if (pl->rec)
		pl->rec->inputs = pl->inputs; /* its files are recorded relative to it */
	if (im_plan_input(pl, p->input.kernel.path, "vmlinuz", "kernel", &pl->kernel, err) < 0 ||
	    im_plan_input(pl, p->input.initramfs.path, "initramfs.xz", "initramfs", &pl->initramfs,
			  err) < 0 ||
	    im_plan_check_kernel(pl, strict_kernel, err) < 0)
		return -1;
	im_record_manifest(pl->rec, pl->arch);
	return make_out_dir(out_dir, err) < 0 ? -1 : apply_extensions(pl, err);
}

int im_plan_signing_key(const struct im_plan *pl, int pcr, EVP_PKEY **key, struct im_error *err)
{
	if (!pl->keyless)
		return im_load_key_pem(pcr ? pl->pcr_key : pl->sb_key, key, err);
	if (!pcr) {
		X509 *cert = NULL;
		if (im_load_cert_pem(pl->sb_cert, &cert, err) < 0)
			return -1;
		int rc = im_sigpool_signer(pl->keyless->pool, X509_get0_pubkey(cert), key, err);
		X509_free(cert);
		return rc;
	}
	return im_sigpool_signer(pl->keyless->pool, pl->keyless->pcr_pub, key, err);
}

void im_plan_free(struct im_plan *pl)
{
	im_rmtree(pl->base_stage);
	im_cleanup_forget(pl->base_cleanup);
	free(pl->base_stage);
	free(pl->installer_root);
	free(pl->inputs);
	free(pl->kernel);
	if (pl->initramfs_is_temp) {
		unlink(pl->initramfs);
		im_cleanup_forget(pl->initramfs_cleanup);
	}
	free(pl->initramfs);
	free(pl->out_dir);
	free(pl->output);
	free(pl->meta_base64);
	free(pl->cmdline);
	free(pl->sb_key);
	free(pl->sb_cert);
	free(pl->pcr_key);
	im_meta_free(&pl->meta);
	im_overlay_free(pl->overlay);
}

void im_plan_wrote(struct im_plan *pl, const char *path)
{
	free(pl->output);
	pl->output = strdup(path);
	if (!pl->quiet)
		fprintf(stderr, "imager: wrote %s\n", path);
}

char *im_plan_output_path(const struct im_plan *pl, const char *name)
{
	char *s;
	return asprintf(&s, "%s/%s", pl->out_dir, name) < 0 ? NULL : s;
}
