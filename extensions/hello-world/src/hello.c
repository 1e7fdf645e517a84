/*
 * The hello-world extension service: prints its greeting (--greeting=TEXT) and then waits
 * until it is told to stop (SIGTERM/SIGINT), as a long-running service does. Built static
 * (no libc in the extension's container root) by ../build.sh.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *greeting = "Hello from the hello-world system extension";
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--greeting=", 11) == 0) {
			greeting = argv[i] + 11;
		} else if (strcmp(argv[i], "--once") == 0) {
			printf("%s\n", greeting);
			return 0;
		} else {
			fprintf(stderr, "usage: %s [--greeting=TEXT] [--once]\n", argv[0]);
			return 2;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("%s\n", greeting);
	fflush(stdout);
	while (!stop)
		pause();
	return 0;
}
