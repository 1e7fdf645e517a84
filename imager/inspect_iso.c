/* `imager inspect` of an ISO: volume id, El Torito boot entries, the hybrid GPT, the
 * ISO 9660 files (Rock Ridge names), the kernel command line (GRUB's grub.cfg on the ISO
 * side, or the UKI's .cmdline in the EFI image for systemd-boot ISOs) and the META values
 * it carries. Read-only; every structure is bounds-checked against the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect.h"
#include "json.h"
#include "imager/disk/gpt.h"
#include "imager/disk/meta.h"
#include "imager/efi/pe.h"
#include "imager/install/install.h"
#include "imager/util/error.h"

#define SECTOR	2048
#define MAXFILE 4096 /* files listed; deeper or more are counted, not listed */

struct iso_file {
	char path[256];
	uint32_t lba, size;
};

struct iso {
	int fd;
	uint64_t size;
	char volid[33];
	struct iso_file *files;
	size_t n, more;
};

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static int read_at(const struct iso *s, uint64_t off, void *buf, size_t n)
{
	return off + n <= s->size && pread(s->fd, buf, n, (off_t)off) == (ssize_t)n ? 0 : -1;
}

/* The Rock Ridge name (RRIP 1.12 §4.1.4 "NM") in a record's system use area, or the
 * ISO 9660 name without its ";1" version. */
static void record_name(const uint8_t *r, char *out, size_t cap)
{
	size_t nl = r[32], su = 33 + nl + !(nl & 1);
	for (size_t i = su; i + 5 <= r[0];) {
		size_t len = r[i + 2];
		if (len < 4 || i + len > r[0])
			break;
		if (r[i] == 'N' && r[i + 1] == 'M' && len > 5) {
			snprintf(out, cap, "%.*s", (int)(len - 5), (const char *)r + i + 5);
			return;
		}
		i += len;
	}
	snprintf(out, cap, "%.*s", (int)nl, (const char *)r + 33);
	char *semi = strchr(out, ';');
	if (semi)
		*semi = 0;
}

/* ECMA-119 §9.1 directory records, depth-first; "." and ".." (names 0 and 1) skipped. */
static void walk(struct iso *s, uint32_t lba, uint32_t size, const char *dir, int depth)
{
	if (depth > 8 || size > (1u << 20))
		return;
	uint8_t *d = malloc(size);
	if (!d || read_at(s, (uint64_t)lba * SECTOR, d, size) < 0) {
		free(d);
		return;
	}
	for (uint32_t i = 0; i < size;) {
		uint8_t len = d[i];
		if (!len) { /* records do not cross sectors: go on at the next one */
			i = (i / SECTOR + 1) * SECTOR;
			continue;
		}
		const uint8_t *r = d + i;
		if (i + len > size || len < 34 || 33u + r[32] > len)
			break;
		i += len;
		if (r[32] == 1 && (r[33] == 0 || r[33] == 1))
			continue;
		char name[200], path[256];
		record_name(r, name, sizeof name);
		snprintf(path, sizeof path, "%s/%s", dir, name);
		if (r[25] & 2) {
			walk(s, le32(r + 2), le32(r + 10), path, depth + 1);
		} else if (s->n < MAXFILE) {
			struct iso_file *f = &s->files[s->n++];
			snprintf(f->path, sizeof f->path, "%s", path);
			f->lba = le32(r + 2);
			f->size = le32(r + 10);
		} else {
			s->more++;
		}
	}
	free(d);
}

/* The files' bytes, NUL-terminated (malloc'd), or NULL. */
static char *file_text(const struct iso *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct iso_file *f = &s->files[i];
		if (strcmp(f->path, path) || f->size > (1u << 20))
			continue;
		char *t = malloc((size_t)f->size + 1);
		if (t && read_at(s, (uint64_t)f->lba * SECTOR, t, f->size) == 0) {
			t[f->size] = 0;
			return t;
		}
		free(t);
	}
	return NULL;
}

/* El Torito 1.0 §2: the boot record volume descriptor names the catalog; the catalog is
 * a validation entry, the default entry, then section headers (0x90 more follow, 0x91
 * last) each followed by its entries. */
struct boot_entry {
	uint8_t platform; /* 0 x86 BIOS, 0xef EFI */
	int bootable;
	uint16_t sectors; /* 512-byte virtual sectors */
	uint32_t lba;
};

