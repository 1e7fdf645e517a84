/* Progress lines on a terminal (see include/imager/progress.h). */
#include "imager/util/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void draw(struct im_progress *p)
{
	const double gib = 1024.0 * 1024 * 1024;
	if (p->total)
		fprintf(stderr, "\r\033[Kimager: %s %3d%% (%.1f/%.1f GiB)", p->label,
			(int)(p->done * 100 / p->total), p->done / gib, p->total / gib);
	else
		fprintf(stderr, "\r\033[Kimager: %s %.1f GiB", p->label, p->done / gib);
	fflush(stderr);
	p->last_ms = now_ms();
}

void im_progress_start(struct im_progress *p, const char *label, uint64_t total, bool quiet)
{
	memset(p, 0, sizeof(*p));
	p->on = !quiet && isatty(STDERR_FILENO);
	snprintf(p->label, sizeof(p->label), "%s", label);
	p->total = total;
	if (p->on)
		draw(p);
}

void im_progress_add(struct im_progress *p, uint64_t n)
{
	p->done += n;
	if (p->on && now_ms() - p->last_ms >= 100)
		draw(p);
}

void im_progress_end(struct im_progress *p)
{
	if (p->on)
		fputs("\r\033[K", stderr); /* erase the line: the step's result is printed next */
	p->on = false;
}
