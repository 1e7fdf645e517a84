/* Names in a FAT directory (the FAT writer, see fat_internal.h): UTF-8 to UTF-16, the 8.3
 * short names and their basis-name and numeric-tail rules (Spec §6.1, §7), long-name slots
 * and checksums (§7), and the case-insensitive order names are compared in. */
#include "fat_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Characters allowed in a short (8.3) name besides A-Z and 0-9 (spec, "Directory
 * Entry"): $ % ' - _ @ ~ ` ! ( ) { } ^ # &. */
bool im_fatw_short_char(unsigned c)
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
		if (b == 8 || !im_fatw_short_char((unsigned char)s[i]))
			return false;
		out[b++] = (uint8_t)s[i];
	}
	if (b == 0)
		return false;
	if (s[i] == '.') {
		for (i++; s[i]; i++) {
			if (x == 3 || !im_fatw_short_char((unsigned char)s[i]))
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

int im_fatw_fold_cmp(const struct fent *a, const struct fent *b)
{
	for (size_t i = 0; i < a->ulen && i < b->ulen; i++) {
		uint16_t x = fold(a->uname[i]), y = fold(b->uname[i]);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return a->ulen < b->ulen ? -1 : a->ulen > b->ulen;
}

int im_fatw_fold_sort(const void *pa, const void *pb)
{
	const struct fent *a = *(const struct fent *const *)pa,
			  *b = *(const struct fent *const *)pb;
	int r = im_fatw_fold_cmp(a, b);
	return r ? r : strcmp(a->n->name, b->n->name);
}

/* Check a name against what FAT can store and convert it to UTF-16. */
int im_fatw_set_name(struct fat *f, struct fent *e)
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
		if (c == '.' || im_fatw_short_char(c)) {
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
int im_fatw_short_names(struct fat *f, struct fent *d)
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

uint8_t im_fatw_lfn_checksum(const uint8_t s[11])
{
	uint8_t sum = 0;
	for (int i = 0; i < 11; i++)
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + s[i]);
	return sum;
}

uint32_t im_fatw_lfn_slots(const struct fent *e)
{
	return e->lfn ? (uint32_t)((e->ulen + LFN_CHARS - 1) / LFN_CHARS) : 0;
}
