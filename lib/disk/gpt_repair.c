/* The GPT headers checked byte by byte, and a corrupt primary rewritten from the backup
 * (see include/imager/disk/gpt.h). "UEFI" is the UEFI Specification 2.10, §5.3.2 GPT
 * Header (signature, HeaderSize, HeaderCRC32 over HeaderSize bytes with the field zeroed,
 * MyLBA, AlternateLBA, PartitionEntryLBA, NumberOfPartitionEntries,
 * SizeOfPartitionEntry, PartitionEntryArrayCRC32) and §5.3.3 (the entry array). libfdisk
 * reads the table; this file only judges and mends the primary copy, as sgdisk and
 * systemd-repart do. */
#include "imager/disk/gpt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "imager/util/outfile.h"

#define HDR_MIN	       92
#define ENTRIES_MAX    (1u << 20) /* bytes of entry array accepted (128 x 128 = 16 KiB usual) */
#define OFF_CRC	       16
#define OFF_MY_LBA     24
#define OFF_ALT_LBA    32
#define OFF_FIRST_LBA  40
#define OFF_LAST_LBA   48
#define OFF_ENTRY_LBA  72
#define OFF_N_ENTRIES  80
#define OFF_ENTRY_SIZE 84
#define OFF_ENTRY_CRC  88

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static bool read_at(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

/* The header at `lba` (ss bytes into hdr) and its entry array (malloc'd into *entries),
 * when both check out (UEFI §5.3.2: signature, sizes, both CRC32s, MyLBA). */
static bool load_copy(int fd, uint32_t ss, uint64_t lba, uint8_t *hdr, uint8_t **entries,
		      size_t *len)
{
	*entries = NULL;
	if (!read_at(fd, hdr, ss, lba * ss) || memcmp(hdr, "EFI PART", 8))
		return false;
	uint32_t hsize = le32(hdr + 12), crc = le32(hdr + OFF_CRC);
	if (hsize < HDR_MIN || hsize > ss || le64(hdr + OFF_MY_LBA) != lba)
		return false;
	put32(hdr + OFF_CRC, 0);
	bool ok = crc32(0, hdr, hsize) == crc;
	put32(hdr + OFF_CRC, crc);
	uint64_t n = le32(hdr + OFF_N_ENTRIES), esize = le32(hdr + OFF_ENTRY_SIZE);
	if (!ok || esize < 128 || esize % 8 || n * esize > ENTRIES_MAX)
		return false;
	*len = (size_t)(n * esize);
	if (!(*entries = malloc(*len ? *len : 1)))
		return false;
	if (read_at(fd, *entries, *len, le64(hdr + OFF_ENTRY_LBA) * ss) &&
	    crc32(0, *entries, (uInt)*len) == le32(hdr + OFF_ENTRY_CRC))
		return true;
	free(*entries);
	*entries = NULL;
	return false;
}

bool im_gpt_primary_ok(int fd, uint32_t sector_size)
{
	uint8_t *hdr = malloc(sector_size), *entries = NULL;
	size_t len;
	bool ok = hdr && load_copy(fd, sector_size, 1, hdr, &entries, &len);
	free(entries);
	free(hdr);
	return ok;
}

/* The backup is the source: it is never written, so the disk stays readable at every
 * step. The entries go first (to LBA 2, where a primary's array starts, UEFI §5.3.2),
 * then the header that makes them count, each synced. */
int im_gpt_repair_primary(int fd, const char *what, const struct im_gpt_disk *d,
			  struct im_error *err)
{
	uint32_t ss = d->sector_size;
	uint64_t last = d->disk_size / ss - 1;
	uint8_t *hdr = malloc(ss), *entries = NULL;
	size_t len = 0;
	int rc = -1;
	if (!hdr) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	if (!load_copy(fd, ss, last, hdr, &entries, &len)) {
		im_fail(err, IM_EXIT_INVALID,
			"%s: the backup GPT at LBA %llu does not check out either: cannot repair "
			"the primary",
			what, (unsigned long long)last);
		goto out;
	}
	uint64_t first_usable = le64(hdr + OFF_FIRST_LBA);
	if (2 + (len + ss - 1) / ss > first_usable) {
		im_fail(err, IM_EXIT_INVALID,
			"%s: the GPT entry array (%zu bytes) does not fit before LBA %llu", what,
			len, (unsigned long long)first_usable);
		goto out;
	}
	if (im_pwrite_all(fd, entries, len, 2ll * ss, what, err) < 0 ||
	    (fsync(fd) < 0 && errno != EINVAL && im_fail_errno(err, IM_EXIT_IO, "%s", what)))
		goto out;
	put64(hdr + OFF_MY_LBA, 1);
	put64(hdr + OFF_ALT_LBA, last);
	put64(hdr + OFF_ENTRY_LBA, 2);
	put32(hdr + OFF_CRC, 0);
	put32(hdr + OFF_CRC, crc32(0, hdr, le32(hdr + 12)));
	if (im_pwrite_all(fd, hdr, ss, ss, what, err) < 0 ||
	    (fsync(fd) < 0 && errno != EINVAL && im_fail_errno(err, IM_EXIT_IO, "%s", what)))
		goto out;
	rc = 0;
out:
	free(entries);
	free(hdr);
	return rc;
}

uint64_t im_gpt_backup_lba(int fd, uint32_t sector_size)
{
	uint8_t *hdr = malloc(sector_size), *entries = NULL;
	size_t len;
	uint64_t alt = 0;
	if (hdr && load_copy(fd, sector_size, 1, hdr, &entries, &len))
		alt = le64(hdr + OFF_ALT_LBA);
	free(entries);
	free(hdr);
	return alt;
}

static void seal(uint8_t *hdr)
{
	put32(hdr + OFF_CRC, 0);
	put32(hdr + OFF_CRC, crc32(0, hdr, le32(hdr + 12)));
}

/* One write then fsync (EINVAL: a file system without fsync on this file type). */
static int write_synced(int fd, const void *buf, size_t len, uint64_t off, const char *what,
			im_gpt_pwrite_fn w, struct im_error *err)
{
	if ((w ? w(fd, buf, len, off, what, err)
	       : im_pwrite_all(fd, buf, len, (long long)off, what, err)) < 0)
		return -1;
	if (fsync(fd) < 0 && errno != EINVAL)
		return im_fail_errno(err, IM_EXIT_IO, "%s", what);
	return 0;
}

/* The protective MBR (UEFI 2.10 §5.2.3): record 1 of type 0xEE covers LBA 1 to the last
 * LBA, or 0xFFFFFFFF sectors when the disk is larger. Its new SizeInLBA, or 0 when LBA 0
 * holds no protective record (a hybrid MBR is left alone). */
static uint32_t pmbr_size(const uint8_t *mbr, uint64_t last)
{
	if (mbr[510] != 0x55 || mbr[511] != 0xaa || mbr[446 + 4] != 0xee)
		return 0;
	return last > 0xffffffffu ? 0xffffffffu : (uint32_t)last;
}

int im_gpt_relocate_backup(int fd, const char *what, const struct im_gpt_disk *d,
			   im_gpt_pwrite_fn w, struct im_error *err)
{
	uint32_t ss = d->sector_size;
	uint64_t last = d->disk_size / ss - 1;
	uint8_t *hdr = malloc(ss), *bak = malloc(ss), *entries = NULL, mbr[512];
	size_t len = 0;
	int rc = -1;
	if (!hdr || !bak) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	if (!load_copy(fd, ss, 1, hdr, &entries, &len)) {
		im_fail(err, IM_EXIT_INVALID, "%s: the primary GPT does not check out", what);
		goto out;
	}
	uint64_t old = le64(hdr + OFF_ALT_LBA), array_secs = (len + ss - 1) / ss;
	if (old >= last) {
		rc = 0; /* at the end already (beyond it: the reader refused the disk) */
		goto out;
	}
	uint64_t array = last - array_secs, last_usable = array - 1;
	if (last_usable < le64(hdr + OFF_LAST_LBA)) {
		im_fail(err, IM_EXIT_INVALID,
			"%s: no room for the backup GPT at the end of the disk", what);
		goto out;
	}
	put64(hdr + OFF_LAST_LBA, last_usable);
	memcpy(bak, hdr, ss);
	put64(bak + OFF_MY_LBA, last);
	put64(bak + OFF_ALT_LBA, 1);
	put64(bak + OFF_ENTRY_LBA, array);
	seal(bak);
	put64(hdr + OFF_ALT_LBA, last);
	seal(hdr);
	if (write_synced(fd, entries, len, array * ss, what, w, err) < 0 ||
	    write_synced(fd, bak, ss, last * ss, what, w, err) < 0 ||
	    write_synced(fd, hdr, ss, ss, what, w, err) < 0)
		goto out;
	if (!read_at(fd, mbr, sizeof(mbr), 0)) {
		im_fail_errno(err, IM_EXIT_IO, "%s: reading LBA 0", what);
		goto out;
	}
	uint32_t n = pmbr_size(mbr, last);
	if (n) {
		put32(mbr + 446 + 12, n);
		if (write_synced(fd, mbr, sizeof(mbr), 0, what, w, err) < 0)
			goto out;
	}
	memset(bak, 0, ss);
	rc = write_synced(fd, bak, ss, old * ss, what, w, err);
out:
	free(entries);
	free(bak);
	free(hdr);
	return rc;
}
