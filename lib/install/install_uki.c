/* Reading slot UKIs back (see include/imager/install.h): their .osrel and .cmdline tell
 * the installer which OS and command line a slot holds. Assembly is lib/uki.c. */
#include "imager/install/install.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imager/efi/pe.h"

/* A section's bytes as a string (VirtualSize bytes, at most the raw data). */
char *im_install_osrel_get(const char *osrel, const char *key)
{
	size_t kl = strlen(key);
	for (const char *l = osrel; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, kl) || l[kl] != '=')
			continue;
		const char *v = l + kl + 1;
		size_t n = strcspn(v, "\n");
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0])
			return strndup(v + 1, n - 2);
		return strndup(v, n);
	}
	return NULL;
}

int im_install_uki_info(const uint8_t *buf, size_t len, const char *what, char **name,
			char **version, char **cmdline, struct im_error *err)
{
	struct im_pe pe = {0};
	*name = *version = *cmdline = NULL;
	if (im_pe_parse(buf, len, what, &pe, err) < 0) {
		im_pe_free(&pe);
		return -1;
	}
	char *osrel = im_pe_section_text(&pe, ".osrel");
	if (osrel) {
		*name = im_install_osrel_get(osrel, "NAME");
		*version = im_install_osrel_get(osrel, "VERSION_ID");
	}
	*cmdline = im_pe_section_text(&pe, ".cmdline");
	free(osrel);
	im_pe_free(&pe);
	return 0;
}
