/* The profile (DESIGN.md §3): what to build, in the Talos imager YAML schema so that
 * Talos users' profiles load here (siderolabs/talos pkg/imager/profile).
 *
 * Life of a profile:
 *   1. im_profile_load*() parses YAML. A profile naming `baseProfileName` is laid over
 *      that built-in profile (recursively, at most IM_PROFILE_BASE_DEPTH deep):
 *      scalars replace, lists append, maps merge key by key.
 *   2. The caller applies CLI overrides with im_profile_set() (same merge rules: a
 *      scalar replaces, a list entry appends).
 *   3. im_profile_finalize() fills defaults and validates; only then are the enums
 *      below guaranteed set (not *_UNSET) and the strings non-NULL where noted.
 *   4. im_profile_dump() prints the effective profile as YAML (loadable again).
 *
 * Accepted YAML (canonical names first; aliases in brackets are Talos spellings):
 *   baseProfileName, arch (amd64|arm64), platform, secureboot (bool), name, version,
 *   board [Talos legacy SBC option: refused, use overlay]
 *   customization: extraKernelArgs [str], metaContents [{key: 1..255 (0xa ok), value}],
 *                  systemExtensions.officialExtensions [refused unless empty: Image
 *                  Factory only]
 *   input: kernel, initramfs, sdStub, sdBoot, grub, dtb, uBoot, rpiFirmware: {path}
 *          (a bare string means {path: ...});
 *          baseInstaller, overlayInstaller: {path [tarballPath, ociPath], imageRef,
 *          forceInsecure (ignored)};
 *          systemExtensions: [{path [tarballPath, ociPath]}] (imageRef alone is refused:
 *          nothing is pulled from registries);
 *          secureboot: {keyPath, certPath, pcrKeyPath, pkPath, kekPath, dbPath}
 *            [Talos: secureBootSigner.{keyPath,certPath}, pcrSigner.keyPath,
 *             platformKeyPath, keyExchangeKeyPath, signatureKeyPath; Talos 1.5:
 *             signingKeyPath, signingCertPath, pcrSigningKeyPath, pcrPublicKeyPath
 *             (ignored: derived from the key); Azure/AWS KMS signers are refused]
 *   overlay: name, image ({path, imageRef} or a bare path) [path: = image.path],
 *            options {key: scalar} (kept in order)
 *   output: kind (iso|image|installer|kernel|initramfs|uki|cmdline),
 *           outFormat (raw|.xz|.zst|.gz|.tar.gz; the dot is optional),
 *           imageOptions: diskSize (bytes, or with a suffix: 8GiB, 1246MiB, 10G; 1.5GiB is
 *             refused), diskFormat (raw|qcow2|vhd|ova), diskFormatOptions (string),
 *             bootloader (grub|sd-boot|dual-boot; "none" = default), sectorSize (512|4096)
 *           isoOptions: sdBootEnrollKeys (if-safe|manual|force|off), bootloader
 * Errors name the place: "FILE:LINE:COL: unknown key "foo" in output.imageOptions ..."
 * (IM_EXIT_INVALID; refused Talos features give IM_EXIT_UNSUPPORTED). */
#ifndef IMAGER_PROFILE_H
#define IMAGER_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "imager/util/error.h"
#include "imager/util/yaml.h"

#define IM_PROFILE_BASE_DEPTH	8
#define IM_PROFILE_DEFAULT_NAME "Talos"
#define IM_PROFILE_DEFAULT_VER	"v1.0.0"

