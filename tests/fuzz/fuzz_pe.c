/* PE32+ images (lib/efi/pe.c, authenticode.c, pcr.c, install_uki.c): what `imager inspect`
 * does with a UKI or stub (parse, section texts, Authenticode signature and its PKCS#7,
 * PCR 11 prediction), what the installer reads from slot UKIs (.osrel, .cmdline), the
 * Authenticode digest a signer computes, and the kernel release lookup. */
#include "fuzz.h"

#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "imager/efi/authenticode.h"
#include "imager/efi/pcr.h"
#include "imager/efi/pe.h"
#include "imager/install/install.h"

static void signer(const uint8_t *buf, size_t len)
{
	struct im_error err = {0};
	size_t unsigned_len, off, sig_len;
	if (im_authenticode_locate(buf, len, "fuzz", &unsigned_len, &off, &sig_len, &err) != 0 ||
	    sig_len <= 8)
		return;
	const unsigned char *p = buf + off + 8;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)(sig_len - 8));
	if (!p7)
		return;
	STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);
	if (signers && sk_X509_num(signers) > 0)
		OPENSSL_free(
		    X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers, 0)), NULL, 0));
	sk_X509_free(signers);
	PKCS7_free(p7);
}

static void pcr11(const struct im_pe *pe)
{
	struct im_pcr_section secs[16];
	size_t n = 0;
	for (size_t i = 0; i < pe->n_sections && n < 16; i++) {
		const struct im_pe_section *s = &pe->sections[i];
		if (im_pcr_stub_measures(s->name) && s->vsize <= s->file_size &&
		    s->file_off + (uint64_t)s->vsize <= pe->len)
			secs[n++] = (struct im_pcr_section){
			    .name = s->name, .data = pe->buf + s->file_off, .len = s->vsize};
	}
	uint8_t ph[IM_PCR_NPHASES][EVP_MAX_MD_SIZE];
	struct im_error err = {0};
	if (n && im_pe_find(pe, ".linux"))
		im_pcr11_predict(secs, n, EVP_sha256(), ph, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct im_pe pe;
	struct im_error err = {0};
	if (im_pe_parse(data, size, "fuzz", &pe, &err) == 0) {
		im_pe_arch(&pe);
		for (size_t i = 0; i < pe.n_sections; i++)
			free(im_pe_section_text(&pe, pe.sections[i].name));
		pcr11(&pe);
		/* what a UKI build does next: append a section and lay the image out again */
		memset(&err, 0, sizeof(err));
		uint8_t *out;
		size_t out_len;
		if (im_pe_add_section(&pe, ".fuzz", "x", 1, IM_SCN_DATA_RO, &err) == 0 &&
		    im_pe_build(&pe, &out, &out_len, &err) == 0)
			free(out);
		im_pe_free(&pe);
	}
	signer(data, size);
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	memset(&err, 0, sizeof(err));
	im_authenticode_digest(data, size, "fuzz", EVP_sha256(), md, &md_len, &err);
	char *name = NULL, *version = NULL, *cmdline = NULL;
	memset(&err, 0, sizeof(err));
	if (im_install_uki_info(data, size, "fuzz", &name, &version, &cmdline, &err) == 0) {
		free(name);
		free(version);
		free(cmdline);
	}
	char *rel = NULL;
	memset(&err, 0, sizeof(err));
	if (im_kernel_uname(data, size, &rel, &err) == 0)
		free(rel);
	return 0;
}
