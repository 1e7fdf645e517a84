/* How many threads a parallel step uses (see include/imager/util/threads.h). */
#include "imager/util/threads.h"

#include <stdlib.h>
#include <unistd.h>

int im_compress_threads(int threads)
{
	if (threads > 0)
		return threads;
	const char *env = getenv("IMAGER_THREADS");
	if (env && atoi(env) > 0)
		return atoi(env);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}