/* Enums: 0 is "not given" until im_profile_finalize() picks the default. */
enum im_prof_arch { IM_PROF_ARCH_UNSET, IM_PROF_ARCH_AMD64, IM_PROF_ARCH_ARM64 };
enum im_prof_kind {
	IM_PROF_KIND_UNSET,
	IM_PROF_KIND_ISO,
	IM_PROF_KIND_IMAGE,
	IM_PROF_KIND_INSTALLER,
	IM_PROF_KIND_KERNEL,
	IM_PROF_KIND_INITRAMFS,
	IM_PROF_KIND_UKI,
	IM_PROF_KIND_CMDLINE,
};
enum im_prof_out_format {
	IM_PROF_FMT_UNSET,
	IM_PROF_FMT_RAW,
	IM_PROF_FMT_XZ,
	IM_PROF_FMT_ZST,
	IM_PROF_FMT_GZ,
	IM_PROF_FMT_TAR_GZ,
};
enum im_prof_disk_format {
	IM_PROF_DISK_UNSET,
	IM_PROF_DISK_RAW,
	IM_PROF_DISK_QCOW2,
	IM_PROF_DISK_VHD,
	IM_PROF_DISK_OVA,
	IM_PROF_DISK_VHD_DYNAMIC, /* VHD dynamic (diskFormat vhd is fixed, as Azure takes) */
};
enum im_prof_bootloader {
	IM_PROF_BOOT_UNSET,
	IM_PROF_BOOT_GRUB,
	IM_PROF_BOOT_SDBOOT,
	IM_PROF_BOOT_DUAL,
};
enum im_prof_enroll {
	IM_PROF_ENROLL_UNSET,
	IM_PROF_ENROLL_IF_SAFE,
	IM_PROF_ENROLL_MANUAL,
	IM_PROF_ENROLL_FORCE,
	IM_PROF_ENROLL_OFF,
};

/* YAML spelling of a value ("amd64", ".zst", "sd-boot", ...); "" for UNSET/unknown. */
const char *im_prof_arch_name(enum im_prof_arch v);
const char *im_prof_kind_name(enum im_prof_kind v);
const char *im_prof_out_format_name(enum im_prof_out_format v);
const char *im_prof_disk_format_name(enum im_prof_disk_format v);
const char *im_prof_bootloader_name(enum im_prof_bootloader v);
const char *im_prof_enroll_name(enum im_prof_enroll v);

/* All strings are malloc'd and owned by the profile; NULL = not given. */
struct im_prof_file {
	char *path;
};
struct im_prof_container {
	char *path;	 /* local folder / tarball / OCI layout ([tarballPath, ociPath]) */
	char *image_ref; /* registry reference; kept for information, never pulled */
};
struct im_prof_meta {
	uint32_t key; /* 1..255 */
	char *value;
};
struct im_prof_kv {
	char *key;
	char *value;
};
struct im_prof_str_list {
	char **v;
	size_t n;
};
struct im_prof_meta_list {
	struct im_prof_meta *v;
	size_t n;
};
struct im_prof_container_list {
	struct im_prof_container *v;
	size_t n;
};
struct im_prof_kv_list {
	struct im_prof_kv *v;
	size_t n;
};

struct im_prof_secureboot {
	char *key_path;	    /* UKI / systemd-boot signing key */
	char *cert_path;    /* its certificate */
	char *pcr_key_path; /* PCR 11 policy signing key */
	char *pk_path;	    /* PK/KEK/db .auth for systemd-boot enrollment (optional) */
	char *kek_path;
	char *db_path;
};

struct im_profile {
	char *origin;		 /* what it was loaded from, for messages ("metal", a path) */
	char *base_profile_name; /* as written; not dumped (the dump is self-contained) */
	enum im_prof_arch arch;	 /* default amd64 */
	char *platform;		 /* default "metal"; one of im_cmdline_platforms() */
	bool secureboot;
	char *name;    /* OS name, default IM_PROFILE_DEFAULT_NAME */
	char *version; /* default IM_PROFILE_DEFAULT_VER */
	struct {
		struct im_prof_str_list extra_kernel_args;
		/* After finalize: keys unique (a later entry replaces an earlier one). */
		struct im_prof_meta_list meta_contents;
	} customization;
	struct {
		struct im_prof_file kernel, initramfs, sd_stub, sd_boot, grub, dtb, u_boot,
		    rpi_firmware;
		struct im_prof_container base_installer, overlay_installer;
		struct im_prof_container_list system_extensions; /* each has a path */
		struct im_prof_secureboot secureboot;
	} input;
	struct {
		char *name;
		struct im_prof_container image;
		struct im_prof_kv_list options; /* keys unique, in first-seen order */
	} overlay;
	struct {
		enum im_prof_kind kind;		    /* required */
		enum im_prof_out_format out_format; /* default raw */
		bool out_format_builtin; /* out_format set by a built-in profile, not the user:
					  * a board overlay then makes it .xz (issue 7) */
		struct {
			/* As written: the disk layout code adds the boot slots (DESIGN §4). */
			uint64_t disk_size;		      /* required for kind image */
			enum im_prof_disk_format disk_format; /* default raw (kind image) */
			char *disk_format_options;	      /* Talos qemu-img style, optional */
			/* kind image default: sd-boot with secureboot or arm64, else dual-boot */
			enum im_prof_bootloader bootloader;
			uint32_t sector_size; /* 512 or 4096, default 512 (kind image) */
		} image_options;
		struct {
			enum im_prof_enroll sd_boot_enroll_keys; /* default if-safe (kind iso) */
			enum im_prof_bootloader bootloader;	 /* kind iso, default as above */
		} iso_options;
	} output;
};

