/* A disk image leaves through one of the writers: the raw disk (built by the install
 * code into a sparse file) is listed as extents once and streamed by the writer of its
 * format into the output, through the compressor of its outFormat (extents.h). */
#ifndef IMAGER_DISK_DISKOUT_H
#define IMAGER_DISK_DISKOUT_H

#include <stdbool.h>

#include "imager/disk/extents.h"

enum im_disk_format {
	IM_DISK_RAW,
	IM_DISK_QCOW2,
	IM_DISK_VHD,	     /* fixed */
	IM_DISK_VHD_DYNAMIC, /* same name .vhd */
	IM_DISK_OVA,
	IM_DISK_GCP_TAR, /* a tar holding disk.raw: .raw.tar(.gz) */
};

struct im_disk_output {
	enum im_disk_format format;
	enum im_compress compress;
	unsigned qcow2_cluster_bits; /* 0: 64 KiB */
	const char *base;	     /* output name without extensions: "vmware-amd64" */
	const char *arch;	     /* "amd64" | "arm64" (the OVF's firmware) */
	int64_t epoch;		     /* SOURCE_DATE_EPOCH: VHD time stamp, tar mtimes */
	const char *tmp_dir;	     /* staging (the OVA's vmdk): the output folder */
	bool quiet;		     /* no progress line */
};

/* ".raw", ".qcow2", ".vhd", ".ova", ".raw.tar" (the compressor's suffix follows). */
const char *im_disk_format_ext(enum im_disk_format f);

/* Check what can be checked before the disk is built: the VHD size limit. */
int im_disk_output_check(const struct im_disk_output *o, uint64_t disk_size, const char *what,
			 struct im_error *err);

/* Write the disk in raw_fd (sparse) to out_fd, from its current offset; `name` (the
 * output's) labels the progress line and errors. The caller opens out_fd as an outfile
 * (util/outfile.h) and commits or aborts it. */
int im_disk_output_write(const struct im_disk_output *o, int raw_fd, int out_fd, const char *name,
			 struct im_error *err);

#endif
