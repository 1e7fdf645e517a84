/* The systemd-boot side shared by ISOs (and later disk images): an ESP tree holding
 * systemd-boot, the UKI, loader.conf and, for Secure Boot, the enrollment files. */
#ifndef IMAGER_ISO_EFI_H
#define IMAGER_ISO_EFI_H

#include "imager/fs/fstree.h"
#include "plan.h"

int im_iso_sdboot_trees(struct im_plan *pl, struct im_tree *iso, struct im_tree *efi,
			struct im_error *err);
/* loader/keys/auto/{PK,KEK,db}.auth into an ESP tree: from the profile, the keys folder,
 * or made from the UKI signing key alone (Talos's single-key layout). */
int im_esp_add_auth(struct im_plan *pl, struct im_tree *efi, struct im_error *err);
int im_out_iso(struct im_plan *pl, struct im_error *err);

#endif
