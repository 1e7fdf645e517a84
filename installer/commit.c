/* `installer commit`: make the running (or given) slot the committed one. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "installer.h"

static const struct option opts[] = {
    {"disk", required_argument, NULL, 'd'},
    {"slot", required_argument, NULL, 's'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fputs("usage: installer commit [--disk PATH] [--slot A|B]\n"
	      "  Makes the slot permanent (run by the booted OS when it is healthy) and clears\n"
	      "  META tag 6. The slot defaults to imager.slot= of the running kernel's command\n"
	      "  line, the disk to the one holding the META partition.\n",
	      f);
}

/*
 * Commits slot on the open disk. A slot that is already committed with no trial armed is
 * left alone: the booted OS runs commit on every healthy boot, and committing again would
 * clear META tag 6, the record that the last upgrade failed (which status shows until the
 * next upgrade or rollback), and write the disk for nothing.
 */
static int commit_disk(int fd, const char *what, char slot, int64_t epoch, struct im_error *err)
{
	struct im_status st;
	if (im_status(fd, what, &st, err) < 0)
		return -1;
	int done = st.committed == slot && !st.trial;
	im_status_free(&st);
	if (done) {
		printf("slot %c is already committed\n", slot);
		return 0;
	}
	if (im_commit(fd, what, slot, epoch, err) < 0)
		return -1;
	if (fsync(fd) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s: cannot flush the disk", what);
	printf("committed slot %c\n", slot);
	return 0;
}

int cmd_commit(int argc, char **argv)
{
	struct im_error err = {0};
	const char *disk = NULL, *slot_arg = NULL;
	int64_t epoch;
	int c, fd = -1;
	char *what = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == 'd')
			disk = optarg;
		else if (c == 's')
			slot_arg = optarg;
		else
			return im_fail(&err, IM_EXIT_INVALID,
				       "commit: unknown or incomplete flag "
				       "(see installer commit --help)"),
			       inst_report(&err);
	}
	char slot = slot_arg ? slot_arg[0] : inst_booted_slot();
	if (optind < argc)
		im_fail(&err, IM_EXIT_INVALID, "commit: unexpected argument \"%s\"", argv[optind]);
	else if (slot_arg && ((slot != 'A' && slot != 'B') || slot_arg[1]))
		im_fail(&err, IM_EXIT_INVALID, "commit: --slot \"%s\": expected A or B", slot_arg);
	else if (!slot)
		im_fail(&err, IM_EXIT_INVALID,
			"commit: no --slot and no imager.slot= on the kernel command line");
	else if (inst_setup(&epoch, &err) == 0 && inst_open_disk(disk, 0, &fd, &what, &err) == 0 &&
		 commit_disk(fd, what, slot, epoch, &err) == 0) {
		close(fd);
		free(what);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	free(what);
	return inst_report(&err);
}
