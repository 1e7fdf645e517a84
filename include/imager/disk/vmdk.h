/* VMDK stream-optimized writer (VMware "Virtual Disk Format 1.1", §"Stream-Optimized
 * Compressed Sparse Extents"): one file, the sparse extent header with its embedded
 * descriptor, then each non-zero 64 KiB grain deflated behind a grain marker, a grain table
 * after the grains it maps, the grain directory, the footer (a copy of the header that
 * points at the directory) and the end-of-stream marker. Strictly sequential, as the
 * format is meant for. */
#ifndef IMAGER_DISK_VMDK_H
#define IMAGER_DISK_VMDK_H

#include "imager/disk/extents.h"

#define IM_VMDK_GRAIN (64u << 10)

struct im_vmdk_info {
	uint64_t populated; /* bytes of the guest held in grains (OVF populatedSize) */
};

/* `name` is the extent file name the descriptor names ("vmware-amd64.vmdk"); the CID is
 * derived from it. */
int im_vmdk_write(const struct im_extents *x, int fd, const char *name, struct im_sink *out,
		  struct im_vmdk_info *info, struct im_progress *pr, struct im_error *err);

#endif
