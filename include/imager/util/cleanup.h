/* What an interrupted process leaves behind: temporary outputs (outfile.h) and staging
 * folders are registered here while they exist, and removed when the process is stopped by
 * SIGINT, SIGTERM or SIGHUP, or aborts (SIGABRT, e.g. a sanitizer report); the signal then
 * takes its default course (the exit status still says which signal). SIGKILL cannot be
 * caught: nothing can be done about it. */
#ifndef IMAGER_UTIL_CLEANUP_H
#define IMAGER_UTIL_CLEANUP_H

#include <stdbool.h>

#define IM_CLEANUP_SLOTS 64 /* paths alive at once; more are not protected (not an error) */

/* Register a file (dir false) or a folder and all below it (dir true). Returns a handle
 * > 0 for im_cleanup_forget, or 0 when the path could not be registered. */
int im_cleanup_add(const char *path, bool dir);
/* The path is gone or renamed into place: no longer remove it. Handle 0 is ignored. */
void im_cleanup_forget(int handle);
/* Install the handlers (each program's main() calls this once, before any output). */
void im_cleanup_install(void);
/* Remove every registered path now, as the handlers do (async-signal-safe). */
void im_cleanup_run(void);

#endif
