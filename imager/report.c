/* How every verb reports a failure: one line "imager: <message>" on stderr (commands.h). */
#include <stdio.h>
#include <unistd.h> /* optind */

#include "commands.h"
#include "imager/util/error.h"

int imager_report(const struct im_error *err)
{
	fprintf(stderr, "imager: %s\n", err->msg[0] ? err->msg : "unknown error");
	return err->code ? err->code : IM_EXIT_INTERNAL;
}

int imager_bad_flag(const char *verb, char **argv)
{
	fprintf(stderr, "imager: %s: unknown flag or missing value \"%s\" (see imager %s --help)\n",
		verb, argv[optind - 1], verb);
	return IM_EXIT_INVALID;
}
