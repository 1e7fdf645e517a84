/* Unified kernel image assembly (see include/imager/uki.h). */
#include "imager/efi/uki.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imager/util/readfile.h"

char *im_uki_osrel(const char *name, const char *version)
{
	char id[64];
	size_t i = 0;
	for (const char *s = name; *s && i < sizeof(id) - 1; s++)
		id[i++] = isalnum((unsigned char)*s) ? (char)tolower((unsigned char)*s) : '-';
	id[i] = 0;
	char *o;
	if (asprintf(&o, "NAME=\"%s\"\nID=%s\nVERSION_ID=%s\nPRETTY_NAME=\"%s (%s)\"\n", name, id,
		     version, name, version) < 0)
		return NULL;
	return o;
}

/* Section order as ukify writes them; .uname is optional (UAPI.5). */
static int add_sections(struct im_uki *u, struct im_error *err)
{
	struct im_pe *pe = &u->pe;
	if (im_pe_add_section(pe, ".osrel", u->osrel, strlen(u->osrel), IM_SCN_DATA_RO, err) < 0 ||
	    im_pe_add_section(pe, ".cmdline", u->cmdline, strlen(u->cmdline), IM_SCN_DATA_RO, err) <
		0)
		return -1;
	if (u->uname &&
	    im_pe_add_section(pe, ".uname", u->uname, strlen(u->uname), IM_SCN_DATA_RO, err) < 0)
		return -1;
	if (im_pe_add_section(pe, ".linux", u->kernel, u->kernel_len, IM_SCN_DATA_RO, err) < 0 ||
	    im_pe_add_section_fd(pe, ".initrd", u->initrd_fd, 0, u->initrd_len, IM_SCN_DATA_RO,
				 err) < 0)
		return -1;
	return 0;
}

/* The initramfs is the bulk of a UKI: it is read from its file when the image is written
 * (im_pe_add_section_fd), never held in memory whole. */
static int open_initrd(struct im_uki *u, const char *path, struct im_error *err)
{
	struct stat st;
	u->initrd_fd = open(path, O_RDONLY | O_CLOEXEC);
	u->initrd_open = u->initrd_fd >= 0;
	if (u->initrd_fd < 0 || fstat(u->initrd_fd, &st) < 0)
		return im_fail_errno(err, IM_EXIT_MISSING, "%s (initramfs)", path);
	if (!S_ISREG(st.st_mode))
		return im_fail(err, IM_EXIT_INVALID, "%s (initramfs): not a regular file", path);
	u->initrd_len = (size_t)st.st_size;
	return 0;
}

int im_uki_assemble(struct im_uki *u, const char *arch, const char *stub, const char *kernel,
		    const char *initrd, const char *cmdline, const char *name, const char *version,
		    int64_t epoch, struct im_error *err)
{
	memset(u, 0, sizeof(*u));
	if (!(u->osrel = im_uki_osrel(name, version)) || !(u->cmdline = strdup(cmdline)))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (im_read_file(stub, "systemd-stub", &u->stub, &u->stub_len, err) < 0 ||
	    im_read_file(kernel, "kernel", &u->kernel, &u->kernel_len, err) < 0 ||
	    open_initrd(u, initrd, err) < 0 ||
	    im_kernel_uname(u->kernel, u->kernel_len, &u->uname, err) < 0 ||
	    im_pe_parse(u->stub, u->stub_len, stub, &u->pe, err) < 0)
		return -1;
	if (!im_pe_arch(&u->pe) || strcmp(im_pe_arch(&u->pe), arch))
		return im_fail(err, IM_EXIT_INVALID, "%s: systemd-stub built for %s, expected %s",
			       stub, im_pe_arch(&u->pe) ? im_pe_arch(&u->pe) : "an unknown machine",
			       arch);
	if (add_sections(u, err) < 0 || im_pe_set_timestamp(&u->pe, epoch, err) < 0)
		return -1;
	return 0;
}

void im_uki_free(struct im_uki *u)
{
	im_pe_free(&u->pe);
	free(u->stub);
	free(u->kernel);
	if (u->initrd_open)
		close(u->initrd_fd);
	free(u->osrel);
	free(u->cmdline);
	free(u->uname);
	memset(u, 0, sizeof(*u));
}