static size_t el_torito(const struct iso *s, struct boot_entry *out, size_t cap)
{
	uint8_t vd[SECTOR], cat[SECTOR];
	uint32_t catalog = 0;
	for (uint32_t l = 16; l < 64 && read_at(s, (uint64_t)l * SECTOR, vd, SECTOR) == 0; l++) {
		if (memcmp(vd + 1, "CD001", 5) || vd[0] == 255)
			break;
		if (vd[0] == 0 && !memcmp(vd + 7, "EL TORITO SPECIFICATION", 23))
			catalog = le32(vd + 0x47);
	}
	if (!catalog || read_at(s, (uint64_t)catalog * SECTOR, cat, SECTOR) < 0 || cat[0] != 1)
		return 0;
	size_t n = 0;
	uint8_t platform = cat[1];
	for (size_t i = 32; i + 32 <= SECTOR && n < cap;) {
		const uint8_t *e = cat + i;
		if (i > 32 && (e[0] == 0x90 || e[0] == 0x91)) {
			platform = e[1];
			size_t count = e[2] | e[3] << 8;
			i += 32;
			for (size_t k = 0; k < count && i + 32 <= SECTOR && n < cap; k++, i += 32)
				out[n++] = (struct boot_entry){
				    platform, cat[i] == 0x88,
				    (uint16_t)(cat[i + 6] | cat[i + 7] << 8), le32(cat + i + 8)};
			if (e[0] == 0x91)
				break;
			continue;
		}
		if (i > 32)
			break;
		out[n++] = (struct boot_entry){platform, e[0] == 0x88, (uint16_t)(e[6] | e[7] << 8),
					       le32(e + 8)};
		i += 32;
	}
	return n;
}

/* GRUB: the first "linux PATH ARGS" line of grub.cfg; ARGS is the command line. */
static char *grub_cmdline(const char *cfg)
{
	for (const char *p = cfg; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "linux ", 6))
			continue;
		p += 6;
		p += strcspn(p, " \n");
		while (*p == ' ')
			p++;
		return strndup(p, strcspn(p, "\n"));
	}
	return NULL;
}

/* systemd-boot ISOs: the UKI in the EFI image's EFI/Linux/ (FAT16/32; a FAT12 image, as
 * GRUB ISOs have, is not read: their command line is on the ISO side). */
static char *uki_cmdline(int fd, const char *path, uint64_t off, uint64_t size)
{
	struct im_fatfs fs;
	struct im_error err = {0};
	struct im_fat_dirent *ents = NULL;
	size_t n = 0;
	char *cmdline = NULL;
	if (im_fatfs_open(&fs, fd, path, off, size, 0, &err) < 0)
		return NULL;
	if (im_fatfs_list(&fs, "EFI/Linux", &ents, &n, &err) == 0)
		for (size_t i = 0; i < n && !cmdline; i++) {
			uint8_t *buf;
			size_t len;
			struct im_pe pe = {0};
			if (ents[i].attr & IM_FAT_ATTR_DIR ||
			    im_fatfs_read(&fs, &ents[i], &buf, &len, &err) < 0)
				continue;
			if (im_pe_parse(buf, len, ents[i].name, &pe, &err) == 0) {
				cmdline = im_pe_section_text(&pe, ".cmdline");
				im_pe_free(&pe);
			}
			free(buf);
		}
	free(ents);
	im_fatfs_close(&fs);
	return cmdline;
}

static const char *platform_name(uint8_t p)
{
	return p == 0 ? "bios" : p == 0xef ? "efi" : "other";
}

static void print_boot(const struct boot_entry *b, size_t n, int json)
{
	if (json) {
		fputs(",\n  \"elTorito\": [", stdout);
		for (size_t i = 0; i < n; i++)
			printf("%s\n    {\"platform\": \"%s\", \"bootable\": %s, \"lba\": %u, "
			       "\"sectors\": %u}",
			       i ? "," : "", platform_name(b[i].platform),
			       b[i].bootable ? "true" : "false", b[i].lba, b[i].sectors);
		fputs(n ? "\n  ]" : "]", stdout);
		return;
	}
	printf("El Torito: %zu boot entr%s\n", n, n == 1 ? "y" : "ies");
	for (size_t i = 0; i < n; i++)
		printf("  %-5s %s at 2048-byte block %u, %u 512-byte sectors\n",
		       platform_name(b[i].platform), b[i].bootable ? "bootable" : "not bootable",
		       b[i].lba, b[i].sectors);
}

