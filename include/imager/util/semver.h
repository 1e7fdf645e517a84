/* Semantic versions (https://semver.org/spec/v2.0.0.html) and the version ranges system
 * extensions use for `compatibility.talos.version` (DESIGN.md §5). The range syntax is
 * that of the Go library Talos uses (blang/semver ParseRange), which Talos feeds after
 * dropping every 'v' that precedes a digit:
 *   - a comparison is OP VERSION with OP one of  =  ==  !=  !  >  >=  <  <=  (none: =);
 *     spaces between the operator and the version are allowed (">= v1.6.0");
 *   - comparisons separated by spaces must all hold (AND): ">=1.0.0 <2.0.0";
 *   - "||" separates alternatives (OR): "<1.0.0 || >=2.0.0".
 * Versions are parsed tolerantly like blang's ParseTolerant: a leading 'v' is skipped
 * and a missing minor or patch number counts as 0 ("v1.6" = 1.6.0). */
#ifndef IMAGER_SEMVER_H
#define IMAGER_SEMVER_H

#include <stdbool.h>
#include <stdint.h>

#include "imager/util/error.h"

#define IM_SEMVER_PRE_MAX 128

struct im_semver {
	uint64_t major, minor, patch;
	char pre[IM_SEMVER_PRE_MAX]; /* pre-release identifiers ("rc.1"), "" for a release */
	/* build metadata ("+sha.1234") is checked for syntax and ignored (semver §10) */
};

/* Parse one version; `what` names it in errors (IM_EXIT_INVALID, "expected ..."). */
int im_semver_parse(const char *s, const char *what, struct im_semver *v, struct im_error *err);

/* Precedence (semver §11): <0, 0 or >0. Build metadata plays no part. */
int im_semver_cmp(const struct im_semver *a, const struct im_semver *b);

/* Does v satisfy `range`? Sets *ok and returns 0, or -1 (IM_EXIT_INVALID naming the range
 * and the offending part) when the range does not parse. */
int im_semver_range_check(const char *range, const struct im_semver *v, bool *ok,
			  struct im_error *err);

#endif
