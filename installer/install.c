/* `installer install`: write the whole layout onto a disk or an image file; slot A committed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/talos/cmdline.h"
#include "imager/util/outfile.h"
#include "installer.h"

enum {
	O_DISK = 256,
	O_IMAGE,
	O_BOOT,
	O_ZERO,
	O_FORCE,
	O_ASSETS,
	O_ARCH,
	O_META,
	O_SIZE,
	O_SECTOR,
	O_NAME,
	O_VERSION,
	O_PLATFORM,
	O_KARG,
	O_CMDLINE,
	O_BUNDLE
};

static const struct option opts[] = {
    {"disk", required_argument, NULL, O_DISK},
    {"image-mode", no_argument, NULL, O_IMAGE},
    {"bootloader", required_argument, NULL, O_BOOT},
    {"zero", no_argument, NULL, O_ZERO},
    {"force", no_argument, NULL, O_FORCE},
    {"assets", required_argument, NULL, O_ASSETS},
    {"arch", required_argument, NULL, O_ARCH},
    {"meta", required_argument, NULL, O_META},
    {"disk-size", required_argument, NULL, O_SIZE},
    {"sector-size", required_argument, NULL, O_SECTOR},
    {"name", required_argument, NULL, O_NAME},
    {"version", required_argument, NULL, O_VERSION},
    {"platform", required_argument, NULL, O_PLATFORM},
    {"extra-kernel-arg", required_argument, NULL, O_KARG},
    {"cmdline", required_argument, NULL, O_CMDLINE},
    {"bundle", required_argument, NULL, O_BUNDLE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fputs(
	    "usage: installer install --disk PATH [flags]\n"
	    "  --disk PATH                 block device or image file (created if missing)\n"
	    "  --image-mode                no STATE/EPHEMERAL partitions (disk images)\n"
	    "  --bootloader M              grub | sd-boot | dual-boot (default: amd64 dual-boot,\n"
	    "                              arm64 sd-boot)\n"
	    "  --zero                      wipe the disk (or truncate the file) first\n"
	    "  --force                     install over a mounted or busy block device\n"
	    "  --assets DIR                vmlinuz, initramfs.xz, grub/, systemd-boot.efi,\n"
	    "                              systemd-stub.efi [uki.efi cmdline name version]\n"
	    "                              (default: the inputs folder of the arch; inside an\n"
	    "                              unpacked installer bundle its /usr/install/<arch>)\n"
	    "  --bundle FILE               installer bundle (installer-<arch>.tar, OCI layout):\n"
	    "                              its digests are checked, then its assets and record\n"
	    "                              (command line, META, bootloader) are installed\n"
	    "  --arch amd64|arm64          target architecture (default: the host's)\n"
	    "  --meta K=V|K=@FILE          META value (repeatable)\n"
	    "  --disk-size SIZE            size of a new image file (default: the minimum)\n"
	    "  --sector-size 512|4096      logical sector size of an image file\n"
	    "  --name N --version V        OS name and version (default: the assets' files,\n"
	    "                              else Talos and v1.0.0)\n"
	    "  --platform P                platform for the default command line (metal)\n"
	    "  --extra-kernel-arg A        kernel argument, Talos rules (repeatable)\n"
	    "  --cmdline STR               the command line (default: assets' cmdline, else\n"
	    "                              built for the platform)\n"
	    "Power loss: install rewrites the whole layout, slot A committed. Over a disk that\n"
	    "  already holds an installed OS of the same layout, it writes slot A, the BIOS boot\n"
	    "  code and META first and the ESP (the switch to the new install) after them: a\n"
	    "  cut before the ESP write leaves the previously committed slot booting when that\n"
	    "  slot is B (GRUB) or any slot (systemd-boot, whose UKIs are on the ESP). Not\n"
	    "  covered: GRUB with slot A committed (slot A is rewritten first), and a cut inside\n"
	    "  the ESP write (the ESP is formatted anew, not edited in place; run install\n"
	    "  again). To change an installed OS power-safely, use upgrade and commit.\n",
	    f);
}

struct args {
	const char *disk, *assets, *bundle, *arch, *platform, *cmdline, *name, *version;
	struct im_install_opts o;
	int bl_set, zero, force;
	struct im_meta meta;
	const char *kargs[64];
	size_t nkargs;
};

static int parse_opt(struct args *a, int c, struct im_error *err)
{
	uint64_t v;
	switch (c) {
	case O_DISK:
		a->disk = optarg;
		return 0;
	case O_IMAGE:
		a->o.image_mode = 1;
		return 0;
	case O_BOOT:
		a->bl_set = 1;
		return im_bootloader_parse(optarg, &a->o.bootloader, err);
	case O_ZERO:
		a->zero = 1;
		return 0;
	case O_FORCE:
		a->force = 1;
		return 0;
	case O_ASSETS:
		a->assets = optarg;
		return 0;
	case O_BUNDLE:
		a->bundle = optarg;
		return 0;
	case O_ARCH:
		a->arch = optarg;
		return 0;
	case O_META:
		return im_meta_set_arg(&a->meta, optarg, err);
	case O_SIZE:
		return inst_parse_size(optarg, "--disk-size", &a->o.disk_size, err);
	case O_SECTOR:
		if (inst_parse_size(optarg, "--sector-size", &v, err) < 0)
			return -1;
		if (v != 512 && v != 4096)
			return im_fail(err, IM_EXIT_INVALID,
				       "--sector-size %s: expected 512 or 4096", optarg);
		a->o.sector_size = (uint32_t)v;
		return 0;
	case O_NAME:
		a->name = optarg;
		return 0;
	case O_VERSION:
		a->version = optarg;
		return 0;
	case O_PLATFORM:
		a->platform = optarg;
		return 0;
	case O_CMDLINE:
		a->cmdline = optarg;
		return 0;
	case O_KARG:
		if (a->nkargs == sizeof(a->kargs) / sizeof(a->kargs[0]))
			return im_fail(err, IM_EXIT_INVALID, "too many --extra-kernel-arg");
		a->kargs[a->nkargs++] = optarg;
		return 0;
	default:
		return im_fail(err, IM_EXIT_INVALID,
			       "install: unknown or incomplete flag (see "
			       "installer install --help)");
	}
}

/* The command line: --cmdline, the assets' cmdline or the platform's, then the user's args. */
static char *make_cmdline(const struct args *a, const char *base, struct im_error *err)
{
	struct im_cmdline *cl;
	if (base) {
		cl = im_cmdline_new();
		if (!cl || im_cmdline_append(cl, base, err) < 0) {
			im_cmdline_free(cl);
			return NULL;
		}
		for (size_t i = 0; i < a->nkargs; i++)
			if (im_cmdline_apply_user(cl, a->kargs[i], err) < 0) {
				im_cmdline_free(cl);
				return NULL;
			}
	} else {
		struct im_cmdline_params p = {.platform = a->platform ? a->platform : "metal",
					      .arch = a->arch,
					      .user_args = a->kargs,
					      .n_user_args = a->nkargs};
		if (!(cl = im_cmdline_build(&p, err)))
			return NULL;
	}
	char *s = im_cmdline_render(cl);
	im_cmdline_free(cl);
	if (!s)
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	return s;
}

