/* Helpers shared by the installer's verbs: disks, assets folders, sizes, errors. */
#include <ctype.h>
#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "imager/util/epoch.h"
#include "imager/util/readfile.h"
#include "imager/disk/gpt.h"
#include "installer.h"

int inst_report(struct im_error *err)
{
	fprintf(stderr, "installer: %s\n", err->msg[0] ? err->msg : "failed");
	return err->code ? err->code : IM_EXIT_INTERNAL;
}

int inst_parse_disk_flag(int argc, char **argv, const char *verb, void (*usage)(FILE *),
			 const char **disk, struct im_error *err)
{
	static const struct option opts[] = {
	    {"disk", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c != 'd')
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: unknown or incomplete flag (see installer %s --help)",
				       verb, verb);
		*disk = optarg;
	}
	return 0;
}

static void print_write_points(void)
{
	fprintf(stderr, "installer: %u write points\n", im_install_writes);
}

/* $IMAGER_INSTALL_FAULT, the power-loss test hook (installer --help): "N" cuts the power
 * at write point N, "N:torn" tears it first, "count" prints the number of write points
 * the run passed, at exit. */
static int fault_setup(const char *f, struct im_error *err)
{
	char *end;
	if (!strcmp(f, "count"))
		return atexit(print_write_points) == 0
			   ? 0
			   : im_fail(err, IM_EXIT_INTERNAL, "atexit failed");
	unsigned long n = strtoul(f, &end, 10);
	if (end == f || n == 0 || n > UINT_MAX || (*end && strcmp(end, ":torn")))
		return im_fail(err, IM_EXIT_INVALID,
			       "IMAGER_INSTALL_FAULT=\"%s\": expected N, N:torn or count", f);
	im_install_fault_at = (unsigned)n;
	im_install_fault_torn = *end != 0;
	return 0;
}

int inst_setup(int64_t *epoch, struct im_error *err)
{
	const char *f = getenv("IMAGER_INSTALL_FAULT");
	if (f && *f && fault_setup(f, err) < 0)
		return -1;
	return im_source_date_epoch(epoch, err);
}

/* The whole disk holding the partition named META, from sysfs uevent files. */
static char *find_system_disk(void)
{
	DIR *d = opendir("/sys/class/block");
	struct dirent *e;
	char p[PATH_MAX], buf[4096], real[PATH_MAX], *out = NULL;
	while (d && !out && (e = readdir(d))) {
		snprintf(p, sizeof(p), "/sys/class/block/%s/uevent", e->d_name);
		FILE *f = fopen(p, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = 0;
		if (!strstr(buf, "\nPARTNAME=META\n"))
			continue;
		snprintf(p, sizeof(p), "/sys/class/block/%s/..", e->d_name);
		if (realpath(p, real) && asprintf(&out, "/dev/%s", strrchr(real, '/') + 1) < 0)
			out = NULL;
	}
	if (d)
		closedir(d);
	return out;
}

int inst_open_disk(const char *path, int rdonly, int *fd, char **what, struct im_error *err)
{
	char *p = path ? strdup(path) : find_system_disk();
	if (!p)
		return im_fail(err, path ? IM_EXIT_INTERNAL : IM_EXIT_ENV,
			       path ? "out of memory"
				    : "no --disk given and no disk with a META partition found");
	*fd = open(p, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (*fd < 0) {
		im_fail_errno(err, im_exit_for_input_errno(errno), "%s: cannot open the disk", p);
		free(p);
		return -1;
	}
	*what = p;
	if (rdonly)
		return 0;
	/* Before a verb writes: a table pointing outside the disk is refused here, and a
	 * corrupt primary GPT is rewritten from the backup (one warning line). */
	struct im_gpt_disk d;
	if (im_install_read_gpt(*fd, p, true, &d, err) < 0) {
		close(*fd);
		*fd = -1;
		free(p);
		*what = NULL;
		return -1;
	}
	im_gpt_disk_free(&d);
	return 0;
}

/* "/sys/dev/block/M:m" resolved: the disk's or partition's sysfs folder. */
static int sysfs_of(unsigned ma, unsigned mi, char *out)
{
	char p[64];
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", ma, mi);
	return realpath(p, out) ? 0 : -1;
}

/* Is anything from /proc/self/mountinfo (field 3: major:minor) on the disk or a partition? */
static int mounted(dev_t dev)
{
	char disk[PATH_MAX], part[PATH_MAX], line[4096];
	if (sysfs_of(major(dev), minor(dev), disk) < 0)
		return 0;
	size_t dl = strlen(disk);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int hit = 0;
	while (f && !hit && fgets(line, sizeof(line), f)) {
		unsigned ma, mi;
		if (sscanf(line, "%*u %*u %u:%u", &ma, &mi) != 2)
			continue;
		if (ma == major(dev) && mi == minor(dev))
			hit = 1;
		else if (sysfs_of(ma, mi, part) == 0 && !strncmp(part, disk, dl) && part[dl] == '/')
			hit = 1;
	}
	if (f)
		fclose(f);
	return hit;
}

int inst_check_unused(const char *path, int force, struct im_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode) || force)
		return 0;
	if (mounted(st.st_rdev))
		return im_fail(err, IM_EXIT_INSTALL,
			       "%s: the disk or one of its partitions is mounted (--force to "
			       "install anyway)",
			       path);
	int fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0 && errno == EBUSY)
		return im_fail(err, IM_EXIT_INSTALL,
			       "%s: the disk is in use (--force to install "
			       "anyway)",
			       path);
	if (fd >= 0)
		close(fd);
	return 0;
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

