/* `imager mksquashfs DIR OUT` and `imager mkinitramfs DIR OUT`: pack a folder
 * reproducibly (sorted, root-owned, SOURCE_DATE_EPOCH times). pkgs/ uses them to make
 * the reference rootfs.sqsh and initramfs; users can pack their own trees the same way. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "imager/fs/cpio.h"
#include "imager/util/epoch.h"
#include "imager/fs/fstree.h"
#include "imager/fs/squashfs.h"

static int parse_level(const char *s, int *out, struct im_error *err)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 22)
		return im_fail(err, IM_EXIT_INVALID, "--level \"%s\": expected an integer 0..22",
			       s);
	*out = (int)v;
	return 0;
}

static int load_tree(const char *dir, struct im_tree **t, struct im_error *err)
{
	int64_t epoch;
	if (im_source_date_epoch(&epoch, err) < 0)
		return -1;
	return im_tree_from_dir(t, dir, epoch, err);
}

static const struct option pack_opts[] = {
    {"level", required_argument, NULL, 'l'},
    {"compress", required_argument, NULL, 'c'},
    {"threads", required_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int imager_cmd_mksquashfs(int argc, char **argv)
{
	struct im_error err = {0};
	struct im_squashfs_opts o = {0};
	int c, level = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hl:j:", pack_opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (parse_level(optarg, &level, &err) < 0)
				return imager_report(&err);
			o.level = level;
			break;
		case 'j':
			o.workers = (unsigned)atoi(optarg);
			break;
		case 'h':
			puts("usage: imager mksquashfs [--level N] [--threads N] DIR OUT.sqsh");
			return 0;
		default:
			return imager_bad_flag("mksquashfs", argv);
		}
	}
	if (argc - optind != 2) {
		fputs("usage: imager mksquashfs [--level N] [--threads N] DIR OUT.sqsh\n", stderr);
		return IM_EXIT_INVALID;
	}
	struct im_tree *t;
	if (load_tree(argv[optind], &t, &err) < 0)
		return imager_report(&err);
	int rc = im_squashfs_write(t, argv[optind + 1], &o, &err);
	im_tree_free(t);
	return rc < 0 ? imager_report(&err) : 0;
}

/* The kernel opens /dev/console for init's stdio before init runs; without the node
 * init starts with no stdio (init/main.c console_on_rootfs). */
static int add_console(struct im_tree *t, struct im_error *err)
{
	if (im_tree_lookup(t, "dev/console"))
		return 0;
	return im_tree_add_chrdev(t, "dev/console", 0600, 5, 1, err);
}

int imager_cmd_mkinitramfs(int argc, char **argv)
{
	struct im_error err = {0};
	struct im_cpio_opts o = {.compress = IM_COMPRESS_XZ, .level = -1, .threads = 0};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hl:c:j:", pack_opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (parse_level(optarg, &o.level, &err) < 0)
				return imager_report(&err);
			break;
		case 'c':
			if ((o.compress = im_compress_from_name(optarg)) ==
			    (enum im_compress) - 1) {
				im_fail(&err, IM_EXIT_INVALID,
					"--compress \"%s\": expected xz, zstd, gzip or none",
					optarg);
				return imager_report(&err);
			}
			break;
		case 'j':
			o.threads = atoi(optarg);
			break;
		case 'h':
			puts("usage: imager mkinitramfs [--compress xz|zstd|gzip|none] [--level N] "
			     "[--threads N] DIR OUT");
			return 0;
		default:
			return imager_bad_flag("mkinitramfs", argv);
		}
	}
	if (argc - optind != 2) {
		fputs("usage: imager mkinitramfs [--compress xz|zstd|gzip|none] DIR OUT\n", stderr);
		return IM_EXIT_INVALID;
	}
	struct im_tree *t;
	if (load_tree(argv[optind], &t, &err) < 0)
		return imager_report(&err);
	int rc = add_console(t, &err);
	if (rc == 0)
		rc = im_cpio_write(t, argv[optind + 1], &o, &err);
	im_tree_free(t);
	return rc < 0 ? imager_report(&err) : 0;
}
