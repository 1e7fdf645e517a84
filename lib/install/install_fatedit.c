/* The editing half of the installer's FAT16/FAT32 editor (see include/imager/install.h and
 * lib/install_fat.c, the reading half): creating, deleting and renaming files. "Spec" is
 * Microsoft's "FAT32 File System Specification" (fatgen103, v1.03), §6 directory entries,
 * §7 long names. Write order keeps an interrupted change harmless: data, then FAT chains,
 * then directory entries when creating; directory entries, then FAT chains when deleting. */
#include "imager/install/install.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIRENT	       32
#define ATTR_LONG_NAME 0x0F
#define LFN_LAST       0x40
#define LFN_CHARS      13
#define SLOT_FREE      0xE5

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

static int fold(int c)
{
	return c >= 'a' && c <= 'z' ? c - 32 : c;
}

static bool sfn_char(unsigned c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c > 0x20 && c < 0x80 && strchr("!#$%&'()-@^_`{}~", (int)c));
}

/* An upper-case 8.3 name stored as is (no long name). */
static bool exact_83(const char *s, uint8_t out[11])
{
	const char *dot = strchr(s, '.');
	size_t b = dot ? (size_t)(dot - s) : strlen(s), x = dot ? strlen(dot + 1) : 0;
	if (!b || b > 8 || x > 3 || (dot && (!x || strchr(dot + 1, '.'))))
		return false;
	memset(out, ' ', 11);
	for (size_t i = 0; i < b; i++)
		if (!sfn_char((unsigned char)s[i]) || !(out[i] = (uint8_t)s[i]))
			return false;
	for (size_t i = 0; i < x; i++)
		if (!sfn_char((unsigned char)dot[1 + i]) || !(out[8 + i] = (uint8_t)dot[1 + i]))
			return false;
	return true;
}

/* ---- creating entries ---- */

struct taken {
	const uint8_t *sfn;
	bool hit;
};

static int taken_fn(struct im_fat_dirent *e, const uint8_t *raw, void *ctx)
{
	(void)raw;
	struct taken *t = ctx;
	if (!memcmp(e->sfn, t->sfn, 11))
		t->hit = true;
	return 0;
}

/* A numeric-tail alias "BASE~N.EXT" (spec §7 "basis-name generation") unique in d. */
static int make_alias(const struct im_fat_dir *d, const char *name, uint8_t out[11])
{
	const char *dot = strrchr(name, '.');
	char base[9] = "", ext[4] = "";
	size_t nb = 0, nx = 0;
	for (const char *p = name; *p && p != dot && nb < 8; p++)
		if (*p != ' ' && *p != '.')
			base[nb++] =
			    sfn_char((unsigned)fold((unsigned char)*p)) ? (char)fold(*p) : '_';
	for (const char *p = dot ? dot + 1 : ""; *p && nx < 3; p++)
		if (*p != ' ')
			ext[nx++] =
			    sfn_char((unsigned)fold((unsigned char)*p)) ? (char)fold(*p) : '_';
	if (!nb)
		base[nb++] = '_';
	for (unsigned k = 1; k < 1000000; k++) {
		char tail[9];
		int tl = snprintf(tail, sizeof(tail), "~%u", k);
		size_t keep = nb + (size_t)tl > 8 ? 8 - (size_t)tl : nb;
		memset(out, ' ', 11);
		memcpy(out, base, keep);
		memcpy(out + keep, tail, (size_t)tl);
		memcpy(out + 8, ext, nx);
		struct taken t = {out, false};
		im_fat_dir_scan(d, taken_fn, &t);
		if (!t.hit)
			return 0;
	}
	return -1;
}

/* Entries for `name` (long-name entries, then the 8.3 entry copied from `proto` with the
 * new 8.3 name) into out; returns how many. */
static size_t build_entries(const uint16_t *u, int nu, const uint8_t sfn[11], bool lfn,
			    const uint8_t *proto, uint8_t *out)
{
	static const int pos[LFN_CHARS] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
	size_t nl = lfn ? ((size_t)nu + LFN_CHARS - 1) / LFN_CHARS : 0;
	uint8_t sum = im_fat_lfn_checksum(sfn);
	memset(out, 0, (nl + 1) * DIRENT);
	for (size_t k = 0; k < nl; k++) {
		uint8_t *e = out + k * DIRENT;
		size_t ord = nl - k;
		e[0] = (uint8_t)(ord | (k == 0 ? LFN_LAST : 0));
		e[11] = ATTR_LONG_NAME;
		e[13] = sum;
		for (int j = 0; j < LFN_CHARS; j++) {
			int at = (int)(ord - 1) * LFN_CHARS + j;
			uint16_t c = at < nu ? u[at] : at == nu ? 0 : 0xFFFF;
			put16(e + pos[j], c);
		}
	}
	uint8_t *s = out + nl * DIRENT;
	memcpy(s, proto, DIRENT);
	memcpy(s, sfn, 11);
	s[12] = 0; /* no NT case bits: the long name carries the case */
	return nl + 1;
}

