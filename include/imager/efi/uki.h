/* Unified kernel images (systemd "Unified Kernel Image", UAPI.5): systemd-stub with the
 * sections .osrel .cmdline .uname .linux .initrd appended (pe.h does the PE work). One
 * assembly for every user: the imager's uki/iso/image outputs (which may then add
 * .pcrpkey/.pcrsig and sign) and the installer's slot UKIs. */
#ifndef IMAGER_LIB_UKI_H
#define IMAGER_LIB_UKI_H

#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"
#include "imager/efi/pe.h"

struct im_uki {
	struct im_pe pe; /* the stub plus the appended sections; their bytes live below */
	uint8_t *stub, *kernel;
	size_t stub_len, kernel_len, initrd_len;
	int initrd_fd, initrd_open;    /* the .initrd section is read from this file */
	char *osrel, *cmdline, *uname; /* uname NULL when the kernel does not say it */
};

/* os-release(5) text for .osrel (and a BOOT slot): NAME, ID, VERSION_ID, PRETTY_NAME —
 * what systemd-boot shows and sorts by. malloc'd; NULL when out of memory. */
char *im_uki_osrel(const char *name, const char *version);

/* Read the stub, kernel and initramfs, check the stub is built for `arch` ("amd64" or
 * "arm64"), append the sections and set TimeDateStamp = epoch. `u` can always be given to
 * im_uki_free afterwards, also on failure. Then im_pe_build(&u->pe, ...) writes it, or the
 * caller adds sections first. */
int im_uki_assemble(struct im_uki *u, const char *arch, const char *stub, const char *kernel,
		    const char *initrd, const char *cmdline, const char *name, const char *version,
		    int64_t epoch, struct im_error *err);
void im_uki_free(struct im_uki *u);

#endif
