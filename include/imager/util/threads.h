/* Thread counts of the parallel steps (zstd workers, xz blocks). Outputs never depend on
 * the count: each writer fixes its block layout first (compress.h, xzblocks.h). */
#ifndef IMAGER_UTIL_THREADS_H
#define IMAGER_UTIL_THREADS_H

/* threads > 0: that many. threads <= 0: $IMAGER_THREADS if set, else every online core. */
int im_compress_threads(int threads);

#endif
