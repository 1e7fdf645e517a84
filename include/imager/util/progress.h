/* Progress of a long step on a terminal (engineering rule 4): one line on stderr,
 * rewritten in place ("\r") at most ten times a second, cleared when the step ends. Silent
 * when stderr is not a TTY or when quiet, so logs and pipes never see it. */
#ifndef IMAGER_PROGRESS_H
#define IMAGER_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct im_progress {
	bool on;
	char label[128];
	uint64_t total, done;
	int64_t last_ms; /* CLOCK_MONOTONIC of the last line drawn */
};

/* `label` names the step ("compressing metal-arm64.raw.xz"); total in bytes (0: unknown). */
void im_progress_start(struct im_progress *p, const char *label, uint64_t total, bool quiet);
void im_progress_add(struct im_progress *p, uint64_t n);
void im_progress_end(struct im_progress *p);

#endif
