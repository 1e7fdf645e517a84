/* Secure Boot UKIs: .pcrpkey/.pcrsig (systemd-measure's signed PCR 11 policy) and the
 * Authenticode signature; also signs other EFI binaries (systemd-boot). */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "imager/efi/authenticode.h"
#include "imager/efi/pcr.h"
#include "imager/util/readfile.h"
#include "uki.h"

static int add_pcr_sections(struct im_pe *pe, EVP_PKEY *pcr_key, char **pem, char **json,
			    struct im_error *err)
{
	size_t pem_len;
	const uint32_t ro = IM_SCN_CNT_INITIALIZED_DATA | IM_SCN_MEM_READ;
	if (im_pcr_pubkey_pem(pcr_key, pem, &pem_len, err) < 0 ||
	    im_pe_add_section(pe, ".pcrpkey", *pem, pem_len, ro, err) < 0)
		return -1;
	struct im_pcr_section secs[16];
	size_t n = 0;
	for (size_t i = pe->n_stub; i < pe->n_sections && n < 16; i++)
		if (im_pcr_stub_measures(pe->sections[i].name))
			secs[n++] = (struct im_pcr_section){
			    pe->sections[i].name,	  pe->sections[i].data,
			    pe->sections[i].data_len,	  .from_fd = pe->sections[i].from_fd,
			    .fd = pe->sections[i].src_fd, .off = pe->sections[i].src_off};
	if (im_pcrsig_json(pcr_key, NULL, 0, secs, n, json, err) < 0)
		return -1;
	return im_pe_add_section(pe, ".pcrsig", *json, strlen(*json), ro, err);
}

/* Authenticode-sign an in-memory PE with the plan's UKI key. */
static int sign_buffer(const struct im_plan *pl, const uint8_t *buf, size_t len, const char *what,
		       uint8_t **out, size_t *out_len, struct im_error *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rc = -1;
	if (im_plan_signing_key(pl, 0, &key, err) == 0 &&
	    im_load_cert_pem(pl->sb_cert, &cert, err) == 0)
		rc = im_authenticode_sign(buf, len, what, key, cert, NULL, out, out_len, err);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

int im_uki_sign(const struct im_plan *pl, struct im_pe *pe, uint8_t **out, size_t *out_len,
		struct im_error *err)
{
	EVP_PKEY *pcr_key = NULL;
	char *pem = NULL, *json = NULL;
	uint8_t *img = NULL;
	size_t img_len = 0;
	int rc = -1;
	if (im_plan_signing_key(pl, 1, &pcr_key, err) < 0 ||
	    add_pcr_sections(pe, pcr_key, &pem, &json, err) < 0 ||
	    im_pe_build(pe, &img, &img_len, err) < 0)
		goto out;
	rc = sign_buffer(pl, img, img_len, "UKI", out, out_len, err);
out:
	EVP_PKEY_free(pcr_key);
	free(pem);
	free(json);
	free(img);
	return rc;
}

int im_sign_efi_file(const struct im_plan *pl, const char *path, const char *what, uint8_t **out,
		     size_t *out_len, struct im_error *err)
{
	uint8_t *buf;
	size_t len;
	if (im_read_file(path, what, &buf, &len, err) < 0)
		return -1;
	int rc = sign_buffer(pl, buf, len, what, out, out_len, err);
	free(buf);
	return rc;
}
