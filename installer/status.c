/* `installer status`: slots, versions, which is committed, on trial or failed. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "installer.h"

static void usage(FILE *f)
{
	fputs("usage: installer status [--disk PATH]\n"
	      "  One line per fact: bootloader, committed, trial, previous (META tag 6), then per\n"
	      "  slot its state (committed, trial, failed, inactive, empty), name, version, UKI\n"
	      "  and command line. \"failed\" is a trial that was used up without a commit; on\n"
	      "  the running system that slot reads \"booted\" until it is committed.\n",
	      f);
}

static void print(const struct im_status *st, char running)
{
	printf("bootloader: %s\n", im_bootloader_name(st->bootloader));
	printf("sector-size: %u\n", st->sector_size);
	printf("committed: %c\n", st->committed ? st->committed : '-');
	printf("trial: %c\n", st->trial ? st->trial : '-');
	printf("previous: %c\n", st->previous ? st->previous : '-');
	for (int i = 0; i < 2; i++) {
		const struct im_slot_info *s = &st->slot[i];
		const char *state = im_slot_state_name(s->state);
		if (s->state == IM_SLOT_FAILED && running == s->slot)
			state = "booted";
		printf("slot %c: %s", s->slot, state);
		if (s->state != IM_SLOT_EMPTY)
			printf(" %s %s", s->name, s->version);
		printf("\n");
		if (s->uki[0])
			printf("slot %c uki: %s\n", s->slot, s->uki);
		if (s->cmdline)
			printf("slot %c cmdline: %s\n", s->slot, s->cmdline);
	}
}

int cmd_status(int argc, char **argv)
{
	struct im_error err = {0};
	const char *disk = NULL;
	int fd = -1;
	char *what = NULL;
	int parsed = inst_parse_disk_flag(argc, argv, "status", usage, &disk, &err);
	if (parsed != 0)
		return parsed > 0 ? 0 : inst_report(&err);
	struct im_status st;
	struct stat sb;
	if (optind < argc)
		im_fail(&err, IM_EXIT_INVALID, "status: unexpected argument \"%s\"", argv[optind]);
	else if (inst_open_disk(disk, 1, &fd, &what, &err) == 0 &&
		 im_status(fd, what, &st, &err) == 0) {
		/* the running system's own disk: its booted slot is not "failed" */
		int live = fstat(fd, &sb) == 0 && S_ISBLK(sb.st_mode);
		print(&st, live ? inst_booted_slot() : 0);
		im_status_free(&st);
		close(fd);
		free(what);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	free(what);
	return inst_report(&err);
}
