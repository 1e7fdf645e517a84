/* Secure Boot UKIs: .pcrpkey/.pcrsig (systemd-measure's signed PCR 11 policy) and the
 * Authenticode signature. */
#include "uki.h"

int im_uki_sign(const struct im_plan *pl, struct im_pe *pe, uint8_t **out, size_t *out_len,
		struct im_error *err)
{
	(void)pl;
	(void)pe;
	(void)out;
	(void)out_len;
	return im_fail(err, IM_EXIT_UNSUPPORTED, "signed UKIs: not supported yet");
}
