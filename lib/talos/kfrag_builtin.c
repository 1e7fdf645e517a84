/* The fragments of kernel-config/ compiled into the library, like the built-in profiles
 * (lib/profile_builtin.c): .incbin copies each file into .rodata followed by a NUL, so
 * the installed imager checks kernels without the source tree. The Makefile lists the
 * fragments as prerequisites of this object. */
#include "imager/talos/kfrags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imager/util/incbin.h"

#define FRAGMENT(sym, file) IM_INCBIN(sym, ".rodata.im_kfrags", "/kernel-config/" file)

FRAGMENT(im_kfrag_amd64, "amd64.config");
FRAGMENT(im_kfrag_arm64, "arm64.config");
FRAGMENT(im_kfrag_base, "base.config");
FRAGMENT(im_kfrag_hardening, "hardening.config");
FRAGMENT(im_kfrag_secureboot, "secureboot.config");

const struct im_kfrag_source im_kfrag_builtins[] = {
    {"amd64.config", im_kfrag_amd64},
    {"arm64.config", im_kfrag_arm64},
    {"base.config", im_kfrag_base},
    {"hardening.config", im_kfrag_hardening},
    {"secureboot.config", im_kfrag_secureboot},
};
const size_t im_kfrag_n_builtins = sizeof(im_kfrag_builtins) / sizeof(im_kfrag_builtins[0]);

static const char *builtin_text(const char *name)
{
	for (size_t i = 0; i < im_kfrag_n_builtins; i++)
		if (!strcmp(im_kfrag_builtins[i].name, name))
			return im_kfrag_builtins[i].text;
	return NULL;
}

void im_kfrags_free(struct im_kfrag *frags, size_t n)
{
	for (size_t i = 0; frags && i < n; i++)
		im_kfrag_free(&frags[i]);
	free(frags);
}

int im_kfrags_for(const char *arch, int secureboot, struct im_kfrag **frags, size_t *n,
		  struct im_error *err)
{
	char arch_frag[32];
	snprintf(arch_frag, sizeof(arch_frag), "%s.config", arch);
	const char *names[] = {"base.config", arch_frag, "hardening.config",
			       secureboot ? "secureboot.config" : NULL};
	*frags = calloc(4, sizeof(**frags));
	*n = 0;
	if (!*frags)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < 4 && names[i]; i++) {
		const char *text = builtin_text(names[i]);
		if (!text) {
			im_kfrags_free(*frags, *n);
			*frags = NULL;
			*n = 0;
			return im_fail(err, IM_EXIT_INVALID,
				       "arch %s: no kernel-config fragment %s (expected amd64 or "
				       "arm64)",
				       arch, names[i]);
		}
		if (im_kfrag_parse(text, strlen(text), names[i], &(*frags)[*n], err) < 0) {
			im_kfrags_free(*frags, *n);
			*frags = NULL;
			*n = 0;
			return -1;
		}
		(*n)++;
	}
	return 0;
}
