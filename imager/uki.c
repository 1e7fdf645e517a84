/* UKIs for a plan (DESIGN §7 UKI): lib/uki.c assembles systemd-stub + .osrel .cmdline
 * .uname .linux .initrd; for Secure Boot, uki_sign.c adds .pcrpkey/.pcrsig and signs.
 * Shared by the `uki` output and by the ISO/disk outputs that carry UKIs. */
#include "uki.h"

#include <stdlib.h>
#include <string.h>

#include "imager/epoch.h"
#include "imager/uki.h"

int im_uki_build(const struct im_plan *pl, uint8_t **out, size_t *out_len, struct im_error *err)
{
	const char *given = pl->p->input.sd_stub.path;
	char *stub = NULL;
	struct im_uki u = {0};
	int64_t epoch;
	int rc = -1;
	*out = NULL;
	if (given ? !(stub = strdup(given)) : asprintf(&stub, "%s/systemd-stub.efi", pl->inputs) < 0) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	if (im_source_date_epoch(&epoch, err) < 0 ||
	    im_uki_assemble(&u, pl->arch, stub, pl->kernel, pl->initramfs, pl->cmdline, pl->p->name,
			    pl->p->version, epoch, err) < 0)
		goto out;
	rc = pl->p->secureboot ? im_uki_sign(pl, &u.pe, out, out_len, err)
			       : im_pe_build(&u.pe, out, out_len, err);
out:
	im_uki_free(&u);
	free(stub);
	return rc;
}
