/* Output kinds `cmdline`, `kernel` and `initramfs` (Talos names: cmdline-<platform>-<arch>,
 * kernel-<arch>, initramfs-<arch>.xz). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imager/util/outfile.h"
#include "plan.h"

static int write_named(struct im_plan *pl, const char *name, const char *src, const char *buf,
		       struct im_error *err)
{
	char *dst = im_plan_output_path(pl, name);
	if (!dst)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int rc = src ? im_output_copy(src, dst, err) : im_output_buffer(dst, buf, strlen(buf), err);
	if (rc == 0)
		im_plan_wrote(pl, dst);
	free(dst);
	return rc;
}

int im_out_cmdline(struct im_plan *pl, struct im_error *err)
{
	char name[256];
	snprintf(name, sizeof(name), "cmdline-%s-%s", pl->p->platform, pl->arch);
	return write_named(pl, name, NULL, pl->cmdline, err);
}

int im_out_kernel(struct im_plan *pl, struct im_error *err)
{
	char name[64];
	snprintf(name, sizeof(name), "kernel-%s", pl->arch);
	return write_named(pl, name, pl->kernel, NULL, err);
}

int im_out_initramfs(struct im_plan *pl, struct im_error *err)
{
	char name[64];
	snprintf(name, sizeof(name), "initramfs-%s.xz", pl->arch);
	return write_named(pl, name, pl->initramfs, NULL, err);
}