/* Find n consecutive free slots in d, growing the directory by zeroed clusters when needed
 * (not the FAT16 root). */
static int dir_reserve(struct im_fatfs *fs, struct im_fat_dir *d, size_t n, size_t *at,
		       struct im_error *err)
{
	size_t run = 0;
	for (size_t i = 0; i < d->n; i++) {
		uint8_t c = d->b[i * DIRENT];
		run = c == 0 || c == SLOT_FREE ? run + 1 : 0;
		if (run == n) {
			*at = i + 1 - n;
			return 0;
		}
	}
	if (!d->clus)
		return im_fail(err, IM_EXIT_ENV, "%s: root folder full", fs->what);
	size_t per = fs->cb / DIRENT, more = (n - run + per - 1) / per;
	uint32_t first, lo = UINT32_MAX, hi = 0, last = d->clus[d->nclus - 1];
	if (im_fat_alloc(fs, more, &first, &lo, &hi, err) < 0)
		return -1;
	uint8_t *nb = realloc(d->b, (d->nclus + more) * fs->cb);
	uint32_t *nc = realloc(d->clus, (d->nclus + more) * sizeof(*nc));
	if (nb)
		d->b = nb;
	if (nc)
		d->clus = nc;
	if (!nb || !nc)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	memset(d->b + d->nclus * fs->cb, 0, more * fs->cb);
	for (uint32_t c = first, k = 0; k < more; c = im_fat_get(fs, c), k++) {
		d->clus[d->nclus + k] = c;
		if (im_fat_pwrite(fs, d->b + d->nclus * fs->cb, fs->cb, im_fat_clus_off(fs, c),
				  err) < 0)
			return -1;
	}
	im_fat_set(fs, last, first);
	lo = lo < last ? lo : last;
	hi = hi > last ? hi : last;
	if (im_fat_flush(fs, lo, hi, err) < 0 || im_fat_fsinfo(fs, err) < 0)
		return -1;
	*at = d->n - run;
	d->nclus += more;
	d->n = d->nclus * per;
	return 0;
}

/* The 8.3 name and long-name need for a new name in d. */
static int plan_name(struct im_fatfs *fs, const struct im_fat_dir *d, const char *name, uint16_t *u,
		     int *nu, uint8_t sfn[11], bool *lfn, struct im_error *err)
{
	*nu = im_fat_to_utf16(name, u);
	if (*nu <= 0 || strpbrk(name, "/\\:*?\"<>|") || name[strlen(name) - 1] == '.' ||
	    name[strlen(name) - 1] == ' ')
		return im_fail(err, IM_EXIT_INVALID, "%s: \"%s\": not a valid FAT file name",
			       fs->what, name);
	*lfn = !exact_83(name, sfn);
	if (*lfn && make_alias(d, name, sfn) < 0)
		return im_fail(err, IM_EXIT_ENV, "%s: no free 8.3 alias for \"%s\"", fs->what,
			       name);
	return 0;
}

int im_fatfs_create(struct im_fatfs *fs, const char *dir, const char *name, const void *buf,
		    size_t len, struct im_error *err)
{
	struct im_fat_dir d;
	struct im_fat_dirent old;
	uint16_t u[256];
	uint8_t sfn[11], ents[21 * DIRENT], proto[DIRENT] = {0};
	int nu;
	bool lfn;
	size_t at;
	uint32_t first, lo = UINT32_MAX, hi = 0;
	if (len > UINT32_MAX)
		return im_fail(err, IM_EXIT_INVALID, "%s: %s: 4 GiB or more", fs->what, name);
	int rc = im_fat_dir_open(fs, dir, &d, err);
	if (rc == 0) {
		if (im_fat_dir_find(&d, name, &old))
			rc = im_fail(err, IM_EXIT_INTERNAL, "%s: /%s/%s exists", fs->what, dir,
				     name);
	}
	if (rc == 0)
		rc = plan_name(fs, &d, name, u, &nu, sfn, &lfn, err);
	size_t nclus = (len + fs->cb - 1) / fs->cb;
	if (rc == 0)
		rc = im_fat_alloc(fs, nclus, &first, &lo, &hi, err);
	if (rc == 0 && nclus) {
		/* Data first (zero-padded to whole clusters), then the chain, then the entry. */
		uint8_t *data = calloc(nclus, fs->cb);
		if (!data)
			rc = im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		else {
			memcpy(data, buf, len);
			rc = im_fat_write_data(fs, first, data, nclus * fs->cb, err);
			free(data);
		}
		if (rc == 0)
			rc = im_fat_flush(fs, lo, hi, err);
		if (rc == 0)
			rc = im_fat_fsinfo(fs, err);
	}
	if (rc == 0) {
		proto[11] = 0x20; /* archive */
		put16(proto + 14, fs->time);
		put16(proto + 16, fs->date);
		put16(proto + 18, fs->date);
		put16(proto + 20, first >> 16);
		put16(proto + 22, fs->time);
		put16(proto + 24, fs->date);
		put16(proto + 26, first & 0xFFFF);
		put32(proto + 28, (uint32_t)len);
		size_t n = build_entries(u, nu, sfn, lfn, proto, ents);
		rc = dir_reserve(fs, &d, n, &at, err);
		if (rc == 0) {
			memcpy(d.b + at * DIRENT, ents, n * DIRENT);
			rc = im_fat_dir_write(fs, &d, at, n, err);
		}
	}
	im_fat_dir_free(&d);
	return rc;
}

