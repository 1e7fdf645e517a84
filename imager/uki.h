/* UKI assembly shared by the uki, iso and image outputs. */
#ifndef IMAGER_CLI_UKI_H
#define IMAGER_CLI_UKI_H

#include <stddef.h>
#include <stdint.h>

#include "imager/efi/pe.h"
#include "plan.h"

/* Build the UKI for the plan into a malloc'd buffer (signed when the profile is
 * secureboot). */
int im_uki_build(const struct im_plan *pl, uint8_t **out, size_t *out_len, struct im_error *err);

/* Add .pcrpkey/.pcrsig to an assembled UKI and Authenticode-sign it (uki_sign.c). */
int im_uki_sign(const struct im_plan *pl, struct im_pe *pe, uint8_t **out, size_t *out_len,
		struct im_error *err);

/* Authenticode-sign an EFI binary (e.g. systemd-boot) with the plan's UKI key. */
int im_sign_efi_file(const struct im_plan *pl, const char *path, const char *what, uint8_t **out,
		     size_t *out_len, struct im_error *err);

#endif
