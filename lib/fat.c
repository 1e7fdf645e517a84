/* FAT12/16/32 filesystems from file trees (see include/imager/fat.h).
 *
 * "Spec" below is Microsoft's "FAT32 File System Specification" (fatgen103, v1.03).
 *
 * A filesystem is, in this order: the reserved sectors (boot sector with the BPB; for
 * FAT32 also FSInfo at sector 1 and their backups at sectors 6 and 7), two FATs, for
 * FAT12/16 the fixed root directory, then the data clusters numbered from 2. Clusters
 * are handed out contiguously in pre-order walk order (a directory, then its entries in
 * name order, recursing into subdirectories), so every chain is one run and the FAT is
 * a function of the list of run ends: it is generated chunk by chunk while written, and
 * memory does not grow with the filesystem size. */
#include "imager/fat.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imager/outfile.h"

#define MIB		  (1024ull * 1024)
#define DIRENT		  32	    /* bytes per directory entry */
#define DIR_MAX_ENTRIES	  65536	    /* spec: a directory holds at most 65536 entries */
#define LFN_CHARS	  13	    /* UTF-16 units per long-name entry */
#define LFN_MAX		  255	    /* spec: at most 255 UTF-16 units in a long name */
#define FAT12_MAX	  4084u	    /* spec: FAT12 < 4085 clusters <= FAT16 */
#define FAT16_MAX	  65524u    /* FAT16 < 65525 clusters <= FAT32 */
#define FAT32_MAX	  268435445 /* 0x0FFFFFF5: cluster numbers up to 0x0FFFFFF6 */
#define ROOT_ENTRIES	  512	    /* FAT12/16 fixed root directory (grown if needed) */
#define FAT32_RESERVED	  32	    /* spec: the usual FAT32 reserved sector count */
#define FAT32_FSINFO	  1
#define FAT32_BACKUP	  6
#define MAX_CLUSTER	  65536u
#define FAT_CHUNK_ENTRIES 16384		/* FAT entries generated per write (even: FAT12) */
#define COPY_CHUNK	  (1024 * 1024) /* bytes read from a host file at once */
#define ATTR_VOLUME_ID	  0x08
#define ATTR_DIRECTORY	  0x10
#define ATTR_ARCHIVE	  0x20
#define ATTR_LONG_NAME	  0x0F
#define LFN_LAST	  0x40
#define EPOCH_1980	  315532800ll  /* 1980-01-01T00:00:00Z */
#define EPOCH_2107_END	  4354819199ll /* 2107-12-31T23:59:59Z */

/* One tree entry as FAT sees it. */
struct fent {
	struct im_node *n;
	struct fent *parent;
	struct fent *kids; /* directories: entries in the tree's (sorted) order */
	size_t nkids;
	uint16_t *uname;   /* the name in UTF-16 */
	size_t ulen;	   /* in UTF-16 units */
	bool lfn;	   /* stored with long-name entries (not an upper-case 8.3 name) */
	bool named;	   /* short name assigned */
	uint8_t sname[11]; /* 8.3 name as stored: 8 + 3, space padded */
	uint32_t slots;	   /* directories: 32-byte entries, including . and .. / label */
	uint32_t first;	   /* first cluster, 0 for none (empty file, FAT12/16 root) */
	uint32_t nclus;
};

struct geo {
	int type; /* 12, 16, 32 */
	uint32_t ss, spc, cb;
	uint64_t tot; /* sectors */
	uint32_t rsvd, fatsz, rootents, rootsecs;
	uint64_t clusters;
};

struct fat {
	struct im_error *err;
	uint32_t ss, cb_opt;
	int type_opt;
	uint8_t label[11];
	bool has_label;
	uint32_t volid;
	uint16_t date, time;
	uint8_t tenth;
	struct fent root;
	struct geo g;
	uint64_t size;
	/* allocation */
	uint32_t next;	/* first free cluster */
	uint32_t *ends; /* last cluster of every chain, ascending */
	size_t nends, capends;
};

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

