/* Kernel command lines (lib/talos/cmdline.c): the first line is parsed as a command line
 * (a UKI's .cmdline, an overlay's kernel args), every further line is applied as a user's
 * --extra-kernel-arg (console replaces, -key and -key=value drop). */
#include "fuzz.h"

#include "imager/talos/cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_strndup(data, size), *save = NULL;
	struct im_cmdline *cl = im_cmdline_new();
	struct im_error err = {0};
	if (!cl)
		abort();
	char *line = strtok_r(s, "\n", &save);
	if (line)
		im_cmdline_append(cl, line, &err);
	while ((line = strtok_r(NULL, "\n", &save))) {
		memset(&err, 0, sizeof(err));
		im_cmdline_apply_user(cl, line, &err);
	}
	im_cmdline_count(cl, "console");
	im_cmdline_get(cl, "console", 0);
	char *r = im_cmdline_render(cl);
	if (r) {
		/* what was rendered parses back into the same command line */
		struct im_cmdline *back = im_cmdline_new();
		memset(&err, 0, sizeof(err));
		if (im_cmdline_append(back, r, &err) == 0) {
			char *r2 = im_cmdline_render(back);
			if (r2 && strcmp(r, r2))
				abort();
			free(r2);
		}
		im_cmdline_free(back);
	}
	free(r);
	im_cmdline_free(cl);
	free(s);
	return 0;
}
