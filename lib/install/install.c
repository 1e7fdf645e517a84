/* Installing onto a disk: layout, filesystems, boot loaders, META (include/imager/install.h;
 * DESIGN.md §7). The A/B operations on an installed disk are in install_ab.c, the ESP
 * editor in install_fat.c, slot UKIs in install_uki.c. */
#include "imager/install/install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imager/disk/biosboot.h"
#include "imager/fs/fat.h"
#include "imager/fs/fstree.h"
#include "imager/disk/gpt.h"
#include "imager/install/grubcfg.h"
#include "imager/install/grubenv.h"
#include "imager/efi/uki.h"

/* ---- names and options ---- */

int im_bootloader_parse(const char *s, enum im_bootloader *out, struct im_error *err)
{
	static const struct {
		const char *n;
		enum im_bootloader b;
	} t[] = {{"grub", IM_BOOT_GRUB}, {"sd-boot", IM_BOOT_SDBOOT}, {"dual-boot", IM_BOOT_DUAL}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(s, t[i].n)) {
			*out = t[i].b;
			return 0;
		}
	return im_fail(err, IM_EXIT_INVALID,
		       "bootloader \"%s\": expected grub, sd-boot or dual-boot", s);
}

const char *im_bootloader_name(enum im_bootloader b)
{
	return b == IM_BOOT_GRUB ? "grub" : b == IM_BOOT_SDBOOT ? "sd-boot" : "dual-boot";
}

/* Name and version end up in file names and GRUB/systemd-boot globs: keep them plain. */
static int check_word(const char *what, const char *s, struct im_error *err)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || n > 63 ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789._+-") != n)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s \"%s\": expected 1 to 63 characters from A-Z a-z 0-9 . _ + -",
			       what, s ? s : "");
	return 0;
}

int im_install_check_assets(const struct im_install_assets *a, struct im_error *err)
{
	if (check_word("OS name", a->name, err) < 0 || check_word("version", a->version, err) < 0)
		return -1;
	if (!a->kernel || !a->initramfs || !a->cmdline)
		return im_fail(err, IM_EXIT_INVALID,
			       "install: kernel, initramfs and command line "
			       "are required");
	return 0;
}

static int check_opts(const struct im_install_opts *o, const struct im_install_assets *a,
		      struct im_error *err)
{
	if (!a->arch || (strcmp(a->arch, "amd64") && strcmp(a->arch, "arm64")))
		return im_fail(err, IM_EXIT_INVALID, "arch \"%s\": expected amd64 or arm64",
			       a->arch ? a->arch : "");
	if (o->bootloader < IM_BOOT_GRUB || o->bootloader > IM_BOOT_DUAL)
		return im_fail(err, IM_EXIT_INVALID,
			       "bootloader: expected grub, sd-boot or "
			       "dual-boot");
	if (o->sector_size && o->sector_size != 512 && o->sector_size != 4096)
		return im_fail(err, IM_EXIT_INVALID, "sector size %u: expected 512 or 4096",
			       o->sector_size);
	if (o->bootloader == IM_BOOT_DUAL && strcmp(a->arch, "amd64"))
		return im_fail(err, IM_EXIT_UNSUPPORTED,
			       "dual-boot: %s has no BIOS boot; use sd-boot or grub", a->arch);
	if ((o->bootloader & IM_BOOT_GRUB) && !a->grub_dir)
		return im_fail(err, IM_EXIT_MISSING, "%s: the GRUB images folder is required",
			       im_bootloader_name(o->bootloader));
	if ((o->bootloader & IM_BOOT_SDBOOT) && !a->sdboot && !a->sdboot_efi)
		return im_fail(err, IM_EXIT_MISSING, "%s: systemd-boot is required",
			       im_bootloader_name(o->bootloader));
	if ((o->bootloader & IM_BOOT_SDBOOT) && !a->uki && !a->sdstub_efi)
		return im_fail(err, IM_EXIT_MISSING,
			       "%s: a UKI or systemd-stub to build one is required",
			       im_bootloader_name(o->bootloader));
	return im_install_check_assets(a, err);
}

