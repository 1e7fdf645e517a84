/* Where an artifact differs from its rebuild (verify.h). The rebuilt file is mapped and cut
 * into labelled regions — GPT partitions and the files of their FAT filesystems, ISO9660
 * files (Rock Ridge names) and the FAT EFI image behind the ISO's MBR, PE headers and
 * sections (also of PE files found inside a FAT), tar members — and each differing byte
 * range is named by the smallest region holding its first byte. */
#include "inspect.h"
#include "verify.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/disk/gpt.h"
#include "imager/efi/pe.h"
#include "imager/util/compress.h"

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

/* ---- FAT12/16/32, read-only (fatgen103: §3 BPB, §4 FAT entries, §6-7 directory entries
 * and long names): every file's clusters. FAT12 too: ISO EFI images are that small. ------ */

struct fat {
	uint64_t off, len;	       /* the filesystem in the mapped file */
	uint32_t bps, cb, nclus, type; /* bytes per sector and cluster; clusters; 12/16/32 */
	uint64_t fat, root, data;      /* byte offsets from off */
	uint32_t root_ents, root_clus;
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static int fat_open(const struct map *m, uint64_t off, uint64_t len, struct fat *f)
{
	const uint8_t *b = m->b + off;
	if (len < 512 || b[510] != 0x55 || b[511] != 0xAA)
		return -1;
	uint32_t bps = le16(b + 11), spc = b[13], rsv = le16(b + 14), nfats = b[16];
	uint32_t fatsz = le16(b + 22) ? le16(b + 22) : le32(b + 36);
	uint64_t tot = le16(b + 19) ? le16(b + 19) : le32(b + 32);
	uint32_t root_ents = le16(b + 17), root_secs = (root_ents * 32 + bps - 1) / (bps ? bps : 1);
	uint64_t data = rsv + (uint64_t)nfats * fatsz + root_secs;
	if (bps < 512 || bps > 4096 || (bps & (bps - 1)) || !spc || (spc & (spc - 1)) || !nfats ||
	    !fatsz || tot <= data || tot * bps > len)
		return -1;
	*f = (struct fat){.off = off, .len = len, .bps = bps, .cb = bps * spc};
	f->nclus = (uint32_t)((tot - data) / spc);
	f->type = f->nclus < 4085 ? 12 : f->nclus < 65525 ? 16 : 32;
	f->fat = (uint64_t)rsv * bps;
	f->root = (rsv + (uint64_t)nfats * fatsz) * bps;
	f->data = data * bps;
	f->root_ents = root_ents;
	f->root_clus = f->type == 32 ? le32(b + 44) : 0;
	return (uint64_t)fatsz * bps * 8 / f->type >= f->nclus + 2 ? 0 : -1;
}

/* The next cluster, or 0 at the end of a chain (or on a bad entry). */
static uint32_t fat_next(const struct map *m, const struct fat *f, uint32_t c)
{
	const uint8_t *t = m->b + f->off + f->fat;
	uint32_t v;
	if (f->type == 12) {
		v = le16(t + c + c / 2);
		v = c & 1 ? v >> 4 : v & 0xfff;
		v = v >= 0xff7 ? 0 : v;
	} else if (f->type == 16) {
		v = le16(t + 2 * c);
		v = v >= 0xfff7 ? 0 : v;
	} else {
		v = le32(t + 4 * c) & 0x0fffffff;
		v = v >= 0x0ffffff7 ? 0 : v;
	}
	return v >= 2 && v < f->nclus + 2 ? v : 0;
}

static uint64_t clus_off(const struct fat *f, uint32_t c)
{
	return f->off + f->data + (uint64_t)(c - 2) * f->cb;
}

/* Label a chain, one region per contiguous run (so a PE section inside a file is smaller
 * than the file's region); returns 1 when the chain is a single run. */
static int map_chain(struct map *m, const struct fat *f, uint32_t c, uint64_t size,
		     const char *label, int dir)
{
	uint64_t pos = 0, run_start = 0, run_pos = 0, run_len = 0;
	int runs = 0;
	for (uint32_t n = 0; c >= 2 && c < f->nclus + 2 && n <= f->nclus; n++) {
		if (!dir && pos >= size)
			break;
		uint64_t len = !dir && size - pos < f->cb ? size - pos : f->cb, at = clus_off(f, c);
		if (run_len && at == run_start + run_len) {
			run_len += len;
		} else {
			add(m, run_start, run_len, run_pos, label);
			run_start = at, run_pos = pos, run_len = len;
			runs++;
		}
		pos += f->cb;
		c = fat_next(m, f, c);
	}
	add(m, run_start, run_len, run_pos, label);
	return runs == 1;
}

static void map_fat_dir(struct map *m, const struct fat *f, const char *part, uint32_t clus,
			const char *dir, int depth);

/* "NAME.EXT" from an 8.3 entry, trailing spaces dropped (fatgen103 §6.1). */
static void sfn_name(const uint8_t *p, char out[13])
{
	int b = 8, e = 3, w = 0;
	while (b && p[b - 1] == ' ')
		b--;
	while (e && p[8 + e - 1] == ' ')
		e--;
	for (int i = 0; i < b; i++)
		out[w++] = (char)p[i];
	if (e)
		out[w++] = '.';
	for (int i = 0; i < e; i++)
		out[w++] = (char)p[8 + i];
	out[w] = 0;
}

/* One directory's entries (n of them at p): long names gathered, then each named entry. */
static void map_fat_entries(struct map *m, const struct fat *f, const char *part, const uint8_t *p,
			    size_t n, const char *dir, int depth)
{
	char lfn[256] = "";
	for (size_t i = 0; i < n; i++, p += 32) {
		if (p[0] == 0)
			return;
		if (p[0] == 0xE5) {
			lfn[0] = 0;
			continue;
		}
		if (p[11] == 0x0F) { /* a long-name piece: 13 UTF-16 units, ASCII kept */
			static const int at[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
			int seq = (p[0] & 0x1f) - 1;
			for (int k = 0; seq >= 0 && seq < 19 && k < 13; k++) {
				uint16_t u = le16(p + at[k]);
				lfn[seq * 13 + k] = u == 0xffff ? 0 : u < 0x80 ? (char)u : '?';
				if (p[0] & 0x40 && k == 12)
					lfn[seq * 13 + 13] = 0;
			}
			continue;
		}
		char name[256], path[LBL / 2], label[LBL - 8];
		if (lfn[0])
			snprintf(name, sizeof(name), "%s", lfn);
		else
			sfn_name(p, name);
		lfn[0] = 0;
		if ((p[11] & 0x08) || p[0] == '.')
			continue; /* the volume label, "." and ".." */
		uint32_t first = (uint32_t)le16(p + 20) << 16 | le16(p + 26), size = le32(p + 28);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		snprintf(label, sizeof(label), "%s:%s", part, path);
		int isdir = p[11] & 0x10;
		int run = map_chain(m, f, first, size, label, isdir);
		if (isdir) {
			map_fat_dir(m, f, part, first, path, depth + 1);
		} else if (run && first >= 2 && clus_off(f, first) + size <= m->size) {
			char prefix[LBL];
			snprintf(prefix, sizeof(prefix), "%.*s ", LBL - 8, label);
			map_pe(m, clus_off(f, first), size, prefix); /* a UKI or EFI binary */
		}
	}
}

static void map_fat_dir(struct map *m, const struct fat *f, const char *part, uint32_t clus,
			const char *dir, int depth)
{
	if (depth > 16)
		return;
	if (!clus) { /* the FAT12/16 fixed root */
		if (f->root + (uint64_t)f->root_ents * 32 <= f->len)
			map_fat_entries(m, f, part, m->b + f->off + f->root, f->root_ents, dir,
					depth);
		return;
	}
	for (uint32_t n = 0; clus && n <= f->nclus; n++, clus = fat_next(m, f, clus))
		if (clus_off(f, clus) + f->cb <= f->off + f->len)
			map_fat_entries(m, f, part, m->b + clus_off(f, clus), f->cb / 32, dir,
					depth);
}

static void map_fat(struct map *m, uint64_t off, uint64_t len, const char *part)
{
	struct fat f;
	if (fat_open(m, off, len, &f) == 0)
		map_fat_dir(m, &f, part, f.root_clus, "", 0);
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

int im_verify_compressed_file(const char *path)
{
	uint8_t b[6];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
	if (fd >= 0)
		close(fd);
	return n > 0 && im_compress_detect(b, (size_t)n) != IM_COMPRESS_NONE;
}

/* A .zst/.xz/.gz disk image: the places are those of the decompressed images (both are
 * decompressed into unnamed sparse files in $TMPDIR); identical contents in differing
 * compressed streams are said so. */
static int compare_decompressed(const char *artifact, const char *rebuilt, uint64_t first,
				FILE *report, struct im_error *err)
{
	struct im_error e = {0};
	int fa = imager_inspect_decompress(artifact, &e), fb = -1, rc;
	if (fa < 0) {
		fprintf(report, "  the compressed stream does not decompress: %s\n", e.msg);
		return 1;
	}
	if ((fb = imager_inspect_decompress(rebuilt, err)) < 0) {
		close(fa);
		return -1;
	}
	char pa[64], pb[64];
	snprintf(pa, sizeof(pa), "/proc/self/fd/%d", fa);
	snprintf(pb, sizeof(pb), "/proc/self/fd/%d", fb);
	rc = im_verify_compare(pa, pb, report, err);
	if (rc == 0) {
		fprintf(report,
			"  the compressed bytes differ (first at byte %llu); the decompressed "
			"images are identical\n",
			(unsigned long long)first);
		rc = 1;
	}
	close(fa);
	close(fb);
	return rc;
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
	if (k && im_compress_detect(a, an) != IM_COMPRESS_NONE &&
	    im_compress_detect(m.b, m.size) != IM_COMPRESS_NONE) {
		rc = compare_decompressed(artifact, rebuilt, r[0].first, report, err);
	} else if (k) {
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
