/* Board constraints of an install (overlays, DESIGN.md §6): raw blobs at byte offsets,
 * checked against the partition tables and partitions, and the hybrid MBR. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imager/disk/gpt.h"
#include "imager/install/install.h"
#include "imager/util/readfile.h"

struct range {
	const char *what;
	uint64_t start, end; /* [start, end) bytes */
};

static bool overlaps(const struct range *a, const struct range *b)
{
	return a->start < b->end && b->start < a->end;
}

static int refuse(const struct im_install_blob *bl, const struct range *r, const char *what,
		  struct im_error *err)
{
	return im_fail(err, IM_EXIT_INVALID,
		       "%s: blob %s (bytes %" PRIu64 "..%" PRIu64 ") overlaps %s (bytes %" PRIu64
		       "..%" PRIu64 ")",
		       what, bl->what, bl->offset, bl->offset + bl->len, r->what, r->start, r->end);
}

int im_install_board_check(const struct im_install_board *b, const struct im_gpt_disk *d,
			   const char *what, struct im_error *err)
{
	uint64_t ss = d->sector_size;
	uint64_t array = ((uint64_t)d->max_entries * 128 + ss - 1) / ss * ss;
	/* UEFI 2.10 §5.3: LBA 0 (MBR), LBA 1 (header), the entry array; the backup array and
	 * header end the disk. */
	struct range fixed[2] = {
	    {"the primary partition table", 0, 2 * ss + array},
	    {"the backup partition table", d->disk_size - ss - array, d->disk_size},
	};
	for (size_t i = 0; b && i < b->n_blobs; i++) {
		const struct im_install_blob *bl = &b->blobs[i];
		struct range me = {bl->what, bl->offset, bl->offset + bl->len};
		if (bl->offset > d->disk_size || bl->len > d->disk_size - bl->offset)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: blob %s (%zu bytes at byte %" PRIu64
				       ") does not fit the "
				       "%" PRIu64 "-byte disk",
				       what, bl->what, bl->len, bl->offset, d->disk_size);
		for (int k = 0; k < 2; k++)
			if (overlaps(&me, &fixed[k]))
				return refuse(bl, &fixed[k], what, err);
		for (size_t k = 0; k < d->n; k++) {
			char name[128];
			const struct im_gpt_entry *p = &d->parts[k];
			snprintf(name, sizeof(name), "partition %s", p->name);
			struct range pr = {name, p->start, p->start + p->size};
			if (overlaps(&me, &pr))
				return refuse(bl, &pr, what, err);
		}
		for (size_t k = 0; k < i; k++) {
			const struct im_install_blob *o = &b->blobs[k];
			char name[300];
			snprintf(name, sizeof(name), "blob %s", o->what);
			struct range orr = {name, o->offset, o->offset + o->len};
			if (overlaps(&me, &orr))
				return refuse(bl, &orr, what, err);
		}
	}
	return 0;
}

/* MBR partition record for LBA-addressed use: CHS fields saturated (FE FF FF), as tools
 * write them for partitions beyond CHS reach; boot ROMs and kernels use the LBA fields. */
static void mbr_record(struct im_mbr_part *r, uint8_t type, uint64_t lba, uint64_t count)
{
	static const uint8_t chs_max[3] = {0xFE, 0xFF, 0xFF};
	memset(r, 0, sizeof(*r));
	r->type = type;
	memcpy(r->chs_start, chs_max, 3);
	memcpy(r->chs_end, chs_max, 3);
	r->lba_start = (uint32_t)(lba > UINT32_MAX ? UINT32_MAX : lba);
	r->lba_count = (uint32_t)(count > UINT32_MAX ? UINT32_MAX : count);
}

/* Hybrid MBR: record 0 = the EFI partition as FAT32 with LBA (0x0C), so that an MBR-only
 * boot ROM finds its FAT; record 1 = the GPT protective 0xEE record from LBA 1 up to the
 * EFI partition (UEFI 2.10 §5.2.3; U-Boot and Linux accept the 0xEE record in any slot
 * when it starts at LBA 1). */
static int write_hybrid(int fd, const char *what, const struct im_gpt_disk *d, struct im_error *err)
{
	const struct im_gpt_entry *esp = im_gpt_find(d, "EFI");
	struct im_mbr mbr;
	if (!esp)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: hybrid MBR without an EFI partition",
			       what);
	if (pread(fd, &mbr, sizeof(mbr), 0) != (ssize_t)sizeof(mbr))
		return im_fail_errno(err, IM_EXIT_IO, "%s: reading the MBR", what);
	uint64_t ss = d->sector_size;
	memset(mbr.part, 0, sizeof(mbr.part));
	mbr_record(&mbr.part[0], 0x0C, esp->start / ss, esp->size / ss);
	mbr_record(&mbr.part[1], 0xEE, 1, esp->start / ss - 1);
	return im_install_pwrite(fd, &mbr, sizeof(mbr), 0, what, err);
}

static int write_blob(int fd, const char *what, const struct im_install_blob *bl,
		      struct im_error *err)
{
	uint8_t *buf = NULL;
	size_t len = bl->len;
	const uint8_t *data = bl->data;
	if (bl->src) {
		if (im_read_file(bl->src, bl->what, &buf, &len, err) < 0)
			return -1;
		if (len != bl->len) {
			free(buf);
			return im_fail(err, IM_EXIT_IO, "%s: %s changed size while building", what,
				       bl->src);
		}
		data = buf;
	}
	int rc = im_install_pwrite(fd, data, len, bl->offset, what, err);
	free(buf);
	return rc;
}

int im_install_board_write(int fd, const char *what, const struct im_install_board *b,
			   const struct im_gpt_disk *d, struct im_error *err)
{
	if (!b)
		return 0;
	if (b->hybrid_mbr && write_hybrid(fd, what, d, err) < 0)
		return -1;
	for (size_t i = 0; i < b->n_blobs; i++)
		if (write_blob(fd, what, &b->blobs[i], err) < 0)
			return -1;
	return 0;
}