static const char *show(const struct fent *e)
{
	return e->n->path[0] ? e->n->path : "/";
}

/* ---- names ---- */

/* Characters allowed in a short (8.3) name besides A-Z and 0-9 (spec, "Directory
 * Entry"): $ % ' - _ @ ~ ` ! ( ) { } ^ # &. */
static bool short_char(unsigned c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && c < 0x80 && strchr("!#$%&'()-@^_`{}~", (int)c);
}

/* Is `s` already a valid upper-case 8.3 name? Then it is stored as is, without LFN. */
static bool exact_83(const char *s, uint8_t out[11])
{
	size_t i = 0, b = 0, x = 0;
	memset(out, ' ', 11);
	for (; s[i] && s[i] != '.'; i++) {
		if (b == 8 || !short_char((unsigned char)s[i]))
			return false;
		out[b++] = (uint8_t)s[i];
	}
	if (b == 0)
		return false;
	if (s[i] == '.') {
		for (i++; s[i]; i++) {
			if (x == 3 || !short_char((unsigned char)s[i]))
				return false;
			out[8 + x++] = (uint8_t)s[i];
		}
		if (x == 0)
			return false;
	}
	return true;
}

/* Decode UTF-8 into UTF-16 (out has room for strlen(s) units). -1 if invalid. */
static int utf8_to_utf16(const char *s, uint16_t *out, size_t *len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;
	while (*p) {
		uint32_t c;
		int more;
		if (p[0] < 0x80) {
			c = p[0];
			more = 0;
		} else if ((p[0] & 0xE0) == 0xC0) {
			c = p[0] & 0x1F;
			more = 1;
		} else if ((p[0] & 0xF0) == 0xE0) {
			c = p[0] & 0x0F;
			more = 2;
		} else if ((p[0] & 0xF8) == 0xF0) {
			c = p[0] & 0x07;
			more = 3;
		} else {
			return -1;
		}
		for (int i = 1; i <= more; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return -1;
			c = (c << 6) | (p[i] & 0x3F);
		}
		static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
		if (c < min[more] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
			return -1;
		if (c >= 0x10000) {
			c -= 0x10000;
			out[n++] = (uint16_t)(0xD800 | (c >> 10));
			out[n++] = (uint16_t)(0xDC00 | (c & 0x3FF));
		} else {
			out[n++] = (uint16_t)c;
		}
		p += more + 1;
	}
	*len = n;
	return 0;
}

/* Case folding for "equal ignoring case": ASCII, Latin-1, basic Greek and Cyrillic. */
static uint16_t fold(uint16_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7) ||
	    (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) || (c >= 0x430 && c <= 0x44F))
		return (uint16_t)(c - 0x20);
	if (c == 0xFF)
		return 0x178;
	if (c >= 0x450 && c <= 0x45F)
		return (uint16_t)(c - 0x50);
	return c;
}

