/* ISO 9660 + Rock Ridge + Joliet images, El Torito BIOS/UEFI, hybrid MBR/GPT, written
 * in-process with libxorriso (see include/imager/iso.h). No xorriso process is run: the
 * library's command interpreter is fed one command at a time, with an argv (no quoting).
 *
 * The xorriso command sequence and why:
 *
 *   -outdev stdio:TMP             the temporary output of outfile.h, renamed when complete
 *   -report_about SORRY, -abort_on FAILURE; all messages go to an outlist (nothing is
 *                                 printed), the first of the most severe (>= SORRY) lines
 *                                 becomes the one-line error
 *   -iso_rr_pattern off, -disk_pattern off, -follow param
 *                                 paths are literal ('*', '?', '[' in names), a symlinked
 *                                 host source contributes its target's content
 *   -local_charset/-out_charset UTF-8
 *                                 names are recorded as given, whatever the host locale
 *   -acl/-xattr/-md5/-hardlinks/-disk_dev_ino off, -uid 0, -gid 0
 *                                 nothing of the build host leaks into the image
 *   -rockridge on, -joliet on, -compliance iso_9660_level=3:rec_mtime:joliet_long_names:
 *                                 joliet_long_paths:no_emul_toc
 *                                 level 3 allows files >= 4 GiB; rec_mtime puts the file
 *                                 date (= epoch) in the plain ISO records too; Joliet names
 *                                 up to 103 characters and paths over 240 (else deep files
 *                                 silently miss from the Joliet tree); no_emul_toc: no
 *                                 multi-session TOC emulation (as xorrisofs does)
 *   -volid, -volume_date uuid YYYYMMDDhhmmss00 (sets creation + modification + boot catalog
 *                                 date; GRUB's --fs-uuid; seeds the GPT GUIDs), -volume_date
 *                                 c/m/f =EPOCH, -iso_nowtime =EPOCH, and after the tree is
 *                                 in: -alter_date_r b-c =EPOCH / and -alter_date_r c =EPOCH /
 *                                 libxorriso does not read SOURCE_DATE_EPOCH; -volume_date
 *                                 all_file_dates would do for the files but takes =0 (the
 *                                 default epoch) as "off"; the expiration date stays "not
 *                                 specified" (zeros): the volume never expires
 *   -padding 0                    no 300 KiB CD-TAO run-out padding: these images go to VMs
 *                                 and USB sticks, and padding would put the backup GPT away
 *                                 from the end
 *   per tree node: -mkdir / -map SRC / -lns, then -chmod MODE, and for files
 *   -find PATH -exec sort_weight W with W decreasing in tree order: libisofs otherwise orders
 *                                 file data by the host's (device, inode) of the sources,
 *                                 which is not reproducible (in-memory files are staged to a
 *                                 private folder next to the output, removed afterwards)
 *
 * BIOS (GRUB i386-pc-eltorito image inside the tree):
 *   -boot_image any bin_path=/P platform_id=0x00 emul_type=no_emulation load_size=2048
 *                  boot_info_table=on grub2_boot_info=on
 *                                 what grub-mkrescue does: GRUB's cdboot reads the rest of
 *                                 itself using the boot info table; grub2_boot_info lets the
 *                                 MBR code find the same image
 *   -boot_image any grub2_mbr=boot_hybrid.img
 *                                 hybrid MBR: booted as a hard disk, GRUB's MBR loads the El
 *                                 Torito image from the LBA xorriso patches in at 0x1b0
 *   -boot_image any cat_path=/boot.catalog cat_hidden=on
 *                                 the catalog is not visible in the trees (the ISO holds
 *                                 exactly the tree); another name is chosen when it clashes
 *   without EFI: -boot_image any partition_table=on (one bootable MBR partition over the ISO)
 *
 * UEFI (a FAT image on the host):
 *   -append_partition 2 0xef FAT  the image follows the ISO as a partition of its own
 *   -boot_image any next efi_path=--interval:appended_partition_2:all:: platform_id=0xef
 *                                 the El Torito EFI entry points at that same partition: one
 *                                 copy of the ESP serves CD and disk boots
 *   -boot_image any appended_part_as=gpt partition_offset=16 gpt_disk_guid=volume_date_uuid
 *                                 GPT: partition 1 "ISO9660" (mountable, thanks to the
 *                                 second superblock at the partition offset), partition 2 the
 *                                 EFI System partition; GUIDs derived from the uuid date
 *   with BIOS: -boot_image any mbr_force_bootable=on
 *                                 the protective MBR also has an active entry (some BIOSes
 *                                 boot only disks with one) and carries GRUB's MBR code
 *   Why GPT and not an MBR partition of type 0xEF (Debian style): tried in QEMU with a
 *   34 MB FAT32 ESP (FAT32 needs >= ~33 MiB), OVMF could not use the MBR layout either as a
 *   disk or as a CD-ROM (the El Torito load size field cannot express > 32 MiB, and OVMF
 *   then prefers the El Torito view of the disk), while the GPT layout boots OVMF as disk and
 *   CD and SeaBIOS as disk and CD, with small and large ESPs. It is also the layout of
 *   grub-mkrescue (Talos' ISOs) and of current Ubuntu ISOs.
 *   libburn pads the output to a multiple of 64 KiB after the backup GPT; the zero tail is
 *   cut so the backup GPT header is the image's last sector (fdisk/sfdisk are happy, and
 *   UEFI does not "repair" the GPT of an image booted as a disk).
 */
