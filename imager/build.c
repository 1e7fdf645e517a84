/* `imager PROFILE|- [flags]`: load a profile (built-in name, file, or stdin), apply the
 * Talos-compatible flags on top, finalize, print the effective profile to stderr (as Talos
 * does) and build the output kind. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "imager/fs/oci_bundle.h"
#include "imager/fs/oci_write.h"
#include "imager/util/cleanup.h"
#include "imager/util/epoch.h"
#include "imager/talos/profile.h"
#include "imager/talos/schematic.h"
#include "iso_efi.h"
#include "plan.h"

enum {
	OPT_ARCH = 256,
	OPT_PLATFORM,
	OPT_KIND,
	OPT_KARG,
	OPT_META,
	OPT_EXT,
	OPT_OVL_NAME,
	OPT_OVL_IMAGE,
	OPT_OVL_OPT,
	OPT_BASE_INSTALLER,
	OPT_TAR,
	OPT_INPUTS,
	OPT_SB_KEYS,
	OPT_STRICT_KERNEL,
	OPT_SCHEMATIC,
	OPT_NO_RECORD,
};

static const struct option opts[] = {
    {"arch", required_argument, NULL, OPT_ARCH},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"output", required_argument, NULL, 'o'},
    {"output-kind", required_argument, NULL, OPT_KIND},
    {"extra-kernel-arg", required_argument, NULL, OPT_KARG},
    {"meta", required_argument, NULL, OPT_META},
    {"system-extension-image", required_argument, NULL, OPT_EXT},
    {"overlay-name", required_argument, NULL, OPT_OVL_NAME},
    {"overlay-image", required_argument, NULL, OPT_OVL_IMAGE},
    {"overlay-option", required_argument, NULL, OPT_OVL_OPT},
    {"base-installer-image", required_argument, NULL, OPT_BASE_INSTALLER},
    {"tar-to-stdout", no_argument, NULL, OPT_TAR},
    {"inputs", required_argument, NULL, OPT_INPUTS},
    {"secureboot-keys", required_argument, NULL, OPT_SB_KEYS},
    {"strict-kernel", no_argument, NULL, OPT_STRICT_KERNEL},
    {"schematic", required_argument, NULL, OPT_SCHEMATIC},
    {"no-build-record", no_argument, NULL, OPT_NO_RECORD},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fputs(
	    "usage: imager PROFILE|- [flags]\n"
	    "  PROFILE                      built-in name (imager profiles), a YAML file, or - for "
	    "stdin\n"
	    "  --arch amd64|arm64           target architecture (default amd64)\n"
	    "  --platform NAME              platform (metal, aws, gcp, ...)\n"
	    "  --output-kind KIND           kernel|initramfs|cmdline|uki|iso|image|installer\n"
	    "  -o, --output DIR             output folder (default _out)\n"
	    "  --extra-kernel-arg ARG       append ARG; console=/talos.platform= replace, -key "
	    "and\n"
	    "                               -key=value drop (repeatable)\n"
	    "  --meta K=V|K=@FILE           META value, key 0x01..0xff or 1..255 (repeatable)\n"
	    "  --system-extension-image P   extension folder/tar/squashfs/OCI layout (repeatable)\n"
	    "  --overlay-name N --overlay-image P --overlay-option K=V   board overlay\n"
	    "  --base-installer-image P     base installer bundle (installer-<arch>.tar): the\n"
	    "                               assets the profile does not name come from it\n"
	    "  --tar-to-stdout              write the output folder's files as a tar to stdout\n"
	    "  --inputs DIR                 inputs folder (default $IMAGER_INPUTS, then the "
	    "payload)\n"
	    "  --secureboot-keys DIR        uki-signing-key.pem, uki-signing-cert.pem,\n"
	    "                               pcr-signing-key.pem (imager keys makes them)\n"
	    "  --strict-kernel              refuse a kernel that lacks a required option of\n"
	    "                               kernel-config/ (default: one warning line each)\n"
	    "  --schematic FILE|-           apply an Image Factory schematic (imager schematic "
	    "--help)\n"
	    "  --no-build-record            no <output>.build.json (in-toto/SLSA provenance,\n"
	    "                               what imager verify rebuilds from)\n"
	    "  -q, --quiet                  do not print the effective profile\n",
	    f);
}

/* --meta K=@FILE: the value is the file's content. */
static int meta_flag(struct im_profile *p, const char *arg, struct im_error *err)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq[1] != '@')
		return im_profile_set(p, "customization.metaContents", arg, err);
	FILE *f = fopen(eq + 2, "rb");
	if (!f)
		return im_fail_errno(err, IM_EXIT_MISSING, "--meta %s", arg);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	fprintf(m, "%.*s", (int)(eq + 1 - arg), arg);
	int c;
	long nul = -1;
	for (long at = 0; (c = fgetc(f)) != EOF; at++) {
		if (c == 0 && nul < 0)
			nul = at;
		fputc(c, m);
	}
	fclose(f);
	fclose(m);
	/* META values are text (Talos ADV strings): a NUL would cut the value there silently */
	int rc = nul >= 0 ? im_fail(err, IM_EXIT_INVALID,
				    "--meta %s: a NUL byte at offset %ld (expected a text value)",
				    arg, nul)
			  : im_profile_set(p, "customization.metaContents", buf, err);
	free(buf);
	return rc;
}