static int fold_cmp(const struct fent *a, const struct fent *b)
{
	for (size_t i = 0; i < a->ulen && i < b->ulen; i++) {
		uint16_t x = fold(a->uname[i]), y = fold(b->uname[i]);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return a->ulen < b->ulen ? -1 : a->ulen > b->ulen;
}

static int fold_sort(const void *pa, const void *pb)
{
	const struct fent *a = *(const struct fent *const *)pa,
			  *b = *(const struct fent *const *)pb;
	int r = fold_cmp(a, b);
	return r ? r : strcmp(a->n->name, b->n->name);
}

/* Check a name against what FAT can store and convert it to UTF-16. */
static int set_name(struct fat *f, struct fent *e)
{
	const char *s = e->n->name;
	size_t blen = strlen(s);
	if (!blen || !strcmp(s, ".") || !strcmp(s, ".."))
		return im_fail(f->err, IM_EXIT_INVALID, "%s: invalid name for FAT", show(e));
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || strchr("\"*/:<>?\\|", *p))
			return im_fail(f->err, IM_EXIT_INVALID,
				       "%s: FAT names cannot contain control characters or any of "
				       "\" * / : < > ? \\ |",
				       show(e));
	if (s[blen - 1] == '.' || s[blen - 1] == ' ')
		return im_fail(f->err, IM_EXIT_INVALID,
			       "%s: FAT names cannot end with a dot or a space", show(e));
	e->uname = malloc(blen * sizeof(uint16_t));
	if (!e->uname)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	if (utf8_to_utf16(s, e->uname, &e->ulen))
		return im_fail(f->err, IM_EXIT_INVALID, "%s: name is not valid UTF-8", show(e));
	if (e->ulen > LFN_MAX)
		return im_fail(f->err, IM_EXIT_INVALID,
			       "%s: name longer than FAT's %d UTF-16 characters", show(e), LFN_MAX);
	e->lfn = !exact_83(s, e->sname);
	e->named = !e->lfn;
	return 0;
}

/* Spec "Basis-Name Generation Algorithm": upper-case; characters not allowed in a
 * short name become '_' ("lossy"); drop all spaces and leading periods; primary part =
 * up to 8 characters before the first period; extension = up to 3 characters after
 * the last period. Returns true when the name fits 8.3 without loss (then the basis is
 * the short name itself); *plen = length of the primary part. */
static bool basis_name(const struct fent *e, uint8_t out[11], size_t *plen)
{
	uint8_t *conv = malloc(e->ulen + 1);
	size_t k = 0, i, start = 0;
	bool fits = true;
	memset(out, ' ', 11);
	*plen = 0;
	if (!conv)
		return false; /* only loses the "no numeric tail" shortcut */
	for (i = 0; i < e->ulen; i++) {
		uint16_t c = e->uname[i];
		if (c == ' ') {
			fits = false;
			continue;
		}
		if (c >= 0xDC00 && c <= 0xDFFF)
			continue; /* second half of a pair: one '_' for the pair */
		if (c >= 'a' && c <= 'z')
			c = (uint16_t)(c - 0x20);
		if (c == '.' || short_char(c)) {
			conv[k++] = (uint8_t)c;
		} else {
			conv[k++] = '_';
			fits = false;
		}
	}
	while (start < k && conv[start] == '.')
		start++;
	if (start)
		fits = false;
	size_t p = start, b = 0;
	for (; p < k && conv[p] != '.'; p++) {
		if (b == 8) {
			fits = false;
			break;
		}
		out[b++] = conv[p];
	}
	if (b == 0)
		out[b++] = '_', fits = false;
	*plen = b;
	size_t last = k;
	for (i = k; i > start; i--)
		if (conv[i - 1] == '.') {
			last = i - 1;
			break;
		}
	if (last < k) {
		for (i = start; i < last; i++)
			if (conv[i] == '.')
				fits = false; /* more than one period */
		size_t x = 0;
		for (i = last + 1; i < k; i++) {
			if (x == 3) {
				fits = false;
				break;
			}
			out[8 + x++] = conv[i];
		}
	}
	free(conv);
	return fits;
}

struct nameset {
	const uint8_t **slot;
	size_t mask;
};

static size_t name_hash(const uint8_t *s)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 11; i++)
		h = (h ^ s[i]) * 16777619u;
	return h;
}

static bool ns_has(const struct nameset *ns, const uint8_t *s)
{
	for (size_t i = name_hash(s) & ns->mask; ns->slot[i]; i = (i + 1) & ns->mask)
		if (!memcmp(ns->slot[i], s, 11))
			return true;
	return false;
}

static void ns_add(struct nameset *ns, const uint8_t *s)
{
	size_t i = name_hash(s) & ns->mask;
	while (ns->slot[i])
		i = (i + 1) & ns->mask;
	ns->slot[i] = s;
}

