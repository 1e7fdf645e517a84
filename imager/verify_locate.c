/* Where an artifact differs from its rebuild (verify.h). The rebuilt file is mapped and cut
 * into labelled regions — GPT partitions and the files of their FAT filesystems, ISO9660
 * files (Rock Ridge names) and the FAT EFI image behind the ISO's MBR, PE headers and
 * sections (also of PE files found inside a FAT), tar members — and each differing byte
 * range is named by the smallest region holding its first byte. */
#include "verify.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/disk/gpt.h"
#include "imager/efi/pe.h"
#include "imager/install/install.h"

#define MAX_RANGES 64
#define LBL	   1600 /* label buffers: a path in a FAT, then a PE section */

struct region {
	uint64_t start, len;
	uint64_t base; /* byte of the named thing at `start` (a file's position) */
	char *label;
};

struct map {
	const uint8_t *b; /* the rebuilt file */
	uint64_t size;
	int fd;
	struct region *v;
	size_t n, cap;
};

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void add(struct map *m, uint64_t start, uint64_t len, uint64_t base, const char *label)
{
	if (!len || start >= m->size || m->n > 100000)
		return;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct region *v = realloc(m->v, cap * sizeof(*v));
		if (!v)
			return;
		m->v = v;
		m->cap = cap;
	}
	char *l = strdup(label);
	if (l)
		m->v[m->n++] = (struct region){start, len, base, l};
}

/* ---- PE: headers, sections, certificate table ---------------------------------------- */

static void map_pe(struct map *m, uint64_t off, uint64_t len, const char *prefix)
{
	struct im_pe_layout l;
	struct im_error e = {0};
	char label[LBL + 64];
	if (len < 64 || m->b[off] != 'M' || m->b[off + 1] != 'Z' ||
	    im_pe_locate(m->b + off, (size_t)len, "", &l, &e) < 0)
		return;
	snprintf(label, sizeof(label), "%sPE headers", prefix);
	add(m, off, l.size_of_headers, 0, label);
	for (uint32_t i = 0; i < l.n_sections; i++) {
		struct im_pe_section_header h;
		memcpy(&h, m->b + off + l.sect_off + 40 * i, sizeof(h));
		snprintf(label, sizeof(label), "%sPE section %.8s", prefix, h.name);
		if ((uint64_t)h.pointer_to_raw_data + h.size_of_raw_data <= len)
			add(m, off + h.pointer_to_raw_data, h.size_of_raw_data, 0, label);
	}
	if (l.n_dirs > IM_PE_DIR_SECURITY) {
		struct im_pe_data_dir d;
		memcpy(&d, m->b + off + l.dirs_off + 8 * IM_PE_DIR_SECURITY, sizeof(d));
		snprintf(label, sizeof(label), "%sAuthenticode certificate table", prefix);
		if (d.size && (uint64_t)d.virtual_address + d.size <= len)
			add(m, off + d.virtual_address, d.size, 0, label);
	}
}

/* ---- FAT: every file's clusters -------------------------------------------------------- */

static uint64_t clus_off(const struct im_fatfs *fs, uint32_t c)
{
	return fs->off + fs->data_off + (uint64_t)(c - 2) * fs->cb;
}

static void map_chain(struct map *m, struct im_fatfs *fs, uint32_t c, uint64_t size,
		      const char *label, int dir)
{
	uint32_t end = fs->type == 32 ? 0x0FFFFFF8 : 0xFFF8;
	uint64_t pos = 0;
	for (uint32_t n = 0; c >= 2 && c < fs->nclus + 2 && n <= fs->nclus; n++) {
		if (!dir && pos >= size)
			break;
		uint64_t len = !dir && size - pos < fs->cb ? size - pos : fs->cb;
		add(m, clus_off(fs, c), len, pos, label);
		pos += fs->cb;
		c = im_fat_get(fs, c);
		if (c >= end)
			break;
	}
}

/* A PE held in contiguous clusters (the FAT writer lays files out in one run). */
static void map_fat_pe(struct map *m, struct im_fatfs *fs, const struct im_fat_dirent *e,
		       const char *label)
{
	uint32_t c = e->first, n = (uint32_t)((e->size + fs->cb - 1) / fs->cb);
	for (uint32_t i = 1; i < n; i++) {
		uint32_t next = im_fat_get(fs, c);
		if (next != c + 1)
			return;
		c = next;
	}
	char prefix[LBL];
	snprintf(prefix, sizeof(prefix), "%.*s ", LBL - 8, label);
	if (e->first >= 2 && clus_off(fs, e->first) + e->size <= m->size)
		map_pe(m, clus_off(fs, e->first), e->size, prefix);
}