#include "imager/fs/iso.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libisoburn/xorriso.h>

#include "imager/util/cleanup.h"
#include "imager/util/outfile.h"

/* ------------------------------------------------------------------ volume id ---------- */

static int is_ascii_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int im_iso_volume_id(const char *name, const char *version, char out[33])
{
	const char *parts[2] = {name, version};
	size_t n = 0;
	int sep = 0;
	for (int i = 0; i < 2 && n < 32; i++) {
		if (!parts[i])
			continue;
		sep = 1; /* between name and version */
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p && n < 32; p++) {
			if (!is_ascii_alnum(*p)) {
				sep = 1;
				continue;
			}
			if (sep && n) {
				out[n++] = '_';
				if (n == 32)
					break;
			}
			sep = 0;
			out[n++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : (char)*p;
		}
	}
	while (n && out[n - 1] == '_')
		n--;
	out[n] = '\0';
	return n ? (int)n : -1;
}

static int volume_id_ok(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 32)
		return 0;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ xorriso ------------ */

struct xo {
	struct XorrisO *x;
	int handle; /* outlist stack handle, -1 when none */
	const char *out_path;
	struct im_error *err;
};

static const char *const severities[] = {"ABORT", "FATAL", "FAILURE", "MISHAP", "SORRY"};

/* Severity rank of a message line "xorriso : FAILURE : text" (0 = below SORRY), and where
 * its text starts. */
static int line_rank(const char *line, const char **text)
{
	for (size_t i = 0; i < sizeof(severities) / sizeof(severities[0]); i++) {
		char pat[32];
		snprintf(pat, sizeof(pat), ": %s : ", severities[i]);
		const char *p = strstr(line, pat);
		if (p) {
			*text = p + strlen(pat);
			return (int)(sizeof(severities) / sizeof(severities[0]) - i);
		}
	}
	*text = line;
	return 0;
}

/* What xorriso said so far, as one line: the first of the most severe messages, then the
 * other distinct ones >= SORRY in order (they often carry the cause, e.g. an errno text);
 * else the last line. Collected lines are consumed. */