/* Short names of a directory's entries: upper-case 8.3 names as they are, names that
 * only differ from their basis by case as the basis, every other name the basis with
 * the smallest numeric tail "~N" not taken yet, in the directory's order. Names equal
 * ignoring case were refused before, so the first two kinds never collide. */
static int short_names(struct fat *f, struct fent *d)
{
	size_t cap = 16;
	while (cap < 2 * d->nkids + 2)
		cap *= 2;
	struct nameset ns = {calloc(cap, sizeof(*ns.slot)), cap - 1};
	if (!ns.slot)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	uint8_t basis[11];
	size_t plen;
	for (size_t i = 0; i < d->nkids; i++) {
		struct fent *k = &d->kids[i];
		if (!k->named && basis_name(k, basis, &plen)) {
			memcpy(k->sname, basis, 11);
			k->named = true;
		}
		if (k->named)
			ns_add(&ns, k->sname);
	}
	for (size_t i = 0; i < d->nkids; i++) {
		struct fent *k = &d->kids[i];
		if (k->named)
			continue;
		basis_name(k, basis, &plen);
		for (unsigned n = 1; n <= 999999 && !k->named; n++) {
			char tail[8];
			size_t tl = (size_t)snprintf(tail, sizeof(tail), "~%u", n);
			size_t keep = plen < 8 - tl ? plen : 8 - tl;
			memcpy(k->sname, basis, 11);
			memset(k->sname + keep, ' ', 8 - keep);
			memcpy(k->sname + keep, tail, tl);
			if (!ns_has(&ns, k->sname)) {
				ns_add(&ns, k->sname);
				k->named = true;
			}
		}
		if (!k->named) {
			free(ns.slot);
			return im_fail(f->err, IM_EXIT_INVALID,
				       "%s: no free 8.3 alias left in its directory", show(k));
		}
	}
	free(ns.slot);
	return 0;
}

static uint8_t lfn_checksum(const uint8_t s[11])
{
	uint8_t sum = 0;
	for (int i = 0; i < 11; i++)
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + s[i]);
	return sum;
}

static uint32_t lfn_slots(const struct fent *e)
{
	return e->lfn ? (uint32_t)((e->ulen + LFN_CHARS - 1) / LFN_CHARS) : 0;
}

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
		if (set_name(f, k))
			return -1;
	}
	/* FAT looks names up ignoring case: refuse two that would be the same file. */
	struct fent **by = malloc(d->nkids * sizeof(*by));
	if (!by)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < d->nkids; i++)
		by[i] = &d->kids[i];
	qsort(by, d->nkids, sizeof(*by), fold_sort);
	for (size_t i = 1; i < d->nkids; i++)
		if (!fold_cmp(by[i - 1], by[i])) {
			im_fail(f->err, IM_EXIT_INVALID,
				"%s and %s: names differ only in case, which FAT cannot tell apart",
				show(by[i - 1]), show(by[i]));
			free(by);
			return -1;
		}
	free(by);
	if (short_names(f, d))
		return -1;
	for (size_t i = 0; i < d->nkids; i++)
		if (d->kids[i].n->type == IM_NODE_DIR && build_dir(f, &d->kids[i]))
			return -1;
count:;
	uint64_t slots = d->parent ? 2 : f->has_label;
	for (size_t i = 0; i < d->nkids; i++)
		slots += 1 + lfn_slots(&d->kids[i]);
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
		if (c != ' ' && !short_char(c))
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

static int plan(struct fat *f, const struct im_fat_opts *o, struct im_tree *t, struct im_error *err)
{
	if (prepare(f, o, t, err) || select_geo(f, f->size, &f->g, err))
		return -1;
	f->next = 2;
	return allocate(f, &f->root);
}

static void fat_free(struct fat *f)
{
	fent_free(&f->root);
	free(f->ends);
}

