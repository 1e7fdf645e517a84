/* Board overlays' overlay.yaml (lib/talos/overlay.c, overlay_assets.c): loaded from a
 * folder as `imager --overlay-image DIR` does, checked for both arches, its options and
 * templates rendered, its assets resolved against an empty inputs folder. */
#include "fuzz.h"

#include <sys/stat.h>

#include "imager/talos/overlay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[600], yaml[700], inputs[700];
	snprintf(dir, sizeof(dir), "%s/overlay", fz_dir());
	snprintf(yaml, sizeof(yaml), "%s/overlay.yaml", dir);
	snprintf(inputs, sizeof(inputs), "%s/inputs", fz_dir());
	mkdir(dir, 0755);
	mkdir(inputs, 0755);
	fz_write_file(yaml, data, size);
	struct im_overlay *o = NULL;
	struct im_error err = {0};
	if (im_overlay_load(dir, NULL, &o, &err) == 0) {
		for (size_t i = 0; i < o->n_opts; i++) {
			memset(&err, 0, sizeof(err));
			free(im_overlay_option(o, o->opts[i].name, &err));
		}
		memset(&err, 0, sizeof(err));
		free(im_overlay_render(o, "a {{configTxt}} b {{x", "fuzz", &err));
		memset(&err, 0, sizeof(err));
		im_overlay_check(o, "arm64", &err);
		memset(&err, 0, sizeof(err));
		struct im_overlay_assets a = {0};
		if (im_overlay_resolve(o, inputs, &a, &err) == 0) {
			struct im_install_board b;
			im_overlay_board(o, &a, &b);
		}
		im_overlay_assets_free(&a);
		im_overlay_free(o);
	}
	return 0;
}