char *inst_default_assets(const char *arch)
{
	const char *env = getenv("IMAGER_INPUTS");
	const char *fmt[] = {IMAGER_SOURCE_DIR "/out/install/%s", "/usr/install/%s",
			     IMAGER_PREFIX "/share/imager/install/%s"};
	char *p;
	if (env && *env)
		return strdup(env);
	for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		if (asprintf(&p, fmt[i], arch) < 0)
			return NULL;
		if (is_dir(p))
			return p;
		free(p);
	}
	return NULL;
}

/* dir/name when it exists, else NULL (or -1 on OOM). */
static int optional(const char *dir, const char *name, char **out)
{
	*out = NULL;
	if (asprintf(out, "%s/%s", dir, name) < 0)
		return -1;
	if (access(*out, F_OK) < 0) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

/* First line of a small text file, blanks trimmed. */
static int read_line(const char *dir, const char *name, char **out, struct im_error *err)
{
	char *p;
	uint8_t *buf;
	size_t len;
	if (optional(dir, name, &p) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	*out = NULL;
	if (!p)
		return 0;
	int rc = im_read_file(p, name, &buf, &len, err);
	free(p);
	if (rc < 0)
		return -1;
	char *s = (char *)buf;
	s[strcspn(s, "\n")] = 0;
	for (size_t n = strlen(s); n && isspace((unsigned char)s[n - 1]); n--)
		s[n - 1] = 0;
	*out = strdup(s + strspn(s, " \t"));
	free(buf);
	return 0;
}

/* The whole content of dir/name as a string when it exists, else NULL. */
static int read_text(const char *dir, const char *name, char **out, struct im_error *err)
{
	char *p;
	size_t len;
	if (optional(dir, name, &p) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	*out = NULL;
	if (!p)
		return 0;
	int rc = im_read_file(p, name, (uint8_t **)out, &len, err);
	free(p);
	return rc;
}

/* esp/ of an assets folder: every regular file, by its path below esp/, sorted. */
static struct inst_assets *esp_walk_ia;
static size_t esp_walk_base;
static int esp_walk_fail;

static int esp_visit(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	struct inst_assets *ia = esp_walk_ia;
	if (flag != FTW_F)
		return 0;
	struct im_install_file *n = realloc(ia->esp, (ia->n_esp + 1) * sizeof(*n));
	if (!n) {
		esp_walk_fail = 1;
		return 1;
	}
	ia->esp = n;
	n[ia->n_esp].path = strdup(path + esp_walk_base);
	n[ia->n_esp].src = strdup(path);
	n[ia->n_esp].data = NULL;
	n[ia->n_esp].len = 0;
	ia->n_esp++;
	return 0;
}

static int esp_cmp(const void *a, const void *b)
{
	return strcmp(((const struct im_install_file *)a)->path,
		      ((const struct im_install_file *)b)->path);
}

static int load_esp(const char *dir, struct inst_assets *ia, struct im_error *err)
{
	char *p;
	if (optional(dir, "esp", &p) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (!p)
		return 0;
	esp_walk_ia = ia;
	esp_walk_base = strlen(p) + 1;
	esp_walk_fail = 0;
	int rc = nftw(p, esp_visit, 16, FTW_PHYS);
	free(p);
	if (rc != 0 || esp_walk_fail)
		return im_fail(err, esp_walk_fail ? IM_EXIT_INTERNAL : IM_EXIT_MISSING,
			       "%s/esp: cannot read the folder", dir);
	if (ia->n_esp)
		qsort(ia->esp, ia->n_esp, sizeof(*ia->esp), esp_cmp);
	return 0;
}

int inst_assets_load(const char *dir, struct inst_assets *ia, struct im_error *err)
{
	memset(ia, 0, sizeof(*ia));
	if (!dir)
		return im_fail(err, IM_EXIT_MISSING,
			       "no assets folder: give --assets DIR or "
			       "$IMAGER_INPUTS, or run 'make payload'");
	if (!is_dir(dir))
		return im_fail(err, IM_EXIT_MISSING, "%s: assets folder not found", dir);
	ia->dir = strdup(dir);
	if (optional(dir, "vmlinuz", &ia->kernel) < 0 ||
	    optional(dir, "initramfs.xz", &ia->initramfs) < 0 ||
	    optional(dir, "grub", &ia->grub_dir) < 0 ||
	    optional(dir, "systemd-boot.efi", &ia->sdboot) < 0 ||
	    optional(dir, "systemd-stub.efi", &ia->sdstub) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (!ia->kernel || !ia->initramfs)
		return im_fail(err, IM_EXIT_MISSING, "%s/%s: missing from the assets folder", dir,
			       ia->kernel ? "initramfs.xz" : "vmlinuz");
	char *uki;
	if (optional(dir, "uki.efi", &uki) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int rc = uki ? im_read_file(uki, "UKI", &ia->uki, &ia->uki_len, err) : 0;
	free(uki);
	if (rc < 0 || read_line(dir, "cmdline", &ia->cmdline, err) < 0 ||
	    read_line(dir, "name", &ia->name, err) < 0 ||
	    read_line(dir, "version", &ia->version, err) < 0 ||
	    read_line(dir, "bootloader", &ia->bootloader, err) < 0 ||
	    read_line(dir, "meta", &ia->meta, err) < 0 ||
	    read_text(dir, "loader.conf.extra", &ia->loader_conf_extra, err) < 0)
		return -1;
	return load_esp(dir, ia, err);
}

void inst_assets_free(struct inst_assets *ia)
{
	free(ia->dir);
	free(ia->kernel);
	free(ia->initramfs);
	free(ia->grub_dir);
	free(ia->sdboot);
	free(ia->sdstub);
	free(ia->cmdline);
	free(ia->name);
	free(ia->version);
	free(ia->uki);
	free(ia->bootloader);
	free(ia->meta);
	free(ia->loader_conf_extra);
	for (size_t i = 0; i < ia->n_esp; i++) {
		free((char *)ia->esp[i].path);
		free((char *)ia->esp[i].src);
	}
	free(ia->esp);
	memset(ia, 0, sizeof(*ia));
}

int inst_parse_size(const char *s, const char *what, uint64_t *out, struct im_error *err)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		break;
	}
	if (shift)
		end++;
	if (!strcmp(end, "iB") || !strcmp(end, "B") || (!shift && !strcmp(end, "")))
		end += strlen(end);
	if (errno || end == s || *end || !isdigit((unsigned char)*s) || v > (UINT64_MAX >> shift))
		return im_fail(err, IM_EXIT_INVALID,
			       "%s \"%s\": expected a size such as 2GiB, 1246MiB or 4096", what, s);
	*out = (uint64_t)v << shift;
	return 0;
}

char inst_booted_slot(void)
{
	char buf[4096];
	FILE *f = fopen("/proc/cmdline", "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	for (char *p = buf; (p = strstr(p, "imager.slot=")); p++)
		if ((p == buf || isspace((unsigned char)p[-1])) && (p[12] == 'A' || p[12] == 'B') &&
		    (!p[13] || isspace((unsigned char)p[13])))
			return p[12];
	return 0;
}
