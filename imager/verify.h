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

#endif
