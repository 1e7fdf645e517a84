/* VMDK stream-optimized writer (include/imager/disk/vmdk.h), after VMware's "Virtual Disk
 * Format 1.1": §"Hosted Sparse Extent Header", §"The Descriptor File" and §"Stream-
 * Optimized Compressed Sparse Extents" (markers, grain/GT/GD/footer/EOS order). Little-
 * endian throughout. Grains are zlib streams (RFC 1950, compressAlgorithm 1 = deflate) at
 * zlib's default level, deterministic for a given zlib. */
#include "imager/disk/vmdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "imager/disk/gpt.h"

#define SECTOR	      512u
#define GRAIN_SECTORS (IM_VMDK_GRAIN / SECTOR)
#define GTES	      512u /* grain table entries: one GT maps 32 MiB */
#define OVERHEAD      128u /* sectors before the first grain: header + descriptor */
#define GD_AT_END     0xffffffffffffffffull
#define FLAGS	      (1u | 1u << 16 | 1u << 17) /* newline test, compressed, markers */

enum { MARKER_EOS = 0, MARKER_GT = 1, MARKER_GD = 2, MARKER_FOOTER = 3 };

struct vw {
	struct im_sink *out;
	uint64_t capacity; /* sectors */
	uint32_t *gd;	   /* sector of each grain table, 0: none */
	uint32_t gt[GTES];
	uint64_t ngt, cur_gt; /* grain tables; the one being filled */
	bool gt_used;
	uint8_t *grain, *z;
	size_t zcap;
};

static void le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t sector_now(const struct vw *w)
{
	return w->out->pos / SECTOR;
}

static int pad_sector(struct vw *w, struct im_error *err)
{
	static const uint8_t z[SECTOR];
	size_t r = (size_t)(w->out->pos % SECTOR);
	return r ? im_sink_write(w->out, z, SECTOR - r, err) : 0;
}

static void header(uint8_t h[SECTOR], uint64_t capacity, uint64_t desc_sectors, uint64_t gd)
{
	memset(h, 0, SECTOR);
	memcpy(h, "KDMV", 4); /* magic 0x564d444b, little-endian */
	le(h + 4, 3, 4);      /* version 3: stream-optimized */
	le(h + 8, FLAGS, 4);
	le(h + 12, capacity, 8);
	le(h + 20, GRAIN_SECTORS, 8);
	le(h + 28, 1, 8); /* descriptorOffset */
	le(h + 36, desc_sectors, 8);
	le(h + 44, GTES, 4);
	le(h + 48, 0, 8); /* no redundant GD */
	le(h + 56, gd, 8);
	le(h + 64, OVERHEAD, 8);
	h[72] = 0; /* uncleanShutdown */
	h[73] = '\n';
	h[74] = ' ';
	h[75] = '\r';
	h[76] = '\n';
	le(h + 77, 1, 2); /* compressAlgorithm: deflate */
}

static int marker(struct vw *w, uint64_t sectors, uint32_t type, struct im_error *err)
{
	uint8_t m[SECTOR] = {0};
	le(m, sectors, 8);
	le(m + 12, type, 4);
	return im_sink_write(w->out, m, SECTOR, err);
}