static void map_fat_dir(struct map *m, struct im_fatfs *fs, const char *part, const char *dir,
			int depth)
{
	struct im_fat_dirent *ents = NULL;
	size_t n = 0;
	struct im_error e = {0};
	if (depth > 16 || im_fatfs_list(fs, dir, &ents, &n, &e) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char path[LBL / 2], label[LBL - 8];
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i].name);
		snprintf(label, sizeof(label), "%s:%s", part, path);
		int isdir = ents[i].attr & IM_FAT_ATTR_DIR;
		map_chain(m, fs, ents[i].first, ents[i].size, label, isdir);
		if (isdir)
			map_fat_dir(m, fs, part, path, depth + 1);
		else
			map_fat_pe(m, fs, &ents[i], label);
	}
	free(ents);
}

static void map_fat(struct map *m, uint64_t off, uint64_t len, const char *part)
{
	const uint8_t *b = m->b + off;
	if (len < 512 || b[510] != 0x55 || b[511] != 0xAA ||
	    (memcmp(b + 0x52, "FAT32", 5) && memcmp(b + 0x36, "FAT16", 5)))
		return;
	struct im_fatfs fs;
	struct im_error e = {0};
	if (im_fatfs_open(&fs, m->fd, part, off, len, 0, &e) < 0)
		return;
	map_fat_dir(m, &fs, part, "", 0);
	im_fatfs_close(&fs);
}

/* ---- GPT disk --------------------------------------------------------------------------- */

static int map_gpt(struct map *m)
{
	struct im_gpt_disk d = {0};
	struct im_error e = {0};
	if (im_gpt_read(m->fd, "rebuilt image", 0, &d, &e) < 0)
		return 0;
	add(m, 0, d.first_usable * d.sector_size, 0, "partition table (protective MBR, GPT)");
	uint64_t backup = (d.last_usable + 1) * d.sector_size;
	add(m, backup, m->size - backup, 0, "backup GPT");
	for (size_t i = 0; i < d.n; i++) {
		const struct im_gpt_entry *p = &d.parts[i];
		if (p->start + p->size > m->size)
			continue;
		add(m, p->start, p->size, 0, p->name);
		map_fat(m, p->start, p->size, p->name);
	}
	im_gpt_disk_free(&d);
	return 1;
}

/* ---- ISO 9660 (ECMA-119 §9.1 directory records; Rock Ridge NM, RRIP §4.1.4) --------------- */

static void rr_name(const uint8_t *r, char *out, size_t n)
{
	unsigned len = r[0], nl = r[32];
	size_t su = 33 + nl + !(nl & 1), w = 0;
	for (; su + 4 <= len; su += r[su + 2]) {
		if (r[su + 2] < 4)
			break;
		if (r[su] == 'N' && r[su + 1] == 'M' && r[su + 2] >= 5) {
			for (unsigned i = 5; i < r[su + 2] && w + 1 < n; i++)
				out[w++] = (char)r[su + i];
		}
	}
	if (!w) /* the ISO9660 name, without its ";1" version */
		for (unsigned i = 0; i < nl && r[33 + i] != ';' && w + 1 < n; i++)
			out[w++] = (char)r[33 + i];
	out[w] = 0;
}

static void map_iso_dir(struct map *m, uint32_t lba, uint32_t size, const char *dir, int depth)
{
	uint64_t off = (uint64_t)lba * 2048, end = off + size;
	if (depth > 16 || end > m->size)
		return;
	while (off < end) {
		const uint8_t *r = m->b + off;
		if (r[0] == 0) { /* records do not cross sectors: on to the next */
			off = (off / 2048 + 1) * 2048;
			continue;
		}
		if (r[0] < 34 || off + r[0] > end)
			return;
		uint32_t flba = le32(r + 2), flen = le32(r + 10);
		if (!(r[32] == 1 && r[33] <= 1)) { /* not "." or ".." */
			char name[256], path[LBL / 2];
			rr_name(r, name, sizeof(name));
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			if (r[25] & 2)
				map_iso_dir(m, flba, flen, path, depth + 1);
			else
				add(m, (uint64_t)flba * 2048, flen, 0, path);
		}
		off += r[0];
	}
}

static int map_iso(struct map *m)
{
	const uint64_t pvd = 16 * 2048;
	if (m->size < pvd + 2048 || m->b[pvd] != 1 || memcmp(m->b + pvd + 1, "CD001", 5))
		return 0;
	add(m, 0, pvd + 2048, 0, "ISO system area and volume descriptors");
	const uint8_t *root = m->b + pvd + 156;
	map_iso_dir(m, le32(root + 2), le32(root + 10), "", 0);
	return 1;
}

/* An ISO without GPT: its EFI image is an MBR partition of type 0xEF. */
static void map_mbr_efi(struct map *m)
{
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = m->b + 446 + 16 * i;
		uint64_t s = (uint64_t)le32(e + 8) * 512, n = (uint64_t)le32(e + 12) * 512;
		if (e[4] == 0xEF && s && s + n <= m->size)
			map_fat(m, s, n, "EFI");
	}
}

/* ---- tar (POSIX ustar headers) ----------------------------------------------------------- */