/* ---- writing ---- */

static uint64_t fat_offset(const struct geo *g, int copy)
{
	return ((uint64_t)g->rsvd + (uint64_t)copy * g->fatsz) * g->ss;
}

static uint64_t root_offset(const struct geo *g)
{
	return fat_offset(g, 2);
}

static uint64_t data_offset(const struct geo *g)
{
	return root_offset(g) + (uint64_t)g->rootsecs * g->ss;
}

static uint64_t cluster_offset(const struct geo *g, uint32_t c)
{
	return data_offset(g) + (uint64_t)(c - 2) * g->cb;
}

static int put(struct fat *f, int fd, uint64_t base, const void *buf, size_t len, uint64_t at)
{
	return im_pwrite_all(fd, buf, len, (long long)(base + at), "FAT filesystem", f->err);
}

/* A minimal x86 boot program for anyone who boots the filesystem by mistake: print a
 * message with the BIOS teletype call, then halt. It runs at 0000:7C00 (DS = 0):
 *	xor ax,ax / mov ds,ax / mov si,MSG / cld
 *   1: lodsb / test al,al / jz 2f / mov ah,0Eh / mov bx,7 / int 10h / jmp 1b
 *   2: hlt / jmp 2b */
static void boot_code(uint8_t *b, size_t at)
{
	static const uint8_t code[] = {0x31, 0xC0, 0x8E, 0xD8, 0xBE, 0x00, 0x00, 0xFC, 0xAC,
				       0x84, 0xC0, 0x74, 0x09, 0xB4, 0x0E, 0xBB, 0x07, 0x00,
				       0xCD, 0x10, 0xEB, 0xF2, 0xF4, 0xEB, 0xFD};
	static const char msg[] = "This is not a bootable disk.\r\n";
	memcpy(b + at, code, sizeof(code));
	put16(b + at + 5, (uint32_t)(0x7C00 + at + sizeof(code)));
	memcpy(b + at + sizeof(code), msg, sizeof(msg));
}

static void boot_sector(const struct fat *f, uint8_t *b, uint64_t offset)
{
	const struct geo *g = &f->g;
	bool f32 = g->type == 32;
	bool small = !f32 && g->tot < 65536;
	uint64_t hidden = offset / g->ss;
	b[0] = 0xEB; /* jmp short to the boot code, nop */
	b[1] = f32 ? 0x58 : 0x3C;
	b[2] = 0x90;
	memcpy(b + 3, "MSWIN4.1", 8); /* BS_OEMName: the spec's most compatible value */
	put16(b + 11, g->ss);
	b[13] = (uint8_t)g->spc;
	put16(b + 14, g->rsvd);
	b[16] = 2; /* BPB_NumFATs */
	put16(b + 17, g->rootents);
	put16(b + 19, small ? (uint32_t)g->tot : 0);
	b[21] = 0xF8; /* BPB_Media: fixed disk */
	put16(b + 22, f32 ? 0 : g->fatsz);
	put16(b + 24, 63);  /* BPB_SecPerTrk: the usual LBA-translated geometry */
	put16(b + 26, 255); /* BPB_NumHeads */
	put32(b + 28, hidden > UINT32_MAX ? 0 : (uint32_t)hidden);
	put32(b + 32, small ? 0 : (uint32_t)g->tot);
	size_t x = 36;
	if (f32) {
		put32(b + 36, g->fatsz);
		put16(b + 40, 0); /* BPB_ExtFlags: FATs mirrored */
		put16(b + 42, 0); /* BPB_FSVer 0.0 */
		put32(b + 44, f->root.first);
		put16(b + 48, FAT32_FSINFO);
		put16(b + 50, FAT32_BACKUP);
		x = 64;
	}
	b[x] = 0x80;	 /* BS_DrvNum */
	b[x + 2] = 0x29; /* BS_BootSig: the next three fields are present */
	put32(b + x + 3, f->volid);
	memcpy(b + x + 7, f->has_label ? (const char *)f->label : "NO NAME    ", 11);
	memcpy(b + x + 18, f32 ? "FAT32   " : g->type == 16 ? "FAT16   " : "FAT12   ", 8);
	boot_code(b, x + 26);
	b[510] = 0x55;
	b[511] = 0xAA;
}

