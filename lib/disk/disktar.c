/* tar members for disk outputs (include/imager/disk/disktar.h). Header layout: POSIX.1
 * ustar (name 0, mode 100, uid 108, gid 116, size 124, mtime 136, chksum 148, typeflag
 * 156, magic 257, uname 265, gname 297); the old GNU header keeps magic "ustar  \0" and
 * puts the sparse map at 386 (4 entries of offset[12] numbytes[12]), isextended at 482 and
 * realsize at 483; extension blocks carry 21 entries and isextended at 504 (GNU tar
 * manual, "Old GNU Format", "Storing Sparse Files"). Numbers too large for the octal field
 * take GNU's base-256 form (first byte 0x80, big-endian), which GNU tar and libarchive
 * read: an 8 GiB disk.raw is already one byte past 11 octal digits. */
#include "imager/disk/disktar.h"

#include <stdio.h>
#include <string.h>

#define MAP_HDR 4  /* sparse entries in the member header */
#define MAP_EXT 21 /* in each extension block */

static void num(uint8_t *f, size_t len, uint64_t v)
{
	if (v < (1ull << (3 * (len - 1)))) {
		for (size_t i = len - 1; i-- > 0; v >>= 3)
			f[i] = (uint8_t)('0' + (v & 7));
		f[len - 1] = 0;
		return;
	}
	memset(f, 0, len);
	f[0] = 0x80;
	for (size_t i = len - 1; i > 0 && v; i--, v >>= 8)
		f[i] = (uint8_t)v;
}

static void base(uint8_t h[IM_TAR_BLOCK], const char *name, uint64_t size, int64_t mtime, char type,
		 bool gnu)
{
	memset(h, 0, IM_TAR_BLOCK);
	snprintf((char *)h, 100, "%s", name);
	num(h + 100, 8, 0644);
	num(h + 108, 8, 0);
	num(h + 116, 8, 0);
	num(h + 124, 12, size);
	num(h + 136, 12, mtime > 0 ? (uint64_t)mtime : 0);
	h[156] = (uint8_t)type;
	memcpy(h + 257, gnu ? "ustar  " : "ustar\00000", 8);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
}

/* ustar: the unsigned byte sum with the checksum field as spaces, 6 octal digits, NUL,
 * space. */
static void checksum(uint8_t h[IM_TAR_BLOCK])
{
	unsigned sum = 0;
	memset(h + 148, ' ', 8);
	for (int i = 0; i < IM_TAR_BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

int im_tar_header(struct im_sink *s, const char *name, uint64_t size, int64_t mtime,
		  struct im_error *err)
{
	uint8_t h[IM_TAR_BLOCK];
	if (strlen(name) >= 100)
		return im_fail(err, IM_EXIT_INVALID, "tar member name too long: %s", name);
	base(h, name, size, mtime, '0', false);
	checksum(h);
	return im_sink_write(s, h, sizeof(h), err);
}

int im_tar_pad(struct im_sink *s, uint64_t size, struct im_error *err)
{
	static const uint8_t z[IM_TAR_BLOCK];
	size_t r = (size_t)(size % IM_TAR_BLOCK);
	return r ? im_sink_write(s, z, IM_TAR_BLOCK - r, err) : 0;
}

int im_tar_end(struct im_sink *s, struct im_error *err)
{
	static const uint8_t z[2 * IM_TAR_BLOCK];
	return im_sink_write(s, z, sizeof(z), err);
}

/* Sparse map entry i: the extents, then (GNU tar's convention) a zero-length entry at the
 * real size when the file ends in a hole, so readers size it without trusting realsize. */
static size_t map_len(const struct im_extents *x)
{
	bool tail = !x->n || x->v[x->n - 1].off + x->v[x->n - 1].len < x->size;
	return x->n + (tail ? 1 : 0);
}

static struct im_extent map_at(const struct im_extents *x, size_t i)
{
	return i < x->n ? x->v[i] : (struct im_extent){x->size, 0};
}

static void put_map(uint8_t *p, const struct im_extents *x, size_t from, size_t count)
{
	for (size_t i = 0; i < count && from + i < map_len(x); i++) {
		struct im_extent e = map_at(x, from + i);
		num(p + 24 * i, 12, e.off);
		num(p + 24 * i + 12, 12, e.len);
	}
}

int im_tar_sparse_disk(struct im_sink *s, const char *name, const struct im_extents *x, int fd,
		       int64_t mtime, struct im_progress *pr, struct im_error *err)
{
	uint8_t h[IM_TAR_BLOCK];
	size_t n = map_len(x);
	if (strlen(name) >= 100)
		return im_fail(err, IM_EXIT_INVALID, "tar member name too long: %s", name);
	base(h, name, x->data, mtime, 'S', true);
	put_map(h + 386, x, 0, MAP_HDR);
	h[482] = n > MAP_HDR;
	num(h + 483, 12, x->size);
	checksum(h);
	if (im_sink_write(s, h, sizeof(h), err) < 0)
		return -1;
	for (size_t i = MAP_HDR; i < n; i += MAP_EXT) {
		memset(h, 0, sizeof(h));
		put_map(h, x, i, MAP_EXT);
		h[504] = i + MAP_EXT < n;
		if (im_sink_write(s, h, sizeof(h), err) < 0)
			return -1;
	}
	for (size_t i = 0; i < x->n; i++)
		if (im_extents_copy(x, fd, x->v[i].off, x->v[i].off + x->v[i].len, s, pr, err) < 0)
			return -1;
	return im_tar_pad(s, x->data, err);
}
