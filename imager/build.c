/* `imager PROFILE|- [flags]`: build an output from a profile. */
#include <stdio.h>

#include "commands.h"
#include "imager/error.h"

int imager_cmd_build(int argc, char **argv)
{
	(void)argc;
	struct im_error err = {0};
	im_fail(&err, IM_EXIT_UNSUPPORTED, "%s: building from a profile is not supported yet",
		argv[1]);
	return imager_report(&err);
}
