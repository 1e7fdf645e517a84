/* installer: writes the OS onto a disk (block device or image file), upgrades the inactive
 * A/B slot, commits or rolls back (DESIGN.md §7). One file per verb; lib/install*.c does
 * the work, shared with the imager's disk images. */
#include <stdio.h>
#include <unistd.h> /* opterr, optind */
#include <string.h>

#include "installer.h"
#include "imager/util/cleanup.h"

static void usage(FILE *f)
{
	fputs("usage: installer install --disk PATH [--image-mode] [--bootloader M] [--zero] "
	      "[--force]\n"
	      "                         [--assets DIR] [--arch A] [--meta K=V]...\n"
	      "       installer upgrade [--disk PATH] --assets DIR\n"
	      "       installer commit [--disk PATH] [--slot A|B]\n"
	      "       installer rollback [--disk PATH]\n"
	      "       installer status [--disk PATH]\n"
	      "       installer meta [--disk PATH] get|set|delete|list ...\n"
	      "  installer VERB --help for the flags of a verb. Exit codes: 0 ok, 1 internal,\n"
	      "  2 invalid input, 3 unsupported, 4 environment, 5 missing input, 6 I/O,\n"
	      "  7 install failure.\n"
	      "Test hook: IMAGER_INSTALL_FAULT=N simulates a power loss at write point N of\n"
	      "  install, upgrade, commit, rollback or meta set (exit 6 \"simulated power loss\n"
	      "  at write N\"; nothing more is written); N:torn first writes the whole 512-byte\n"
	      "  sectors up to the middle of that write; count prints \"installer: N write\n"
	      "  points\" to stderr at exit. A write point is one write of a META copy, a FAT\n"
	      "  sector, directory entry or file data, or a whole GPT, filesystem or boot code.\n",
	      f);
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} verbs[] = {
    {"install", cmd_install},	{"upgrade", cmd_upgrade}, {"commit", cmd_commit},
    {"rollback", cmd_rollback}, {"status", cmd_status},	  {"meta", cmd_meta},
};

/* Library warnings: one line each, named like our errors. */
static void print_warning(const char *msg)
{
	fprintf(stderr, "installer: warning: %s\n", msg);
}

int main(int argc, char **argv)
{
	im_cleanup_install(); /* an interrupted run leaves no temporary output */
	im_set_warn_handler(print_warning);
	opterr = 0; /* every verb reports a bad flag itself, in one line */
	if (argc < 2) {
		usage(stderr);
		return IM_EXIT_INVALID;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "installer: unknown verb \"%s\" (see installer --help)\n", argv[1]);
	return IM_EXIT_INVALID;
}