/* --schematic FILE: its customization and overlay, in command-line order with the
 * other flags (so a later --extra-kernel-arg comes after the schematic's). */
static int schematic_flag(struct im_profile *p, const char *path, struct im_error *err)
{
	struct im_schematic *s;
	if (im_schematic_load(path, &s, err) < 0)
		return -1;
	int rc = im_schematic_apply(s, p, err);
	im_schematic_free(s);
	return rc;
}

static const char *flag_path(int opt)
{
	switch (opt) {
	case OPT_ARCH:
		return "arch";
	case OPT_PLATFORM:
		return "platform";
	case OPT_KIND:
		return "output.kind";
	case OPT_KARG:
		return "customization.extraKernelArgs";
	case OPT_EXT:
		return "input.systemExtensions";
	case OPT_OVL_NAME:
		return "overlay.name";
	case OPT_OVL_IMAGE:
		return "overlay.image";
	case OPT_OVL_OPT:
		return "overlay.options";
	case OPT_BASE_INSTALLER:
		return "input.baseInstaller";
	default:
		return NULL;
	}
}

struct build_args {
	const char *out_dir, *inputs, *keys;
	int quiet, strict_kernel, tar, no_record;
};

/* Flags are applied in command-line order after the profile is loaded, so the profile
 * argument is found first. */
static int apply_flags(int argc, char **argv, struct im_profile *p, struct build_args *a,
		       struct im_error *err)
{
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		const char *path = flag_path(c);
		int rc = 0;
		if (path)
			rc = im_profile_set(p, path, optarg, err);
		else if (c == OPT_META)
			rc = meta_flag(p, optarg, err);
		else if (c == OPT_SCHEMATIC)
			rc = schematic_flag(p, optarg, err);
		else if (c == 'o')
			a->out_dir = optarg;
		else if (c == OPT_INPUTS)
			a->inputs = optarg;
		else if (c == OPT_SB_KEYS)
			a->keys = optarg;
		else if (c == 'q')
			a->quiet = 1;
		else if (c == OPT_STRICT_KERNEL)
			a->strict_kernel = 1;
		else if (c == OPT_TAR)
			a->tar = 1;
		else if (c == OPT_NO_RECORD)
			a->no_record = 1;
		if (rc < 0)
			return -1;
	}
	return 0;
}

int im_build_output(struct im_plan *pl, struct im_error *err)
{
	switch (pl->p->output.kind) {
	case IM_PROF_KIND_CMDLINE:
		return im_out_cmdline(pl, err);
	case IM_PROF_KIND_KERNEL:
		return im_out_kernel(pl, err);
	case IM_PROF_KIND_INITRAMFS:
		return im_out_initramfs(pl, err);
	case IM_PROF_KIND_UKI:
		return im_out_uki(pl, err);
	case IM_PROF_KIND_ISO:
		return im_out_iso(pl, err);
	case IM_PROF_KIND_IMAGE:
		return im_out_image(pl, err);
	case IM_PROF_KIND_INSTALLER:
		return im_out_installer(pl, err);
	default:
		return im_fail(err, IM_EXIT_UNSUPPORTED, "output kind %s: not supported yet",
			       im_prof_kind_name(pl->p->output.kind));
	}
}

/* The profile is the one positional argument; flags may come before or after it. */
static int find_profile_arg(int argc, char **argv, const char **spec, struct im_error *err)
{
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		if (c == 'h')
			return 1;
		if (c == '?') {
			opterr = 1;
			return im_fail(err, IM_EXIT_INVALID,
				       "unknown or incomplete flag \"%s\" (see imager --help)",
				       argv[optind - 1]);
		}
	}
	opterr = 1;
	if (argc - optind != 1)
		return im_fail(err, IM_EXIT_INVALID,
			       argc - optind
				   ? "expected one profile, got %d arguments"
				   : "missing profile (a built-in name, a YAML file, or -)%.0d",
			       argc - optind);
	*spec = argv[optind];
	return 0;
}

