/*
 * /init of the reference initramfs: runs as PID 1, sets up the bare minimum (devtmpfs, proc,
 * sysfs, modules), mounts the read-only root squashfs with the system extensions stacked
 * above it (overlayfs), decodes META from the command line, prints one machine-readable
 * line per fact (`IMAGER-REPORT key=value`) for the tests, runs `installer commit` when the
 * boot entry asks for it (`imager.commit=1`), and powers off.
 *
 * There is no shell in the initramfs and the only other program is the installer, so this
 * program must do everything else itself and must never stop on a recoverable error: a
 * report line that says what failed is worth more to a test than a kernel panic.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

/*
 * Our own inflate (RFC 1951/1952), SHA-256 and INSTALLER_META_BASE64 decoder: a static init
 * has no zlib or OpenSSL. Included rather than linked so that this file stays the one
 * translation unit pkgs/payload.sh compiles; tests/unit/test_init_inflate.c tests them.
 */
#include "inflate.c"
#include "meta.c"
#include "../../lib/util/sha256.c" /* -I include: imager/util/sha256.h */

#define REPORT_PREFIX "IMAGER-REPORT "
#define CMDLINE_MAX   4096 /* larger than any architecture's COMMAND_LINE_SIZE */
#define REPORT_MAX    (CMDLINE_MAX + 256)
#define ERR_MAX	      192 /* failure reasons: "step path: strerror" */

#define MODULES_LIST   "/etc/modules.load"
#define ROOTFS_IMAGE   "/rootfs.sqsh"
#define ROOTFS_DIR     "/rootfs"
#define ROOTFS_MARKER  "/etc/imager-rootfs" /* inside the root */
#define EXT_CONFIG     "/extensions.yaml"   /* written by lib/extension.c, as Talos does */
#define LAYERS_DIR     "/layers"	    /* extension images are mounted on /layers/<i> */
#define SYSROOT	       "/sysroot"	    /* the overlay of root and extensions */
#define SERVICES_DIR   "/usr/local/etc/containers"
#define EXT_MAX	       32
#define META_ENV       "talos.environment=INSTALLER_META_BASE64="
#define EFI_DIR	       "/sys/firmware/efi"
#define EFIVARS_DIR    EFI_DIR "/efivars"
#define SECUREBOOT_VAR EFIVARS_DIR "/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
#define TPM_DIR	       "/sys/class/tpm/tpm0"
#define INSTALLER      "/usr/bin/installer" /* dynamically linked, see pkgs/payload.sh */
#define BLOCK_CLASS    "/sys/class/block"
#define DISK_WAIT_MS   20000 /* disk probing (SCSI/ATA scans) is asynchronous; slow under TCG */

/* ---- output ------------------------------------------------------------------------- */

/*
 * Writes the whole buffer. A console write normally completes in one call, which keeps a
 * line from being interleaved with kernel messages; the loop only covers the odd short write.
 */
static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* A human-readable diagnostic on the console ("init: ..."); tests do not parse these. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	write_all(STDERR_FILENO, line, (size_t)n);
}

/*
 * Prints `IMAGER-REPORT key=value` as a single write to stdout. Control characters in the
 * value are replaced so that one fact is always exactly one line for the parser.
 */
