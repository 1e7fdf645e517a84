/* systemd-boot ESP content for ISOs (see iso_efi.h). systemd-boot finds UKIs in
 * EFI/Linux/ by itself (BLS type #2 entries) and enrolls loader/keys/auto/{PK,KEK,db}.auth when
 * loader.conf says secure-boot-enroll (systemd-boot 252, loader.conf(5)). */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iso_efi.h"
#include "imager/efi/authenticode.h"
#include "imager/util/epoch.h"
#include "imager/efi/keys.h"
#include "uki.h"

static int add_uki(struct im_plan *pl, struct im_tree *efi, struct im_error *err)
{
	uint8_t *buf;
	size_t len;
	char path[256];
	if (im_uki_build(pl, &buf, &len, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "EFI/Linux/%s-%s.efi", pl->p->name, pl->p->version);
	int rc = im_tree_add_file_mem(efi, path, buf, len, 0644, err);
	free(buf);
	return rc;
}

static int add_sdboot(struct im_plan *pl, struct im_tree *efi, struct im_error *err)
{
	char *src = NULL, dst[64];
	snprintf(dst, sizeof(dst), "EFI/BOOT/%s",
		 strcmp(pl->arch, "arm64") ? "BOOTX64.EFI" : "BOOTAA64.EFI");
	if (im_plan_input(pl, pl->p->input.sd_boot.path, "systemd-boot.efi", "systemd-boot", &src,
			  err) < 0) {
		free(src);
		return -1;
	}
	int rc;
	if (pl->p->secureboot) {
		uint8_t *buf;
		size_t len;
		rc = im_sign_efi_file(pl, src, "systemd-boot", &buf, &len, err);
		if (rc == 0) {
			rc = im_tree_add_file_mem(efi, dst, buf, len, 0644, err);
			free(buf);
		}
	} else {
		rc = im_tree_add_file_src(efi, dst, src, 0644, err);
	}
	free(src);
	return rc;
}

static int add_loader_conf(const struct im_plan *pl, struct im_tree *efi, struct im_error *err)
{
	char conf[256];
	int n = snprintf(conf, sizeof(conf), "timeout 3\n");
	if (pl->p->secureboot)
		snprintf(conf + n, sizeof(conf) - n, "secure-boot-enroll %s\n",
			 im_prof_enroll_name(pl->p->output.iso_options.sd_boot_enroll_keys));
	return im_tree_add_file_mem(efi, "loader/loader.conf", conf, strlen(conf), 0644, err);
}

/* PK/KEK/db .auth: from the profile (pkPath/kekPath/dbPath), else from the keys folder
 * (imager keys writes them), else made from the UKI signing key alone — Talos's layout,
 * where that key is PK, KEK and db. */
int im_esp_add_auth(struct im_plan *pl, struct im_tree *efi, struct im_error *err)
{
	const struct im_prof_secureboot *sb = &pl->p->input.secureboot;
	const char *given[3] = {sb->pk_path, sb->kek_path, sb->db_path};
	static const char *const names[3] = {"PK", "KEK", "db"};
	char path[4096], dst[64];
	int found = 0;
	for (int i = 0; i < 3; i++) {
		if (given[i])
			snprintf(path, sizeof(path), "%s", given[i]);
		else if (pl->keys_dir)
			snprintf(path, sizeof(path), "%s/%s.auth", pl->keys_dir, names[i]);
		else
			break;
		if (access(path, R_OK) < 0 && !given[i])
			break;
		snprintf(dst, sizeof(dst), "loader/keys/auto/%s.auth", names[i]);
		im_record_input(pl->rec, "Secure Boot enrollment (.auth)", path);
		if (im_tree_add_file_src(efi, dst, path, 0644, err) < 0)
			return -1;
		found++;
	}
	if (found == 3)
		return 0;
	if (found)
		return im_fail(err, IM_EXIT_MISSING,
			       "Secure Boot enrollment: only %d of PK/KEK/db .auth found", found);
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct im_blob out[3] = {0};
	int64_t epoch;
	int rc = -1;
	if (im_source_date_epoch(&epoch, err) == 0 && im_plan_signing_key(pl, 0, &key, err) == 0 &&
	    im_load_cert_pem(pl->sb_cert, &cert, err) == 0 &&
	    im_keys_enrollment(key, cert, key, cert, cert, epoch, out, err) == 0) {
		rc = 0;
		for (int i = 0; i < 3 && rc == 0; i++) {
			snprintf(dst, sizeof(dst), "loader/keys/auto/%s.auth", names[i]);
			rc = im_tree_add_file_mem(efi, dst, out[i].data, out[i].len, 0644, err);
		}
	}
	for (int i = 0; i < 3; i++)
		free(out[i].data);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

int im_iso_sdboot_trees(struct im_plan *pl, struct im_tree *iso, struct im_tree *efi,
			struct im_error *err)
{
	(void)iso; /* UEFI only: the ISO9660 side carries nothing the firmware needs */
	if (add_sdboot(pl, efi, err) < 0 || add_uki(pl, efi, err) < 0 ||
	    add_loader_conf(pl, efi, err) < 0)
		return -1;
	return pl->p->secureboot ? im_esp_add_auth(pl, efi, err) : 0;
}