/* ---- deleting and renaming ---- */

int im_fatfs_delete(struct im_fatfs *fs, const struct im_fat_dirent *e, struct im_error *err)
{
	struct im_fat_dir d;
	uint32_t *v = NULL;
	size_t n = 0;
	int rc = im_fat_dir_load(fs, e->dir, &d, err);
	if (rc == 0 && e->slot + e->nslots > d.n)
		rc = im_fail(err, IM_EXIT_INTERNAL, "%s: stale entry for %s", fs->what, e->name);
	if (rc == 0 && e->first)
		rc = im_fat_chain(fs, e->first, &v, &n, err);
	if (rc == 0) {
		for (uint32_t i = 0; i < e->nslots; i++)
			d.b[(e->slot + i) * DIRENT] = SLOT_FREE;
		rc = im_fat_dir_write(fs, &d, e->slot, e->nslots, err);
	}
	if (rc == 0 && n) {
		uint32_t lo = UINT32_MAX, hi = 0;
		for (size_t i = 0; i < n; i++) {
			im_fat_set(fs, v[i], 0);
			lo = lo < v[i] ? lo : v[i];
			hi = hi > v[i] ? hi : v[i];
		}
		rc = im_fat_flush(fs, lo, hi, err);
		if (rc == 0)
			rc = im_fat_fsinfo(fs, err);
	}
	free(v);
	im_fat_dir_free(&d);
	return rc;
}

/* Rename within the directory. When the new entries fit where the old ones are, they are
 * written over them in one go (leading slots left over are freed in the same write);
 * otherwise the new entries go to free slots first and the old ones are freed after. */
int im_fatfs_rename(struct im_fatfs *fs, const struct im_fat_dirent *e, const char *name,
		    struct im_error *err)
{
	struct im_fat_dir d;
	uint16_t u[256];
	uint8_t sfn[11], ents[21 * DIRENT], proto[DIRENT];
	int nu;
	bool lfn;
	int rc = im_fat_dir_load(fs, e->dir, &d, err);
	if (rc == 0 && e->slot + e->nslots > d.n)
		rc = im_fail(err, IM_EXIT_INTERNAL, "%s: stale entry for %s", fs->what, e->name);
	if (rc == 0) {
		struct im_fat_dirent other;
		if (im_fat_dir_find(&d, name, &other) && other.slot != e->slot)
			rc = im_fail(err, IM_EXIT_INTERNAL, "%s: %s exists", fs->what, name);
	}
	if (rc == 0)
		rc = plan_name(fs, &d, name, u, &nu, sfn, &lfn, err);
	if (rc < 0) {
		im_fat_dir_free(&d);
		return -1;
	}
	uint32_t last = e->slot + e->nslots - 1;
	memcpy(proto, d.b + last * DIRENT, DIRENT);
	if (lfn && e->nslots > 1)
		memcpy(sfn, proto, 11); /* keep the old alias: it is unique already */
	size_t n = build_entries(u, nu, sfn, lfn, proto, ents);
	if (n <= e->nslots) {
		size_t lead = e->nslots - n;
		for (size_t i = 0; i < lead; i++)
			d.b[(e->slot + i) * DIRENT] = SLOT_FREE;
		memcpy(d.b + (e->slot + lead) * DIRENT, ents, n * DIRENT);
		rc = im_fat_dir_write(fs, &d, e->slot, e->nslots, err);
	} else {
		size_t at;
		rc = dir_reserve(fs, &d, n, &at, err);
		if (rc == 0) {
			memcpy(d.b + at * DIRENT, ents, n * DIRENT);
			rc = im_fat_dir_write(fs, &d, at, n, err);
		}
		for (uint32_t i = 0; rc == 0 && i < e->nslots; i++)
			d.b[(e->slot + i) * DIRENT] = SLOT_FREE;
		if (rc == 0)
			rc = im_fat_dir_write(fs, &d, e->slot, e->nslots, err);
	}
	im_fat_dir_free(&d);
	return rc;
}
