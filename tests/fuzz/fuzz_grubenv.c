/* GRUB environment blocks (lib/install/grubenv.c): the installer parses the ESP's grubenv
 * and edits it in place on upgrade / commit / rollback. */
#include "fuzz.h"

#include "imager/install/grubenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct im_grubenv env;
	struct im_error err = {0};
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	if (im_grubenv_parse(&env, buf, size, &err) == 0) {
		im_grubenv_get(&env, IM_GRUBENV_SAVED_ENTRY);
		memset(&err, 0, sizeof(err));
		im_grubenv_set(&env, IM_GRUBENV_NEXT_ENTRY, "B", &err);
		im_grubenv_unset(&env, IM_GRUBENV_SAVED_ENTRY);
		memset(&err, 0, sizeof(err));
		im_grubenv_render(&env, buf, size, &err);
	}
	im_grubenv_free(&env);
	/* what the A/B code does: edit the block as it is on disk */
	memcpy(buf, data, size);
	memset(&err, 0, sizeof(err));
	im_grubenv_edit_block(buf, size, IM_GRUBENV_SAVED_ENTRY, "A", &err);
	memset(&err, 0, sizeof(err));
	im_grubenv_edit_block(buf, size, IM_GRUBENV_NEXT_ENTRY, NULL, &err);
	free(buf);
	return 0;
}
