/* `imager schematic id|canonical FILE|-`: Image Factory schematic IDs (issue 14). The ID is
 * what Image Factory answers to POST /schematics for the same text, computed offline. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "imager/talos/schematic.h"

static const char usage_text[] =
    "usage: imager schematic id FILE|-          print the schematic's Image Factory ID\n"
    "       imager schematic canonical FILE|-   print the canonical YAML the ID hashes\n"
    "\n"
    "FILE is an Image Factory schematic (overlay: {image, name, options}, customization:\n"
    "{extraKernelArgs, meta, systemExtensions, secureboot, bootloader}); - reads stdin.\n"
    "Unknown fields are refused with their line:col, as Image Factory refuses them.\n"
    "Build with a schematic: imager PROFILE --schematic FILE.\n";

static const struct option opts[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *msg)
{
	fprintf(stderr, "imager: schematic: %s (see imager schematic --help)\n", msg);
	return IM_EXIT_INVALID;
}

int imager_cmd_schematic(int argc, char **argv)
{
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		}
		return imager_bad_flag("schematic", argv);
	}
	if (argc - optind != 2)
		return usage_error("expected id|canonical and one FILE or -");
	const char *what = argv[optind], *path = argv[optind + 1];
	bool id = !strcmp(what, "id");
	if (!id && strcmp(what, "canonical"))
		return usage_error("unknown subcommand (id, canonical)");
	struct im_error err = {0};
	struct im_schematic *s = NULL;
	char hex[65], *text = NULL;
	size_t len = 0;
	if (im_schematic_load(path, &s, &err) < 0 ||
	    (id ? im_schematic_id(s, hex, &err) : im_schematic_marshal(s, &text, &len, &err)) < 0) {
		im_schematic_free(s);
		return imager_report(&err);
	}
	if (id)
		printf("%s\n", hex);
	else
		fwrite(text, 1, len, stdout);
	free(text);
	im_schematic_free(s);
	if (fflush(stdout) || ferror(stdout)) {
		im_fail_errno(&err, IM_EXIT_IO, "standard output: write");
		return imager_report(&err);
	}
	return 0;
}
