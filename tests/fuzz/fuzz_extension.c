/* System extension manifests (lib/talos/extension.c): manifest.yaml of an extension folder
 * (with an empty rootfs/), loaded and validated against a profile version as `imager
 * --system-extension-image DIR` does. */
#include "fuzz.h"

#include <sys/stat.h>

#include "imager/talos/extension.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[600], sub[700];
	snprintf(dir, sizeof(dir), "%s/ext", fz_dir());
	mkdir(dir, 0755);
	snprintf(sub, sizeof(sub), "%s/rootfs", dir);
	mkdir(sub, 0755);
	snprintf(sub, sizeof(sub), "%s/manifest.yaml", dir);
	fz_write_file(sub, data, size);
	struct im_ext *x = NULL;
	struct im_error err = {0};
	if (im_ext_load(dir, &x, &err) == 0) {
		memset(&err, 0, sizeof(err));
		im_ext_validate(x, "v1.7.0", &err);
		free(im_ext_config_yaml(&x, 1));
		im_ext_free(x);
	}
	return 0;
}
