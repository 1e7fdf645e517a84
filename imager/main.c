/* imager: entry point and verb dispatch. */
#include <stdio.h>
#include <unistd.h> /* opterr */
#include <string.h>

#include "commands.h"
#include "imager/util/cleanup.h"
#include "imager/util/error.h"

static void usage(FILE *f)
{
	fputs("usage: imager PROFILE|- [flags]     build boot assets from a profile\n"
	      "       imager profiles              list the built-in profiles\n"
	      "       imager meta encode|decode    META values (see imager meta --help)\n"
	      "       imager inspect FILE          what a UKI / EFI binary holds (--json)\n"
	      "       imager kernel-check [KERNEL|CONFIG]  kernel options vs kernel-config/ "
	      "(--json)\n"
	      "       imager keys --output DIR     Secure Boot keys (see imager keys --help)\n"
	      "       imager sign --key K --cert C IN OUT   Authenticode-sign an EFI binary\n"
	      "       imager schematic id FILE|-   Image Factory schematic ID (imager PROFILE\n"
	      "                                    --schematic FILE builds with one)\n"
	      "       imager verify ARTIFACT       rebuild from ARTIFACT.build.json and compare\n"
	      "       imager mksquashfs DIR OUT    pack a folder as a reproducible squashfs\n"
	      "       imager mkinitramfs DIR OUT   pack a folder as a compressed newc initramfs\n"
	      "Run 'imager VERB --help' for a verb's flags.\n",
	      f);
}

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
};

static const struct verb verbs[] = {
    {"mksquashfs", imager_cmd_mksquashfs},
    {"mkinitramfs", imager_cmd_mkinitramfs},
    {"meta", imager_cmd_meta},
    {"profiles", imager_cmd_profiles},
    {"inspect", imager_cmd_inspect},
    {"kernel-check", imager_cmd_kernel_check},
    {"keys", imager_cmd_keys},
    {"sign", imager_cmd_sign},
    {"schematic", imager_cmd_schematic},
    {"verify", imager_cmd_verify},
};

/* Library warnings: one line each, named like our errors. */
static void print_warning(const char *msg)
{
	fprintf(stderr, "imager: warning: %s\n", msg);
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
	return imager_cmd_build(argc, argv);
}
