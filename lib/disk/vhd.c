/* VHD writer (include/imager/disk/vhd.h), after the VHD specification v1.0 (Microsoft,
 * 2006): §"Hard Disk Footer Format", §"Dynamic Disk Header Format", §"Block Allocation
 * Table and Data Blocks" and the appendix "CHS Calculation". All fields big-endian. */
#include "imager/disk/vhd.h"

#include <stdlib.h>
#include <string.h>

#include "imager/disk/gpt.h"

#define MIB	     (1ull << 20)
#define VHD_EPOCH    946684800	/* 2000-01-01T00:00:00Z: the spec's time origin */
#define DYN_BLOCK    (2u << 20) /* block size of qemu-img and Hyper-V */
#define DYN_HDR_OFF  512
#define DYN_BAT_OFF  1536
#define BITMAP_BYTES 512 /* 2 MiB / 512-byte sectors / 8 bits, a whole sector */

static void be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* One's complement of the byte sum, the checksum field itself counted as zero. */
static uint32_t checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += p[i];
	return ~sum;
}

int im_vhd_size(uint64_t size, const char *what, uint64_t *vsize, struct im_error *err)
{
	uint64_t v = (size + MIB - 1) / MIB * MIB;
	if (v > IM_VHD_MAX_SIZE)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: %llu MiB is larger than a VHD can hold (at most 2040 GiB)",
			       what, (unsigned long long)(v / MIB));
	*vsize = v;
	return 0;
}

int im_vhd_parse_options(const char *opts, enum im_vhd_type *type, struct im_error *err)
{
	char *copy = opts ? strdup(opts) : NULL, *save = NULL;
	int rc = 0;
	*type = IM_VHD_FIXED;
	if (opts && !copy)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (char *o = copy ? strtok_r(copy, ",", &save) : NULL; o && rc == 0;
	     o = strtok_r(NULL, ",", &save)) {
		if (!strcmp(o, "subformat=fixed"))
			*type = IM_VHD_FIXED;
		else if (!strcmp(o, "subformat=dynamic"))
			*type = IM_VHD_DYNAMIC;
		else if (strcmp(o, "force_size") && strcmp(o, "force_size=on"))
			rc = im_fail(err, IM_EXIT_INVALID,
				     "diskFormatOptions: \"%s\" is not a VHD option (known: "
				     "subformat=fixed|dynamic, force_size)",
				     o);
	}
	free(copy);
	return rc;
}

void im_vhd_chs(uint64_t vsize, uint16_t *cyl, uint8_t *heads, uint8_t *spt)
{
	uint64_t total = vsize / 512, cth;
	uint32_t h, s;
	if (total > 65535ull * 16 * 255)
		total = 65535ull * 16 * 255;
	if (total >= 65535ull * 16 * 63) {
		s = 255;
		h = 16;
		cth = total / s;
	} else {
		s = 17;
		cth = total / s;
		h = (uint32_t)((cth + 1023) / 1024);
		if (h < 4)
			h = 4;
		if (cth >= h * 1024ull || h > 16) {
			s = 31;
			h = 16;
			cth = total / s;
		}
		if (cth >= h * 1024ull) {
			s = 63;
			h = 16;
			cth = total / s;
		}
	}
	*cyl = (uint16_t)(cth / h);
	*heads = (uint8_t)h;
	*spt = (uint8_t)s;
}

