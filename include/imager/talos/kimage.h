/* The configuration a kernel image carries (CONFIG_IKCONFIG): kernel/configs.c puts the
 * gzip'd .config between the markers "IKCFG_ST" and "IKCFG_ED" in the kernel's data
 * (scripts/extract-ikconfig finds it the same way). The image around it is usually
 * compressed: an x86 bzImage (boot protocol, Documentation/arch/x86/boot.rst: the
 * payload at payload_offset), an EFI zboot image (drivers/firmware/efi/libstub/
 * zboot-header.S: "zimg", payload offset and size), or a whole compressed file
 * (arm64 Image.gz). Decompression is in-process: zlib, libzstd, liblzma. */
#ifndef IMAGER_TALOS_KIMAGE_H
#define IMAGER_TALOS_KIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "imager/talos/kconfig.h"
#include "imager/util/error.h"

enum im_kimage_result {
	IM_KIMAGE_NOT_KERNEL = 0, /* not a kernel image this code knows */
	IM_KIMAGE_NO_CONFIG = 1,  /* a kernel image without an embedded configuration */
	IM_KIMAGE_CONFIG = 2,	  /* *text holds the embedded .config */
};

/* Look into `buf` (a whole file, `what` names it in errors). *format is set to a static
 * description ("bzImage, xz", "EFI zboot, gzip", "zstd", "arm64 Image", ...) for kernels.
 * With IM_KIMAGE_CONFIG, *text is the .config (malloc'd, NUL-terminated, *tlen bytes).
 * Returns the result, or -1 (a damaged image or stream: IM_EXIT_INVALID; a compression
 * this code cannot undo: IM_EXIT_UNSUPPORTED). */
int im_kimage_config(const uint8_t *buf, size_t len, const char *what, char **text, size_t *tlen,
		     const char **format, struct im_error *err);

/* Read `path` as a kernel configuration: .config text, a gzip'd .config
 * (/proc/config.gz), or a kernel image with one embedded. *source describes where it
 * came from (static: ".config", "gzip'd .config", "kernel image (bzImage, xz)").
 * Returns 0 with *kc filled, 1 for a kernel image without an embedded configuration
 * (no error set; *source names the image format), -1 on error. */
int im_kconfig_load(const char *path, struct im_kconfig *kc, const char **source,
		    struct im_error *err);

#endif
