/* Image Factory schematics (siderolabs/image-factory pkg/schematic): parsing with Image
 * Factory's field set (unknown fields refused, with their line:col), the schematic ID
 * (SHA-256 of Image Factory's canonical YAML form) and applying a schematic onto a
 * profile.
 *
 * Accepted YAML (Image Factory's names and types):
 *   overlay: {image: str, name: str, options: {any YAML}}
 *   customization:
 *     extraKernelArgs: [str]
 *     meta: [{key: 0..255 (uint8; 0xa ok), value: str}]
 *     systemExtensions: {officialExtensions: [str]}
 *     secureboot: {includeWellKnownCertificates: bool}
 *     bootloader: dual-boot | sd-boot | grub (none = not set)
 * Scalars convert as gopkg.in/yaml.v3 converts them into Go strings, uint8 and bool (a
 * plain 123 is the string "123" in a string field; yes/no/on/off are booleans). */
#ifndef IMAGER_TALOS_SCHEMATIC_H
#define IMAGER_TALOS_SCHEMATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imager/talos/profile.h"
#include "imager/util/error.h"

#define IM_SCHEMATIC_MAX (1u << 20) /* bytes of schematic text accepted */

struct im_schematic_meta {
	uint8_t key;
	char *value;
};

struct im_schematic_opt; /* an overlay option: a YAML value, kept for the ID */

struct im_schematic {
	char *origin; /* for messages */
	char *overlay_image, *overlay_name;
	struct im_schematic_opt *overlay_options; /* NULL when none */
	char **extra_kernel_args;
	size_t n_extra_kernel_args;
	struct im_schematic_meta *meta;
	size_t n_meta;
	char **official_extensions;
	size_t n_official_extensions;
	bool include_well_known_certificates;
	enum im_prof_bootloader bootloader; /* IM_PROF_BOOT_UNSET = not set */
};

/* Parse `text`; `origin` prefixes messages ("FILE:LINE:COL: ..."). An unknown field, a
 * wrong type or an empty document is IM_EXIT_INVALID. */
int im_schematic_parse(const char *text, size_t len, const char *origin, struct im_schematic **out,
		       struct im_error *err);
/* Read and parse a file; "-" reads stdin (origin "<stdin>"). */
int im_schematic_load(const char *path, struct im_schematic **out, struct im_error *err);
void im_schematic_free(struct im_schematic *s);

/* The canonical form Image Factory hashes (malloc'd, NUL-terminated), and its ID. */
int im_schematic_marshal(const struct im_schematic *s, char **text, size_t *len,
			 struct im_error *err);
int im_schematic_id(const struct im_schematic *s, char hex[65], struct im_error *err);

/* Lay the schematic onto a profile, as Image Factory does for its builds: kernel
 * arguments and META appended, the bootloader set for the image and ISO kinds, the
 * overlay's name and (scalar) options set. Refused with IM_EXIT_UNSUPPORTED:
 * officialExtensions (no extension registry here), includeWellKnownCertificates: true
 * (no well-known certificates here), overlay options that are not scalars. */
int im_schematic_apply(const struct im_schematic *s, struct im_profile *p, struct im_error *err);

#endif