static void xo_message(struct xo *s, char *buf, size_t len)
{
	snprintf(buf, len, "unknown libxorriso error");
	if (s->handle < 0)
		return;
	struct Xorriso_lsT *res = NULL, *info = NULL;
	if (Xorriso_fetch_outlists(s->x, s->handle, &res, &info, 3) <= 0)
		return;
	struct Xorriso_lsT *lists[2] = {info, res};
	const char *best = NULL, *text;
	int best_rank = -1;
	for (int k = 0; k < 2; k++)
		for (struct Xorriso_lsT *e = lists[k]; e; e = Xorriso_lst_get_next(e, 0)) {
			const char *line = Xorriso_lst_get_text(e, 0);
			if (!line || !*line || *line == '\n')
				continue;
			int r = line_rank(line, &text);
			if (r > best_rank || (r == 0 && best_rank == 0)) {
				best_rank = r;
				best = line;
			}
		}
	if (best) {
		line_rank(best, &text);
		snprintf(buf, len, "%.*s", (int)strcspn(text, "\n"), text);
		for (int k = 0; k < 2 && best_rank > 0; k++)
			for (struct Xorriso_lsT *e = lists[k]; e; e = Xorriso_lst_get_next(e, 0)) {
				const char *line = Xorriso_lst_get_text(e, 0), *t2;
				if (!line || line == best || line_rank(line, &t2) == 0 ||
				    strncmp(t2, text, strcspn(text, "\n") + 1) == 0)
					continue;
				size_t n = strlen(buf), m = strcspn(t2, "\n");
				if (n + m + 3 >= len)
					break;
				snprintf(buf + n, len - n, "; %.*s", (int)m, t2);
			}
	}
	/* one line, no trailing blanks */
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	for (size_t n = strlen(buf); n && buf[n - 1] == ' '; n--)
		buf[n - 1] = '\0';
	Xorriso_lst_destroy_all(&res, 0);
	Xorriso_lst_destroy_all(&info, 0);
}

/* Run one xorriso command: xo_run(s, "-volid", "X", NULL). Any event >= SORRY fails. */
static int xo_run(struct xo *s, const char *cmd, ...)
{
	char *argv[16];
	int argc = 0;
	argv[argc++] = "imager";
	argv[argc++] = (char *)cmd;
	va_list ap;
	va_start(ap, cmd);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && argc < 15)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	Xorriso_set_problem_status(s->x, "", 0);
	int idx = 1;
	int ret = Xorriso_interpreter(s->x, argc, argv, &idx, 1 << 2 /* this command only */);
	char sev[80] = "";
	Xorriso_get_problem_status(s->x, sev, 0);
	int bad_sev = sev[0] && Xorriso__severity_cmp(sev, "SORRY") >= 0;
	if (ret <= 0 || ret == 3 || bad_sev) {
		char msg[900];
		xo_message(s, msg, sizeof(msg));
		return im_fail(s->err, IM_EXIT_IO, "%s: xorriso %s: %s", s->out_path, cmd, msg);
	}
	return 0;
}

/* -boot_image any NAME=VALUE */
static int xo_boot(struct xo *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int xo_boot(struct xo *s, const char *fmt, ...)
{
	char *spec = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&spec, fmt, ap);
	va_end(ap);
	if (n < 0)
		return im_fail(s->err, IM_EXIT_INTERNAL, "out of memory");
	int rc = xo_run(s, "-boot_image", "any", spec, NULL);
	free(spec);
	return rc;
}

/* ------------------------------------------------------------------ tree --------------- */

struct feed {
	struct xo *s;
	const char *stage; /* folder for in-memory files, or NULL */
	unsigned staged;   /* files written there: 1..staged */
	int32_t weight;	   /* next sort weight (decreasing) */
	struct im_error *err;
};

static char *iso_path(const struct im_node *n)
{
	char *p = NULL;
	if (asprintf(&p, "/%s", n->path) < 0)
		return NULL;
	return p;
}

/* Check what the tree asks for before any output exists. */
static int check_node(struct im_node *n, void *ctx)
{
	struct feed *f = ctx;
	struct stat st;
	switch (n->type) {
	case IM_NODE_CHRDEV:
		return im_fail(f->err, IM_EXIT_UNSUPPORTED,
			       "/%s: an ISO image cannot hold device nodes", n->path);
	case IM_NODE_FILE:
		if (!n->src) {
			f->staged++;
			return 0;
		}
		if (stat(n->src, &st) < 0)
			return im_fail_errno(f->err, im_exit_for_input_errno(errno), "%s", n->src);
		if (!S_ISREG(st.st_mode))
			return im_fail(f->err, IM_EXIT_INVALID, "%s: not a regular file (for /%s)",
				       n->src, n->path);
		if (access(n->src, R_OK) < 0)
			return im_fail_errno(f->err, im_exit_for_input_errno(errno), "%s", n->src);
		return 0;
	default:
		return 0;
	}
}