/* An empty profile (NULL on OOM); free with im_profile_free (NULL is fine). */
struct im_profile *im_profile_new(void);
void im_profile_free(struct im_profile *p);

/* Load by what the user typed: "-" => stdin; a name with '/' or ending in .yaml/.yml
 * => that file; a built-in name => the built-in; otherwise an existing file; else
 * IM_EXIT_MISSING naming it. *out is set only on success. */
int im_profile_load(const char *spec, struct im_profile **out, struct im_error *err);
int im_profile_load_builtin(const char *name, struct im_profile **out, struct im_error *err);
/* path "-" reads stdin (origin "<stdin>"). Unreadable => IM_EXIT_MISSING/IO. */
int im_profile_load_file(const char *path, struct im_profile **out, struct im_error *err);
/* `origin` names the text in messages (e.g. "<stdin>", a file name). */
int im_profile_load_string(const char *text, const char *origin, struct im_profile **out,
			   struct im_error *err);

/* Lay YAML over an existing profile with the merge rules (a baseProfileName in it is
 * first applied onto p as well). On error p may be partly changed. */
int im_profile_apply_string(struct im_profile *p, const char *text, const char *origin,
			    struct im_error *err);
int im_profile_apply_file(struct im_profile *p, const char *path, struct im_error *err);
/* The schema step alone: apply a parsed document (its baseProfileName is stored but
 * not followed; the functions above do that). `origin` prefixes messages. */
int im_profile_apply_tree(struct im_profile *p, const struct im_yaml_node *root, const char *origin,
			  struct im_error *err);

/* Override one field by its dotted YAML path, as the CLI does:
 *   im_profile_set(p, "arch", "arm64", err);            --arch
 *   im_profile_set(p, "platform", "aws", err);          --platform
 *   im_profile_set(p, "output.kind", "iso", err);       --output-kind
 *   im_profile_set(p, "customization.extraKernelArgs", "console=ttyS1", err);  appends
 *   im_profile_set(p, "customization.metaContents", "0xa=value", err);         appends
 *   im_profile_set(p, "input.systemExtensions", "/path/ext", err);             appends
 *   im_profile_set(p, "overlay.name", "rpi_generic", err);
 *   im_profile_set(p, "overlay.image", "/path/overlay", err);   (a bare path)
 *   im_profile_set(p, "overlay.options", "configTxtAppend=x", err);  K=V, sets K
 *   im_profile_set(p, "input.baseInstaller", "/path/inst.tar", err);
 *   im_profile_set(p, "output.imageOptions.diskSize", "4GiB", err);
 * Values are parsed like YAML scalars of that field (enums, bools, sizes checked).
 * Unknown path => IM_EXIT_INVALID; messages start with the path. */
int im_profile_set(struct im_profile *p, const char *path, const char *value, struct im_error *err);

/* Fill defaults and validate (messages start with p->origin). Idempotent. */
int im_profile_finalize(struct im_profile *p, struct im_error *err);

/* Print as YAML (canonical names, only what is set). Returns 0, or -1 on write error. */
int im_profile_dump(const struct im_profile *p, FILE *f);

/* Built-in profile names, sorted, NULL-terminated. */
const char *const *im_profile_list_builtin(void);
/* The YAML text of a built-in profile, or NULL for an unknown name. */
const char *im_profile_builtin_yaml(const char *name);

/* "1306525696", "8GiB", "1246 MiB", "10G" (K/M/G/T and KiB.. = 1024^n; KB/MB/GB/TB =
 * 1000^n; optional "B"). Returns 0, or -1 when malformed or too large. */
int im_profile_parse_size(const char *s, uint64_t *out);

/* Embedded built-ins (lib/profile_builtin.c), sorted by name; n entries. */
struct im_profile_builtin {
	const char *name;
	const char *yaml;
};
extern const struct im_profile_builtin im_profile_builtins[];
extern const size_t im_profile_n_builtins;

#endif