/* The grain table being filled, behind its marker, if it maps any grain. */
static int flush_gt(struct vw *w, struct im_error *err)
{
	if (!w->gt_used)
		return 0;
	uint8_t buf[GTES * 4];
	for (uint32_t i = 0; i < GTES; i++)
		le(buf + 4 * i, w->gt[i], 4);
	if (marker(w, sizeof(buf) / SECTOR, MARKER_GT, err) < 0)
		return -1;
	w->gd[w->cur_gt] = (uint32_t)sector_now(w);
	memset(w->gt, 0, sizeof(w->gt));
	w->gt_used = false;
	return im_sink_write(w->out, buf, sizeof(buf), err);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* 1: stored, 0: all zeros (left out: the GT entry stays 0, the grain reads as zeros). */
static int grain(struct vw *w, uint64_t g, size_t len, struct im_error *err)
{
	if (all_zero(w->grain, len))
		return 0;
	if (g / GTES != w->cur_gt) {
		if (flush_gt(w, err) < 0)
			return -1;
		w->cur_gt = g / GTES;
	}
	uLongf zlen = (uLongf)w->zcap - 12;
	if (compress2(w->z + 12, &zlen, w->grain, (uLong)len, Z_DEFAULT_COMPRESSION) != Z_OK)
		return im_fail(err, IM_EXIT_INTERNAL, "vmdk: deflate failed");
	le(w->z, g * GRAIN_SECTORS, 8); /* grain marker: the grain's first guest sector */
	le(w->z + 8, zlen, 4);
	w->gt[g % GTES] = (uint32_t)sector_now(w);
	w->gt_used = true;
	if (im_sink_write(w->out, w->z, 12 + zlen, err) < 0 || pad_sector(w, err) < 0)
		return -1;
	return 1;
}

static int write_descriptor(struct vw *w, const char *name, struct im_error *err)
{
	uint8_t id[16];
	char d[1024];
	im_guid_from_label(name, id);
	uint64_t cyl = w->capacity / (255 * 63);
	int n = snprintf(d, sizeof(d),
			 "# Disk DescriptorFile\nversion=1\nCID=%02x%02x%02x%02x\n"
			 "parentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n"
			 "# Extent description\nRW %llu SPARSE \"%s\"\n\n"
			 "# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\n"
			 "ddb.geometry.cylinders = \"%llu\"\nddb.geometry.heads = \"255\"\n"
			 "ddb.geometry.sectors = \"63\"\nddb.adapterType = \"lsilogic\"\n",
			 id[0], id[1], id[2], id[3], (unsigned long long)w->capacity, name,
			 (unsigned long long)(cyl > 65535 ? 65535 : cyl));
	if (n < 0 || (size_t)n >= sizeof(d))
		return im_fail(err, IM_EXIT_INVALID, "vmdk: extent name too long: %s", name);
	uint8_t h[SECTOR];
	header(h, w->capacity, (OVERHEAD - 1), GD_AT_END);
	if (im_sink_write(w->out, h, SECTOR, err) < 0 ||
	    im_sink_write(w->out, d, (size_t)n, err) < 0)
		return -1;
	return im_sink_zeros(w->out, OVERHEAD * SECTOR - w->out->pos, err);
}

static int write_end(struct vw *w, struct im_error *err)
{
	if (flush_gt(w, err) < 0)
		return -1;
	size_t gd_len = ((size_t)w->ngt * 4 + SECTOR - 1) / SECTOR * SECTOR;
	uint8_t *gd = calloc(1, gd_len), h[SECTOR];
	if (!gd)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (uint64_t i = 0; i < w->ngt; i++)
		le(gd + 4 * i, w->gd[i], 4);
	int rc = marker(w, gd_len / SECTOR, MARKER_GD, err);
	uint64_t gd_sector = sector_now(w);
	if (rc == 0)
		rc = im_sink_write(w->out, gd, gd_len, err);
	free(gd);
	header(h, w->capacity, OVERHEAD - 1, gd_sector);
	if (rc == 0)
		rc = marker(w, 1, MARKER_FOOTER, err);
	if (rc == 0)
		rc = im_sink_write(w->out, h, SECTOR, err);
	if (rc == 0)
		rc = marker(w, 0, MARKER_EOS, err);
	return rc;
}

int im_vmdk_write(const struct im_extents *x, int fd, const char *name, struct im_sink *out,
		  struct im_vmdk_info *info, struct im_progress *pr, struct im_error *err)
{
	struct vw w = {.out = out, .capacity = (x->size + SECTOR - 1) / SECTOR};
	uint64_t grains = (x->size + IM_VMDK_GRAIN - 1) / IM_VMDK_GRAIN;
	w.ngt = (grains + GTES - 1) / GTES;
	w.zcap = 12 + compressBound(IM_VMDK_GRAIN);
	w.gd = calloc(w.ngt ? w.ngt : 1, sizeof(*w.gd));
	w.grain = malloc(IM_VMDK_GRAIN);
	w.z = malloc(w.zcap);
	info->populated = 0;
	int rc = w.gd && w.grain && w.z ? write_descriptor(&w, name, err)
					: im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	uint64_t last = ~0ull;
	for (size_t i = 0; rc == 0 && i < x->n; i++) {
		uint64_t g = x->v[i].off / IM_VMDK_GRAIN;
		uint64_t end = (x->v[i].off + x->v[i].len - 1) / IM_VMDK_GRAIN;
		for (g = g == last ? g + 1 : g; rc == 0 && g <= end; g++) {
			uint64_t off = g * IM_VMDK_GRAIN;
			size_t len =
			    x->size - off < IM_VMDK_GRAIN ? (size_t)(x->size - off) : IM_VMDK_GRAIN;
			memset(w.grain, 0, IM_VMDK_GRAIN);
			rc = im_extents_pread(fd, w.grain, len, off, err);
			if (rc == 0)
				rc = grain(&w, g, IM_VMDK_GRAIN, err);
			if (rc == 1)
				info->populated += IM_VMDK_GRAIN;
			rc = rc < 0 ? -1 : 0;
			if (pr)
				im_progress_add(pr, len);
			last = g;
		}
	}
	if (rc == 0)
		rc = write_end(&w, err);
	free(w.gd);
	free(w.grain);
	free(w.z);
	return rc;
}
