/* SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/): the one
 * timestamp every output uses. Unset means 0, so outputs are reproducible by default. */
#ifndef IMAGER_EPOCH_H
#define IMAGER_EPOCH_H

#include <stdint.h>

#include "imager/util/error.h"

/* Returns 0 and sets *out, or -1 (IM_EXIT_INVALID) when the variable is not a
 * non-negative decimal integer. */
int im_source_date_epoch(int64_t *out, struct im_error *err);

#endif
