/* Image Factory schematics (lib/talos/schematic*.c + lib/util/yaml.c): the YAML a user
 * hands to `imager schematic id` or `--schematic`, its canonical form and ID, and its
 * application onto the metal profile. */
#include "fuzz.h"

#include "imager/talos/profile.h"
#include "imager/talos/schematic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_strndup(data, size);
	struct im_schematic *s = NULL;
	struct im_error err = {0};
	if (im_schematic_parse(text, size, "fuzz", &s, &err) == 0) {
		char hex[65];
		memset(&err, 0, sizeof(err));
		im_schematic_id(s, hex, &err);
		struct im_profile *p = NULL;
		memset(&err, 0, sizeof(err));
		if (im_profile_load_builtin("metal", &p, &err) == 0) {
			memset(&err, 0, sizeof(err));
			im_schematic_apply(s, p, &err);
			im_profile_free(p);
		}
		im_schematic_free(s);
	}
	free(text);
	return 0;
}
