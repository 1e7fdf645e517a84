/* Removing temporary outputs when the process is interrupted (see cleanup.h).
 *
 * The handler only uses async-signal-safe calls (POSIX.1-2017 §2.4.3): unlink, unlinkat,
 * openat, close, and getdents64 through syscall(2), with buffers on the stack; the table
 * is changed with the signals blocked, so the handler never sees a half-written slot. */
#include "imager/util/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

#define MAX_DEPTH 64 /* folder levels removed below a registered folder */

struct slot {
	char *path;
	bool dir;
};

static struct slot slots[IM_CLEANUP_SLOTS];
static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGABRT};

static void block(sigset_t *old)
{
	sigset_t s;
	sigemptyset(&s);
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
		sigaddset(&s, caught[i]);
	pthread_sigmask(SIG_BLOCK, &s, old);
}

int im_cleanup_add(const char *path, bool dir)
{
	char *copy = strdup(path);
	if (!copy)
		return 0;
	sigset_t old;
	int h = 0;
	block(&old);
	for (int i = 0; i < IM_CLEANUP_SLOTS && !h; i++)
		if (!slots[i].path) {
			slots[i].dir = dir;
			slots[i].path = copy;
			h = i + 1;
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!h)
		free(copy);
	return h;
}

void im_cleanup_forget(int handle)
{
	if (handle < 1 || handle > IM_CLEANUP_SLOTS)
		return;
	sigset_t old;
	block(&old);
	char *p = slots[handle - 1].path;
	slots[handle - 1].path = NULL;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(p);
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Remove name (in dirfd) and, if it is a folder, everything below it; true when it is
 * gone. Entries are read in passes until a pass removes nothing (removing while reading
 * may skip entries; what cannot be removed ends the passes). */
static bool remove_at(int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0)
		return true;
	if ((errno != EISDIR && errno != EPERM) || depth > MAX_DEPTH)
		return false;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	for (bool again = true; again;) {
		again = false;
		char buf[4096];
		long n;
		lseek(fd, 0, SEEK_SET);
		while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
			for (long off = 0; off < n;) {
				struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + off);
				off += e->d_reclen;
				const char *s = e->d_name;
				if (s[0] == '.' && (!s[1] || (s[1] == '.' && !s[2])))
					continue;
				if (remove_at(fd, s, depth + 1))
					again = true;
			}
	}
	close(fd);
	return unlinkat(dirfd, name, AT_REMOVEDIR) == 0;
}

void im_cleanup_run(void)
{
	int saved = errno;
	for (int i = 0; i < IM_CLEANUP_SLOTS; i++) {
		const char *p = slots[i].path;
		if (!p)
			continue;
		if (slots[i].dir)
			remove_at(AT_FDCWD, p, 0);
		else
			unlink(p);
	}
	errno = saved;
}

static void on_signal(int sig)
{
	im_cleanup_run();
	signal(sig, SIG_DFL);
	raise(sig); /* delivered when the handler returns: the default action, as if uncaught */
}

void im_cleanup_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
		sigaddset(&sa.sa_mask, caught[i]);
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++) {
		struct sigaction old;
		/* a signal ignored by the parent (nohup, a shell's background job) stays ignored */
		if (sigaction(caught[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(caught[i], &sa, NULL);
	}
#ifdef __SANITIZE_ADDRESS__
	/* A sanitizer report ends the process with _exit, not a signal: clean up there too. */
	__sanitizer_set_death_callback(im_cleanup_run);
#endif
}
