/* Planning a FAT filesystem (the FAT writer, see fat_internal.h): the tree as FAT sees it,
 * options (label, volume id, times), the geometry (FAT type by cluster count, Spec §3.5),
 * and the allocation of contiguous cluster runs; im_fat_layout / im_fat_min_size. */
#include "fat_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the tree ---- */

static void fent_free(struct fent *e)
{
	for (size_t i = 0; i < e->nkids; i++)
		fent_free(&e->kids[i]);
	free(e->kids);
	free(e->uname);
}

static int build_dir(struct fat *f, struct fent *d)
{
	struct im_node *n = d->n;
	if (!n->nchildren)
		goto count;
	d->kids = calloc(n->nchildren, sizeof(*d->kids));
	if (!d->kids)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	d->nkids = n->nchildren;
	for (size_t i = 0; i < d->nkids; i++) {
		struct fent *k = &d->kids[i];
		k->n = n->children[i];
		k->parent = d;
		switch (k->n->type) {
		case IM_NODE_DIR:
			break;
		case IM_NODE_FILE:
			if (k->n->size > UINT32_MAX)
				return im_fail(f->err, IM_EXIT_INVALID,
					       "%s: %llu bytes; FAT files must be smaller than "
					       "4 GiB",
					       show(k), (unsigned long long)k->n->size);
			if (k->n->size && !k->n->src && !k->n->data)
				return im_fail(f->err, IM_EXIT_INTERNAL, "%s: no content", show(k));
			break;
		case IM_NODE_SYMLINK:
			return im_fail(f->err, IM_EXIT_INVALID,
				       "%s: symbolic links cannot be stored in a FAT filesystem",
				       show(k));
		default:
			return im_fail(f->err, IM_EXIT_INVALID,
				       "%s: device nodes cannot be stored in a FAT filesystem",
				       show(k));
		}
		if (im_fatw_set_name(f, k))
			return -1;
	}
	/* FAT looks names up ignoring case: refuse two that would be the same file. */
	struct fent **by = malloc(d->nkids * sizeof(*by));
	if (!by)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < d->nkids; i++)
		by[i] = &d->kids[i];
	qsort(by, d->nkids, sizeof(*by), im_fatw_fold_sort);
	for (size_t i = 1; i < d->nkids; i++)
		if (!im_fatw_fold_cmp(by[i - 1], by[i])) {
			im_fail(f->err, IM_EXIT_INVALID,
				"%s and %s: names differ only in case, which FAT cannot tell apart",
				show(by[i - 1]), show(by[i]));
			free(by);
			return -1;
		}
	free(by);
	if (im_fatw_short_names(f, d))
		return -1;
	for (size_t i = 0; i < d->nkids; i++)
		if (d->kids[i].n->type == IM_NODE_DIR && build_dir(f, &d->kids[i]))
			return -1;
count:;
	uint64_t slots = d->parent ? 2 : f->has_label;
	for (size_t i = 0; i < d->nkids; i++)
		slots += 1 + im_fatw_lfn_slots(&d->kids[i]);
	if (slots > DIR_MAX_ENTRIES)
		return im_fail(f->err, IM_EXIT_INVALID,
			       "%s: directory needs %llu entries, more than FAT's %d", show(d),
			       (unsigned long long)slots, DIR_MAX_ENTRIES);
	d->slots = (uint32_t)slots;
	return 0;
}

/* ---- options ---- */

static int norm_label(const char *label, uint8_t out[11], bool *has, struct im_error *err)
{
	size_t len = label ? strlen(label) : 0;
	memset(out, ' ', 11);
	*has = false;
	if (len > 11)
		return im_fail(err, IM_EXIT_INVALID, "FAT label \"%s\": longer than 11 characters",
			       label);
	for (size_t i = 0; i < len; i++) {
		unsigned c = (unsigned char)label[i];
		if (c >= 'a' && c <= 'z')
			c -= 0x20;
		if (c != ' ' && !im_fatw_short_char(c))
			return im_fail(err, IM_EXIT_INVALID,
				       "FAT label \"%s\": character '%c' not allowed (A-Z 0-9 "
				       "space !#$%%&'()-@^_`{}~)",
				       label, label[i]);
		out[i] = (uint8_t)c;
		if (c != ' ')
			*has = true;
	}
	return 0;
}

