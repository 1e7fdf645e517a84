/* SOURCE_DATE_EPOCH handling (reproducible-builds.org spec). */
#include "imager/util/epoch.h"

#include <errno.h>
#include <stdlib.h>

int im_source_date_epoch(int64_t *out, struct im_error *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	*out = 0;
	if (!s || !*s)
		return 0;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0 || s[0] < '0' || s[0] > '9')
		return im_fail(
		    err, IM_EXIT_INVALID,
		    "SOURCE_DATE_EPOCH=\"%s\": expected a non-negative integer (seconds)", s);
	*out = v;
	return 0;
}
