/* The profile schema (DESIGN.md §3, the Talos imager schema): one table per YAML mapping,
 * the enums and their names, and freeing what a profile owns. lib/talos/profile_apply.c
 * applies YAML and CLI values through these tables; lib/talos/profile.c finalizes and dumps. */
#include "profile_schema.h"

#include <stdio.h>
#include <stdlib.h>

#include "imager/util/error.h"

/* ---- enums --------------------------------------------------------------------- */

static const char *const arch_names[] = {NULL, "amd64", "arm64"};
static const char *const kind_names[] = {NULL,	   "iso",	"image", "installer",
					 "kernel", "initramfs", "uki",	 "cmdline"};
static const char *const fmt_names[] = {NULL, "raw", ".xz", ".zst", ".gz", ".tar.gz"};
static const char *const disk_names[] = {NULL, "raw", "qcow2", "vhd", "ova", "vhd-dynamic"};
/* Talos writes its zero value as "none": it means "pick the default". */
static const char *const boot_names[] = {"none", "grub", "sd-boot", "dual-boot"};
static const char *const enroll_names[] = {NULL, "if-safe", "manual", "force", "off"};

static const struct enum_desc arch_enum = {arch_names, ARRAY_LEN(arch_names), false};
const struct enum_desc im_prof_kind_enum = {kind_names, ARRAY_LEN(kind_names), false};
static const struct enum_desc fmt_enum = {fmt_names, ARRAY_LEN(fmt_names), true};
static const struct enum_desc disk_enum = {disk_names, ARRAY_LEN(disk_names), false};
static const struct enum_desc boot_enum = {boot_names, ARRAY_LEN(boot_names), false};
static const struct enum_desc enroll_enum = {enroll_names, ARRAY_LEN(enroll_names), false};

const char *im_prof_enum_name(const struct enum_desc *d, int v)
{
	return v > 0 && (size_t)v < d->n ? d->names[v] : "";
}

const char *im_prof_arch_name(enum im_prof_arch v)
{
	return im_prof_enum_name(&arch_enum, v);
}
const char *im_prof_kind_name(enum im_prof_kind v)
{
	return im_prof_enum_name(&im_prof_kind_enum, v);
}
const char *im_prof_out_format_name(enum im_prof_out_format v)
{
	return im_prof_enum_name(&fmt_enum, v);
}
const char *im_prof_disk_format_name(enum im_prof_disk_format v)
{
	return im_prof_enum_name(&disk_enum, v);
}
const char *im_prof_bootloader_name(enum im_prof_bootloader v)
{
	return im_prof_enum_name(&boot_enum, v);
}
const char *im_prof_enroll_name(enum im_prof_enroll v)
{
	return im_prof_enum_name(&enroll_enum, v);
}

/* "a, b, c" into buf. */
const char *im_prof_enum_allowed(const struct enum_desc *d, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 1; i < d->n && used < size; i++)
		used += snprintf(buf + used, size - used, "%s%s", i > 1 ? ", " : "", d->names[i]);
	return buf;
}

int im_prof_enum_parse(const struct enum_desc *d, const char *s)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->names[i] && !strcmp(d->names[i], s))
			return (int)i;
	if (d->dot_optional && s[0] != '.')
		for (size_t i = 1; i < d->n; i++)
			if (d->names[i][0] == '.' && !strcmp(d->names[i] + 1, s))
				return (int)i;
	return -1;
}

/* ---- the tables ---------------------------------------------------------------- */

static int check_extension(const void *elem, const char *path, char *msg, size_t size);

static const uint32_t sector_sizes[] = {512, 4096};
static const struct u32_desc sector_desc = {512, 4096, sector_sizes, ARRAY_LEN(sector_sizes)};
static const struct u32_desc meta_key_desc = {1, 255, NULL, 0};

static const char kms_reason[] =
    "cloud KMS signing is not supported; give key and certificate files (keyPath, certPath)";

static const struct field file_f[] = {
    {"path", T_STR, 0, offsetof(struct im_prof_file, path), NULL},
};
static const struct schema file_s = SCHEMA(file_f);

#define CPATH offsetof(struct im_prof_container, path)
static const struct field container_f[] = {
    {"path", T_STR, 0, CPATH, NULL},
    {"imageRef", T_STR, 0, offsetof(struct im_prof_container, image_ref), NULL},
    {"tarballPath", T_STR, FL_ALIAS, CPATH, NULL},
    {"ociPath", T_STR, FL_ALIAS, CPATH, NULL},
    {"forceInsecure", T_IGNORE, 0, 0, NULL}, /* nothing is pulled */
};
static const struct schema container_s = SCHEMA(container_f);

static const struct field meta_f[] = {
    {"key", T_U32, FL_HEX | FL_ALWAYS, offsetof(struct im_prof_meta, key), &meta_key_desc},
    {"value", T_STR, FL_ALWAYS, offsetof(struct im_prof_meta, value), NULL},
};
static const struct schema meta_s = SCHEMA(meta_f);

