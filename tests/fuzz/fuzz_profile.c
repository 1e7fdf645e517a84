/* Profiles (lib/talos/profile*.c + lib/util/yaml.c): the YAML a user hands to `imager
 * PROFILE` (Talos imager schema, baseProfileName to the built-ins), finalized and dumped
 * as `imager profiles --dump` / the build record do. */
#include "fuzz.h"

#include "imager/talos/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_strndup(data, size);
	struct im_profile *p = NULL;
	struct im_error err = {0};
	if (im_profile_load_string(text, "fuzz", &p, &err) == 0) {
		memset(&err, 0, sizeof(err));
		if (im_profile_finalize(p, &err) == 0) {
			FILE *f = fopen("/dev/null", "w");
			if (!f)
				abort();
			im_profile_dump(p, f);
			fclose(f);
		}
		im_profile_free(p);
	}
	free(text);
	return 0;
}
