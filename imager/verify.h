/* imager verify (verify_cmd.c) and where two builds differ, in the artifact's own terms
 * (verify_locate.c). */
#ifndef IMAGER_CLI_VERIFY_H
#define IMAGER_CLI_VERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "imager/util/error.h"

#define IMAGER_EXIT_NOT_REPRODUCED 8 /* DESIGN.md §3 */

/* Compare `artifact` with `rebuilt` byte for byte. Identical: 0. Otherwise one line per
 * differing place on `report` ("  BOOT-A:/initramfs.xz differs (first at byte 1234)": a
 * partition and the file inside its FAT, a file of an ISO9660 tree or of the ISO's EFI
 * image, a PE section, a tar member; a bare byte range only outside any of them) and the
 * number of places (> 0). -1 on an I/O error. The structure is read from the rebuilt
 * file (the artifact may be damaged anywhere). */
int im_verify_compare(const char *artifact, const char *rebuilt, FILE *report,
		      struct im_error *err);

/* The file starts with a gzip, zstd or xz header. */
int im_verify_compressed_file(const char *path);

struct imager_json;
struct im_keyless;

/* Keyless verification (keyless.c): gather the artifact's signatures and find the recorded
 * certificate (in `keys`, may be NULL, else in the artifact; written as PEM into `tmp`)
 * and PCR public key; the plan then signs from the pool. Errors: IMAGER_EXIT_NOT_REPRODUCED
 * (no such certificate or key in the artifact), IM_EXIT_INVALID (record without them). */
int im_keyless_prepare(const char *artifact, const struct imager_json *doc, const char *keys,
		       const char *tmp, struct im_keyless *kl, struct im_error *err);

/* After the comparison (`differences` places): prints how many signatures were checked, or
 * how many did not verify (then > 0 is returned even with no differing byte). */
int im_keyless_report(const char *artifact, const struct im_keyless *kl, int differences);
void im_keyless_free(struct im_keyless *kl);

#endif