static void map_tar(struct map *m)
{
	uint64_t off = 0;
	while (off + 512 <= m->size && !memcmp(m->b + off + 257, "ustar", 5)) {
		const uint8_t *h = m->b + off;
		char name[260], sz[13];
		memcpy(sz, h + 124, 12);
		sz[12] = 0;
		uint64_t size = strtoull(sz, NULL, 8);
		snprintf(name, sizeof(name), "%.155s%s%.100s", (const char *)h + 345,
			 h[345] ? "/" : "", (const char *)h);
		char label[300 + 30];
		snprintf(label, sizeof(label), "tar member %s (header)", name);
		add(m, off, 512, 0, label);
		snprintf(label, sizeof(label), "tar member %s", name);
		add(m, off + 512, size, 0, label);
		off += 512 + (size + 511) / 512 * 512;
	}
}

/* ---- comparing ---------------------------------------------------------------------------- */

struct range {
	uint64_t first, last; /* differing bytes first..last */
};

static size_t diff_ranges(const uint8_t *a, uint64_t an, const uint8_t *b, uint64_t bn,
			  struct range *r)
{
	const uint64_t chunk = 4096;
	uint64_t n = an < bn ? an : bn;
	size_t k = 0;
	for (uint64_t off = 0; off < n; off += chunk) {
		uint64_t len = n - off < chunk ? n - off : chunk;
		if (!memcmp(a + off, b + off, len))
			continue;
		uint64_t f = off, l = off + len - 1;
		while (a[f] == b[f])
			f++;
		while (a[l] == b[l])
			l--;
		if (k && r[k - 1].last + chunk >= f)
			r[k - 1].last = l; /* the same differing run */
		else if (k < MAX_RANGES)
			r[k++] = (struct range){f, l};
		else
			break;
	}
	if (an != bn && k < MAX_RANGES)
		r[k++] = (struct range){n, (an > bn ? an : bn) - 1};
	return k;
}

static const struct region *smallest(const struct map *m, uint64_t off)
{
	const struct region *best = NULL;
	for (size_t i = 0; i < m->n; i++)
		if (off >= m->v[i].start && off - m->v[i].start < m->v[i].len &&
		    (!best || m->v[i].len < best->len))
			best = &m->v[i];
	return best;
}

static const uint8_t *map_file(const char *path, uint64_t *size, int *fd, struct im_error *err)
{
	struct stat st;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, &st) < 0) {
		im_fail_errno(err, IM_EXIT_MISSING, "%s", path);
		return NULL;
	}
	*size = (uint64_t)st.st_size;
	if (!*size)
		return (const uint8_t *)"";
	void *p = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, *fd, 0);
	if (p == MAP_FAILED) {
		im_fail_errno(err, IM_EXIT_IO, "%s: mmap", path);
		return NULL;
	}
	return p;
}

/* One line per named place (first range only for each), bare ranges for the rest. */
static int report_ranges(const struct map *m, const struct range *r, size_t k, FILE *out)
{
	const char *seen[MAX_RANGES];
	size_t ns = 0, lines = 0;
	for (size_t i = 0; i < k; i++) {
		const struct region *g = r[i].first < m->size ? smallest(m, r[i].first) : NULL;
		if (!g) {
			fprintf(out, "  bytes %llu..%llu differ (outside any known structure)\n",
				(unsigned long long)r[i].first, (unsigned long long)r[i].last);
			lines++;
			continue;
		}
		int dup = 0;
		for (size_t j = 0; j < ns; j++)
			dup |= !strcmp(seen[j], g->label);
		if (dup)
			continue;
		seen[ns++] = g->label;
		fprintf(out, "  %s differs (first at byte %llu)\n", g->label,
			(unsigned long long)(r[i].first - g->start + g->base));
		lines++;
	}
	return (int)lines;
}

int im_verify_compare(const char *artifact, const char *rebuilt, FILE *report, struct im_error *err)
{
	struct map m = {0};
	uint64_t an = 0;
	int afd = -1, rc = -1;
	const uint8_t *a = map_file(artifact, &an, &afd, err);
	m.b = a ? map_file(rebuilt, &m.size, &m.fd, err) : NULL;
	struct range r[MAX_RANGES];
	if (!a || !m.b)
		goto out;
	size_t k = diff_ranges(a, an, m.b, m.size, r);
	rc = 0;
	if (k) {
		/* a hybrid ISO has a GPT too: its files are the smaller regions */
		int iso = map_iso(&m), gpt = map_gpt(&m);
		if (iso && !gpt)
			map_mbr_efi(&m);
		if (!iso && !gpt) {
			map_pe(&m, 0, m.size, "");
			map_tar(&m);
		}
		rc = report_ranges(&m, r, k, report);
		if (an != m.size)
			fprintf(report, "  the artifact has %llu bytes, the rebuild %llu\n",
				(unsigned long long)an, (unsigned long long)m.size);
		rc = rc ? rc : 1;
	}
out:
	if (a && an)
		munmap((void *)a, an);
	if (m.b && m.size)
		munmap((void *)m.b, m.size);
	if (afd >= 0)
		close(afd);
	if (m.fd > 0)
		close(m.fd);
	for (size_t i = 0; i < m.n; i++)
		free(m.v[i].label);
	free(m.v);
	return rc;
}
