/* `installer upgrade`: write an assets folder into the inactive slot and arm a one-shot trial. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "installer.h"

enum { O_DISK = 256, O_ASSETS, O_BUNDLE, O_NAME, O_VERSION, O_CMDLINE, O_ARCH };

static const struct option opts[] = {
    {"disk", required_argument, NULL, O_DISK},
    {"assets", required_argument, NULL, O_ASSETS},
    {"bundle", required_argument, NULL, O_BUNDLE},
    {"arch", required_argument, NULL, O_ARCH},
    {"name", required_argument, NULL, O_NAME},
    {"version", required_argument, NULL, O_VERSION},
    {"cmdline", required_argument, NULL, O_CMDLINE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fputs("usage: installer upgrade [--disk PATH] --assets DIR|--bundle FILE [--name N]\n"
	      "                         [--version V] [--cmdline STR] [--arch A]\n"
	      "  --bundle FILE: an installer bundle (installer-<arch>.tar) whose digests are\n"
	      "  checked before the disk is opened; its /usr/install/<arch>/ is DIR.\n"
	      "  Without either, inside an unpacked bundle: /usr/install/<arch>/.\n"
	      "  Writes DIR (vmlinuz, initramfs.xz; for systemd-boot uki.efi or\n"
	      "  systemd-stub.efi; optional cmdline, name, version files) into the slot that is\n"
	      "  not committed and arms it for one boot; META tag 6 = the committed slot.\n"
	      "  The command line defaults to DIR/cmdline, else the committed slot's.\n"
	      "  --disk defaults to the disk holding the META partition.\n",
	      f);
}

struct args {
	const char *disk, *assets, *bundle, *name, *version, *cmdline, *arch;
};

/* Defaults for what the assets do not say: the committed slot's name and command line. */
static int committed_slot(int fd, const char *what, struct im_slot_info *out, struct im_error *err)
{
	struct im_status st;
	if (im_status(fd, what, &st, err) < 0)
		return -1;
	for (int i = 0; i < 2; i++)
		if (st.slot[i].slot == st.committed) {
			*out = st.slot[i];
			st.slot[i].cmdline = NULL;
		}
	im_status_free(&st);
	return 0;
}

static int run(const struct args *a, int64_t epoch, struct im_error *err)
{
	struct inst_assets ia;
	struct im_slot_info cur = {0};
	int fd = -1;
	char *what = NULL, slot = 0, *dir = NULL;
	struct inst_bundle b = {0};
	int rc = a->bundle ? inst_bundle_open(a->bundle, a->arch, &b, err) : 0;
	memset(&ia, 0, sizeof(ia));
	if (rc == 0) {
		dir = a->bundle	  ? strdup(b.assets)
		      : a->assets ? strdup(a->assets)
				  : inst_default_assets(a->arch);
		rc = inst_assets_load(dir, &ia, err);
		free(dir);
	}
	if (rc == 0)
		rc = inst_open_disk(a->disk, 0, &fd, &what, err);
	if (rc == 0)
		rc = committed_slot(fd, what, &cur, err);
	if (rc == 0) {
		struct im_install_assets as = {.name = a->name	     ? a->name
						       : ia.name     ? ia.name
						       : cur.name[0] ? cur.name
								     : "Talos",
					       .version = a->version   ? a->version
							  : ia.version ? ia.version
								       : "unknown",
					       .kernel = ia.kernel,
					       .initramfs = ia.initramfs,
					       .cmdline = a->cmdline	? a->cmdline
							  : ia.cmdline	? ia.cmdline
							  : cur.cmdline ? cur.cmdline
									: "",
					       .sdstub_efi = ia.sdstub,
					       .uki = ia.uki,
					       .uki_len = ia.uki_len};
		rc = im_upgrade(fd, what, &as, epoch, &slot, err);
		if (rc == 0)
			printf("upgraded slot %c to %s %s; it boots once next time (commit to keep "
			       "it)\n",
			       slot, as.name, as.version);
	}
	if (fd >= 0 && fsync(fd) < 0 && rc == 0)
		rc = im_fail_errno(err, IM_EXIT_IO, "%s: sync", what);
	if (fd >= 0)
		close(fd);
	free(what);
	free(cur.cmdline);
	inst_assets_free(&ia);
	inst_bundle_close(&b);
	return rc;
}

int cmd_upgrade(int argc, char **argv)
{
	struct im_error err = {0};
	struct args a = {.arch = HOST_ARCH};
	int64_t epoch;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case O_DISK:
			a.disk = optarg;
			break;
		case O_ASSETS:
			a.assets = optarg;
			break;
		case O_BUNDLE:
			a.bundle = optarg;
			break;
		case O_ARCH:
			a.arch = optarg;
			break;
		case O_NAME:
			a.name = optarg;
			break;
		case O_VERSION:
			a.version = optarg;
			break;
		case O_CMDLINE:
			a.cmdline = optarg;
			break;
		default:
			im_fail(&err, IM_EXIT_INVALID,
				"upgrade: unknown or incomplete flag (see "
				"installer upgrade --help)");
			return inst_report(&err);
		}
	}
	if (optind < argc)
		im_fail(&err, IM_EXIT_INVALID, "upgrade: unexpected argument \"%s\"", argv[optind]);
	else if (a.assets && a.bundle)
		im_fail(&err, IM_EXIT_INVALID,
			"upgrade: give --bundle FILE or --assets DIR, not both");
	else if (inst_setup(&epoch, &err) == 0 && run(&a, epoch, &err) == 0)
		return 0;
	return inst_report(&err);
}
