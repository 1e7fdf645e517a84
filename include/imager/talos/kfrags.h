/* The fragments of kernel-config/, compiled into the library (lib/talos/kfrag_builtin.c),
 * and the set an output needs. */
#ifndef IMAGER_TALOS_KFRAGS_H
#define IMAGER_TALOS_KFRAGS_H

#include <stddef.h>

#include "imager/talos/kconfig.h"

struct im_kfrag_source {
	const char *name; /* "base.config" */
	const char *text; /* NUL-terminated */
};
extern const struct im_kfrag_source im_kfrag_builtins[];
extern const size_t im_kfrag_n_builtins;

/* Parse the fragments a kernel for `arch` ("amd64" | "arm64") is checked against, in
 * report order: base.config, <arch>.config, hardening.config, and secureboot.config
 * when `secureboot`. *frags is malloc'd (im_kfrags_free). */
int im_kfrags_for(const char *arch, int secureboot, struct im_kfrag **frags, size_t *n,
		  struct im_error *err);
void im_kfrags_free(struct im_kfrag *frags, size_t n);

#endif
