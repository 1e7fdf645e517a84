/* Kernel command line (DESIGN.md §4): an ordered multimap key -> [values].
 *
 * Keys keep the order of their first appearance; the values of a key keep their order.
 * A bare word ("slab_nomerge") is a key with one value-less entry; "key=" is a key with an
 * empty value and renders as "key=". An argument is split at its first '=', so
 * "talos.environment=A=B" is key "talos.environment" with value "A=B".
 * Rendering: for each key in order, each value as "key=value" (or bare "key"),
 * separated by single spaces. */
#ifndef IMAGER_CMDLINE_H
#define IMAGER_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "imager/util/error.h"

struct im_cmdline;

struct im_cmdline *im_cmdline_new(void);
void im_cmdline_free(struct im_cmdline *cl);

/* Append every whitespace-separated argument of `args` ("k=v", "k" or several of them):
 * the value goes after the key's existing values, a new key goes last. Arguments with
 * control characters, an empty key or a leading '-' are refused (IM_EXIT_INVALID). */
int im_cmdline_append(struct im_cmdline *cl, const char *args, struct im_error *err);

/* Apply one user argument (--extra-kernel-arg; may hold several, whitespace-separated),
 * Talos rules:
 *   console=..., talos.platform=...  the first user value replaces all values set
 *                                    before the user arguments (the key keeps its
 *                                    position); further user values append;
 *   -key                             drops every value of key (no-op if absent);
 *   -key=value                       drops that value of key (every equal entry);
 *   anything else                    appends.
 * A key left without values disappears. */
int im_cmdline_apply_user(struct im_cmdline *cl, const char *arg, struct im_error *err);

/* Remove every value of `key`; returns true when something was removed. */
bool im_cmdline_remove(struct im_cmdline *cl, const char *key);

/* Number of values of `key` (0 when absent), and the idx-th value: NULL when absent or
 * out of range, "" for a bare key (use im_cmdline_count to tell absent from bare). */
size_t im_cmdline_count(const struct im_cmdline *cl, const char *key);
const char *im_cmdline_get(const struct im_cmdline *cl, const char *key, size_t idx);

/* The rendered line (malloc'd, caller frees); "" for an empty line; NULL only on OOM. */
char *im_cmdline_render(const struct im_cmdline *cl);

struct im_cmdline_params {
	const char *platform;		 /* required: one of im_cmdline_platforms() */
	const char *arch;		 /* "amd64" (also when NULL) or "arm64" */
	const char *const *overlay_args; /* from the overlay (§6), appended */
	size_t n_overlay_args;
	bool secureboot;	      /* adds lockdown=confidentiality */
	const char *meta_base64;      /* INSTALLER_META_BASE64 value; NULL or "" = none */
	const char *const *user_args; /* --extra-kernel-arg, applied in order */
	size_t n_user_args;
};

/* The whole build (DESIGN §4): talos.platform=<p>, platform args, overlay args,
 * hardening defaults (init_on_alloc=1 init_on_free=1 slab_nomerge pti=on
 * consoleblank=0 printk.devkmsg=on), lockdown=confidentiality when secureboot,
 * talos.environment=INSTALLER_META_BASE64=<v> when given, then the user arguments.
 * Unknown platform or arch => IM_EXIT_INVALID naming it and listing the valid ones.
 * Returns NULL on error. */
struct im_cmdline *im_cmdline_build(const struct im_cmdline_params *p, struct im_error *err);

/* Platform names, NULL-terminated, in the order of the DESIGN §4 table. */
const char *const *im_cmdline_platforms(void);
bool im_cmdline_platform_valid(const char *platform);
/* The platform's own arguments for an arch ("amd64"/"arm64"), without talos.platform;
 * NULL for an unknown platform or arch. */
const char *im_cmdline_platform_args(const char *platform, const char *arch);

#endif
