/* UKI assembly shared by the uki, iso and image outputs. */
#ifndef IMAGER_UKI_H
#define IMAGER_UKI_H

#include <stddef.h>
#include <stdint.h>

#include "imager/pe.h"
#include "plan.h"

/* Build the UKI for the plan into a malloc'd buffer (signed when the profile is
 * secureboot). */
int im_uki_build(const struct im_plan *pl, uint8_t **out, size_t *out_len, struct im_error *err);

/* Add .pcrpkey/.pcrsig to an assembled UKI and Authenticode-sign it (uki_sign.c). */
int im_uki_sign(const struct im_plan *pl, struct im_pe *pe, uint8_t **out, size_t *out_len,
		struct im_error *err);

#endif