static const struct list_desc meta_list = {&meta_s, sizeof(struct im_prof_meta), SH_KV,
					   "{key, value} or KEY=VALUE", NULL};
static const struct list_desc ext_list = {&container_s, sizeof(struct im_prof_container), SH_FIRST,
					  "{path} or a path", check_extension};

#define SB(m) offsetof(struct im_prof_secureboot, m)
static const struct field sb_signer_f[] = {
    {"keyPath", T_STR, FL_ALIAS, SB(key_path), NULL},
    {"certPath", T_STR, FL_ALIAS, SB(cert_path), NULL},
    {"azureVaultURL", T_UNSUP, 0, 0, kms_reason},
    {"azureCertificateID", T_UNSUP, 0, 0, kms_reason},
    {"awsKMSKeyID", T_UNSUP, 0, 0, kms_reason},
    {"awsRegion", T_UNSUP, 0, 0, kms_reason},
    {"awsCertPath", T_UNSUP, 0, 0, kms_reason},
};
static const struct schema sb_signer_s = SCHEMA(sb_signer_f);

static const struct field pcr_signer_f[] = {
    {"keyPath", T_STR, FL_ALIAS, SB(pcr_key_path), NULL},
    {"azureVaultURL", T_UNSUP, 0, 0, kms_reason},
    {"azureKeyID", T_UNSUP, 0, 0, kms_reason},
    {"azureKeyVersion", T_UNSUP, 0, 0, kms_reason},
    {"awsKMSKeyID", T_UNSUP, 0, 0, kms_reason},
    {"awsRegion", T_UNSUP, 0, 0, kms_reason},
};
static const struct schema pcr_signer_s = SCHEMA(pcr_signer_f);

/* DESIGN's flat names first, then Talos's current and v1.5 spellings. */
static const struct field sb_f[] = {
    {"keyPath", T_STR, 0, SB(key_path), NULL},
    {"certPath", T_STR, 0, SB(cert_path), NULL},
    {"pcrKeyPath", T_STR, 0, SB(pcr_key_path), NULL},
    {"pkPath", T_STR, 0, SB(pk_path), NULL},
    {"kekPath", T_STR, 0, SB(kek_path), NULL},
    {"dbPath", T_STR, 0, SB(db_path), NULL},
    {"secureBootSigner", T_MAP, FL_ALIAS, 0, &sb_signer_s},
    {"pcrSigner", T_MAP, FL_ALIAS, 0, &pcr_signer_s},
    {"platformKeyPath", T_STR, FL_ALIAS, SB(pk_path), NULL},
    {"keyExchangeKeyPath", T_STR, FL_ALIAS, SB(kek_path), NULL},
    {"signatureKeyPath", T_STR, FL_ALIAS, SB(db_path), NULL},
    {"signingKeyPath", T_STR, FL_ALIAS, SB(key_path), NULL},
    {"signingCertPath", T_STR, FL_ALIAS, SB(cert_path), NULL},
    {"pcrSigningKeyPath", T_STR, FL_ALIAS, SB(pcr_key_path), NULL},
    {"pcrPublicKeyPath", T_IGNORE, 0, 0, NULL}, /* derived from the PCR key */
};
static const struct schema sb_s = SCHEMA(sb_f);

static const struct field official_f[] = {
    {"officialExtensions", T_UNSUP, 0, 0,
     "official extensions come from Image Factory; list extension paths in "
     "input.systemExtensions"},
};
static const struct schema official_s = SCHEMA(official_f);

static const struct field cust_f[] = {
    {"extraKernelArgs", T_STRLIST, 0, P(customization.extra_kernel_args), NULL},
    {"metaContents", T_LIST, 0, P(customization.meta_contents), &meta_list},
    {"systemExtensions", T_MAP, FL_ALIAS, 0, &official_s},
};

#define FILE_IN(key, m)                                                                            \
	{                                                                                          \
		key, T_MAP, FL_SHORT, P(input.m), &file_s                                          \
	}
static const struct field input_f[] = {
    FILE_IN("kernel", kernel),
    FILE_IN("initramfs", initramfs),
    FILE_IN("sdStub", sd_stub),
    FILE_IN("sdBoot", sd_boot),
    FILE_IN("grub", grub),
    FILE_IN("dtb", dtb),
    FILE_IN("uBoot", u_boot),
    FILE_IN("rpiFirmware", rpi_firmware),
    {"baseInstaller", T_MAP, FL_SHORT, P(input.base_installer), &container_s},
    {"overlayInstaller", T_MAP, FL_SHORT, P(input.overlay_installer), &container_s},
    {"systemExtensions", T_LIST, 0, P(input.system_extensions), &ext_list},
    {"secureboot", T_MAP, 0, P(input.secureboot), &sb_s},
};

