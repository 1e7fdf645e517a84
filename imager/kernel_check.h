/* The kernel configuration check shared by the kernel-check verb and the builds. */
#ifndef IMAGER_KERNEL_CHECK_H
#define IMAGER_KERNEL_CHECK_H

#include "imager/talos/kconfig.h"

/* Where the configuration came from. */
struct kc_source {
	char *path;	    /* file read (malloc'd) */
	const char *format; /* ".config", "gzip'd .config", "bzImage, xz", ... */
	int from_kernel;    /* read out of a kernel image */
};

/* Read `path` (a .config, config.gz or kernel image) into *kc; src->path is set.
 * 0: read; 1: a kernel image without an embedded configuration; -1: error. */
int imager_kc_load(const char *path, struct im_kconfig *kc, struct kc_source *src,
		   struct im_error *err);

/* The error for a kernel without an embedded configuration: IM_EXIT_MISSING, one line
 * naming --config FILE. Returns -1. */
int imager_kc_no_config(const char *path, const char *format, struct im_error *err);

/* The arch a .config was made for ("amd64" for CONFIG_X86_64=y, "arm64" for
 * CONFIG_ARM64=y), NULL when it says neither. */
const char *imager_kc_arch(const struct im_kconfig *kc);

/* A configuration for another arch than `arch`: IM_EXIT_INVALID naming both (-1). */
int imager_kc_check_arch(const struct im_kconfig *kc, const struct kc_source *src, const char *arch,
			 const char *flag, struct im_error *err);

#endif