__attribute__((format(printf, 2, 3))) static void report(const char *key, const char *fmt, ...)
{
	char line[REPORT_MAX];
	va_list ap;
	int head = snprintf(line, sizeof(line), REPORT_PREFIX "%s=", key);

	if (head < 0 || (size_t)head >= sizeof(line) - 1)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line + head, sizeof(line) - (size_t)head - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	size_t len = (size_t)head + (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	for (size_t i = (size_t)head; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[len++] = '\n';
	write_all(STDOUT_FILENO, line, len);
}

/* A report line that is a bare fact with no value (`IMAGER-REPORT done`). */
static void report_flag(const char *key)
{
	char line[128];
	int n = snprintf(line, sizeof(line), REPORT_PREFIX "%s\n", key);

	if (n > 0 && (size_t)n < sizeof(line))
		write_all(STDOUT_FILENO, line, (size_t)n);
}

/* Records why a step failed into err (ERR_MAX bytes) and returns -1 for `return fail(...)`. */
static int fail(char *err, const char *step, const char *path, int errnum)
{
	snprintf(err, ERR_MAX, "%s %s: %s", step, path, strerror(errnum));
	return -1;
}

/* ---- small file helpers --------------------------------------------------------------- */

static bool path_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Reads up to size-1 bytes of a file and NUL-terminates; returns the length or -1 (errno). */
static ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return -1;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -1 : 0;
}

/* Cuts a string at its first newline (for "first line of" and one-line kernel files). */
static void first_line(char *s)
{
	s[strcspn(s, "\r\n")] = '\0';
}

/* ---- kernel command line -------------------------------------------------------------- */

/*
 * Copies the next word of a command line into out (size bytes) and advances *p. Words are
 * separated by whitespace; double quotes group spaces into a word and are removed, as the
 * kernel does for `key="a b"` and `"key=a b"`. Returns false when no word is left.
 */
static bool cmdline_next_word(const char **p, char *out, size_t size)
{
	const char *s = *p;
	bool quoted = false;
	size_t len = 0;

	while (*s && isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	for (; *s && (quoted || !isspace((unsigned char)*s)); s++) {
		if (*s == '"') {
			quoted = !quoted;
			continue;
		}
		if (len + 1 < size)
			out[len++] = *s;
	}
	out[len] = '\0';
	*p = s;
	return true;
}

/* True if the command line holds exactly this word (e.g. "quiet" or "imager.panic=1"). */
static bool cmdline_has(const char *cmdline, const char *word)
{
	char w[CMDLINE_MAX];

	while (cmdline_next_word(&cmdline, w, sizeof(w)))
		if (strcmp(w, word) == 0)
			return true;
	return false;
}

/*
 * Finds `key=value` (or a plain `key`, whose value is "") and copies the value into val.
 * The last occurrence wins, so an argument appended later overrides an earlier one.
 */
static bool cmdline_get(const char *cmdline, const char *key, char *val, size_t size)
{
	char w[CMDLINE_MAX];
	size_t klen = strlen(key);
	bool found = false;

	while (cmdline_next_word(&cmdline, w, sizeof(w))) {
		if (strncmp(w, key, klen) != 0 || (w[klen] != '=' && w[klen] != '\0'))
			continue;
		snprintf(val, size, "%s", w[klen] == '=' ? w + klen + 1 : "");
		found = true;
	}
	return found;
}

/* ---- early setup ---------------------------------------------------------------------- */

/* Mounts a filesystem; "already mounted" (EBUSY) is success, other errors are only told. */
static int mount_fs(const char *src, const char *target, const char *type, unsigned long flags)
{
	if (mount(src, target, type, flags, NULL) == 0 || errno == EBUSY)
		return 0;
	say("init: mount %s on %s: %s", type, target, strerror(errno));
	return -1;
}

/*
 * The kernel opens /dev/console for PID 1 from the initramfs, but if that failed fds 0-2
 * are closed and every report would vanish; reopening from devtmpfs makes sure they exist.
 */
static void setup_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);

	if (fd < 0)
		return;
	for (int i = 0; i <= 2; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

static void mount_early_filesystems(void)
{
	/* The Debian kernel has no DEVTMPFS_MOUNT: /dev/loopN only appears once we mount it. */
	mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID);
	setup_console();
	mount_fs("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	mount_fs("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	/* Only warnings and worse on the console, so kernel chatter doesn't split our lines. */
	if (write_file("/proc/sys/kernel/printk", "4") < 0)
		say("init: printk level: %s", strerror(errno));
}

/* ---- modules -------------------------------------------------------------------------- */

static int load_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	int rc = (int)syscall(SYS_finit_module, fd, "", 0);
	int saved = errno;
	close(fd);
	errno = saved;
	return (rc == 0 || errno == EEXIST) ? 0 : -1;
}

/*
 * Loads every module named in the list (one absolute path a line, already in dependency
 * order, so no resolution here). A failing module is told and skipped: the report then
 * shows which feature is missing, which is more useful than stopping.
 */
static void load_modules(const char *list)
{
	FILE *f = fopen(list, "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return; /* no list: everything needed is built in */
	while (getline(&line, &cap, f) >= 0) {
		char *path = line;
		while (isspace((unsigned char)*path))
			path++;
		size_t len = strlen(path);
		while (len > 0 && isspace((unsigned char)path[len - 1]))
			path[--len] = '\0';
		if (len == 0 || path[0] == '#')
			continue;
		if (load_module(path) < 0)
			say("init: module %s: %s", path, strerror(errno));
	}
	free(line);
	fclose(f);
}

/* ---- loop devices and squashfs -------------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* devtmpfs creates /dev/loopN asynchronously after LOOP_CTL_GET_FREE, so wait up to ~2 s. */
static int open_loop_device(const char *dev)
{
	for (int tries = 0;; tries++) {
		int fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT || tries >= 200)
			return fd;
		sleep_ms(10);
	}
}

/*
 * Binds an open image to an open loop device, read-only and auto-clearing (the device
 * detaches itself once the last user, i.e. the mount, goes away). LOOP_CONFIGURE does it
 * in one step (5.8+); older kernels answer EINVAL/ENOTTY and get LOOP_SET_FD + status.
 * Returns 0 or -1 with errno.
 */
static int loop_bind(int loopfd, int imgfd, const char *image)
{
	struct loop_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (unsigned int)imgfd;
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", image);
	if (ioctl(loopfd, LOOP_CONFIGURE, &cfg) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTTY)
		return -1;

	/* LOOP_SET_FD makes the device read-only by itself because imgfd is O_RDONLY. */
	if (ioctl(loopfd, LOOP_SET_FD, imgfd) < 0)
		return -1;
	if (ioctl(loopfd, LOOP_SET_STATUS64, &cfg.info) < 0) {
		int saved = errno;
		ioctl(loopfd, LOOP_CLR_FD, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * Attaches an image file read-only to a free loop device and writes its path ("/dev/loopN")
 * into dev. Returns the open loop fd: the caller closes it after mounting (with autoclear,
 * closing without a mount releases the device again). On failure returns -1 and err says
 * which step failed. Reused for every layer (root, extensions).
 */
static int loop_attach(const char *image, char *dev, size_t devsize, char *err)
{
	int imgfd = open(image, O_RDONLY | O_CLOEXEC);
	if (imgfd < 0)
		return fail(err, "open", image, errno);
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		close(imgfd);
		return fail(err, "open", "/dev/loop-control", errno);
	}

	int loopfd = -1;
	/* Another attacher may take "our" free device between GET_FREE and bind: try again. */
	for (int attempt = 0; attempt < 8 && loopfd < 0; attempt++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			fail(err, "LOOP_CTL_GET_FREE", "/dev/loop-control", errno);
			break;
		}
		snprintf(dev, devsize, "/dev/loop%d", n);
		loopfd = open_loop_device(dev);
		if (loopfd < 0) {
			fail(err, "open", dev, errno);
			break;
		}
		if (loop_bind(loopfd, imgfd, image) == 0)
			break;
		int saved = errno;
		close(loopfd);
		loopfd = -1;
		fail(err, "attach", dev, saved);
		if (saved != EBUSY)
			break;
	}
	close(ctl);
	close(imgfd); /* the loop device holds its own reference to the file */
	return loopfd;
}

static int mount_squashfs(const char *dev, const char *target, char *err)
{
	if (mount(dev, target, "squashfs", MS_RDONLY, NULL) < 0)
		return fail(err, "mount squashfs", dev, errno);
	return 0;
}

/* Loop-attaches a squashfs image and mounts it read-only on target. 0 or -1 with err. */
static int mount_squashfs_image(const char *image, const char *target, char *err)
{
	char dev[32];
	int loopfd = loop_attach(image, dev, sizeof(dev), err);

	if (loopfd < 0)
		return -1;
	int rc = mount_squashfs(dev, target, err);
	close(loopfd);
	return rc;
}

/* ---- report lines --------------------------------------------------------------------- */

static const char *arch_name(const char *machine)
{
	if (strcmp(machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(machine, "aarch64") == 0)
		return "arm64";
	return machine;
}

static void report_arch(void)
{
	struct utsname u;

	if (uname(&u) < 0)
		report("arch", "unknown");
	else
		report("arch", "%s", arch_name(u.machine));
}

/* ---- system extensions ---------------------------------------------------------------- */

struct layer {
	char image[64], name[64], version[64];
};

/* A YAML scalar as lib/extension.c writes it: double-quoted with \" \\ \n \t \xNN, or plain. */
static void yaml_value(const char *s, char *out, size_t size)
{
	size_t n = 0;

	if (*s != '"') {
		snprintf(out, size, "%s", s);
		return;
	}
	for (s++; *s && *s != '"'; s++) {
		char c = *s;
		if (c == '\\' && s[1]) {
			c = *++s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
			if (*s == 'x' && isxdigit((unsigned char)s[1]) &&
			    isxdigit((unsigned char)s[2])) {
				char hex[3] = {s[1], s[2], 0};
				c = (char)strtol(hex, NULL, 16);
				s += 2;
			}
		}
		if (n + 1 < size)
			out[n++] = c;
	}
	out[n] = '\0';
}

/*
 * Reads /extensions.yaml, the exact format the imager writes (include/imager/extension.h):
 * "- image:" starts a layer, "name:" and "version:" of its metadata follow. Returns the
 * number of layers (0..EXT_MAX) or -1 with err.
 */
static int read_ext_config(struct layer *layers, char *err)
{
	FILE *f = fopen(EXT_CONFIG, "re");
	char *line = NULL;
	size_t cap = 0;
	int n = 0, rc = 0;

	if (!f)
		return fail(err, "open", EXT_CONFIG, errno);
	while (rc == 0 && getline(&line, &cap, f) >= 0) {
		char *p = line + strspn(line, " ");
		if (p[0] == '-' && p[1] == ' ')
			p += 2 + strspn(p + 2, " ");
		first_line(p);
		char *colon = strstr(p, ": ");
		if (!colon)
			continue;
		*colon = '\0';
		if (strcmp(p, "image") == 0 && n == EXT_MAX)
			rc = fail(err, "too many layers in", EXT_CONFIG, E2BIG);
		else if (strcmp(p, "image") == 0)
			yaml_value(colon + 2, layers[n++].image, sizeof(layers->image));
		else if (n && strcmp(p, "name") == 0)
			yaml_value(colon + 2, layers[n - 1].name, sizeof(layers->name));
		else if (n && strcmp(p, "version") == 0)
			yaml_value(colon + 2, layers[n - 1].version, sizeof(layers->version));
	}
	free(line);
	fclose(f);
	return rc < 0 ? -1 : n;
}

/*
 * Mounts each layer's image on /layers/<i> and the overlay on /sysroot, read-only, with the
 * root squashfs at the bottom and extension i above extension i-1: overlayfs takes the
 * upper-most lower directory first (Documentation/filesystems/overlayfs.rst "Multiple lower
 * layers"), so lowerdir=/layers/<n-1>:...:/layers/0:/rootfs, as Talos's init does.
 */
static int mount_layers(struct layer *layers, int n, char *err)
{
	char image[96], dir[32], opts[64 + EXT_MAX * 16] = "lowerdir=";

	mkdir(LAYERS_DIR, 0755);
	for (int i = 0; i < n; i++) {
		const char *name = layers[i].image;
		if (!*name || strchr(name, '/') || name[0] == '.')
			return fail(err, "bad image name in", EXT_CONFIG, EINVAL);
		snprintf(image, sizeof(image), "/%.63s", name);
		snprintf(dir, sizeof(dir), LAYERS_DIR "/%d", i);
		mkdir(dir, 0755);
		if (mount_squashfs_image(image, dir, err) < 0)
			return -1;
	}
	for (int i = n - 1; i >= 0; i--)
		snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts), LAYERS_DIR "/%d:", i);
	snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts), "%s", ROOTFS_DIR);
	mkdir(SYSROOT, 0755);
	if (mount("overlay", SYSROOT, "overlay", MS_RDONLY, opts) < 0)
		return fail(err, "mount overlay", SYSROOT, errno);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Extension services: <root>/usr/local/etc/containers/<name>.yaml, in name order. */
