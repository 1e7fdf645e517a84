/* A minimal FAT16/FAT32 reader and editor for the installer's in-place ESP changes (see
 * include/imager/install.h). "Spec" is Microsoft's "FAT32 File System Specification"
 * (fatgen103, v1.03): §3 boot sector and BPB, §3.5 FAT type by cluster count, §4 FAT
 * entries, §5 FSInfo, §6 directory entries, §7 long names (and their checksum).
 *
 * Only what the A/B code needs. This file: geometry, FAT chains and allocation, directory
 * scans, lookups, reading and same-size rewrites, and the counted writes (fault hook);
 * lib/install_fatedit.c creates, renames and deletes files. */
#include "imager/install/install.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imager/util/outfile.h"

#define DIRENT	       32
#define ATTR_VOLUME_ID 0x08
#define ATTR_LONG_NAME 0x0F
#define LFN_LAST       0x40
#define LFN_CHARS      13
#define SLOT_FREE      0xE5
#define FAT16_MIN      4085u  /* spec §3.5: fewer clusters is FAT12 */
#define FAT32_MIN      65525u /* fewer is FAT16 */
#define EOC32	       0x0FFFFFFFu
#define EOC16	       0xFFFFu
#define FSI_FREE       488 /* spec §5: FSI_Free_Count */
#define DATA_CHUNK     (1024 * 1024)
#define LFN_MAX_UNITS  255 /* spec §7: a long name has at most 255 characters */

unsigned im_install_fault_at;
bool im_install_fault_torn;
unsigned im_install_writes;

int im_install_write_point(const char *what, struct im_error *err)
{
	im_install_writes++;
	if (im_install_fault_at && im_install_writes >= im_install_fault_at)
		return im_fail(err, IM_EXIT_IO, "%s: simulated power loss at write %u", what,
			       im_install_writes);
	return 0;
}