static void print_files(const struct iso *s, int json)
{
	if (json) {
		fputs(",\n  \"files\": [", stdout);
		for (size_t i = 0; i < s->n; i++) {
			printf("%s\n    {\"path\": ", i ? "," : "");
			imager_json_str(stdout, s->files[i].path, strlen(s->files[i].path));
			printf(", \"size\": %u}", s->files[i].size);
		}
		fputs(s->n ? "\n  ]" : "]", stdout);
		return;
	}
	printf("files: %zu%s\n", s->n + s->more, s->more ? " (first 4096 listed)" : "");
	for (size_t i = 0; i < s->n; i++)
		printf("  %12u  %.64s\n", s->files[i].size, s->files[i].path);
}

/* The EFI image: the El Torito EFI entry's start, sized by the GPT partition there. */
static int efi_image(const struct boot_entry *b, size_t nb, const struct im_gpt_disk *d,
		     uint64_t *off, uint64_t *size)
{
	for (size_t i = 0; i < nb; i++) {
		if (b[i].platform != 0xef)
			continue;
		*off = (uint64_t)b[i].lba * SECTOR;
		*size = (uint64_t)b[i].sectors * 512;
		for (size_t k = 0; d && k < d->n; k++)
			if (d->parts[k].start == *off)
				*size = d->parts[k].size;
		return 1;
	}
	return 0;
}

int imager_inspect_iso(const char *path, int fd, int json, struct im_error *err)
{
	struct stat st;
	uint8_t pvd[SECTOR];
	struct iso s = {.fd = fd};
	if (fstat(fd, &st) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s", path);
	s.size = (uint64_t)st.st_size;
	if (read_at(&s, 16 * SECTOR, pvd, SECTOR) < 0 || pvd[0] != 1 || memcmp(pvd + 1, "CD001", 5))
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: expected an ISO 9660 primary volume descriptor at block 16",
			       path);
	snprintf(s.volid, sizeof s.volid, "%.32s", (const char *)pvd + 40);
	for (size_t k = strlen(s.volid); k && s.volid[k - 1] == ' ';)
		s.volid[--k] = 0;
	if (!(s.files = calloc(MAXFILE, sizeof *s.files)))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	walk(&s, le32(pvd + 156 + 2), le32(pvd + 156 + 10), "", 0);
	struct boot_entry boot[8];
	size_t nb = el_torito(&s, boot, 8);
	struct im_gpt_disk d = {0};
	struct im_error e2 = {0};
	int have_gpt = im_gpt_read(fd, path, 0, &d, &e2) == 0;
	char *cfg = file_text(&s, "/grub/grub.cfg"), *cmdline = grub_cmdline(cfg);
	const char *bootloader = cmdline ? "grub" : "sd-boot";
	uint64_t eoff, esize;
	if (!cmdline && efi_image(boot, nb, have_gpt ? &d : NULL, &eoff, &esize))
		cmdline = uki_cmdline(fd, path, eoff, esize);
	struct im_meta m;
	int rc = inspect_cmdline_meta(cmdline, &m, err);
	if (rc == 0 && json) {
		fputs("{\n  \"file\": ", stdout);
		imager_json_str(stdout, path, strlen(path));
		printf(",\n  \"kind\": \"iso\",\n  \"size\": %llu,\n  \"volumeId\": ",
		       (unsigned long long)s.size);
		imager_json_str(stdout, s.volid, strlen(s.volid));
	} else if (rc == 0) {
		inspect_wrap(stdout, 0, "file", path);
		printf("kind: ISO 9660 image, %llu bytes\nvolume id: %s\n",
		       (unsigned long long)s.size, s.volid);
	}
	if (rc == 0) {
		print_boot(boot, nb, json);
		if (have_gpt)
			inspect_partitions(stdout, &d, json);
		else if (json)
			fputs(",\n  \"partitions\": []", stdout);
		print_files(&s, json);
		if (json) {
			printf(",\n  \"bootloader\": \"%s\",\n  \"cmdline\": ", bootloader);
			if (cmdline)
				imager_json_str(stdout, cmdline, strlen(cmdline));
			else
				fputs("null", stdout);
		} else {
			printf("bootloader: %s\n", bootloader);
			inspect_wrap(stdout, 0, "cmdline", cmdline ? cmdline : "(not found)");
		}
		inspect_meta(stdout, &m, json);
		if (json)
			fputs("\n}\n", stdout);
	}
	im_meta_free(&m);
	free(cfg);
	free(cmdline);
	free(s.files);
	if (have_gpt)
		im_gpt_disk_free(&d);
	return rc;
}