void im_vhd_footer(uint8_t f[IM_VHD_FOOTER], enum im_vhd_type type, uint64_t vsize,
		   uint64_t data_offset, const char *label, int64_t epoch)
{
	uint16_t c;
	uint8_t h, s;
	memset(f, 0, IM_VHD_FOOTER);
	memcpy(f, "conectix", 8);
	be(f + 8, 2, 4);	/* features: "reserved" bit, always set */
	be(f + 12, 0x10000, 4); /* format version 1.0 */
	be(f + 16, data_offset, 8);
	be(f + 24, epoch > VHD_EPOCH ? (uint64_t)(epoch - VHD_EPOCH) : 0, 4);
	/* Creator application "qem2", what qemu-img writes with force_size (and so what
	 * Talos's Azure images carry): the mark that the current size, not the CHS geometry,
	 * is the disk's size. qemu's vpc driver trusts the current size only for creators it
	 * knows to mean it ("qem2", "win ", "d2v ", ...); for an unknown one it would cut
	 * the disk to the CHS size and lose the backup GPT. */
	memcpy(f + 28, "qem2", 4);
	be(f + 32, 0x10000, 4);
	memcpy(f + 36, "Wi2k", 4); /* creator host OS, as qemu-img writes it */
	be(f + 40, vsize, 8);	   /* original size */
	be(f + 48, vsize, 8);	   /* current size */
	im_vhd_chs(vsize, &c, &h, &s);
	be(f + 56, c, 2);
	f[58] = h;
	f[59] = s;
	be(f + 60, (uint64_t)type, 4);
	im_guid_from_label(label, f + 68);
	be(f + 64, checksum(f, IM_VHD_FOOTER), 4);
}

/* §"Dynamic Disk Header Format": no parent; the BAT right after this header. */
static void dyn_header(uint8_t d[1024], uint32_t blocks)
{
	memset(d, 0, 1024);
	memcpy(d, "cxsparse", 8);
	be(d + 8, ~0ull, 8);
	be(d + 16, DYN_BAT_OFF, 8);
	be(d + 24, 0x10000, 4);
	be(d + 28, blocks, 4);
	be(d + 32, DYN_BLOCK, 4);
	be(d + 36, checksum(d, 1024), 4);
}

static int write_dynamic(const struct im_extents *x, int fd, uint64_t vsize, const uint8_t *foot,
			 struct im_sink *out, struct im_progress *pr, struct im_error *err)
{
	uint32_t blocks = (uint32_t)((vsize + DYN_BLOCK - 1) / DYN_BLOCK);
	size_t bat_len = ((size_t)blocks * 4 + 511) / 512 * 512;
	uint8_t *bat = malloc(bat_len), dh[1024], bitmap[BITMAP_BYTES];
	if (!bat)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	memset(bat, 0xff, bat_len); /* 0xFFFFFFFF: block not present */
	uint64_t sector = (DYN_BAT_OFF + bat_len) / 512;
	size_t hint = 0;
	for (uint32_t b = 0; b < blocks; b++)
		if (im_extents_any(x, (uint64_t)b * DYN_BLOCK, DYN_BLOCK, &hint)) {
			be(bat + 4 * b, sector, 4);
			sector += (BITMAP_BYTES + DYN_BLOCK) / 512;
		}
	dyn_header(dh, blocks);
	memset(bitmap, 0xff, sizeof(bitmap)); /* every sector of a present block is in it */
	int rc = 0;
	if (im_sink_write(out, foot, IM_VHD_FOOTER, err) < 0 ||
	    im_sink_write(out, dh, sizeof(dh), err) < 0 ||
	    im_sink_write(out, bat, bat_len, err) < 0)
		rc = -1;
	hint = 0;
	for (uint32_t b = 0; rc == 0 && b < blocks; b++) {
		uint64_t off = (uint64_t)b * DYN_BLOCK;
		if (!im_extents_any(x, off, DYN_BLOCK, &hint))
			continue;
		rc = im_sink_write(out, bitmap, sizeof(bitmap), err);
		if (rc == 0)
			rc = im_extents_copy(x, fd, off, off + DYN_BLOCK, out, pr, err);
	}
	free(bat);
	return rc;
}

int im_vhd_write(const struct im_extents *x, int fd, enum im_vhd_type type, const char *label,
		 int64_t epoch, struct im_sink *out, struct im_progress *pr, struct im_error *err)
{
	uint64_t vsize = 0;
	uint8_t foot[IM_VHD_FOOTER];
	if (im_vhd_size(x->size, label, &vsize, err) < 0)
		return -1;
	im_vhd_footer(foot, type, vsize, type == IM_VHD_FIXED ? ~0ull : DYN_HDR_OFF, label, epoch);
	int rc = type == IM_VHD_FIXED ? im_extents_copy(x, fd, 0, vsize, out, pr, err)
				      : write_dynamic(x, fd, vsize, foot, out, pr, err);
	return rc < 0 ? -1 : im_sink_write(out, foot, IM_VHD_FOOTER, err);
}
