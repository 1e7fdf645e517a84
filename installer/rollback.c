/* `installer rollback`: arm the slot that is not committed for one boot. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "installer.h"

static void usage(FILE *f)
{
	fputs("usage: installer rollback [--disk PATH]\n"
	      "  Arms the other slot (the one not committed) to boot once, as an upgrade would;\n"
	      "  once it runs, `installer commit` keeps it.\n",
	      f);
}

int cmd_rollback(int argc, char **argv)
{
	struct im_error err = {0};
	const char *disk = NULL;
	int64_t epoch;
	int fd = -1;
	char *what = NULL, slot = 0;
	int parsed = inst_parse_disk_flag(argc, argv, "rollback", usage, &disk, &err);
	if (parsed != 0)
		return parsed > 0 ? 0 : inst_report(&err);
	if (optind < argc)
		im_fail(&err, IM_EXIT_INVALID, "rollback: unexpected argument \"%s\"",
			argv[optind]);
	else if (inst_setup(&epoch, &err) == 0 && inst_open_disk(disk, 0, &fd, &what, &err) == 0 &&
		 im_rollback(fd, what, epoch, &slot, &err) == 0 && fsync(fd) == 0) {
		printf("armed slot %c for the next boot\n", slot);
		close(fd);
		free(what);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	free(what);
	return inst_report(&err);
}