static uint64_t fnv64(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint32_t volid_of(const uint8_t label[11], int64_t mtime)
{
	static const char tag[] = "imager-fat-volume-id"; /* hashed with its NUL */
	uint8_t t[8];
	for (int i = 0; i < 8; i++)
		t[i] = (uint8_t)((uint64_t)mtime >> (8 * i));
	uint64_t h = fnv64(0xcbf29ce484222325ull, tag, sizeof(tag));
	h = fnv64(h, label, 11);
	h = fnv64(h, t, 8);
	uint32_t v = (uint32_t)(h ^ (h >> 32));
	return v ? v : 1;
}

uint32_t im_fat_volume_id(const char *label, int64_t mtime)
{
	uint8_t l[11];
	bool has;
	if (norm_label(label, l, &has, NULL)) {
		memset(l, ' ', 11);
		for (size_t i = 0; label && label[i] && i < 11; i++)
			l[i] = (uint8_t)(label[i] >= 'a' && label[i] <= 'z' ? label[i] - 0x20
									    : label[i]);
	}
	return volid_of(l, mtime);
}

static void set_times(struct fat *f, int64_t mtime)
{
	if (mtime < EPOCH_1980)
		mtime = EPOCH_1980;
	if (mtime > EPOCH_2107_END)
		mtime = EPOCH_2107_END;
	time_t t = (time_t)mtime;
	struct tm tm;
	gmtime_r(&t, &tm);
	f->date = (uint16_t)(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
	f->time = (uint16_t)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
	f->tenth = (uint8_t)((tm.tm_sec % 2) * 100);
}

static int prepare(struct fat *f, const struct im_fat_opts *o, struct im_tree *t,
		   struct im_error *err)
{
	memset(f, 0, sizeof(*f));
	f->err = err;
	if (!o || !t || !t->root || t->root->type != IM_NODE_DIR)
		return im_fail(err, IM_EXIT_INTERNAL, "im_fat: no options or tree");
	f->ss = o->sector_size ? o->sector_size : 512;
	if (f->ss != 512 && f->ss != 1024 && f->ss != 2048 && f->ss != 4096)
		return im_fail(err, IM_EXIT_INVALID,
			       "FAT sector size %u: expected 512, 1024, 2048 or 4096", f->ss);
	f->cb_opt = o->cluster_size;
	if (f->cb_opt &&
	    ((f->cb_opt & (f->cb_opt - 1)) || f->cb_opt < f->ss || f->cb_opt > MAX_CLUSTER))
		return im_fail(err, IM_EXIT_INVALID,
			       "FAT cluster size %u: expected a power of two from the sector "
			       "size (%u) to 65536",
			       f->cb_opt, f->ss);
	f->type_opt = o->fat_type;
	if (f->type_opt && f->type_opt != 12 && f->type_opt != 16 && f->type_opt != 32)
		return im_fail(err, IM_EXIT_INVALID, "FAT type %d: expected 12, 16 or 32",
			       f->type_opt);
	if (norm_label(o->label, f->label, &f->has_label, err))
		return -1;
	f->volid = o->volume_id ? o->volume_id : volid_of(f->label, o->mtime);
	set_times(f, o->mtime);
	f->size = o->size_bytes;
	f->root.n = t->root;
	return build_dir(f, &f->root);
}

/* ---- geometry ---- */

static bool count_ok(int type, uint64_t n)
{
	if (type == 12)
		return n >= 1 && n <= FAT12_MAX;
	if (type == 16)
		return n > FAT12_MAX && n <= FAT16_MAX;
	return n > FAT16_MAX && n <= FAT32_MAX;
}

/* Lay out `tot` sectors as FAT`type` with `cb`-byte clusters: reserved sectors, two
 * FATs just large enough for the clusters that remain, the FAT12/16 root directory, and
 * enough extra reserved sectors that the data area starts on a cluster boundary. */
static int layout(struct geo *g, int type, uint64_t tot, uint32_t ss, uint32_t cb,
		  uint32_t root_slots)
{
	memset(g, 0, sizeof(*g));
	g->type = type;
	g->ss = ss;
	g->cb = cb;
	g->spc = cb / ss;
	g->tot = tot;
	if (type != 32) {
		uint32_t per = ss / DIRENT;
		uint64_t ents = root_slots > ROOT_ENTRIES ? root_slots : ROOT_ENTRIES;
		ents = (ents + per - 1) / per * per;
		if (ents > 65535)
			return -1;
		g->rootents = (uint32_t)ents;
		g->rootsecs = (uint32_t)(ents * DIRENT / ss);
	}
	uint32_t base = type == 32 ? FAT32_RESERVED : 1;
	uint64_t fatsz = 0;
	for (;;) {
		uint64_t meta = base + 2 * fatsz + g->rootsecs;
		uint64_t pad = (g->spc - meta % g->spc) % g->spc;
		meta += pad;
		if (tot <= meta)
			return -1;
		uint64_t cl = (tot - meta) / g->spc;
		if (!cl)
			return -1;
		uint64_t bytes =
		    type == 12 ? ((cl + 2) * 3 + 1) / 2 : (cl + 2) * (uint64_t)(type / 8);
		uint64_t need = (bytes + ss - 1) / ss;
		if (need <= fatsz) {
			g->rsvd = (uint32_t)(base + pad);
			g->fatsz = (uint32_t)fatsz;
			g->clusters = cl;
			return 0;
		}
		fatsz = need;
		if (type != 32 && fatsz > 65535)
			return -1;
	}
}

static uint32_t fat32_auto_cluster(uint64_t size)
{
	if (size <= 260 * MIB)
		return 512;
	if (size <= 8192 * MIB)
		return 4096;
	if (size <= 16384 * MIB)
		return 8192;
	if (size <= 32768 * MIB)
		return 16384;
	return 32768;
}

static int pick(const struct fat *f, struct geo *g, int type, uint64_t size)
{
	uint32_t c[24];
	int n = 0;
	uint64_t tot = size / f->ss;
	if (f->cb_opt) {
		c[n++] = f->cb_opt;
	} else if (type == 32) {
		uint32_t pref = fat32_auto_cluster(size);
		if (pref < f->ss)
			pref = f->ss;
		for (uint32_t cb = pref; cb >= f->ss; cb /= 2)
			c[n++] = cb;
		for (uint32_t cb = pref * 2; cb <= MAX_CLUSTER; cb *= 2)
			c[n++] = cb;
	} else {
		for (uint32_t cb = f->ss; cb <= MAX_CLUSTER; cb *= 2)
			c[n++] = cb;
	}
	for (int i = 0; i < n; i++)
		if (!layout(g, type, tot, f->ss, c[i], f->root.slots) &&
		    count_ok(type, g->clusters))
			return 0;
	return -1;
}

/* The smallest size (bytes) giving FAT`type` its minimum cluster count with the
 * smallest cluster size allowed, by bisection (for error messages). */
static uint64_t type_min_bytes(const struct fat *f, int type)
{
	uint32_t cb = f->cb_opt ? f->cb_opt : f->ss;
	uint64_t lo = 0, hi = UINT32_MAX;
	struct geo g;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (!layout(&g, type, mid, f->ss, cb, f->root.slots) &&
		    g.clusters >= (type == 32	? FAT16_MAX + 1
				   : type == 16 ? FAT12_MAX + 1
						: 1))
			hi = mid;
		else
			lo = mid;
	}
	return hi * f->ss;
}

static int select_geo(const struct fat *f, uint64_t size, struct geo *g, struct im_error *err)
{
	static const int order[] = {32, 16, 12};
	uint64_t tot = size / f->ss;
	if (tot > UINT32_MAX)
		return im_fail(err, IM_EXIT_INVALID,
			       "FAT size %llu bytes: more than FAT's 2^32-1 sectors of %u bytes",
			       (unsigned long long)size, f->ss);
	for (int i = 0; i < 3; i++) {
		int type = order[i];
		if (f->type_opt && f->type_opt != type)
			continue;
		if (!pick(f, g, type, size))
			return 0;
	}
	if (!err)
		return -1;
	if (!f->type_opt)
		return im_fail(err, IM_EXIT_INVALID,
			       "FAT size %llu bytes: too small for a FAT filesystem (needs >= %llu "
			       "bytes)",
			       (unsigned long long)size, (unsigned long long)type_min_bytes(f, 12));
	uint64_t need = type_min_bytes(f, f->type_opt);
	if (size < need)
		return im_fail(err, IM_EXIT_INVALID,
			       "FAT size %llu bytes: too small for FAT%d (needs >= %llu MiB)",
			       (unsigned long long)size, f->type_opt,
			       (unsigned long long)((need + MIB - 1) / MIB));
	return im_fail(err, IM_EXIT_INVALID,
		       "FAT size %llu bytes: too large for FAT%d with %s clusters",
		       (unsigned long long)size, f->type_opt, f->cb_opt ? "these" : "up to 64 KiB");
}

/* ---- allocation ---- */

static uint64_t clusters_for(uint64_t bytes, uint32_t cb)
{
	return (bytes + cb - 1) / cb;
}

static uint64_t dir_clusters(const struct fent *d, const struct geo *g)
{
	if (!d->parent && g->type != 32)
		return 0; /* the fixed root directory */
	uint64_t n = clusters_for((uint64_t)d->slots * DIRENT, g->cb);
	return n ? n : 1;
}

static uint64_t need_clusters(const struct fent *d, const struct geo *g)
{
	uint64_t n = dir_clusters(d, g);
	for (size_t i = 0; i < d->nkids; i++) {
		const struct fent *k = &d->kids[i];
		n += k->n->type == IM_NODE_DIR ? need_clusters(k, g)
					       : clusters_for(k->n->size, g->cb);
	}
	return n;
}

static bool fits(const struct fat *f, uint64_t size)
{
	struct geo g;
	return !select_geo(f, size, &g, NULL) && need_clusters(&f->root, &g) <= g.clusters;
}

static uint64_t min_size(const struct fat *f)
{
	uint64_t hi = MIB / f->ss, lo = 0;
	while (!fits(f, hi * f->ss)) {
		if (hi >= UINT32_MAX)
			return 0;
		lo = hi;
		hi = hi * 2 > UINT32_MAX ? UINT32_MAX : hi * 2;
	}
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (fits(f, mid * f->ss))
			hi = mid;
		else
			lo = mid;
	}
	return hi * f->ss;
}

