/* Whole-file reads for inputs that are assembled in memory (PE stubs, kernels). */
#ifndef IMAGER_READFILE_H
#define IMAGER_READFILE_H

#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"

/* Read all of `path` into a malloc'd buffer (NUL-terminated after *len bytes, for text). `what`
 * says what the file is for the error
 * ("kernel", "systemd-stub"): a missing or unreadable file is IM_EXIT_MISSING naming both. */
int im_read_file(const char *path, const char *what, uint8_t **buf, size_t *len,
		 struct im_error *err);

#endif