/* Open (or create under a temporary name) the target; wipe it with --zero. */
static int open_target(struct args *a, struct im_outfile *of, int *fd, struct im_error *err)
{
	struct stat st;
	if (stat(a->disk, &st) < 0) {
		if (errno != ENOENT)
			return im_fail_errno(err, IM_EXIT_IO, "%s", a->disk);
		if (im_outfile_open(of, a->disk, err) < 0)
			return -1;
		*fd = of->fd;
		return 0;
	}
	if (inst_check_unused(a->disk, a->force, err) < 0)
		return -1;
	int excl = S_ISBLK(st.st_mode) && !a->force ? O_EXCL : 0;
	*fd = open(a->disk, O_RDWR | O_CLOEXEC | excl);
	if (*fd < 0)
		return im_fail_errno(err, errno == EBUSY ? IM_EXIT_INSTALL : IM_EXIT_IO,
				     "%s: cannot open", a->disk);
	if (!a->zero)
		return 0;
	if (S_ISREG(st.st_mode) && !a->o.disk_size)
		a->o.disk_size = (uint64_t)st.st_size; /* keep the size, drop the content */
	if (S_ISREG(st.st_mode))
		return ftruncate(*fd, 0) < 0
			   ? im_fail_errno(err, IM_EXIT_IO, "%s: truncate", a->disk)
			   : 0;
	uint64_t range[2] = {0, 0};
	if (ioctl(*fd, BLKGETSIZE64, &range[1]) < 0 || ioctl(*fd, BLKZEROOUT, range) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s: cannot zero the device", a->disk);
	return 0;
}

static void on_warn(const char *msg, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "installer: warning: %s\n", msg);
}

