/* `installer upgrade`: write an assets folder into the inactive slot and arm a one-shot trial. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "installer.h"

enum { O_DISK = 256, O_ASSETS, O_NAME, O_VERSION, O_CMDLINE };

static const struct option opts[] = {
    {"disk", required_argument, NULL, O_DISK},
    {"assets", required_argument, NULL, O_ASSETS},
    {"name", required_argument, NULL, O_NAME},
    {"version", required_argument, NULL, O_VERSION},
    {"cmdline", required_argument, NULL, O_CMDLINE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fputs("usage: installer upgrade [--disk PATH] --assets DIR [--name N] [--version V]\n"
	      "                         [--cmdline STR]\n"
	      "  Writes DIR (vmlinuz, initramfs.xz; for systemd-boot uki.efi or\n"
	      "  systemd-stub.efi; optional cmdline, name, version files) into the slot that is\n"
	      "  not committed and arms it for one boot; META tag 6 = the committed slot.\n"
	      "  The command line defaults to DIR/cmdline, else the committed slot's.\n"
	      "  --disk defaults to the disk holding the META partition.\n",
	      f);
}

struct args {
	const char *disk, *assets, *name, *version, *cmdline;
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
	char *what = NULL, slot = 0;
	int rc = inst_assets_load(a->assets, &ia, err);
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
	return rc;
}

int cmd_upgrade(int argc, char **argv)
{
	struct im_error err = {0};
	struct args a = {0};
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
	else if (!a.assets)
		im_fail(&err, IM_EXIT_INVALID, "upgrade: --assets DIR is required");
	else if (inst_setup(&epoch, &err) == 0 && run(&a, epoch, &err) == 0)
		return 0;
	return inst_report(&err);
}
