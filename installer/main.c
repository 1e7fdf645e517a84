/* installer: writes the OS onto a disk (block device or image file), upgrades the inactive
 * A/B slot, commits or rolls back (DESIGN.md §7). Verbs land one file each. */
#include <stdio.h>
#include <string.h>

#include "imager/error.h"

static void usage(FILE *f)
{
	fputs("usage: installer install --disk PATH [--image-mode] [--bootloader M] [--zero] [--force]\n"
	      "       installer upgrade --disk PATH --assets DIR\n"
	      "       installer commit | rollback | status [--disk PATH]\n"
	      "       installer meta get|set|delete ...\n",
	      f);
}

static const char *const verbs[] = {"install", "upgrade", "commit", "rollback", "status", "meta"};

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return IM_EXIT_INVALID;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (!strcmp(argv[1], verbs[i])) {
			fprintf(stderr, "installer: %s: not supported yet\n", argv[1]);
			return IM_EXIT_UNSUPPORTED;
		}
	}
	fprintf(stderr, "installer: unknown verb \"%s\" (see installer --help)\n", argv[1]);
	return IM_EXIT_INVALID;
}