static void fsinfo_sector(const struct fat *f, uint8_t *b)
{
	uint64_t used = f->next - 2;
	put32(b, 0x41615252);
	put32(b + 484, 0x61417272);
	put32(b + 488, (uint32_t)(f->g.clusters - used));
	put32(b + 492, f->next - 1); /* the last cluster allocated (the spec's hint) */
	put32(b + 508, 0xAA550000);
}

static int write_reserved(struct fat *f, int fd, uint64_t offset)
{
	const struct geo *g = &f->g;
	size_t len = (size_t)g->rsvd * g->ss;
	uint8_t *b = calloc(1, len);
	if (!b)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	boot_sector(f, b, offset);
	if (g->type == 32) {
		fsinfo_sector(f, b + (size_t)FAT32_FSINFO * g->ss);
		memcpy(b + (size_t)FAT32_BACKUP * g->ss, b, g->ss);
		memcpy(b + (size_t)(FAT32_BACKUP + 1) * g->ss, b + (size_t)FAT32_FSINFO * g->ss,
		       g->ss);
	}
	int r = put(f, fd, offset, b, len, 0);
	free(b);
	return r;
}

static void fat_set(uint8_t *b, int type, uint64_t i, uint32_t v)
{
	if (type == 32) {
		put32(b + 4 * i, v);
	} else if (type == 16) {
		put16(b + 2 * i, v);
	} else if (i % 2 == 0) { /* FAT12: entry i at byte i * 1.5 (i relative to an even base) */
		b[i * 3 / 2] = (uint8_t)v;
		b[i * 3 / 2 + 1] = (uint8_t)((b[i * 3 / 2 + 1] & 0xF0) | ((v >> 8) & 0x0F));
	} else {
		b[i * 3 / 2] = (uint8_t)((b[i * 3 / 2] & 0x0F) | ((v & 0x0F) << 4));
		b[i * 3 / 2 + 1] = (uint8_t)(v >> 4);
	}
}

/* Both FATs, generated FAT_CHUNK_ENTRIES entries at a time: entry 0 holds the media
 * byte, entry 1 end-of-chain with the "clean" bits set, every allocated cluster points
 * to the next one of its run except the run's last (end-of-chain), the rest is free (0).
 * The whole FAT is written, zeros included: the target may hold old data. */
static int write_fats(struct fat *f, int fd, uint64_t offset)
{
	const struct geo *g = &f->g;
	uint32_t eoc = g->type == 32 ? 0x0FFFFFFF : g->type == 16 ? 0xFFFF : 0xFFF;
	size_t chunk =
	    g->type == 12 ? FAT_CHUNK_ENTRIES * 3 / 2 : FAT_CHUNK_ENTRIES * (size_t)(g->type / 8);
	uint64_t total = (uint64_t)g->fatsz * g->ss;
	uint8_t *b = malloc(chunk);
	size_t cur = 0;
	if (!b)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	for (uint64_t pos = 0, e0 = 0; pos < total; pos += chunk, e0 += FAT_CHUNK_ENTRIES) {
		memset(b, 0, chunk);
		uint64_t end = e0 + FAT_CHUNK_ENTRIES < f->next ? e0 + FAT_CHUNK_ENTRIES : f->next;
		for (uint64_t c = e0; c < end; c++) {
			uint32_t v;
			if (c == 0) {
				v = eoc & 0xFFFFFFF8u; /* 0x?FF8: the media byte 0xF8 */
			} else if (c == 1) {
				v = eoc;
			} else {
				while (f->ends[cur] < c)
					cur++;
				v = f->ends[cur] == c ? eoc : (uint32_t)c + 1;
			}
			fat_set(b, g->type, c - e0, v);
		}
		size_t len = total - pos < chunk ? (size_t)(total - pos) : chunk;
		if (put(f, fd, offset, b, len, fat_offset(g, 0) + pos) ||
		    put(f, fd, offset, b, len, fat_offset(g, 1) + pos)) {
			free(b);
			return -1;
		}
	}
	free(b);
	return 0;
}