static int give(struct fat *f, struct fent *e, uint64_t n)
{
	if (!n)
		return 0;
	if (f->next + n > f->g.clusters + 2) {
		uint64_t need = min_size(f);
		return im_fail(f->err, IM_EXIT_INVALID,
			       "%s: does not fit in the %llu-byte FAT%d filesystem (the tree needs "
			       "a size of at least %llu bytes, %llu MiB)",
			       show(e), (unsigned long long)f->size, f->g.type,
			       (unsigned long long)need,
			       (unsigned long long)((need + MIB - 1) / MIB));
	}
	if (f->nends == f->capends) {
		size_t cap = f->capends ? 2 * f->capends : 64;
		uint32_t *p = realloc(f->ends, cap * sizeof(*p));
		if (!p)
			return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
		f->ends = p;
		f->capends = cap;
	}
	e->first = f->next;
	e->nclus = (uint32_t)n;
	f->next += (uint32_t)n;
	f->ends[f->nends++] = f->next - 1;
	return 0;
}

static int allocate(struct fat *f, struct fent *d)
{
	if (give(f, d, dir_clusters(d, &f->g)))
		return -1;
	for (size_t i = 0; i < d->nkids; i++) {
		struct fent *k = &d->kids[i];
		if (k->n->type == IM_NODE_DIR ? allocate(f, k)
					      : give(f, k, clusters_for(k->n->size, f->g.cb)))
			return -1;
	}
	return 0;
}

