/* GPT of a disk the installer reads (lib/disk/gpt.c, im_gpt_read: what `installer status /
 * upgrade / commit` start from). Input: byte 0 = flags (bit 0: recompute the primary
 * header's and entry array's CRC32s so the entries behind them are reached; bits 1-2:
 * sector size 512 << n), the rest = the start of the disk; the disk is padded with a hole
 * to 8 MiB (the backup GPT at the end is then missing, as on a grown disk). */
#include "fuzz.h"

#include <zlib.h>

#include "imager/disk/gpt.h"

#define DISK_SIZE (8u << 20)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* UEFI 2.10 §5.3.2: entry array CRC at +88 over entries * entry size from LBA (+72);
 * header CRC at +16 over HeaderSize (+12) bytes with the field zeroed. */
static void fix_crcs(uint8_t *disk, size_t len, uint32_t ss)
{
	uint8_t *h = disk + ss;
	if (len < 2 * (size_t)ss)
		return;
	uint64_t lba = le32(h + 72) | (uint64_t)le32(h + 76) << 32;
	uint64_t bytes = (uint64_t)le32(h + 80) * le32(h + 84);
	if (lba < len / ss && bytes <= len - lba * ss)
		put_le32(h + 88, (uint32_t)crc32(0, disk + lba * ss, (uInt)bytes));
	uint32_t hs = le32(h + 12);
	if (hs >= 20 && hs <= ss) {
		put_le32(h + 16, 0);
		put_le32(h + 16, (uint32_t)crc32(0, h, hs));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size - 1 > DISK_SIZE)
		return 0;
	uint8_t flags = data[0];
	uint32_t ss = 512u << ((flags >> 1) & 3);
	uint8_t *disk = malloc(size);
	if (!disk)
		abort();
	memcpy(disk, data + 1, size - 1);
	if (flags & 1)
		fix_crcs(disk, size - 1, ss);
	int fd = fz_memfd(disk, size - 1, DISK_SIZE);
	free(disk);
	struct im_gpt_disk d;
	struct im_error err = {0};
	if (im_gpt_read(fd, "fuzz", flags & 8 ? ss : 0, &d, &err) == 0) {
		im_gpt_find(&d, "META");
		im_gpt_find_type(&d, IM_GPT_TYPE_ESP);
		for (size_t i = 0; i < d.n; i++)
			if (d.parts[i].start + d.parts[i].size < d.parts[i].start)
				abort(); /* an entry that wraps around was accepted */
		im_gpt_disk_free(&d);
	}
	close(fd);
	return 0;
}