static void report_services(const char *root)
{
	char dir[128], path[512], *names[64];
	struct dirent *de;
	struct stat st;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s" SERVICES_DIR, root);
	DIR *d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) && n < 64) {
		size_t len = strlen(de->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0 && stat(path, &st) == 0 &&
		    S_ISREG(st.st_mode) && (names[n] = strndup(de->d_name, len - 5)))
			n++;
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), cmp_names);
	for (int i = 0; i < n; i++) {
		report("ext-service", "%s", names[i]);
		free(names[i]);
	}
}

/* With /extensions.yaml, stacks the layers and returns the merged root; else /rootfs. */
static const char *setup_extensions(void)
{
	static struct layer layers[EXT_MAX];
	char err[ERR_MAX];
	int n;

	if (!path_exists(EXT_CONFIG))
		return ROOTFS_DIR;
	memset(layers, 0, sizeof(layers));
	if ((n = read_ext_config(layers, err)) < 0 || (n > 0 && mount_layers(layers, n, err) < 0)) {
		report("ext-error", "%s", err);
		return ROOTFS_DIR;
	}
	if (n == 0)
		return ROOTFS_DIR;
	for (int i = 0; i < n; i++) /* bottom to top */
		report("ext", "%d:%s:%s", i, layers[i].name, layers[i].version);
	report_services(SYSROOT);
	return SYSROOT;
}