int im_fatw_plan(struct fat *f, const struct im_fat_opts *o, struct im_tree *t,
		 struct im_error *err)
{
	if (prepare(f, o, t, err) || select_geo(f, f->size, &f->g, err))
		return -1;
	f->next = 2;
	return allocate(f, &f->root);
}

void im_fatw_fat_free(struct fat *f)
{
	fent_free(&f->root);
	free(f->ends);
}

/* ---- API ---- */

static void fill_info(const struct fat *f, struct im_fat_info *info)
{
	const struct geo *g = &f->g;
	memset(info, 0, sizeof(*info));
	info->fat_type = g->type;
	info->sector_size = g->ss;
	info->cluster_size = g->cb;
	info->total_sectors = (uint32_t)g->tot;
	info->reserved_sectors = g->rsvd;
	info->fat_sectors = g->fatsz;
	info->root_entries = g->rootents;
	info->clusters = (uint32_t)g->clusters;
	info->used_clusters = f->next - 2;
	info->data_offset = data_offset(g);
	info->volume_id = f->volid;
	if (f->has_label) {
		memcpy(info->label, f->label, 11);
		for (int i = 10; i >= 0 && info->label[i] == ' '; i--)
			info->label[i] = 0;
	}
}

int im_fat_layout(const struct im_fat_opts *o, struct im_tree *t, struct im_fat_info *info,
		  struct im_error *err)
{
	struct fat f;
	int r = im_fatw_plan(&f, o, t, err);
	if (!r && info)
		fill_info(&f, info);
	im_fatw_fat_free(&f);
	return r;
}

uint64_t im_fat_min_size(struct im_tree *t, const struct im_fat_opts *o)
{
	struct fat f;
	uint64_t r = 0;
	if (!prepare(&f, o, t, NULL))
		r = min_size(&f);
	im_fatw_fat_free(&f);
	return r;
}