static int install(struct args *a, struct inst_assets *ia, struct im_error *err)
{
	int rc;
	char *cmdline = make_cmdline(a, a->cmdline ? a->cmdline : ia->cmdline, err);
	if (!cmdline)
		return -1;
	struct im_install_assets as = {.arch = a->arch,
				       .name = a->name	  ? a->name
					       : ia->name ? ia->name
							  : "Talos",
				       .version = a->version	? a->version
						  : ia->version ? ia->version
								: "v1.0.0",
				       .kernel = ia->kernel,
				       .initramfs = ia->initramfs,
				       .cmdline = cmdline,
				       .grub_dir = ia->grub_dir,
				       .sdboot_efi = ia->sdboot,
				       .sdstub_efi = ia->sdstub,
				       .uki = ia->uki,
				       .uki_len = ia->uki_len,
				       .loader_conf_extra = ia->loader_conf_extra,
				       .esp_files = ia->esp,
				       .n_esp_files = ia->n_esp};
	struct im_outfile of = {.fd = -1};
	int fd = -1;
	a->o.meta = &a->meta;
	a->o.warn = on_warn;
	rc = open_target(a, &of, &fd, err);
	if (rc == 0)
		rc = im_install(fd, a->disk, &a->o, &as, err);
	if (of.tmp)
		rc = rc == 0 ? im_outfile_commit(&of, err) : (im_outfile_abort(&of), -1);
	else if (fd >= 0 && (fsync(fd) < 0 || close(fd) < 0) && rc == 0)
		rc = im_fail_errno(err, IM_EXIT_IO, "%s: sync", a->disk);
	if (rc == 0)
		printf("installed %s %s on %s (%s); slot A committed\n", as.name, as.version,
		       a->disk, im_bootloader_name(a->o.bootloader));
	free(cmdline);
	return rc;
}

/* The record of a bundle or assets folder (inst_assets): its bootloader unless --bootloader,
 * its META values under those of --meta. */
static int apply_record(struct args *a, const struct inst_assets *ia, struct im_error *err)
{
	if (ia->bootloader && !a->bl_set &&
	    im_bootloader_parse(ia->bootloader, &a->o.bootloader, err) < 0)
		return -1;
	if (!ia->meta || !ia->meta[0])
		return 0;
	struct im_meta rec;
	im_meta_init(&rec);
	if (im_meta_decode_string(ia->meta, &rec, err) < 0) {
		im_meta_free(&rec);
		return -1;
	}
	for (unsigned k = 0; k <= IM_META_KEY_MAX; k++)
		if (a->meta.v[k].set &&
		    im_meta_set(&rec, k, a->meta.v[k].data, a->meta.v[k].len, err) < 0) {
			im_meta_free(&rec);
			return -1;
		}
	im_meta_free(&a->meta);
	a->meta = rec;
	return 0;
}

static int run(struct args *a, struct inst_assets *ia, struct im_error *err)
{
	struct inst_bundle b = {0};
	if (a->bundle && inst_bundle_open(a->bundle, a->arch, &b, err) < 0) {
		inst_bundle_close(&b);
		return -1;
	}
	char *dir = a->bundle	? strdup(b.assets)
		    : a->assets ? strdup(a->assets)
				: inst_default_assets(a->arch);
	int rc = inst_assets_load(dir, ia, err);
	free(dir);
	if (rc == 0)
		rc = apply_record(a, ia, err);
	if (rc == 0)
		rc = install(a, ia, err);
	inst_bundle_close(&b);
	return rc;
}

int cmd_install(int argc, char **argv)
{
	struct im_error err = {0};
	struct args a = {.arch = HOST_ARCH};
	struct inst_assets ia = {0};
	int c, rc = -1;
	im_meta_init(&a.meta);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			im_meta_free(&a.meta);
			return 0;
		}
		if (parse_opt(&a, c, &err) < 0)
			goto out;
	}
	if (optind < argc) {
		im_fail(&err, IM_EXIT_INVALID, "install: unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	if (!a.disk) {
		im_fail(&err, IM_EXIT_INVALID, "install: --disk PATH is required");
		goto out;
	}
	if (a.bundle && a.assets) {
		im_fail(&err, IM_EXIT_INVALID,
			"install: give --bundle FILE or --assets DIR, not both");
		goto out;
	}
	if (!a.bl_set)
		a.o.bootloader = strcmp(a.arch, "arm64") ? IM_BOOT_DUAL : IM_BOOT_SDBOOT;
	if (inst_setup(&a.o.epoch, &err) == 0)
		rc = run(&a, &ia, &err);
out:
	inst_assets_free(&ia);
	im_meta_free(&a.meta);
	return rc < 0 ? inst_report(&err) : 0;
}
