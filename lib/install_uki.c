/* Slot UKIs for systemd-boot (see include/imager/install.h): each slot's UKI carries the
 * slot's own command line (with imager.slot=<slot>), so the installer assembles it from
 * systemd-stub, the kernel and the initramfs (UAPI.5 "Unified Kernel Image": sections
 * .osrel .cmdline .uname .linux .initrd appended to the stub; pe.h does the PE work). */
#include "imager/install.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imager/pe.h"
#include "imager/readfile.h"

/* os-release(5) fields systemd-boot shows and sorts by (BLS type #2: ID, VERSION_ID). */
char *im_install_osrel(const char *name, const char *version)
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

struct uki_in {
	uint8_t *stub, *kernel, *initrd;
	size_t stub_len, kernel_len, initrd_len;
	char *uname;
};

static int add_all(struct im_pe *pe, const struct uki_in *in, const char *cmdline,
		   const char *osrel, struct im_error *err)
{
	if (im_pe_add_section(pe, ".osrel", osrel, strlen(osrel), IM_SCN_DATA_RO, err) < 0 ||
	    im_pe_add_section(pe, ".cmdline", cmdline, strlen(cmdline), IM_SCN_DATA_RO, err) < 0)
		return -1;
	if (in->uname &&
	    im_pe_add_section(pe, ".uname", in->uname, strlen(in->uname), IM_SCN_DATA_RO, err) < 0)
		return -1;
	if (im_pe_add_section(pe, ".linux", in->kernel, in->kernel_len, IM_SCN_DATA_RO, err) < 0 ||
	    im_pe_add_section(pe, ".initrd", in->initrd, in->initrd_len, IM_SCN_DATA_RO, err) < 0)
		return -1;
	return 0;
}

int im_install_uki_build(const char *arch, const char *stub, const char *kernel, const char *initrd,
			 const char *cmdline, const char *osrel, int64_t epoch, uint8_t **out,
			 size_t *out_len, struct im_error *err)
{
	struct uki_in in = {0};
	struct im_pe pe = {0};
	int rc = -1;
	*out = NULL;
	if (im_read_file(stub, "systemd-stub", &in.stub, &in.stub_len, err) < 0 ||
	    im_read_file(kernel, "kernel", &in.kernel, &in.kernel_len, err) < 0 ||
	    im_read_file(initrd, "initramfs", &in.initrd, &in.initrd_len, err) < 0 ||
	    im_kernel_uname(in.kernel, in.kernel_len, &in.uname, err) < 0 ||
	    im_pe_parse(in.stub, in.stub_len, stub, &pe, err) < 0)
		goto out;
	if (!im_pe_arch(&pe) || strcmp(im_pe_arch(&pe), arch)) {
		im_fail(err, IM_EXIT_INVALID, "%s: systemd-stub built for %s, expected %s", stub,
			im_pe_arch(&pe) ? im_pe_arch(&pe) : "an unknown machine", arch);
		goto out;
	}
	if (add_all(&pe, &in, cmdline, osrel, err) == 0 &&
	    im_pe_set_timestamp(&pe, epoch, err) == 0)
		rc = im_pe_build(&pe, out, out_len, err);
out:
	im_pe_free(&pe);
	free(in.stub);
	free(in.kernel);
	free(in.initrd);
	free(in.uname);
	return rc;
}

/* A section's bytes as a string (VirtualSize bytes, at most the raw data). */
static char *section_text(const struct im_pe *pe, const char *name)
{
	const struct im_pe_section *s = im_pe_find(pe, name);
	if (!s || !s->file_size)
		return NULL;
	size_t n = s->vsize < s->file_size ? s->vsize : s->file_size;
	if ((uint64_t)s->file_off + n > pe->len)
		return NULL;
	char *t = strndup((const char *)pe->buf + s->file_off, n);
	if (t) /* trailing newlines / NULs */
		for (size_t k = strlen(t); k && (t[k - 1] == '\n' || t[k - 1] == ' '); k--)
			t[k - 1] = 0;
	return t;
}

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
	char *osrel = section_text(&pe, ".osrel");
	if (osrel) {
		*name = im_install_osrel_get(osrel, "NAME");
		*version = im_install_osrel_get(osrel, "VERSION_ID");
	}
	*cmdline = section_text(&pe, ".cmdline");
	free(osrel);
	im_pe_free(&pe);
	return 0;
}
