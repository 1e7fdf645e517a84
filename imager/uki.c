/* UKIs for a plan (DESIGN §7 UKI): lib/uki.c assembles systemd-stub + .osrel .cmdline
 * .uname .linux .initrd; for Secure Boot, uki_sign.c adds .pcrpkey/.pcrsig and signs.
 * Shared by the `uki` output and by the ISO/disk outputs that carry UKIs. */
#include "uki.h"

#include <stdlib.h>
#include <string.h>

#include "imager/util/epoch.h"
#include "imager/efi/uki.h"

int im_uki_build(const struct im_plan *pl, uint8_t **out, size_t *out_len, struct im_error *err)
{
	char *stub = NULL;
	struct im_uki u = {0};
	int64_t epoch;
	int rc = -1;
	*out = NULL;
	if (im_plan_input(pl, pl->p->input.sd_stub.path, "systemd-stub.efi", "systemd-stub", &stub,
			  err) < 0 ||
	    im_source_date_epoch(&epoch, err) < 0 ||
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
