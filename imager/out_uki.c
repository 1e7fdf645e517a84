/* Output kind `uki`: <platform>-<arch>[-secureboot]-uki.efi (Talos names). */
#include <stdio.h>
#include <stdlib.h>

#include "imager/util/outfile.h"
#include "uki.h"

int im_out_uki(struct im_plan *pl, struct im_error *err)
{
	char name[128];
	snprintf(name, sizeof(name), "%s-%s%s-uki.efi", pl->p->platform, pl->arch,
		 pl->p->secureboot ? "-secureboot" : "");
	char *dst = im_plan_output_path(pl, name);
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = dst ? im_uki_build(pl, &buf, &len, err)
		     : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (rc == 0)
		rc = im_output_buffer(dst, buf, len, err);
	if (rc == 0)
		im_plan_wrote(pl, dst);
	free(buf);
	free(dst);
	return rc;
}