static void dirent_short(const struct fat *f, uint8_t *d, const uint8_t name[11], uint8_t attr,
			 uint32_t clus, uint32_t size)
{
	memcpy(d, name, 11);
	d[11] = attr;
	d[13] = f->tenth;	/* DIR_CrtTimeTenth */
	put16(d + 14, f->time); /* DIR_CrtTime */
	put16(d + 16, f->date); /* DIR_CrtDate */
	put16(d + 18, f->date); /* DIR_LstAccDate */
	put16(d + 20, clus >> 16);
	put16(d + 22, f->time); /* DIR_WrtTime */
	put16(d + 24, f->date); /* DIR_WrtDate */
	put16(d + 26, clus & 0xFFFF);
	put32(d + 28, size);
}

/* Long-name entries, last part first; each holds 13 UTF-16 units at fixed offsets; the
 * name is NUL-terminated if that fits and padded with 0xFFFF. */
static uint8_t *dirent_lfn(uint8_t *d, const struct fent *e)
{
	static const uint8_t pos[LFN_CHARS] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
	uint32_t n = lfn_slots(e);
	uint8_t sum = lfn_checksum(e->sname);
	for (uint32_t ord = n; ord >= 1; ord--, d += DIRENT) {
		d[0] = (uint8_t)(ord | (ord == n ? LFN_LAST : 0));
		d[11] = ATTR_LONG_NAME;
		d[13] = sum;
		for (size_t i = 0; i < LFN_CHARS; i++) {
			size_t k = (ord - 1) * LFN_CHARS + i;
			put16(d + pos[i], k < e->ulen ? e->uname[k] : k == e->ulen ? 0 : 0xFFFF);
		}
	}
	return d;
}

static void dir_content(const struct fat *f, const struct fent *d, uint8_t *b)
{
	static const uint8_t dot[11] = ".          ", dotdot[11] = "..         ";
	uint8_t *p = b;
	if (d->parent) {
		dirent_short(f, p, dot, ATTR_DIRECTORY, d->first, 0);
		p += DIRENT;
		/* ".." of a child of the root points to cluster 0, also on FAT32 (spec) */
		dirent_short(f, p, dotdot, ATTR_DIRECTORY, d->parent->parent ? d->parent->first : 0,
			     0);
		p += DIRENT;
	} else if (f->has_label) {
		dirent_short(f, p, f->label, ATTR_VOLUME_ID, 0, 0);
		p[13] = 0;
		put16(p + 14, 0);
		put16(p + 16, 0);
		put16(p + 18, 0);
		p += DIRENT;
	}
	for (size_t i = 0; i < d->nkids; i++) {
		const struct fent *k = &d->kids[i];
		bool dir = k->n->type == IM_NODE_DIR;
		if (k->lfn)
			p = dirent_lfn(p, k);
		dirent_short(f, p, k->sname, dir ? ATTR_DIRECTORY : ATTR_ARCHIVE, k->first,
			     dir ? 0 : (uint32_t)k->n->size);
		p += DIRENT;
	}
}

static int write_dir(struct fat *f, int fd, uint64_t offset, const struct fent *d)
{
	const struct geo *g = &f->g;
	bool fixed = !d->parent && g->type != 32;
	size_t len = fixed ? (size_t)g->rootsecs * g->ss : (size_t)d->nclus * g->cb;
	uint8_t *b = calloc(1, len);
	if (!b)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	dir_content(f, d, b);
	int r = put(f, fd, offset, b, len, fixed ? root_offset(g) : cluster_offset(g, d->first));
	free(b);
	return r;
}