/* --tar-to-stdout (Talos): the outputs are built in a private folder, then its files go to
 * standard output as one tar (sorted, 0:0, SOURCE_DATE_EPOCH times) and the folder is
 * removed. Nothing else is written to stdout. */
int im_private_dir(const char *prefix, char **dir, int *cleanup, struct im_error *err)
{
	const char *tmp = getenv("TMPDIR");
	if (asprintf(dir, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix) < 0) {
		*dir = NULL;
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	if (!mkdtemp(*dir)) {
		im_fail_errno(err, IM_EXIT_ENV, "%s: cannot create a folder", *dir);
		free(*dir);
		*dir = NULL;
		return -1;
	}
	*cleanup = im_cleanup_add(*dir, true); /* removed if interrupted */
	return 0;
}

static int tar_to_stdout(const char *dir, struct im_error *err)
{
	int64_t epoch;
	struct im_tree *t = NULL;
	if (im_source_date_epoch(&epoch, err) < 0 || im_tree_from_dir(&t, dir, epoch, err) < 0)
		return -1;
	int rc = im_tar_write_tree(t, STDOUT_FILENO, false, "standard output", NULL, err);
	im_tree_free(t);
	return rc;
}

/* <output>.build.json (record.h), from the effective profile the build used. On failure
 * the output goes too: an artifact is written with its record or not at all. */
static int write_record(struct im_plan *pl, const struct build_args *a, struct im_error *err)
{
	char *yaml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);
	if (!f)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int rc = im_profile_dump(pl->p, f);
	fclose(f);
	struct im_record_build b = {.output = pl->output,
				    .profile = yaml,
				    .keys_dir = a->keys != NULL,
				    .strict_kernel = a->strict_kernel};
	if (rc < 0 || !pl->output)
		rc = im_fail(err, IM_EXIT_INTERNAL, "build record: no profile or no output");
	else if ((rc = im_source_date_epoch(&b.epoch, err)) == 0)
		rc = im_record_write(pl->rec, &b, err);
	if (rc < 0 && pl->output)
		unlink(pl->output);
	free(yaml);
	return rc;
}

int imager_cmd_build(int argc, char **argv)
{
	struct im_error err = {0};
	struct build_args a = {.out_dir = "_out"};
	const char *spec = NULL;
	int rc = find_profile_arg(argc, argv, &spec, &err);
	if (rc != 0) {
		if (rc > 0)
			usage(stdout);
		return rc > 0 ? 0 : imager_report(&err);
	}
	struct im_profile *p = NULL;
	struct im_plan pl = {0};
	struct im_record rec = {0};
	char *tar_dir = NULL;
	int tar_cleanup = 0;
	if (im_profile_load(spec, &p, &err) < 0 || apply_flags(argc, argv, p, &a, &err) < 0)
		goto fail;
	if (a.tar && im_private_dir("imager-out", &tar_dir, &tar_cleanup, &err) < 0)
		goto fail;
	if (tar_dir)
		a.out_dir = tar_dir;
	/* Board images default to .xz (as Talos's SBC images), unless the user chose. */
	if ((p->overlay.name || p->overlay.image.path) && p->output.out_format_builtin &&
	    p->output.kind == IM_PROF_KIND_IMAGE)
		p->output.out_format = IM_PROF_FMT_XZ;
	if (im_profile_finalize(p, &err) < 0)
		goto fail;
	if (!a.quiet)
		im_profile_dump(p, stderr);
	if (!a.no_record)
		pl.rec = &rec;
	if (im_plan_init(&pl, p, a.inputs, a.keys, a.out_dir, a.strict_kernel, &err) < 0)
		goto fail;
	pl.quiet = a.quiet;
	if (im_build_output(&pl, &err) < 0 || (!a.no_record && write_record(&pl, &a, &err) < 0))
		goto fail;
	im_plan_free(&pl); /* removes its temporary files from the output folder */
	memset(&pl, 0, sizeof(pl));
	if (tar_dir && tar_to_stdout(tar_dir, &err) < 0)
		goto fail;
	im_rmtree(tar_dir);
	im_cleanup_forget(tar_cleanup);
	free(tar_dir);
	im_record_free(&rec);
	im_profile_free(p);
	return 0;
fail:
	im_plan_free(&pl);
	im_record_free(&rec);
	im_rmtree(tar_dir);
	im_cleanup_forget(tar_cleanup);
	free(tar_dir);
	im_profile_free(p);
	return imager_report(&err);
}