static const struct field overlay_f[] = {
    {"name", T_STR, 0, P(overlay.name), NULL},
    {"image", T_MAP, FL_SHORT, P(overlay.image), &container_s},
    {"path", T_STR, FL_ALIAS, P(overlay.image.path), NULL}, /* DESIGN §3 spelling */
    {"options", T_KVLIST, 0, P(overlay.options), NULL},
};

static const struct field imgopt_f[] = {
    {"diskSize", T_SIZE, 0, P(output.image_options.disk_size), NULL},
    {"diskFormat", T_ENUM, 0, P(output.image_options.disk_format), &disk_enum},
    {"diskFormatOptions", T_STR, 0, P(output.image_options.disk_format_options), NULL},
    {"bootloader", T_ENUM, 0, P(output.image_options.bootloader), &boot_enum},
    {"sectorSize", T_U32, 0, P(output.image_options.sector_size), &sector_desc},
};

static const struct field isoopt_f[] = {
    {"sdBootEnrollKeys", T_ENUM, 0, P(output.iso_options.sd_boot_enroll_keys), &enroll_enum},
    {"bootloader", T_ENUM, 0, P(output.iso_options.bootloader), &boot_enum},
};

static const struct schema cust_s = SCHEMA(cust_f), input_s = SCHEMA(input_f),
			   overlay_s = SCHEMA(overlay_f), imgopt_s = SCHEMA(imgopt_f),
			   isoopt_s = SCHEMA(isoopt_f);

static const struct field output_f[] = {
    {"kind", T_ENUM, 0, P(output.kind), &im_prof_kind_enum},
    {"outFormat", T_ENUM, 0, P(output.out_format), &fmt_enum},
    {"imageOptions", T_MAP, 0, 0, &imgopt_s},
    {"isoOptions", T_MAP, 0, 0, &isoopt_s},
};
static const struct schema output_s = SCHEMA(output_f);

/* Sections of struct im_profile use offsets from the profile itself (off 0). */
static const struct field root_f[] = {
    {"baseProfileName", T_STR, FL_NODUMP, P(base_profile_name), NULL},
    {"arch", T_ENUM, 0, P(arch), &arch_enum},
    {"platform", T_STR, 0, P(platform), NULL},
    {"secureboot", T_BOOL, FL_ALWAYS, P(secureboot), NULL},
    {"name", T_STR, 0, P(name), NULL},
    {"version", T_STR, 0, P(version), NULL},
    {"board", T_UNSUP, 0, 0,
     "board is Talos's legacy SBC option; use overlay.name (e.g. rpi_generic)"},
    {"customization", T_MAP, 0, 0, &cust_s},
    {"input", T_MAP, 0, 0, &input_s},
    {"overlay", T_MAP, 0, 0, &overlay_s},
    {"output", T_MAP, 0, 0, &output_s},
};
const struct schema im_prof_root_s = SCHEMA(root_f);

/* An extension names where its image is: a path; imageRef would need a registry. */
static int check_extension(const void *elem, const char *path, char *msg, size_t size)
{
	const struct im_prof_container *c = elem;
	if (c->path)
		return 0;
	if (c->image_ref) {
		snprintf(msg, size,
			 "%s: imageRef %.200s: pulling from a registry is not supported; give "
			 "path, tarballPath or ociPath",
			 path, c->image_ref);
		return IM_EXIT_UNSUPPORTED;
	}
	snprintf(msg, size, "%s: path is required", path);
	return IM_EXIT_INVALID;
}

void im_prof_free_fields(const struct schema *s, void *base)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct field *f = &s->f[i];
		void *p = at(base, f->off);
		void *v;
		size_t n;
		if (f->flags & FL_ALIAS)
			continue;
		switch (f->type) {
		case T_STR:
			free(*(char **)p);
			*(char **)p = NULL;
			break;
		case T_MAP:
			im_prof_free_fields(f->aux, p);
			break;
		case T_STRLIST:
		case T_LIST:
		case T_KVLIST:
			list_get(p, &v, &n);
			for (size_t j = 0; j < n; j++) {
				if (f->type == T_STRLIST) {
					free(((char **)v)[j]);
				} else if (f->type == T_KVLIST) {
					free(((struct im_prof_kv *)v)[j].key);
					free(((struct im_prof_kv *)v)[j].value);
				} else {
					const struct list_desc *ld = f->aux;
					im_prof_free_fields(ld->elem, at(v, j * ld->size));
				}
			}
			free(v);
			list_put(p, NULL, 0);
			break;
		default:
			break;
		}
	}
}

struct im_profile *im_profile_new(void)
{
	return calloc(1, sizeof(struct im_profile));
}

void im_profile_free(struct im_profile *p)
{
	if (!p)
		return;
	im_prof_free_fields(&im_prof_root_s, p);
	free(p->origin);
	free(p);
}