int im_install_pwrite(int fd, const void *buf, size_t len, uint64_t off, const char *what,
		      struct im_error *err)
{
	if (im_install_write_point(what, err) < 0) {
		/* Torn: the device wrote whole 512-byte sectors, in order, up to the sector
		 * boundary at or before the middle of the write, then lost power. */
		uint64_t end = (off + len / 2) & ~(uint64_t)511;
		struct im_error ignored = {0};
		if (im_install_fault_torn && im_install_writes == im_install_fault_at && end > off)
			im_pwrite_all(fd, buf, (size_t)(end - off), (long long)off, what, &ignored);
		return -1;
	}
	return im_pwrite_all(fd, buf, len, (long long)off, what, err);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

/* Is [off, off + len) (bytes from the filesystem start) inside the partition? */
static bool in_part(const struct im_fatfs *fs, uint64_t off, size_t len)
{
	return off <= fs->size && len <= fs->size - off;
}

static int outside(struct im_fatfs *fs, const char *op, uint64_t off, size_t len,
		   struct im_error *err)
{
	return im_fail(err, IM_EXIT_INVALID,
		       "%s: FAT filesystem %s %zu bytes at offset %llu, past the end of its "
		       "%llu-byte partition",
		       fs->what, op, len, (unsigned long long)off, (unsigned long long)fs->size);
}

static int pread_all(struct im_fatfs *fs, void *buf, size_t len, uint64_t off, struct im_error *err)
{
	uint8_t *p = buf;
	if (!in_part(fs, off, len))
		return outside(fs, "reads", off, len, err);
	off += fs->off;
	while (len) {
		ssize_t n = pread(fs->fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? im_fail_errno(err, IM_EXIT_IO, "%s: read at offset %llu",
						     fs->what, (unsigned long long)off)
				     : im_fail(err, IM_EXIT_INVALID,
					       "%s: FAT filesystem truncated at offset %llu",
					       fs->what, (unsigned long long)off);
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Every write of the editor goes through here: bounded by the partition, whatever the
 * BPB claims (a FAT copy or a cluster past the end would land in the next partition). */
int im_fat_pwrite(struct im_fatfs *fs, const void *buf, size_t len, uint64_t off,
		  struct im_error *err)
{
	if (!in_part(fs, off, len))
		return outside(fs, "writes", off, len, err);
	return im_install_pwrite(fs->fd, buf, len, fs->off + off, fs->what, err);
}

/* ---- geometry (spec §3) ---- */

static int bad(struct im_fatfs *fs, const char *why, struct im_error *err)
{
	return im_fail(err, IM_EXIT_INVALID, "%s: not a usable FAT16/FAT32 filesystem (%s)",
		       fs->what, why);
}

static int parse_bpb(struct im_fatfs *fs, const uint8_t *b, struct im_error *err)
{
	uint32_t ss = get16(b + 11), spc = b[13], rsvd = get16(b + 14);
	uint32_t tot = get16(b + 19) ? get16(b + 19) : get32(b + 32);
	uint32_t fatsz = get16(b + 22) ? get16(b + 22) : get32(b + 36);
	if (b[510] != 0x55 || b[511] != 0xAA)
		return bad(fs, "no boot sector signature", err);
	if (ss < 512 || ss > 4096 || (ss & (ss - 1)) || !spc || (spc & (spc - 1)) || !rsvd ||
	    !b[16] || !fatsz)
		return bad(fs, "invalid BPB", err);
	fs->ss = ss;
	fs->cb = ss * spc;
	fs->nfats = b[16];
	fs->fatsz = fatsz;
	fs->root_ents = get16(b + 17);
	uint32_t root_secs = (fs->root_ents * DIRENT + ss - 1) / ss;
	uint64_t meta = rsvd + (uint64_t)fs->nfats * fatsz + root_secs;
	if (meta >= tot)
		return bad(fs, "no data area", err);
	if ((uint64_t)tot * ss > fs->size)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: FAT filesystem of %llu bytes (BPB) in a %llu-byte partition",
			       fs->what, (unsigned long long)tot * ss,
			       (unsigned long long)fs->size);
	fs->nclus = (uint32_t)((tot - meta) / spc);
	if (fs->nclus < FAT16_MIN)
		return bad(fs, "FAT12", err);
	fs->type = fs->nclus < FAT32_MIN ? 16 : 32;
	fs->fat_off = (uint64_t)rsvd * ss;
	fs->root_off = fs->fat_off + (uint64_t)fs->nfats * fatsz * ss;
	fs->data_off = fs->root_off + (uint64_t)root_secs * ss;
	if ((uint64_t)(fs->nclus + 2) * (fs->type / 8) > (uint64_t)fatsz * ss)
		return bad(fs, "FAT shorter than the cluster count", err);
	if (fs->type == 32) {
		fs->root_clus = get32(b + 44);
		fs->fsinfo = get16(b + 48);
		if (fs->root_clus < 2 || fs->root_clus > fs->nclus + 1)
			return bad(fs, "root cluster out of range", err);
		if (fs->fsinfo >= rsvd)
			fs->fsinfo = 0;
	}
	return 0;
}

static int load_fat(struct im_fatfs *fs, struct im_error *err)
{
	size_t esz = fs->type / 8, n = fs->nclus + 2;
	uint8_t *raw = malloc(n * esz);
	fs->fat = calloc(n, sizeof(*fs->fat));
	if (!raw || !fs->fat) {
		free(raw);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	int rc = pread_all(fs, raw, n * esz, fs->fat_off, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		fs->fat[i] = esz == 4 ? get32(raw + i * 4) : get16(raw + i * 2);
	free(raw);
	return rc;
}

static void dos_time(struct im_fatfs *fs, int64_t mtime)
{
	time_t t = (time_t)(mtime < 315532800 ? 315532800 : mtime); /* 1980-01-01 */
	struct tm tm;
	gmtime_r(&t, &tm);
	if (tm.tm_year > 207)
		tm.tm_year = 207, tm.tm_mon = 11, tm.tm_mday = 31;
	fs->date = (uint16_t)(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
	fs->time = (uint16_t)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
}

int im_fatfs_open(struct im_fatfs *fs, int fd, const char *what, uint64_t off, uint64_t size,
		  int64_t mtime, struct im_error *err)
{
	uint8_t b[512];
	memset(fs, 0, sizeof(*fs));
	fs->fd = fd;
	fs->what = what;
	fs->off = off;
	fs->size = size;
	dos_time(fs, mtime);
	if (pread_all(fs, b, sizeof(b), 0, err) < 0 || parse_bpb(fs, b, err) < 0 ||
	    load_fat(fs, err) < 0) {
		im_fatfs_close(fs);
		return -1;
	}
	return 0;
}

void im_fatfs_close(struct im_fatfs *fs)
{
	free(fs->fat);
	fs->fat = NULL;
}

/* ---- clusters and FAT entries (spec §4) ---- */

uint32_t im_fat_get(const struct im_fatfs *fs, uint32_t c)
{
	return fs->type == 32 ? fs->fat[c] & 0x0FFFFFFF : fs->fat[c];
}

static bool is_eoc(const struct im_fatfs *fs, uint32_t v)
{
	return fs->type == 32 ? v >= 0x0FFFFFF8 : v >= 0xFFF8;
}

static bool valid_clus(const struct im_fatfs *fs, uint32_t c)
{
	return c >= 2 && c <= fs->nclus + 1;
}

/* FAT32 entries keep their top 4 reserved bits (spec §4). */
void im_fat_set(struct im_fatfs *fs, uint32_t c, uint32_t v)
{
	fs->fat[c] = fs->type == 32 ? (fs->fat[c] & 0xF0000000) | (v & 0x0FFFFFFF) : v & 0xFFFF;
}

uint64_t im_fat_clus_off(const struct im_fatfs *fs, uint32_t c)
{
	return fs->data_off + (uint64_t)(c - 2) * fs->cb;
}

/* The chain from `first` as an array (malloc'd). A loop, a free or out-of-range link is an
 * error naming the filesystem. */
int im_fat_chain(struct im_fatfs *fs, uint32_t first, uint32_t **out, size_t *n,
		 struct im_error *err)
{
	size_t cap = 16, k = 0;
	uint32_t *v = malloc(cap * sizeof(*v));
	if (!v)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (uint32_t c = first; !is_eoc(fs, c); c = im_fat_get(fs, c)) {
		if (!valid_clus(fs, c) || k > fs->nclus) {
			free(v);
			return bad(fs, "broken cluster chain", err);
		}
		if (k == cap) {
			uint32_t *nv = realloc(v, (cap *= 2) * sizeof(*v));
			if (!nv) {
				free(v);
				return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
			}
			v = nv;
		}
		v[k++] = c;
	}
	*out = v;
	*n = k;
	return 0;
}

/* Write FAT entries lo..hi (inclusive) to every FAT copy. */
int im_fat_flush(struct im_fatfs *fs, uint32_t lo, uint32_t hi, struct im_error *err)
{
	size_t esz = fs->type / 8, n = hi - lo + 1;
	uint8_t *raw = malloc(n * esz);
	if (!raw)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (esz == 4)
			put32(raw + i * 4, fs->fat[lo + i]);
		else
			put16(raw + i * 2, fs->fat[lo + i]);
	}
	int rc = 0;
	for (uint32_t k = 0; rc == 0 && k < fs->nfats; k++)
		rc = im_fat_pwrite(fs, raw, n * esz,
				   fs->fat_off + (uint64_t)k * fs->fatsz * fs->ss + lo * esz, err);
	free(raw);
	return rc;
}

/* FSInfo free count (spec §5): recounted when it was known, left "unknown" otherwise. */
int im_fat_fsinfo(struct im_fatfs *fs, struct im_error *err)
{
	uint8_t b[8];
	if (fs->type != 32 || !fs->fsinfo)
		return 0;
	if (pread_all(fs, b, 4, (uint64_t)fs->fsinfo * fs->ss + FSI_FREE, err) < 0)
		return -1;
	if (get32(b) == 0xFFFFFFFF)
		return 0;
	uint32_t free_n = 0;
	for (uint32_t c = 2; c <= fs->nclus + 1; c++)
		free_n += im_fat_get(fs, c) == 0;
	put32(b, free_n);
	return im_fat_pwrite(fs, b, 4, (uint64_t)fs->fsinfo * fs->ss + FSI_FREE, err);
}

/* Link `n` clusters into a chain in memory: the first contiguous free run that fits, else
 * free clusters in order. *first = 0 for n = 0. Sets the dirty range. */
int im_fat_alloc(struct im_fatfs *fs, size_t n, uint32_t *first, uint32_t *lo, uint32_t *hi,
		 struct im_error *err)
{
	uint32_t start = 0, run = 0, end = fs->nclus + 1;
	*first = 0;
	if (!n)
		return 0;
	for (uint32_t c = 2; c <= end && run < n; c++) {
		if (im_fat_get(fs, c)) {
			run = 0;
			continue;
		}
		if (!run++)
			start = c;
	}
	uint32_t prev = 0, got = 0;
	for (uint32_t c = run >= n ? start : 2; c <= end && got < n; c++) {
		if (im_fat_get(fs, c))
			continue;
		if (prev)
			im_fat_set(fs, prev, c);
		else
			*first = c;
		im_fat_set(fs, c, fs->type == 32 ? EOC32 : EOC16);
		*lo = *lo < c ? *lo : c;
		*hi = *hi > c ? *hi : c;
		prev = c;
		got++;
	}
	if (got < n)
		return im_fail(err, IM_EXIT_ENV, "%s: no space left for %zu more clusters",
			       fs->what, n - got);
	return 0;
}

/* Walk a chain in contiguous runs: fn(ctx, first cluster, clusters in the run, index). */
typedef int (*run_fn)(struct im_fatfs *fs, uint32_t c, size_t n, size_t idx, void *ctx,
		      struct im_error *err);

static int for_runs(struct im_fatfs *fs, uint32_t first, run_fn fn, void *ctx, struct im_error *err)
{
	uint32_t *v;
	size_t n;
	if (!first)
		return 0;
	if (im_fat_chain(fs, first, &v, &n, err) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n;) {
		size_t j = i + 1;
		while (j < n && v[j] == v[j - 1] + 1)
			j++;
		rc = fn(fs, v[i], j - i, i, ctx, err);
		i = j;
	}
	free(v);
	return rc;
}

struct io {
	uint8_t *buf;
	size_t len;
	int write;
};

static int io_run(struct im_fatfs *fs, uint32_t c, size_t n, size_t idx, void *ctx,
		  struct im_error *err)
{
	struct io *io = ctx;
	size_t at = idx * fs->cb;
	if (at >= io->len)
		return 0;
	size_t len = n * fs->cb;
	if (len > io->len - at)
		len = io->len - at;
	if (!io->write)
		return pread_all(fs, io->buf + at, len, im_fat_clus_off(fs, c), err);
	/* file data in 1 MiB writes: bounded requests, and each a power-loss point */
	for (size_t done = 0; done < len; done += DATA_CHUNK) {
		size_t n = len - done < DATA_CHUNK ? len - done : DATA_CHUNK;
		if (im_fat_pwrite(fs, io->buf + at + done, n, im_fat_clus_off(fs, c) + done, err) <
		    0)
			return -1;
	}
	return 0;
}

int im_fat_write_data(struct im_fatfs *fs, uint32_t first, const void *buf, size_t len,
		      struct im_error *err)
{
	struct io io = {(uint8_t *)buf, len, 1};
	return for_runs(fs, first, io_run, &io, err);
}

/* ---- names (spec §6, §7) ---- */

uint8_t im_fat_lfn_checksum(const uint8_t sfn[11])
{
	uint8_t s = 0;
	for (int i = 0; i < 11; i++)
		s = (uint8_t)(((s & 1) << 7) + (s >> 1) + sfn[i]);
	return s;
}

static int fold(int c)
{
	return c >= 'a' && c <= 'z' ? c - 32 : c;
}

static bool name_eq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (fold((unsigned char)*a) != fold((unsigned char)*b))
			return false;
	return *a == *b;
}

/* UTF-8 -> UTF-16 (BMP only); -1 when invalid or longer than 255 units. */
int im_fat_to_utf16(const char *s, uint16_t out[256])
{
	int n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; n++) {
		uint32_t c = *p++;
		if (c >= 0xE0 && c < 0xF0 && (p[0] & 0xC0) == 0x80 && (p[1] & 0xC0) == 0x80)
			c = (c & 0x0F) << 12 | (p[0] & 0x3Fu) << 6 | (p[1] & 0x3F), p += 2;
		else if (c >= 0xC2 && c < 0xE0 && (p[0] & 0xC0) == 0x80)
			c = (c & 0x1F) << 6 | (p[0] & 0x3F), p++;
		else if (c >= 0x80)
			return -1;
		if (n == 255)
			return -1;
		out[n] = (uint16_t)c;
	}
	return n;
}

/* At most LFN_MAX_UNITS units: 3 bytes each + NUL fit im_fat_dirent.name. */
static void from_utf16(const uint16_t *u, size_t n, char *out)
{
	char *o = out;
	for (size_t i = 0; i < n && i < LFN_MAX_UNITS && u[i]; i++) {
		uint16_t c = u[i];
		if (c < 0x80) {
			*o++ = (char)c;
		} else if (c < 0x800) {
			*o++ = (char)(0xC0 | c >> 6);
			*o++ = (char)(0x80 | (c & 0x3F));
		} else {
			*o++ = (char)(0xE0 | c >> 12);
			*o++ = (char)(0x80 | ((c >> 6) & 0x3F));
			*o++ = (char)(0x80 | (c & 0x3F));
		}
	}
	*o = 0;
}

/* "NAME.EXT" of an 8.3 entry, lower-cased where the NT case bits say so (byte 12: 0x08
 * base, 0x10 extension — the convention Windows and Linux vfat use). */
static void sfn_text(const uint8_t *e, char *out)
{
	int n = 0, lb = e[12] & 0x08, le = e[12] & 0x10;
	for (int i = 0; i < 8 && e[i] != ' '; i++) {
		int c = i == 0 && e[0] == 0x05 ? 0xE5 : e[i];
		out[n++] = (char)(lb && c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (e[8] != ' ')
		out[n++] = '.';
	for (int i = 8; i < 11 && e[i] != ' '; i++)
		out[n++] = (char)(le && e[i] >= 'A' && e[i] <= 'Z' ? e[i] + 32 : e[i]);
	out[n] = 0;
}

/* ---- directories ---- */

void im_fat_dir_free(struct im_fat_dir *d)
{
	free(d->b);
	free(d->clus);
	memset(d, 0, sizeof(*d));
}

int im_fat_dir_load(struct im_fatfs *fs, uint32_t first, struct im_fat_dir *d, struct im_error *err)
{
	memset(d, 0, sizeof(*d));
	d->first = first;
	if (!first && fs->type == 16) {
		d->n = fs->root_ents;
		if (!(d->b = malloc(d->n * DIRENT)))
			return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		return pread_all(fs, d->b, d->n * DIRENT, fs->root_off, err);
	}
	if (im_fat_chain(fs, first, &d->clus, &d->nclus, err) < 0)
		return -1;
	if (!d->nclus) /* first cluster end-of-chain: nothing to read, nowhere to grow from */
		return bad(fs, "folder without clusters", err);
	d->n = d->nclus * fs->cb / DIRENT;
	if (!(d->b = malloc(d->nclus * fs->cb)))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < d->nclus; i++)
		if (pread_all(fs, d->b + i * fs->cb, fs->cb, im_fat_clus_off(fs, d->clus[i]), err) <
		    0)
			return -1;
	return 0;
}

static uint64_t slot_off(const struct im_fatfs *fs, const struct im_fat_dir *d, size_t i)
{
	if (!d->clus)
		return fs->root_off + i * DIRENT;
	size_t per = fs->cb / DIRENT;
	return im_fat_clus_off(fs, d->clus[i / per]) + (i % per) * DIRENT;
}

/* Write slots [i, i+n) of d->b back, one write per cluster touched. */
int im_fat_dir_write(struct im_fatfs *fs, const struct im_fat_dir *d, size_t i, size_t n,
		     struct im_error *err)
{
	size_t per = d->clus ? fs->cb / DIRENT : d->n;
	while (n) {
		size_t k = per - i % per;
		k = k < n ? k : n;
		if (im_fat_pwrite(fs, d->b + i * DIRENT, k * DIRENT, slot_off(fs, d, i), err) < 0)
			return -1;
		i += k;
		n -= k;
	}
	return 0;
}

/* Long-name assembly while scanning (spec §7: entries N|0x40, N-1, ..., 1, then 8.3). */
struct lfn {
	uint16_t u[LFN_CHARS * 20 + 1];
	bool valid; /* a sequence is in progress and consistent */
	int expect; /* next ordinal expected */
	uint8_t sum;
	size_t start;
};

static void lfn_take(struct lfn *l, const uint8_t *e, size_t i)
{
	static const int pos[LFN_CHARS] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
	int ord = e[0] & 0x3F;
	if (e[0] & LFN_LAST) {
		memset(l->u, 0, sizeof(l->u));
		l->valid = ord >= 1 && ord <= 20;
		l->expect = ord;
		l->sum = e[13];
		l->start = i;
	} else if (!l->valid || ord != l->expect || e[13] != l->sum) {
		l->valid = false;
	}
	if (!l->valid)
		return;
	for (int k = 0; k < LFN_CHARS; k++) {
		uint16_t c = get16(e + pos[k]);
		l->u[(ord - 1) * LFN_CHARS + k] = c == 0xFFFF ? 0 : c;
	}
	l->expect = ord - 1;
}

/* Units of the assembled name; more than 255 (20 entries hold 260) is not a long name. */
static size_t lfn_units(const struct lfn *l)
{
	size_t n = 0;
	while (n < sizeof(l->u) / 2 && l->u[n])
		n++;
	return n;
}

/* Every entry (not ".", "..", the label or free ones); stops when fn returns non-zero. */
int im_fat_dir_scan(const struct im_fat_dir *d, im_fat_dirent_fn fn, void *ctx)
{
	struct lfn l = {.valid = false};
	for (size_t i = 0; i < d->n; i++) {
		const uint8_t *e = d->b + i * DIRENT;
		if (!e[0])
			break;
		if (e[0] == SLOT_FREE) {
			l.valid = false;
			continue;
		}
		if ((e[11] & 0x3F) == ATTR_LONG_NAME) {
			lfn_take(&l, e, i);
			continue;
		}
		bool have = l.valid && l.expect == 0 && l.sum == im_fat_lfn_checksum(e) &&
			    lfn_units(&l) <= LFN_MAX_UNITS;
		l.valid = false;
		if ((e[11] & ATTR_VOLUME_ID) || e[0] == '.')
			continue;
		struct im_fat_dirent de = {.attr = e[11], .size = get32(e + 28)};
		memcpy(de.sfn, e, 11);
		de.first = get16(e + 26) | (uint32_t)get16(e + 20) << 16;
		de.dir = d->first;
		de.slot = (uint32_t)(have ? l.start : i);
		de.nslots = (uint32_t)(i - de.slot + 1);
		if (have)
			from_utf16(l.u, sizeof(l.u) / 2, de.name);
		else
			sfn_text(e, de.name);
		int rc = fn(&de, e, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

struct find {
	const char *name;
	struct im_fat_dirent *out;
};

static int find_fn(struct im_fat_dirent *e, const uint8_t *raw, void *ctx)
{
	struct find *f = ctx;
	char s[13];
	sfn_text(raw, s);
	if (!name_eq(e->name, f->name) && !name_eq(s, f->name))
		return 0;
	*f->out = *e;
	return 1;
}

int im_fat_dir_find(const struct im_fat_dir *d, const char *name, struct im_fat_dirent *out)
{
	struct find f = {name, out};
	return im_fat_dir_scan(d, find_fn, &f) ? 1 : 0;
}

static uint32_t root_first(const struct im_fatfs *fs)
{
	return fs->type == 32 ? fs->root_clus : 0;
}

/* Resolve a path: 1 found, 0 absent, -1 error (including a file used as a directory). */
int im_fatfs_lookup(struct im_fatfs *fs, const char *path, struct im_fat_dirent *e,
		    struct im_error *err)
{
	char comp[256 * 3 + 1];
	uint32_t cur = root_first(fs);
	memset(e, 0, sizeof(*e));
	e->attr = IM_FAT_ATTR_DIR;
	e->first = cur;
	while (*path) {
		while (*path == '/')
			path++;
		size_t n = strcspn(path, "/");
		if (!n)
			break;
		if (n >= sizeof(comp) || !(e->attr & IM_FAT_ATTR_DIR))
			return 0;
		memcpy(comp, path, n);
		comp[n] = 0;
		path += n;
		struct im_fat_dir d;
		if (im_fat_dir_load(fs, cur, &d, err) < 0) {
			im_fat_dir_free(&d);
			return -1;
		}
		struct find f = {comp, e};
		int found = im_fat_dir_scan(&d, find_fn, &f);
		im_fat_dir_free(&d);
		if (!found)
			return 0;
		cur = e->first ? e->first : root_first(fs); /* ".." of a top dir is 0 */
	}
	return 1;
}

struct list {
	struct im_fat_dirent *v;
	size_t n, cap;
};

static int list_fn(struct im_fat_dirent *e, const uint8_t *raw, void *ctx)
{
	(void)raw;
	struct list *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct im_fat_dirent *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *e;
	return 0;
}

int im_fat_dir_open(struct im_fatfs *fs, const char *path, struct im_fat_dir *d,
		    struct im_error *err)
{
	struct im_fat_dirent e;
	memset(d, 0, sizeof(*d)); /* callers free d whether or not this succeeds */
	int r = im_fatfs_lookup(fs, path, &e, err);
	if (r < 0)
		return -1;
	if (!r || !(e.attr & IM_FAT_ATTR_DIR))
		return im_fail(err, IM_EXIT_INSTALL, "%s: no folder /%s", fs->what, path);
	return im_fat_dir_load(fs, e.first, d, err);
}

int im_fatfs_list(struct im_fatfs *fs, const char *dir, struct im_fat_dirent **out, size_t *n,
		  struct im_error *err)
{
	struct im_fat_dir d;
	struct list l = {0};
	int rc = im_fat_dir_open(fs, dir, &d, err);
	if (rc == 0 && im_fat_dir_scan(&d, list_fn, &l) < 0)
		rc = im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	im_fat_dir_free(&d);
	if (rc < 0) {
		free(l.v);
		return -1;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

/* ---- file content ---- */

int im_fatfs_read(struct im_fatfs *fs, const struct im_fat_dirent *e, uint8_t **buf, size_t *len,
		  struct im_error *err)
{
	/* size + 1 in size_t (a 32-bit size of 0xFFFFFFFF wrapped to malloc(0)); a file
	 * larger than its filesystem's data area or IM_FAT_READ_MAX is not read at all */
	if (e->size > IM_FAT_READ_MAX || (uint64_t)e->size > (uint64_t)fs->nclus * fs->cb)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: %s: %u bytes, more than the %u-byte limit or its filesystem",
			       fs->what, e->name, e->size, IM_FAT_READ_MAX);
	struct io io = {malloc((size_t)e->size + 1), e->size, 0};
	if (!io.buf)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	uint64_t have = 0;
	uint32_t *v;
	size_t n;
	if (e->first && im_fat_chain(fs, e->first, &v, &n, err) == 0) {
		have = (uint64_t)n * fs->cb;
		free(v);
	}
	if (have < e->size || for_runs(fs, e->first, io_run, &io, err) < 0) {
		free(io.buf);
		return im_fail(err, IM_EXIT_INVALID, "%s: %s: cluster chain shorter than its size",
			       fs->what, e->name);
	}
	io.buf[e->size] = 0;
	*buf = io.buf;
	*len = e->size;
	return 0;
}

int im_fatfs_overwrite(struct im_fatfs *fs, const struct im_fat_dirent *e, const void *buf,
		       size_t len, struct im_error *err)
{
	if (len != e->size)
		return im_fail(err, IM_EXIT_INTERNAL,
			       "%s: %s: in-place rewrite of %u bytes with %zu", fs->what, e->name,
			       e->size, len);
	return im_fat_write_data(fs, e->first, buf, len, err);
}
