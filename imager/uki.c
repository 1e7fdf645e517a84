/* Unified kernel image assembly (DESIGN §7 UKI; systemd "Unified Kernel Image" spec,
 * UAPI.5): systemd-stub + .osrel .cmdline .uname .linux .initrd as PE sections, then,
 * for Secure Boot, .pcrpkey/.pcrsig and an Authenticode signature. Shared by the `uki`
 * output and by the ISO/disk outputs that carry UKIs. */
#include "uki.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imager/epoch.h"
#include "imager/pe.h"
#include "imager/readfile.h"

/* os-release for .osrel: what systemd-boot shows in its menu (BLS "os-release" fields). */
static char *make_osrel(const struct im_profile *p)
{
	char id[64];
	size_t i = 0;
	for (const char *s = p->name; *s && i < sizeof(id) - 1; s++)
		id[i++] = isalnum((unsigned char)*s) ? (char)tolower((unsigned char)*s) : '-';
	id[i] = 0;
	char *o;
	if (asprintf(&o, "NAME=\"%s\"\nID=%s\nVERSION_ID=%s\nPRETTY_NAME=\"%s (%s)\"\n", p->name,
		     id, p->version, p->name, p->version) < 0)
		return NULL;
	return o;
}

struct uki_inputs {
	uint8_t *stub, *kernel, *initrd;
	size_t stub_len, kernel_len, initrd_len;
	char *osrel, *uname;
};

static void inputs_free(struct uki_inputs *in)
{
	free(in->stub);
	free(in->kernel);
	free(in->initrd);
	free(in->osrel);
	free(in->uname);
}

static int read_inputs(const struct im_plan *pl, struct uki_inputs *in, struct im_error *err)
{
	char *stub = NULL;
	const char *given = pl->p->input.sd_stub.path;
	if (given ? !(stub = strdup(given)) : asprintf(&stub, "%s/systemd-stub.efi", pl->inputs) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int rc = im_read_file(stub, "systemd-stub", &in->stub, &in->stub_len, err);
	free(stub);
	if (rc < 0 || im_read_file(pl->kernel, "kernel", &in->kernel, &in->kernel_len, err) < 0 ||
	    im_read_file(pl->initramfs, "initramfs", &in->initrd, &in->initrd_len, err) < 0)
		return -1;
	if (!(in->osrel = make_osrel(pl->p)))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	/* .uname is optional (UAPI.5): absent when the kernel does not say its version. */
	if (im_kernel_uname(in->kernel, in->kernel_len, &in->uname, err) < 0)
		return -1;
	return 0;
}

static int add_sections(struct im_pe *pe, const struct im_plan *pl, const struct uki_inputs *in,
			struct im_error *err)
{
	const uint32_t ro = IM_SCN_CNT_INITIALIZED_DATA | IM_SCN_MEM_READ;
	if (im_pe_add_section(pe, ".osrel", in->osrel, strlen(in->osrel), ro, err) < 0 ||
	    im_pe_add_section(pe, ".cmdline", pl->cmdline, strlen(pl->cmdline), ro, err) < 0)
		return -1;
	if (in->uname && im_pe_add_section(pe, ".uname", in->uname, strlen(in->uname), ro, err) < 0)
		return -1;
	if (im_pe_add_section(pe, ".linux", in->kernel, in->kernel_len, ro, err) < 0 ||
	    im_pe_add_section(pe, ".initrd", in->initrd, in->initrd_len, ro, err) < 0)
		return -1;
	return 0;
}

int im_uki_build(const struct im_plan *pl, uint8_t **out, size_t *out_len, struct im_error *err)
{
	struct uki_inputs in = {0};
	struct im_pe pe = {0};
	int64_t epoch;
	int rc = -1;
	*out = NULL;
	if (im_source_date_epoch(&epoch, err) < 0 || read_inputs(pl, &in, err) < 0)
		goto out;
	if (im_pe_parse(in.stub, in.stub_len, "systemd-stub", &pe, err) < 0)
		goto out;
	if (!im_pe_arch(&pe) || strcmp(im_pe_arch(&pe), pl->arch)) {
		im_fail(err, IM_EXIT_INVALID, "systemd-stub: built for %s, expected %s",
			im_pe_arch(&pe) ? im_pe_arch(&pe) : "an unknown machine", pl->arch);
		goto out;
	}
	if (add_sections(&pe, pl, &in, err) < 0 || im_pe_set_timestamp(&pe, epoch, err) < 0)
		goto out;
	if (pl->p->secureboot) {
		rc = im_uki_sign(pl, &pe, out, out_len, err);
		goto out;
	}
	rc = im_pe_build(&pe, out, out_len, err);
out:
	im_pe_free(&pe);
	inputs_free(&in);
	return rc;
}