/* A file's clusters: its bytes, the last cluster padded with zeros (so the result does
 * not depend on what the target held). */
static int write_file(struct fat *f, int fd, uint64_t offset, const struct fent *e, uint8_t *buf)
{
	const struct geo *g = &f->g;
	const struct im_node *n = e->n;
	uint64_t at = cluster_offset(g, e->first), done = 0, size = n->size;
	if (!size)
		return 0;
	if (!n->src) {
		uint64_t whole = size / g->cb * g->cb;
		if (whole && put(f, fd, offset, n->data, (size_t)whole, at))
			return -1;
		if (whole == size)
			return 0;
		memset(buf, 0, g->cb);
		memcpy(buf, (const uint8_t *)n->data + whole, (size_t)(size - whole));
		return put(f, fd, offset, buf, g->cb, at + whole);
	}
	int in = im_node_open(n, f->err);
	if (in < 0)
		return -1;
	int r = -1;
	while (done < size) {
		size_t want = size - done < COPY_CHUNK ? (size_t)(size - done) : COPY_CHUNK;
		size_t got = 0;
		while (got < want) {
			ssize_t k = read(in, buf + got, want - got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				im_fail_errno(f->err, IM_EXIT_IO, "%s: read", n->src);
				goto out;
			}
			if (k == 0) {
				im_fail(f->err, IM_EXIT_IO,
					"%s: file shrank while being read (expected %llu bytes)",
					n->src, (unsigned long long)size);
				goto out;
			}
			got += (size_t)k;
		}
		size_t len = got;
		if (done + got == size && got % g->cb) {
			len = (got + g->cb - 1) / g->cb * g->cb;
			memset(buf + got, 0, len - got);
		}
		if (put(f, fd, offset, buf, len, at + done))
			goto out;
		done += got;
	}
	uint8_t extra;
	ssize_t k;
	do
		k = read(in, &extra, 1);
	while (k < 0 && errno == EINTR);
	if (k > 0) {
		im_fail(f->err, IM_EXIT_IO, "%s: file grew while being read (expected %llu bytes)",
			n->src, (unsigned long long)size);
		goto out;
	}
	r = 0;
out:
	close(in);
	return r;
}

static int write_tree(struct fat *f, int fd, uint64_t offset, const struct fent *d, uint8_t *buf)
{
	if (write_dir(f, fd, offset, d))
		return -1;
	for (size_t i = 0; i < d->nkids; i++) {
		const struct fent *k = &d->kids[i];
		if (k->n->type == IM_NODE_DIR ? write_tree(f, fd, offset, k, buf)
					      : write_file(f, fd, offset, k, buf))
			return -1;
	}
	return 0;
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
	int r = plan(&f, o, t, err);
	if (!r && info)
		fill_info(&f, info);
	fat_free(&f);
	return r;
}

int im_fat_write(int fd, uint64_t offset, const struct im_fat_opts *o, struct im_tree *t,
		 struct im_error *err)
{
	struct fat f;
	uint8_t *buf = NULL;
	int r = -1;
	if (plan(&f, o, t, err))
		goto out;
	buf = malloc(COPY_CHUNK);
	if (!buf) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	if (write_reserved(&f, fd, offset) || write_fats(&f, fd, offset) ||
	    write_tree(&f, fd, offset, &f.root, buf))
		goto out;
	r = 0;
out:
	free(buf);
	fat_free(&f);
	return r;
}

uint64_t im_fat_min_size(struct im_tree *t, const struct im_fat_opts *o)
{
	struct fat f;
	uint64_t r = 0;
	if (!prepare(&f, o, t, NULL))
		r = min_size(&f);
	fat_free(&f);
	return r;
}
