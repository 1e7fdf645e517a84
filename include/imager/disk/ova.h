/* OVA (DMTF OVF 1.x, DSP0243 §5 "OVF package"): a ustar archive whose first member is the
 * OVF descriptor `<base>.ovf`, then the stream-optimized disk `<base>.vmdk`, then the
 * manifest `<base>.mf` with one "SHA256(file)= hex" line per member. The virtual system
 * is what Talos's vmware-<arch>.ova declares: a 64-bit "other Linux" guest, 2 vCPUs,
 * 2 GiB of memory, a paravirtual SCSI disk and a vmxnet3 NIC, disk.EnableUUID on. */
#ifndef IMAGER_DISK_OVA_H
#define IMAGER_DISK_OVA_H

#include "imager/disk/extents.h"

/* The OVF descriptor for a disk of `capacity` bytes, `populated` of them in the vmdk of
 * `vmdk_size` bytes; malloc'd NUL-terminated text or NULL (out of memory). */
char *im_ova_descriptor(const char *base, const char *arch, uint64_t capacity, uint64_t populated,
			uint64_t vmdk_size);

/* The OVA of the disk (fd, extents x) into out; the .vmdk is staged in an unnamed file
 * in `tmp_dir` (it is the middle member, and the .ovf before it names its size). */
int im_ova_write(const struct im_extents *x, int fd, const char *base, const char *arch,
		 int64_t mtime, const char *tmp_dir, struct im_sink *out, struct im_progress *pr,
		 struct im_error *err);

#endif