static void warn(const struct im_install_opts *o, const char *msg)
{
	if (o->warn)
		o->warn(msg, o->warn_ctx);
	else
		fprintf(stderr, "installer: warning: %s\n", msg);
}

static const char *efi_arch(const char *arch)
{
	return strcmp(arch, "arm64") ? "x64" : "aa64";
}

/* ---- slot content, shared with install_ab.c ---- */

int im_install_uki_name(const char *name, const char *version, char slot, int tries, char *out,
			size_t n)
{
	int r = tries > 0 ? snprintf(out, n, "%s-%s-%c+%d.efi", name, version, slot, tries)
			  : snprintf(out, n, "%s-%s-%c.efi", name, version, slot);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

char *im_install_slot_cmdline(const char *cmdline, char slot)
{
	char *s;
	return asprintf(&s, "%s%simager.slot=%c", cmdline, *cmdline ? " " : "", slot) < 0 ? NULL
											  : s;
}

/* The slot's UKI: the given one, else built from systemd-stub with the slot's command line. */
int im_install_slot_uki(const struct im_install_assets *a, char slot, int64_t epoch, uint8_t **uki,
			size_t *len, struct im_error *err)
{
	if (a->uki) {
		*uki = malloc(a->uki_len);
		if (!*uki)
			return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		memcpy(*uki, a->uki, a->uki_len);
		*len = a->uki_len;
		return 0;
	}
	char *cl = im_install_slot_cmdline(a->cmdline, slot);
	struct im_uki u = {0};
	int rc = cl ? im_uki_assemble(&u, a->arch, a->sdstub_efi, a->kernel, a->initramfs, cl,
				      a->name, a->version, epoch, err)
		    : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (rc == 0)
		rc = im_pe_build(&u.pe, uki, len, err);
	im_uki_free(&u);
	free(cl);
	return rc;
}

/* The same, built into an unnamed file in $TMPDIR (*fd): the ESP's FAT is then written from
 * that file, and neither the initramfs nor the UKI is ever held in memory whole. 1 (and
 * *fd = -1) when $TMPDIR cannot hold an unnamed file: use im_install_slot_uki. */
int im_install_slot_uki_file(const struct im_install_assets *a, char slot, int64_t epoch, int *fd,
			     size_t *len, struct im_error *err)
{
	const char *tmp = getenv("TMPDIR");
	*fd = open(tmp && *tmp ? tmp : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*fd < 0)
		return 1;
	char *cl = im_install_slot_cmdline(a->cmdline, slot);
	struct im_uki u = {0};
	int rc = cl ? im_uki_assemble(&u, a->arch, a->sdstub_efi, a->kernel, a->initramfs, cl,
				      a->name, a->version, epoch, err)
		    : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (rc == 0 && (rc = im_pe_write(&u.pe, *fd, "UKI (temporary file)", err)) == 0)
		*len = im_pe_image_size(&u.pe);
	im_uki_free(&u);
	free(cl);
	if (rc < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

/* BOOT-<slot>: vmlinuz, initramfs.xz, boot.cfg (sourced by grub.cfg), os-release. */
int im_install_write_boot(int fd, const char *what, const struct im_gpt_entry *part, uint32_t ss,
			  const struct im_install_assets *a, char slot, int64_t epoch,
			  struct im_error *err)
{
	char label[8];
	snprintf(label, sizeof(label), "BOOT-%c", slot);
	struct im_fat_opts fo = {
	    .size_bytes = part->size, .sector_size = ss, .label = label, .mtime = epoch};
	struct im_tree *t = im_tree_new(epoch);
	char *cfg = NULL, *osrel = NULL, *rel = NULL;
	int rc = -1;
	if (!t)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (a) {
		cfg = im_grubcfg_slot(a->name, slot, a->cmdline);
		osrel = im_uki_osrel(a->name, a->version);
		if (!cfg || !osrel || asprintf(&rel, "%sIMAGER_SLOT=%c\n", osrel, slot) < 0) {
			im_fail(err, IM_EXIT_INTERNAL, "out of memory");
			goto out;
		}
		if (im_tree_add_file_src(t, "vmlinuz", a->kernel, 0644, err) < 0 ||
		    im_tree_add_file_src(t, "initramfs.xz", a->initramfs, 0644, err) < 0 ||
		    im_tree_add_file_mem(t, "boot.cfg", cfg, strlen(cfg), 0644, err) < 0 ||
		    im_tree_add_file_mem(t, "os-release", rel, strlen(rel), 0644, err) < 0)
			goto out;
	}
	if (im_install_write_point(what, err) == 0)
		rc = im_fat_write(fd, part->start, &fo, t, err);
out:
	im_tree_free(t);
	free(cfg);
	free(osrel);
	free(rel);
	return rc;
}

/* loader.conf, IM_LOADER_CONF_SIZE bytes: a header, `body` (timeout and extra lines), the
 * default glob, '#' padding so later rewrites keep the size. */
int im_install_loader_conf(char *out, const char *name, char slot, int trial, const char *body,
			   struct im_error *err)
{
	char lc[64];
	size_t i = 0;
	for (; name[i] && i < sizeof(lc) - 1; i++)
		lc[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	lc[i] = 0;
	int n = snprintf(out, IM_LOADER_CONF_SIZE,
			 "# generated by imager; the installer rewrites \"default\" in place\n"
			 "%sdefault %s-*-%c%s.efi\n",
			 body, lc, slot + 32, trial ? "+1" : "");
	if (n < 0 || n > IM_LOADER_CONF_SIZE - 2)
		return im_fail(err, IM_EXIT_INVALID, "loader.conf: more than %d bytes",
			       IM_LOADER_CONF_SIZE - 2);
	memset(out + n, '#', IM_LOADER_CONF_SIZE - (size_t)n - 1);
	out[IM_LOADER_CONF_SIZE - 1] = '\n';
	return 0;
}

/* META, copy 1 then copy 2 (meta.h layout), so that a torn write leaves one valid copy.
 * The whole image must fit the partition (one partitioned by someone else may be
 * smaller): never write into the partition after it. */
int im_install_meta_put(int fd, const char *what, uint64_t off, uint64_t size,
			const struct im_meta *m, struct im_error *err)
{
	if (size < IM_META_IMAGE_SIZE)
		return im_fail(err, IM_EXIT_INSTALL,
			       "%s: META partition of %llu bytes, expected at least %d", what,
			       (unsigned long long)size, IM_META_IMAGE_SIZE);
	uint8_t *buf = malloc(IM_META_IMAGE_SIZE);
	int rc = -1;
	if (!buf)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (im_meta_encode_image(m, buf, err) == 0 &&
	    im_install_pwrite(fd, buf, IM_META_COPY_SIZE, off, what, err) == 0 &&
	    im_install_pwrite(fd, buf + IM_META_COPY_SIZE, IM_META_IMAGE_SIZE - IM_META_COPY_SIZE,
			      off + IM_META_COPY_SIZE, what, err) == 0)
		rc = 0;
	free(buf);
	return rc;
}

/* ---- layout ---- */

struct layout {
	struct im_gpt_part p[8];
	size_t n;
	uint32_t ss;
	int bios, boot, state;
};

static void add_part(struct layout *l, const char *name, const char *type, uint64_t size)
{
	l->p[l->n++] = (struct im_gpt_part){.name = name, .type = type, .size_bytes = size};
}

static uint64_t esp_size(const struct im_install_opts *o, uint32_t ss, size_t uki_len)
{
	uint64_t base = ss == 4096 ? IM_INSTALL_ESP_4K : IM_INSTALL_ESP_SIZE;
	if (!(o->bootloader & IM_BOOT_SDBOOT))
		return base;
	/* two slot UKIs, plus room to write a grown one before the old one is gone */
	uint64_t need = 3 * (uint64_t)uki_len + 16 * IM_INSTALL_MIB;
	need = (need + IM_INSTALL_MIB - 1) / IM_INSTALL_MIB * IM_INSTALL_MIB;
	return need > base ? need : base;
}

static void plan(const struct im_install_opts *o, const char *arch, uint32_t ss, size_t uki_len,
		 struct layout *l)
{
	memset(l, 0, sizeof(*l));
	l->ss = ss;
	l->boot = !!(o->bootloader & IM_BOOT_GRUB);
	l->bios = l->boot && !strcmp(arch, "amd64") && ss == 512;
	l->state = !o->image_mode;
	add_part(l, "EFI", "esp", esp_size(o, ss, uki_len));
	if (l->bios)
		add_part(l, "BIOS", "bios", IM_INSTALL_BIOS_SIZE);
	if (l->boot) {
		add_part(l, "BOOT-A", "linux", IM_INSTALL_BOOT_SIZE);
		add_part(l, "BOOT-B", "linux", IM_INSTALL_BOOT_SIZE);
	}
	add_part(l, "META", "linux", IM_INSTALL_META_SIZE);
	if (l->state) {
		add_part(l, "STATE", "linux", IM_INSTALL_STATE_SIZE);
		add_part(l, "EPHEMERAL", "linux", 0);
	}
}

/* The GPT layout of a plan, with the board's constraints (overlays). */
static struct im_gpt_layout gpt_layout(struct layout *l, const struct im_install_board *b,
				       uint64_t disk_size)
{
	if (b && b->first_partition)
		l->p[0].start_bytes = b->first_partition;
	return (struct im_gpt_layout){.disk_size = disk_size,
				      .sector_size = l->ss,
				      .max_entries = b ? b->gpt_entries : 0,
				      .parts = l->p,
				      .n = l->n,
				      /* the boot code is rewritten right after the GPT (write
				       * order in im_install): until then the old one, which
				       * loads the BIOS partition the same layout keeps, boots
				       * the installed OS a power cut leaves in place */
				      .keep_boot_code = l->bios};
}

static uint64_t min_size(struct layout *l, const struct im_install_board *b)
{
	struct im_gpt_layout g = gpt_layout(l, b, 0);
	uint64_t m = im_gpt_min_disk_size(&g);
	return (m + IM_INSTALL_MIB - 1) / IM_INSTALL_MIB * IM_INSTALL_MIB;
}

uint64_t im_install_image_size(uint64_t disk_size, enum im_bootloader bl)
{
	return disk_size + (bl == IM_BOOT_SDBOOT ? 0 : 2 * IM_INSTALL_BOOT_SIZE);
}

uint64_t im_install_min_size(const struct im_install_opts *o, const struct im_install_assets *a)
{
	struct layout l;
	struct stat st;
	size_t uki = a->uki ? a->uki_len : 0;
	if (!a->uki && (o->bootloader & IM_BOOT_SDBOOT)) /* estimate: stub + kernel + initrd */
		for (const char *p[] = {a->sdstub_efi, a->kernel, a->initramfs}, **q = p; q < p + 3;
		     q++)
			uki += *q && !stat(*q, &st) ? (size_t)st.st_size + 4096 : 0;
	plan(o, a->arch ? a->arch : "amd64", o->sector_size ? o->sector_size : 512, uki, &l);
	return min_size(&l, o->board);
}

/* The disk: a block device's sector and byte size, or a regular file's target size. */
static int disk_geometry(int fd, const char *what, const struct im_install_opts *o, uint64_t min,
			 uint32_t *ss, uint64_t *size, struct im_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s: stat", what);
	*ss = o->sector_size ? o->sector_size : 512;
	if (S_ISBLK(st.st_mode)) {
		int bss = 0;
		if (ioctl(fd, BLKSSZGET, &bss) < 0 || ioctl(fd, BLKGETSIZE64, size) < 0)
			return im_fail_errno(err, IM_EXIT_IO, "%s: cannot read the device size",
					     what);
		if (o->sector_size && o->sector_size != (uint32_t)bss)
			return im_fail(err, IM_EXIT_INVALID, "%s: has %d-byte sectors, not %u",
				       what, bss, o->sector_size);
		*ss = (uint32_t)bss;
	} else if (S_ISREG(st.st_mode)) {
		*size = o->disk_size ? o->disk_size : st.st_size ? (uint64_t)st.st_size : min;
	} else {
		return im_fail(err, IM_EXIT_INVALID, "%s: not a block device or regular file",
			       what);
	}
	return 0;
}

/* ---- the ESP ---- */

static int esp_add_sdboot(struct im_tree *t, const struct im_install_assets *a, const char *boot,
			  const uint8_t *uki, size_t uki_len, int uki_fd, struct im_error *err)
{
	char sd[64], name[256], conf[IM_LOADER_CONF_SIZE], body[512];
	snprintf(sd, sizeof(sd), "EFI/systemd/systemd-boot%s.efi", efi_arch(a->arch));
	snprintf(body, sizeof(body), "timeout 3\n%s",
		 a->loader_conf_extra ? a->loader_conf_extra : "");
	if (im_install_uki_name(a->name, a->version, 'A', 0, name + 10, sizeof(name) - 10) < 0)
		return im_fail(err, IM_EXIT_INVALID, "UKI name too long");
	memcpy(name, "EFI/Linux/", 10);
	for (int i = 0; i < 2; i++) {
		const char *dst = i ? sd : boot;
		int rc = a->sdboot
			     ? im_tree_add_file_mem(t, dst, a->sdboot, a->sdboot_len, 0644, err)
			     : im_tree_add_file_src(t, dst, a->sdboot_efi, 0644, err);
		if (rc < 0)
			return -1;
	}
	if (im_install_loader_conf(conf, a->name, 'A', 0, body, err) < 0 ||
	    im_tree_add_file_mem(t, "loader/loader.conf", conf, sizeof(conf), 0644, err) < 0)
		return -1;
	if (uki_fd >= 0) {
		char src[64];
		snprintf(src, sizeof(src), "/proc/self/fd/%d", uki_fd);
		return im_tree_add_file_src(t, name, src, 0644, err);
	}
	return im_tree_add_file_mem(t, name, uki, uki_len, 0644, err);
}

static int esp_add_grub(struct im_tree *t, const struct im_install_opts *o,
			const struct im_install_assets *a, const char *boot, struct im_error *err)
{
	struct im_grub_ab g = {a->name, !strcmp(a->arch, "amd64")};
	char *cfg = im_grubcfg_ab(&g), *efi = NULL;
	char env[IM_GRUBENV_SIZE];
	static const char *const kv[] = {IM_GRUBENV_SAVED_ENTRY, "A", NULL};
	int rc = -1;
	if (!cfg || asprintf(&efi, "%s/grub%s.efi", a->grub_dir, efi_arch(a->arch)) < 0) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		efi = NULL;
	} else if (im_grubenv_new_block(env, sizeof(env), kv, err) == 0 &&
		   im_tree_add_file_mem(t, "grub/grub.cfg", cfg, strlen(cfg), 0644, err) == 0 &&
		   im_tree_add_file_mem(t, "grub/grubenv", env, sizeof(env), 0644, err) == 0) {
		/* UEFI: GRUB only in grub mode; dual-boot's UEFI loader is systemd-boot */
		rc = o->bootloader & IM_BOOT_SDBOOT ? 0
						    : im_tree_add_file_src(t, boot, efi, 0644, err);
	}
	free(cfg);
	free(efi);
	return rc;
}

static int esp_add_extra(struct im_tree *t, const struct im_install_assets *a, struct im_error *err)
{
	for (size_t i = 0; i < a->n_esp_files; i++) {
		const struct im_install_file *f = &a->esp_files[i];
		int rc = f->src ? im_tree_add_file_src(t, f->path, f->src, 0644, err)
				: im_tree_add_file_mem(t, f->path, f->data, f->len, 0644, err);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int write_esp(int fd, const char *what, const struct im_install_opts *o,
		     const struct im_install_assets *a, const struct im_gpt_entry *part,
		     uint32_t ss, const uint8_t *uki, size_t uki_len, int uki_fd,
		     struct im_error *err)
{
	char boot[64];
	snprintf(boot, sizeof(boot), "EFI/BOOT/BOOT%s.EFI",
		 strcmp(a->arch, "arm64") ? "X64" : "AA64");
	struct im_tree *t = im_tree_new(o->epoch);
	if (!t)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int rc = -1;
	if ((!(o->bootloader & IM_BOOT_GRUB) || esp_add_grub(t, o, a, boot, err) == 0) &&
	    (!(o->bootloader & IM_BOOT_SDBOOT) ||
	     esp_add_sdboot(t, a, boot, uki, uki_len, uki_fd, err) == 0) &&
	    esp_add_extra(t, a, err) == 0) {
		struct im_fat_opts fo = {.size_bytes = part->size,
					 .sector_size = ss,
					 .label = "EFI",
					 .mtime = o->epoch,
					 .fat_type = 32};
		if (im_install_write_point(what, err) == 0)
			rc = im_fat_write(fd, part->start, &fo, t, err);
	}
	im_tree_free(t);
	return rc;
}

/* ---- STATE / EPHEMERAL ---- */

/* STATE and EPHEMERAL are formatted with mkfs.xfs when the target is a block device and
 * mkfs.xfs is installed: the one external tool the installer may run (issue 6), never in
 * image mode. Otherwise they are left unformatted, with a warning. */
static int find_prog(const char *prog, char *out, size_t n)
{
	const char *path = getenv("PATH");
	for (const char *p = path && *path ? path : "/usr/sbin:/usr/bin:/sbin:/bin"; *p;) {
		size_t k = strcspn(p, ":");
		snprintf(out, n, "%.*s/%s", (int)k, p, prog);
		if (k && access(out, X_OK) == 0)
			return 0;
		p += k + (p[k] == ':');
	}
	return -1;
}

/* /dev/<name> of partition `partno` of the disk fd, found through sysfs
 * (/sys/dev/block/M:m/<part>/partition); waits up to 2 s for udev to create it. */
static int part_node(int fd, unsigned partno, char *out, size_t n)
{
	struct stat st;
	char dir[64], f[384], buf[32];
	if (fstat(fd, &st) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", major(st.st_rdev), minor(st.st_rdev));
	for (int tries = 0; tries < 20; tries++, usleep(100000)) {
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			snprintf(f, sizeof(f), "%s/%s/partition", dir, e->d_name);
			int pf = open(f, O_RDONLY | O_CLOEXEC);
			ssize_t r = pf < 0 ? -1 : read(pf, buf, sizeof(buf) - 1);
			if (pf >= 0)
				close(pf);
			if (r <= 0 || (buf[r] = 0, strtoul(buf, NULL, 10) != partno))
				continue;
			snprintf(out, n, "/dev/%s", e->d_name);
			closedir(d);
			if (access(out, F_OK) == 0)
				return 0;
			d = NULL;
		}
		if (d)
			closedir(d);
	}
	return -1;
}

static int run_mkfs(const char *mkfs, const char *node, const char *label, struct im_error *err)
{
	pid_t pid = fork();
	if (pid < 0)
		return im_fail_errno(err, IM_EXIT_INSTALL, "fork");
	if (pid == 0) {
		execl(mkfs, mkfs, "-f", "-q", "-L", label, node, (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return im_fail_errno(err, IM_EXIT_INSTALL, "waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return im_fail(err, IM_EXIT_INSTALL, "%s -L %s %s failed (status %d)", mkfs, label,
			       node, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

/* ---- install ---- */

struct inst {
	int fd;
	const char *what;
	const struct im_install_opts *o;
	const struct im_install_assets *a;
	struct layout l;
	struct im_gpt_disk d;
	uint8_t *uki;
	size_t uki_len;
	int uki_fd; /* the built UKI in an unnamed file, or -1 (then uki) */
};

static const struct im_gpt_entry *part(const struct inst *in, const char *name)
{
	return im_gpt_find(&in->d, name);
}

/* The order is for a disk that already holds an installed OS of this layout (the GPT
 * written before is then the same): slot A, the BIOS boot code and META first, then the
 * ESP, the one write that switches the disk to the new install (its boot loader
 * configuration, grubenv, loader.conf and UKI), then the empty slot B. Until the ESP
 * write, the old ESP still boots the old committed slot when that is B (GRUB) or a UKI on
 * the ESP (systemd-boot); what this does not cover is in installer install --help. */
static int write_parts(struct inst *in, struct im_error *err)
{
	const struct im_install_opts *o = in->o;
	struct im_meta empty;
	im_meta_init(&empty);
	if (in->l.boot && im_install_write_boot(in->fd, in->what, part(in, "BOOT-A"), in->l.ss,
						in->a, 'A', o->epoch, err) < 0)
		return -1;
	if (in->l.bios &&
	    (im_install_write_point(in->what, err) < 0 ||
	     im_biosboot_install_gpt(in->fd, in->what, &in->d, in->a->grub_dir, err) < 0))
		return -1;
	if (im_install_meta_put(in->fd, in->what, part(in, "META")->start, part(in, "META")->size,
				o->meta ? o->meta : &empty, err) < 0 ||
	    write_esp(in->fd, in->what, o, in->a, part(in, "EFI"), in->l.ss, in->uki, in->uki_len,
		      in->uki_fd, err) < 0)
		return -1;
	return in->l.boot ? im_install_write_boot(in->fd, in->what, part(in, "BOOT-B"), in->l.ss,
						  NULL, 'B', o->epoch, err)
			  : 0;
}

static int format_data_parts(struct inst *in, struct im_error *err)
{
	static const char *const names[] = {"STATE", "EPHEMERAL"};
	char mkfs[512], node[300], msg[600];
	struct stat st;
	if (fstat(in->fd, &st) < 0 || !S_ISBLK(st.st_mode)) {
		warn(in->o, "STATE and EPHEMERAL left unformatted (not a block device)");
		return 0;
	}
	if (find_prog("mkfs.xfs", mkfs, sizeof(mkfs)) < 0) {
		warn(in->o, "STATE and EPHEMERAL left unformatted (mkfs.xfs not found)");
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		const struct im_gpt_entry *p = part(in, names[i]);
		if (!p || part_node(in->fd, p->partno, node, sizeof(node)) < 0) {
			snprintf(msg, sizeof(msg), "%s left unformatted (no device node for it)",
				 names[i]);
			warn(in->o, msg);
			continue;
		}
		if (run_mkfs(mkfs, node, names[i], err) < 0)
			return -1;
	}
	return 0;
}

int im_install(int fd, const char *what, const struct im_install_opts *o,
	       const struct im_install_assets *a, struct im_error *err)
{
	struct inst in = {.fd = fd, .what = what, .o = o, .a = a, .uki_fd = -1};
	uint64_t size = 0;
	uint32_t ss = 0;
	int rc = -1;
	if (check_opts(o, a, err) < 0)
		return -1;
	if ((o->bootloader & IM_BOOT_SDBOOT) && !a->uki &&
	    (rc = im_install_slot_uki_file(a, 'A', o->epoch, &in.uki_fd, &in.uki_len, err)) < 0)
		return -1;
	if ((o->bootloader & IM_BOOT_SDBOOT) && in.uki_fd < 0 &&
	    im_install_slot_uki(a, 'A', o->epoch, &in.uki, &in.uki_len, err) < 0)
		return -1;
	rc = -1;
	plan(o, a->arch, o->sector_size ? o->sector_size : 512, in.uki_len, &in.l);
	if (disk_geometry(fd, what, o, min_size(&in.l, o->board), &ss, &size, err) < 0)
		goto out;
	plan(o, a->arch, ss, in.uki_len, &in.l);
	if (size < min_size(&in.l, o->board)) {
		im_fail(err, IM_EXIT_INVALID,
			"%s: disk of %llu bytes is smaller than the %s layout (%llu bytes)", what,
			(unsigned long long)size, im_bootloader_name(o->bootloader),
			(unsigned long long)min_size(&in.l, o->board));
		goto out;
	}
	if ((o->bootloader & IM_BOOT_GRUB) && !strcmp(a->arch, "amd64") && !in.l.bios)
		warn(o, "4096-byte sectors: no BIOS boot partition (BIOS boot code reads "
			"512-byte sectors); the disk boots through UEFI");
	struct im_gpt_layout g = gpt_layout(&in.l, o->board, size);
	struct im_gpt_disk planned;
	if (im_gpt_plan(&g, &planned, err) < 0)
		goto out;
	rc = im_install_board_check(o->board, &planned, what, err);
	im_gpt_disk_free(&planned);
	if (rc < 0)
		goto out;
	rc = -1;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode))
		g.disk_size = 0;
	if (im_install_write_point(what, err) < 0 || im_gpt_write(fd, what, &g, &in.d, err) < 0 ||
	    im_install_board_write(fd, what, o->board, &in.d, err) < 0 || write_parts(&in, err) < 0)
		goto out;
	rc = in.l.state ? format_data_parts(&in, err) : 0;
out:
	im_gpt_disk_free(&in.d);
	free(in.uki);
	if (in.uki_fd >= 0)
		close(in.uki_fd);
	return rc;
}

/* A disk image written onto a larger disk (dd) leaves the backup GPT where the image ended
 * and the space after it unusable: writing verbs move it to the end (as sgdisk -e), in
 * the power-safe order of im_gpt_relocate_backup, through the fault-injecting writer;
 * read-only ones say so once. */
static int backup_at_end(int fd, const char *what, bool writable, struct im_gpt_disk *d,
			 struct im_error *err)
{
	uint64_t alt = im_gpt_backup_lba(fd, d->sector_size),
		 last = d->disk_size / d->sector_size - 1;
	if (!alt || alt >= last)
		return 0;
	static char warned[256];
	if (!writable) {
		if (strncmp(warned, what, sizeof(warned) - 1))
			im_warn(
			    "%s: the backup GPT is at LBA %llu, not at the disk's end (LBA %llu: "
			    "an image written onto a larger disk); upgrade, commit or rollback "
			    "moves it there",
			    what, (unsigned long long)alt, (unsigned long long)last);
		snprintf(warned, sizeof(warned), "%s", what);
		return 0;
	}
	im_warn("%s: the backup GPT is at LBA %llu, not at the disk's end: moving it to LBA %llu",
		what, (unsigned long long)alt, (unsigned long long)last);
	if (im_gpt_relocate_backup(fd, what, d, im_install_pwrite, err) < 0) {
		im_gpt_disk_free(d);
		return -1;
	}
	im_gpt_disk_free(d);
	return im_gpt_read(fd, what, 0, d, err);
}

int im_install_read_gpt(int fd, const char *what, bool writable, struct im_gpt_disk *d,
			struct im_error *err)
{
	if (im_gpt_read(fd, what, 0, d, err) < 0)
		return -1;
	if (!d->primary_bad)
		return backup_at_end(fd, what, writable, d, err);
	static char warned[256]; /* a read-only verb reads the GPT more than once: one line */
	if (!writable) {
		if (!strncmp(warned, what, sizeof(warned) - 1))
			return 0;
		snprintf(warned, sizeof(warned), "%s", what);
		im_warn("%s: the primary GPT is corrupt; read the backup GPT (nothing written: "
			"upgrade, commit or rollback repairs it)",
			what);
		return 0;
	}
	im_warn("%s: the primary GPT is corrupt; using the backup GPT and rewriting the primary "
		"from it",
		what);
	if (im_install_write_point(what, err) < 0 || im_gpt_repair_primary(fd, what, d, err) < 0) {
		im_gpt_disk_free(d);
		return -1;
	}
	d->primary_bad = false;
	return 0;
}

int im_install_meta_read(int fd, const char *what, struct im_meta *m, struct im_error *err)
{
	struct im_gpt_disk d;
	if (im_install_read_gpt(fd, what, false, &d, err) < 0)
		return -1;
	const struct im_gpt_entry *p = im_gpt_find(&d, "META");
	int rc = p ? im_meta_read_fd(fd, (off_t)p->start, what, m, err)
		   : im_fail(err, IM_EXIT_INSTALL, "%s: no META partition", what);
	im_gpt_disk_free(&d);
	return rc;
}

int im_install_meta_write(int fd, const char *what, const struct im_meta *m, struct im_error *err)
{
	struct im_gpt_disk d;
	if (im_install_read_gpt(fd, what, true, &d, err) < 0)
		return -1;
	const struct im_gpt_entry *p = im_gpt_find(&d, "META");
	int rc = p ? im_install_meta_put(fd, what, p->start, p->size, m, err)
		   : im_fail(err, IM_EXIT_INSTALL, "%s: no META partition", what);
	im_gpt_disk_free(&d);
	return rc;
}
