/* VHD writer (Microsoft "Virtual Hard Disk Image Format Specification" v1.0): fixed (the
 * disk, then a 512-byte footer; what Azure takes) and dynamic (footer copy, dynamic disk
 * header, BAT, 2 MiB blocks with their sector bitmaps, footer). The virtual size is the
 * disk's rounded up to a whole MiB (Azure requires it); the unique id is uuid(label) and
 * the time stamp SOURCE_DATE_EPOCH, so the bytes are reproducible. */
#ifndef IMAGER_DISK_VHD_H
#define IMAGER_DISK_VHD_H

#include <stdint.h>

#include "imager/disk/extents.h"

#define IM_VHD_MAX_SIZE (2040ull << 30) /* 65535*16*255 sectors is ~2040 GiB (spec CHS limit) */
#define IM_VHD_FOOTER	512

enum im_vhd_type { IM_VHD_FIXED = 2, IM_VHD_DYNAMIC = 3 };

/* The virtual size for a disk of `size` bytes (whole MiB), or IM_EXIT_INVALID naming
 * `what` when it exceeds IM_VHD_MAX_SIZE. */
int im_vhd_size(uint64_t size, const char *what, uint64_t *vsize, struct im_error *err);
/* diskFormatOptions as qemu-img takes them for vpc: "subformat=fixed|dynamic" and
 * "force_size" (always in effect: the size is the disk's, whole MiB). Default fixed. */
int im_vhd_parse_options(const char *opts, enum im_vhd_type *type, struct im_error *err);
/* The 512-byte footer (spec §"Hard Disk Footer Format"). data_offset: ~0 for fixed. */
void im_vhd_footer(uint8_t out[IM_VHD_FOOTER], enum im_vhd_type type, uint64_t vsize,
		   uint64_t data_offset, const char *label, int64_t epoch);
/* Spec Appendix "CHS Calculation". */
void im_vhd_chs(uint64_t vsize, uint16_t *cyl, uint8_t *heads, uint8_t *spt);

int im_vhd_write(const struct im_extents *x, int fd, enum im_vhd_type type, const char *label,
		 int64_t epoch, struct im_sink *out, struct im_progress *pr, struct im_error *err);

#endif
