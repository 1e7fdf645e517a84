/* The plan: everything an output kind needs, resolved once from the finalized profile
 * (profile → plan → artifacts → output; no output kind reads the profile's raw inputs). */
#ifndef IMAGER_PLAN_H
#define IMAGER_PLAN_H

#include <openssl/evp.h>

#include "imager/util/error.h"
#include "imager/disk/meta.h"
#include "imager/talos/overlay.h"
#include "imager/talos/profile.h"
#include "record.h"

struct im_sigpool;

struct im_keyless {
	struct im_sigpool *pool;
	const char *cert_path; /* the UKI signing certificate (PEM) */
	char *keys_dir;	       /* the public files the build used (.auth), for the rebuild */
	EVP_PKEY *pcr_pub;     /* the PCR policy public key */
};

struct im_plan {
	const struct im_profile *p;
	const char *arch;      /* "amd64" | "arm64" */
	char *inputs;	       /* the inputs folder (DESIGN §3) */
	char *kernel;	       /* paths of the resolved inputs */
	char *initramfs;       /* with extensions: a temporary file in out_dir (see below) */
	int initramfs_is_temp; /* removed by im_plan_free */
	int initramfs_cleanup; /* its cleanup.h handle */
	char *out_dir;	       /* where outputs go (created if missing) */
	struct im_meta meta;   /* customization.metaContents */
	char *meta_base64;     /* INSTALLER_META_BASE64 value, NULL when no META */
	char *cmdline;	       /* the rendered kernel command line */
	/* Secure Boot signing material (profile input.secureboot or --secureboot-keys DIR). */
	char *sb_key, *sb_cert, *pcr_key;
	const char *keys_dir; /* --secureboot-keys, may be NULL */
	/* Keyless verification (verify_cmd.c; set before im_plan_init, which keeps it): no
	 * private key, signatures come from the artifact's pool (sigpool.h). */
	const struct im_keyless *keyless;
	struct im_overlay *overlay; /* the board overlay (options set, checked), or NULL */
	/* --base-installer-image: the bundle unpacked into base_stage; its /usr/install/<arch>
	 * is the inputs folder, the rest (installer, loader, libraries) installer_root. */
	char *base_stage, *installer_root;
	int base_cleanup; /* cleanup.h handle of base_stage */
	int quiet;
	struct im_record *rec; /* the build record's inputs (record.h), NULL for none */
	char *output;	       /* the artifact written (im_plan_wrote) */
};

/* Resolve the inputs folder, the input files and the command line, and check the kernel
 * (im_plan_check_kernel) before anything is written. pl is cleared except pl->rec (set it
 * before, or zero the plan): the inputs resolved are recorded there. `inputs_flag` is --inputs (may
 * be NULL); `strict_kernel` is --strict-kernel. */
int im_plan_init(struct im_plan *pl, const struct im_profile *p, const char *inputs_flag,
		 const char *keys_dir, const char *out_dir, int strict_kernel,
		 struct im_error *err);
void im_plan_free(struct im_plan *pl);

/* The key that signs UKIs, systemd-boot and enrollment files (`pcr` 0) or PCR policies
 * (`pcr` 1): the private key from its PEM file, or in keyless verification a pool signer
 * (sigpool.h). Free with EVP_PKEY_free. */
int im_plan_signing_key(const struct im_plan *pl, int pcr, EVP_PKEY **key, struct im_error *err);

/* The inputs folder for `arch` (DESIGN §3); `flag` is --inputs (may be NULL). *dir is
 * malloc'd. */
int im_plan_find_inputs(const char *arch, const char *flag, char **dir, struct im_error *err);

/* Check the kernel's configuration, when it is known (the inputs folder's config for its
 * own kernel, else the kernel's embedded IKCONFIG), against the fragments of kernel-config/
 * the output needs (secureboot.config for Secure Boot profiles). A failing required
 * option is one warning line on stderr each; with `strict` it is an error instead
 * (IM_EXIT_INVALID, one line naming every option). (kernel_check.c) */
int im_plan_check_kernel(const struct im_plan *pl, int strict, struct im_error *err);

/* An input the profile names (`given`), else <inputs>/<name>; it must be readable
 * (IM_EXIT_MISSING: "<path> (<what>): <reason>"). *out is malloc'd, also on failure. */
int im_plan_input(const struct im_plan *pl, const char *given, const char *name, const char *what,
		  char **out, struct im_error *err);

/* The output kind wrote `path`: remembered for the build record, and said on stderr
 * unless quiet. */
void im_plan_wrote(struct im_plan *pl, const char *path);

/* "<out_dir>/<name>" (malloc'd). */
char *im_plan_output_path(const struct im_plan *pl, const char *name);

/* A new folder $TMPDIR/<prefix>.XXXXXX, registered with cleanup.h (build.c). */
int im_private_dir(const char *prefix, char **dir, int *cleanup, struct im_error *err);

/* The output kind of the plan's profile (build.c). */
int im_build_output(struct im_plan *pl, struct im_error *err);

/* Output kinds (imager/out_*.c). */
int im_out_cmdline(struct im_plan *pl, struct im_error *err);
int im_out_kernel(struct im_plan *pl, struct im_error *err);
int im_out_initramfs(struct im_plan *pl, struct im_error *err);
int im_out_uki(struct im_plan *pl, struct im_error *err);
int im_out_image(struct im_plan *pl, struct im_error *err);
int im_out_installer(struct im_plan *pl, struct im_error *err);

#endif