static void report_rootfs(void)
{
	char err[ERR_MAX];
	char marker[256], path[128];

	if (mount_squashfs_image(ROOTFS_IMAGE, ROOTFS_DIR, err) < 0) {
		report("rootfs-error", "%s", err);
		return;
	}
	snprintf(path, sizeof(path), "%s" ROOTFS_MARKER, setup_extensions());
	if (read_file(path, marker, sizeof(marker)) < 0) {
		fail(err, "read", path, errno);
		report("rootfs-error", "%s", err);
		return;
	}
	first_line(marker);
	report("rootfs", "%s", marker);
}

/* ---- META ----------------------------------------------------------------------------- */

static void report_meta_value(unsigned key, const uint8_t *value, size_t len, void *ctx)
{
	char hex[65];

	(void)ctx;
	im_sha256_hex(value, len, hex);
	report("meta", "0x%x:%s", key, hex);
}

/*
 * META values from `talos.environment=INSTALLER_META_BASE64=<v>` (DESIGN.md §7), one line
 * per value in order: `meta=<key>:<sha256 of the value>`. Digests, not values: values may
 * be long or hold anything, and the tests know what they sent.
 */
static void report_meta(const char *cmdline)
{
	char w[CMDLINE_MAX];

	while (cmdline_next_word(&cmdline, w, sizeof(w))) {
		if (strncmp(w, META_ENV, strlen(META_ENV)) != 0)
			continue;
		uint8_t *text = NULL;
		size_t len;
		const char *why = NULL;
		if (meta_decode(w + strlen(META_ENV), &text, &len, &why) < 0 ||
		    meta_parse(text, len, report_meta_value, NULL, &why) < 0)
			report("meta-error", "%s", why);
		free(text);
		return;
	}
}