static int stage_file(struct feed *f, const struct im_node *n, char **out)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%u", f->stage, ++f->staged) < 0)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		im_fail_errno(f->err, errno == ENOSPC ? IM_EXIT_ENV : IM_EXIT_IO, "%s", p);
		free(p);
		return -1;
	}
	int rc = im_write_all(fd, n->data, n->size, p, f->err);
	if (close(fd) < 0 && rc == 0)
		rc = im_fail_errno(f->err, IM_EXIT_IO, "%s", p);
	if (rc < 0) {
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

static int feed_node(struct im_node *n, void *ctx)
{
	struct feed *f = ctx;
	struct xo *s = f->s;
	char *ip = iso_path(n), *staged = NULL, mode[16], weight[16];
	if (!ip)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	snprintf(mode, sizeof(mode), "0%o", (unsigned)(n->mode & 07777));
	int rc = 0;
	switch (n->type) {
	case IM_NODE_DIR:
		if (n->path[0])
			rc = xo_run(s, "-mkdir", ip, NULL);
		if (rc == 0)
			rc = xo_run(s, "-chmod", mode, ip, NULL);
		break;
	case IM_NODE_FILE:
		if (!n->src)
			rc = stage_file(f, n, &staged);
		if (rc == 0)
			rc = xo_run(s, "-map", n->src ? n->src : staged, ip, NULL);
		if (rc == 0)
			rc = xo_run(s, "-chmod", mode, ip, NULL);
		snprintf(weight, sizeof(weight), "%d", (int)f->weight--);
		if (rc == 0)
			rc = xo_run(s, "-find", ip, "-exec", "sort_weight", weight, NULL);
		break;
	case IM_NODE_SYMLINK: {
		/* libisoburn 1.5.4 looks one byte before a link target that has no '/' (its
		 * leaf-name scan for -not_leaf exclusions): give it a readable byte there. */
		char *t = NULL;
		if (asprintf(&t, "/%s", n->target) < 0) {
			rc = im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
			break;
		}
		rc = xo_run(s, "-lns", t + 1, ip, NULL);
		free(t);
		break;
	}
	case IM_NODE_CHRDEV:
		rc = im_fail(f->err, IM_EXIT_UNSUPPORTED,
			     "/%s: an ISO image cannot hold device nodes", n->path);
		break;
	}
	free(staged);
	free(ip);
	return rc;
}

static void stage_remove(const char *dir, unsigned count, int cleanup)
{
	char p[4096];
	for (unsigned i = 1; i <= count; i++) {
		snprintf(p, sizeof(p), "%s/%u", dir, i);
		unlink(p);
	}
	rmdir(dir);
	im_cleanup_forget(cleanup);
}

/* ------------------------------------------------------------------ checks ------------- */

static int check_host_file(const char *path, const char *what, off_t max, struct im_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s (%s)", path, what);
	if (!S_ISREG(st.st_mode))
		return im_fail(err, IM_EXIT_INVALID, "%s (%s): not a regular file", path, what);
	if (access(path, R_OK) < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s (%s)", path, what);
	if (st.st_size < 512 || (max && st.st_size > max))
		return im_fail(err, IM_EXIT_INVALID,
			       "%s (%s): size %lld, expected 512 to %lld bytes", path, what,
			       (long long)st.st_size, (long long)(max ? max : (off_t)1 << 40));
	return 0;
}

/* xorriso takes file names as the last words of specs like grub2_mbr=PATH and reads
 * "--interval:..." specially: refuse what it would misread. */
static int plain_path_ok(const char *path, const char *what, struct im_error *err)
{
	if (!path[0] || strncmp(path, "--", 2) == 0)
		return im_fail(err, IM_EXIT_INVALID, "%s: unusable path for the %s", path, what);
	return 0;
}

static char *absolute(const char *p)
{
	char *r = NULL;
	if (p[0] == '/')
		return strdup(p);
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&r, "%s/%s", cwd, p) < 0)
		return NULL;
	return r;
}

