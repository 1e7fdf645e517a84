/* Disk output (include/imager/disk/diskout.h): list the extents, open the compressor, run
 * the format's writer with a progress line. */
#include "imager/disk/diskout.h"

#include <stdio.h>
#include <string.h>

#include "imager/disk/disktar.h"
#include "imager/disk/ova.h"
#include "imager/disk/qcow2.h"
#include "imager/disk/vhd.h"
#include "imager/disk/vmdk.h"

const char *im_disk_format_ext(enum im_disk_format f)
{
	switch (f) {
	case IM_DISK_QCOW2:
		return ".qcow2";
	case IM_DISK_VHD:
	case IM_DISK_VHD_DYNAMIC:
		return ".vhd";
	case IM_DISK_OVA:
		return ".ova";
	case IM_DISK_GCP_TAR:
		return ".raw.tar";
	default:
		return ".raw";
	}
}

int im_disk_output_check(const struct im_disk_output *o, uint64_t disk_size, const char *what,
			 struct im_error *err)
{
	uint64_t v;
	if (o->format == IM_DISK_VHD || o->format == IM_DISK_VHD_DYNAMIC)
		return im_vhd_size(disk_size, what, &v, err);
	return 0;
}

static int run(const struct im_disk_output *o, const struct im_extents *x, int fd,
	       struct im_sink *s, struct im_progress *pr, struct im_error *err)
{
	char label[200]; /* the VHD's unique id: uuid("azure-amd64.vhd") */
	snprintf(label, sizeof(label), "%s%s", o->base, im_disk_format_ext(o->format));
	switch (o->format) {
	case IM_DISK_QCOW2:
		return im_qcow2_write(x, fd, o->qcow2_cluster_bits, s, pr, err);
	case IM_DISK_VHD:
	case IM_DISK_VHD_DYNAMIC:
		return im_vhd_write(x, fd, o->format == IM_DISK_VHD ? IM_VHD_FIXED : IM_VHD_DYNAMIC,
				    label, o->epoch, s, pr, err);
	case IM_DISK_OVA:
		return im_ova_write(x, fd, o->base, o->arch, o->epoch, o->tmp_dir, s, pr, err);
	case IM_DISK_GCP_TAR:
		if (im_tar_sparse_disk(s, "disk.raw", x, fd, o->epoch, pr, err) < 0)
			return -1;
		return im_tar_end(s, err);
	default:
		return im_extents_copy(x, fd, 0, x->size, s, pr, err);
	}
}

/* What the progress line counts: every byte of the disk for the formats that carry holes
 * as zeros (raw, fixed VHD), the data for the others. */
static uint64_t progress_total(const struct im_disk_output *o, const struct im_extents *x)
{
	return o->format == IM_DISK_RAW || o->format == IM_DISK_VHD ? x->size : x->data;
}

int im_disk_output_write(const struct im_disk_output *o, int raw_fd, int out_fd, const char *name,
			 struct im_error *err)
{
	struct im_extents x;
	struct im_cstream *cs = NULL;
	struct im_progress pr;
	struct im_sink s;
	char label[200];
	if (im_extents_scan(raw_fd, "disk image", &x, err) < 0)
		return -1;
	int rc = 0;
	if (o->compress == IM_COMPRESS_NONE)
		im_sink_fd(&s, out_fd);
	else if ((rc = im_cstream_open_image(&cs, o->compress, out_fd, err)) == 0)
		im_sink_cstream(&s, cs);
	snprintf(label, sizeof(label), "%s %s", o->compress ? "compressing" : "writing", name);
	im_progress_start(&pr, label, progress_total(o, &x), o->quiet);
	if (rc == 0)
		rc = run(o, &x, raw_fd, &s, &pr, err);
	im_progress_end(&pr);
	if (cs && rc == 0)
		rc = im_cstream_finish(cs, err);
	else if (cs)
		im_cstream_free(cs);
	else if (rc == 0)
		rc = im_sink_fd_finish(&s, name, err);
	im_extents_free(&x);
	return rc;
}