/* The SecureBoot variable is 4 bytes of attributes followed by a 1-byte boolean. */
static bool secure_boot_enabled(void)
{
	char buf[16];
	ssize_t n = read_file(SECUREBOOT_VAR, buf, sizeof(buf));

	return n >= 5 && buf[4] == 1;
}

/*
 * PCR 11 is where systemd-stub measures the UKI (sections only: no systemd-pcrphase runs
 * here, so it stays as the stub left it — `imager inspect`'s "stub" prediction). One line per
 * bank the TPM has (sysfs pcr-<bank>/, 5.12+): pcr11-sha256=<hex> …; tpm=absent without one.
 */
static void report_pcr11(void)
{
	static const char *const banks[] = {"sha1", "sha256", "sha384", "sha512"};

	if (!path_exists(TPM_DIR)) {
		report("tpm", "absent");
		return;
	}
	char ver[16];
	if (read_file(TPM_DIR "/tpm_version_major", ver, sizeof(ver)) > 0) {
		first_line(ver);
		report("tpm", "%s", ver);
	} else
		report("tpm", "present");
	for (size_t b = 0; b < sizeof(banks) / sizeof(banks[0]); b++) {
		char path[64], key[32], raw[256], hex[256];
		size_t len = 0;

		snprintf(path, sizeof(path), TPM_DIR "/pcr-%s/11", banks[b]);
		if (read_file(path, raw, sizeof(raw)) < 0)
			continue;
		for (const char *s = raw; *s && len < sizeof(hex) - 1; s++)
			if (!isspace((unsigned char)*s))
				hex[len++] = (char)tolower((unsigned char)*s);
		hex[len] = '\0';
		snprintf(key, sizeof(key), "pcr11-%s", banks[b]);
		report(key, "%s", hex);
	}
}

/* ---- A/B slots ------------------------------------------------------------------------ */

/*
 * The boot slot the installer wrote into this entry's command line (`imager.slot=A|B`,
 * DESIGN.md §7).
 */
static void report_slot(const char *cmdline)
{
	char v[CMDLINE_MAX];

	if (cmdline_get(cmdline, "imager.slot", v, sizeof(v)) &&
	    (!strcmp(v, "A") || !strcmp(v, "B")))
		report("slot", "%s", v);
}