/* ------------------------------------------------------------------ GPT tail ----------- */

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Cut libburn's zero padding behind the backup GPT header (see the top comment). Only
 * zeros are ever removed, and only to a whole number of 2 KiB blocks. */
static int trim_gpt_tail(int fd, const char *path, struct im_error *err)
{
	unsigned char h[512];
	struct stat st;
	if (pread(fd, h, sizeof(h), 512) != (ssize_t)sizeof(h) || memcmp(h, "EFI PART", 8) != 0)
		return 0;
	if (fstat(fd, &st) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s", path);
	uint64_t alt = le64(h + 32);
	off_t end = (off_t)((alt + 1) * 512);
	if (alt < 2 || end >= st.st_size || end % 2048)
		return 0;
	if (pread(fd, h, sizeof(h), (off_t)alt * 512) != (ssize_t)sizeof(h) ||
	    memcmp(h, "EFI PART", 8) != 0)
		return 0;
	static unsigned char buf[65536];
	for (off_t off = end; off < st.st_size;) {
		size_t want = sizeof(buf);
		if ((off_t)want > st.st_size - off)
			want = (size_t)(st.st_size - off);
		ssize_t got = pread(fd, buf, want, off);
		if (got <= 0)
			return im_fail_errno(err, IM_EXIT_IO, "%s: read back", path);
		for (ssize_t i = 0; i < got; i++)
			if (buf[i])
				return 0;
		off += got;
	}
	if (ftruncate(fd, end) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s: truncate", path);
	return 0;
}

/* ------------------------------------------------------------------ main --------------- */

static const char *find_catalog_name(struct im_tree *t, char *buf, size_t len)
{
	snprintf(buf, len, "boot.catalog");
	for (int i = 1; im_tree_lookup(t, buf) && i < 1000; i++)
		snprintf(buf, len, "boot.catalog.%d", i);
	return buf;
}

static int write_image(struct im_tree *t, const struct im_iso_opts *o, const char *volid,
		       const char *uuid, const char *bios, const char *tmp_abs, struct feed *f,
		       struct xo *s)
{
	char e[32], cat[64];
	snprintf(e, sizeof(e), "=%lld", (long long)o->epoch);
	char *outdev = NULL;
	if (asprintf(&outdev, "stdio:%s", tmp_abs) < 0)
		return im_fail(s->err, IM_EXIT_INTERNAL, "out of memory");
	int rc = xo_run(s, "-report_about", "SORRY", NULL);
	rc = rc ? rc : xo_run(s, "-abort_on", "FAILURE", NULL);
	rc = rc ? rc : xo_run(s, "-outdev", outdev, NULL);
	free(outdev);
	rc = rc ? rc : xo_run(s, "-iso_rr_pattern", "off", NULL);
	rc = rc ? rc : xo_run(s, "-disk_pattern", "off", NULL);
	rc = rc ? rc : xo_run(s, "-follow", "param", NULL);
	rc = rc ? rc : xo_run(s, "-local_charset", "UTF-8", NULL);
	rc = rc ? rc : xo_run(s, "-out_charset", "UTF-8", NULL);
	rc = rc ? rc : xo_run(s, "-acl", "off", NULL);
	rc = rc ? rc : xo_run(s, "-xattr", "off", NULL);
	rc = rc ? rc : xo_run(s, "-md5", "off", NULL);
	rc = rc ? rc : xo_run(s, "-hardlinks", "off", NULL);
	rc = rc ? rc : xo_run(s, "-disk_dev_ino", "off", NULL);
	rc = rc ? rc : xo_run(s, "-uid", "0", NULL);
	rc = rc ? rc : xo_run(s, "-gid", "0", NULL);
	rc = rc ? rc : xo_run(s, "-rockridge", "on", NULL);
	rc = rc ? rc : xo_run(s, "-joliet", "on", NULL);
	rc = rc ? rc
		: xo_run(
		      s, "-compliance",
		      "iso_9660_level=3:rec_mtime:joliet_long_names:joliet_long_paths:no_emul_toc",
		      NULL);
	rc = rc ? rc : xo_run(s, "-volid", volid, NULL);
	rc = rc ? rc : xo_run(s, "-volume_date", "uuid", uuid, NULL);
	rc = rc ? rc : xo_run(s, "-volume_date", "c", e, NULL);
	rc = rc ? rc : xo_run(s, "-volume_date", "m", e, NULL);
	rc = rc ? rc : xo_run(s, "-volume_date", "f", e, NULL);
	rc = rc ? rc : xo_run(s, "-iso_nowtime", e, NULL);
	rc = rc ? rc : xo_run(s, "-padding", "0", NULL);
	if (rc)
		return rc;

	f->weight = -1;
	f->staged = 0;
	if ((rc = im_tree_walk(t, feed_node, f)) != 0)
		return -1;
	/* every node's atime, mtime and ctime (-volume_date all_file_dates takes 0 for "off") */
	rc = xo_run(s, "-alter_date_r", "b-c", e, "/", NULL);
	rc = rc ? rc : xo_run(s, "-alter_date_r", "c", e, "/", NULL);

	if (bios || o->efi_image) {
		find_catalog_name(t, cat, sizeof(cat));
		rc = xo_boot(s, "cat_path=/%s", cat);
		rc = rc ? rc : xo_boot(s, "cat_hidden=on");
	}
	if (bios) {
		char *ip = NULL;
		if (asprintf(&ip, "/%s", bios) < 0)
			return im_fail(s->err, IM_EXIT_INTERNAL, "out of memory");
		/* near the start of the image, after the catalog */
		rc = rc ? rc : xo_run(s, "-find", ip, "-exec", "sort_weight", "1000", NULL);
		rc = rc ? rc : xo_boot(s, "bin_path=%s", ip);
		free(ip);
		rc = rc ? rc : xo_boot(s, "platform_id=0x00");
		rc = rc ? rc : xo_boot(s, "emul_type=no_emulation");
		rc = rc ? rc : xo_boot(s, "load_size=2048");
		rc = rc ? rc : xo_boot(s, "boot_info_table=on");
		rc = rc ? rc : xo_boot(s, "grub2_boot_info=on");
		if (o->bios_mbr) {
			rc = rc ? rc : xo_boot(s, "grub2_mbr=%s", o->bios_mbr);
			if (!o->efi_image)
				rc = rc ? rc : xo_boot(s, "partition_table=on");
		}
	}
	if (o->efi_image) {
		if (bios)
			rc = rc ? rc : xo_run(s, "-boot_image", "any", "next", NULL);
		rc = rc ? rc : xo_run(s, "-append_partition", "2", "0xef", o->efi_image, NULL);
		rc = rc ? rc : xo_boot(s, "efi_path=--interval:appended_partition_2:all::");
		rc = rc ? rc : xo_boot(s, "platform_id=0xef");
		rc = rc ? rc : xo_boot(s, "appended_part_as=gpt");
		rc = rc ? rc : xo_boot(s, "partition_offset=16");
		rc = rc ? rc : xo_boot(s, "gpt_disk_guid=volume_date_uuid");
		if (bios && o->bios_mbr)
			rc = rc ? rc : xo_boot(s, "mbr_force_bootable=on");
	}
	rc = rc ? rc : xo_run(s, "-commit", NULL);
	return rc;
}

int im_iso_write(struct im_tree *t, const char *out_path, const struct im_iso_opts *o,
		 struct im_error *err)
{
	const char *volid = o->volume_id ? o->volume_id : "ISOIMAGE";
	if (!volume_id_ok(volid))
		return im_fail(err, IM_EXIT_INVALID,
			       "ISO volume id \"%s\": expected 1 to 32 characters of A-Z 0-9 _",
			       volid);
	/* ISO 9660 directory records store the year as 1900 + one byte */
	struct tm tm;
	time_t tt = (time_t)o->epoch;
	if (o->epoch < 0 || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 2155)
		return im_fail(
		    err, IM_EXIT_INVALID,
		    "SOURCE_DATE_EPOCH %lld: an ISO image needs a date from 1970 to 2155",
		    (long long)o->epoch);
	char uuid[80];
	snprintf(uuid, sizeof(uuid), "%04d%02d%02d%02d%02d%02d00", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);

	const char *bios = NULL;
	if (o->bios_boot_image) {
		bios = o->bios_boot_image;
		while (*bios == '/')
			bios++;
		const struct im_node *bn = im_tree_lookup(t, bios);
		if (!*bios || !bn || bn->type != IM_NODE_FILE)
			return im_fail(err, IM_EXIT_MISSING,
				       "/%s: BIOS boot image not found in the ISO tree", bios);
		if (bn->size < 2048 + 512)
			return im_fail(err, IM_EXIT_INVALID,
				       "/%s: BIOS boot image of %llu bytes is too small for a GRUB "
				       "El Torito image",
				       bios, (unsigned long long)bn->size);
	}
	if (o->bios_mbr) {
		if (!bios)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: a hybrid MBR needs a BIOS El Torito boot image",
				       o->bios_mbr);
		if (plain_path_ok(o->bios_mbr, "hybrid MBR", err) < 0 ||
		    check_host_file(o->bios_mbr, "hybrid MBR", 32768, err) < 0)
			return -1;
	}
	if (o->efi_image && (plain_path_ok(o->efi_image, "EFI image", err) < 0 ||
			     check_host_file(o->efi_image, "EFI image", 0, err) < 0))
		return -1;

	struct feed f = {.err = err};
	if (im_tree_walk(t, check_node, &f) != 0)
		return -1;
	unsigned need_stage = f.staged;

	struct im_outfile out;
	if (im_outfile_open(&out, out_path, err) < 0)
		return -1;
	char *tmp_abs = absolute(out.tmp);
	char *stage = NULL;
	int stage_cleanup = 0;
	if (!tmp_abs) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto fail;
	}
	if (need_stage) {
		if (asprintf(&stage, "%s.files.XXXXXX", out.tmp) < 0) {
			stage = NULL;
			im_fail(err, IM_EXIT_INTERNAL, "out of memory");
			goto fail;
		}
		if (!mkdtemp(stage)) {
			im_fail_errno(err, errno == ENOSPC ? IM_EXIT_ENV : IM_EXIT_IO,
				      "%s: cannot create a staging folder", out_path);
			free(stage);
			stage = NULL;
			goto fail;
		}
		f.stage = stage;
		stage_cleanup = im_cleanup_add(stage, true);
	}

	struct xo s = {.handle = -1, .out_path = out_path, .err = err};
	Xorriso__preset_signal_behavior(0, 0); /* leave the caller's signal handling alone */
	if (Xorriso_new(&s.x, "imager", 0) <= 0) {
		im_fail(err, IM_EXIT_ENV, "%s: cannot create a libxorriso object", out_path);
		goto fail;
	}
	int rc;
	if (Xorriso_startup_libraries(s.x, 0) <= 0) {
		rc = im_fail(err, IM_EXIT_ENV, "%s: cannot start libisoburn", out_path);
	} else if (Xorriso_push_outlists(s.x, &s.handle, 3) <= 0) {
		s.handle = -1;
		rc = im_fail(err, IM_EXIT_INTERNAL, "%s: libxorriso message capture", out_path);
	} else {
		f.s = &s;
		rc = write_image(t, o, volid, uuid, bios, tmp_abs, &f, &s);
	}
	if (s.handle >= 0) {
		struct Xorriso_lsT *res = NULL, *info = NULL;
		Xorriso_pull_outlists(s.x, s.handle, &res, &info, 0);
		Xorriso_lst_destroy_all(&res, 0);
		Xorriso_lst_destroy_all(&info, 0);
	}
	Xorriso_destroy(&s.x, 1);
	if (rc)
		goto fail;
	if (o->efi_image && trim_gpt_tail(out.fd, out_path, err) < 0)
		goto fail;
	if (stage) {
		stage_remove(stage, f.staged, stage_cleanup);
		free(stage);
		stage = NULL;
	}
	free(tmp_abs);
	return im_outfile_commit(&out, err);

fail:
	if (stage) {
		stage_remove(stage, f.staged, stage_cleanup);
		free(stage);
	}
	free(tmp_abs);
	im_outfile_abort(&out);
	return -1;
}