/* Is a partition named META known to the kernel? The same sysfs test as the installer's. */
static bool meta_partition_present(void)
{
	DIR *d = opendir(BLOCK_CLASS);
	struct dirent *de;
	char path[300], buf[4096];
	bool found = false;

	while (d && !found && (de = readdir(d))) {
		snprintf(path, sizeof(path), BLOCK_CLASS "/%s/uevent", de->d_name);
		if (read_file(path, buf, sizeof(buf)) >= 0 && strstr(buf, "\nPARTNAME=META\n"))
			found = true;
	}
	if (d)
		closedir(d);
	return found;
}

/*
 * The disk driver is loaded but its disks may still be probing: give the META partition
 * DISK_WAIT_MS to appear. Without it the installer runs anyway and says what it missed.
 */
static void wait_for_meta_partition(void)
{
	for (int waited = 0; waited < DISK_WAIT_MS; waited += 50) {
		if (meta_partition_present())
			return;
		sleep_ms(50);
	}
	say("init: no META partition after %d ms", DISK_WAIT_MS);
}

/*
 * Runs the installer with argv and waits for it. Its stdout goes to the console; its
 * stderr is read through a pipe, copied to the console and its first line kept in err
 * (else a description of how it ended). Returns its exit status, or -1 if it did not run
 * or did not exit normally.
 */
static int run_installer(char *const argv[], char *err)
{
	static char *const envp[] = {"PATH=/usr/bin", NULL};
	char buf[512];
	int pfd[2], status;
	size_t kept = 0;

	if (pipe(pfd) < 0)
		return fail(err, "pipe for", INSTALLER, errno);
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return fail(err, "fork for", INSTALLER, errno);
	}
	if (pid == 0) {
		dup2(pfd[1], STDERR_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execve(INSTALLER, argv, envp);
		say("init: exec " INSTALLER ": %s", strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	err[0] = '\0';
	for (;;) {
		ssize_t n = read(pfd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		write_all(STDERR_FILENO, buf, (size_t)n);
		/* keep the first line (the installer prints one per failure) */
		for (ssize_t i = 0; i < n && kept < ERR_MAX - 1 && !memchr(err, '\n', kept); i++)
			err[kept++] = buf[i];
		err[kept] = '\0';
	}
	close(pfd[0]);
	first_line(err);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return fail(err, "wait for", INSTALLER, errno);
	if (WIFEXITED(status)) {
		if (!err[0] && WEXITSTATUS(status))
			snprintf(err, ERR_MAX, INSTALLER " exited with status %d",
				 WEXITSTATUS(status));
		return WEXITSTATUS(status);
	}
	snprintf(err, ERR_MAX, INSTALLER " killed by signal %d", WTERMSIG(status));
	return -1;
}

/*
 * `imager.commit=1`: this boot is healthy, so make its slot permanent with `installer
 * commit` (it finds the disk with the META partition and the slot from imager.slot=).
 * Reports commit=ok, or commit=failed and commit-error=<the installer's message>.
 */
static void commit_slot(void)
{
	static char *const argv[] = {"installer", "commit", NULL};
	char err[ERR_MAX];

	wait_for_meta_partition();
	if (run_installer(argv, err) == 0) {
		report("commit", "ok");
		return;
	}
	report("commit", "failed");
	report("commit-error", "%s", err);
}

/* ---- main ----------------------------------------------------------------------------- */

static void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* Returning from PID 1 would panic the kernel; wait for the end instead. */
	for (;;)
		pause();
}

int main(void)
{
	char cmdline[CMDLINE_MAX] = "";

	/* Mounting and powering off are only right for the real PID 1 (or a PID namespace). */
	if (getpid() != 1) {
		say("init: not running as PID 1, refusing to touch this system");
		return 2;
	}

	mount_early_filesystems();
	load_modules(MODULES_LIST);
	bool efi = path_exists(EFI_DIR);
	if (efi)
		mount_fs("efivarfs", EFIVARS_DIR, "efivarfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);

	if (read_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
		say("init: /proc/cmdline: %s", strerror(errno));
	first_line(cmdline);

	report("boot", "ok");
	report_slot(cmdline);
	/* PID 1 exiting panics the kernel: tests use it to simulate a broken OS. */
	if (cmdline_has(cmdline, "imager.panic=1")) {
		report("panic", "requested");
		exit(1);
	}
	report_arch();
	report("cmdline", "%s", cmdline);
	report_rootfs();
	report_meta(cmdline);
	report("efi", "%d", efi);
	report("secureboot", "%d", efi && secure_boot_enabled());
	report_pcr11();
	if (cmdline_has(cmdline, "imager.commit=1"))
		commit_slot();
	report_flag("done");

	power_off();
	return 0;
}
