/* Build records (issue 14): every output gets <output>.build.json, an in-toto Statement v1
 * (https://in-toto.io/Statement/v1) whose predicate is SLSA provenance v1
 * (https://slsa.dev/provenance/v1): the subject (file name + sha256), the effective
 * profile and SOURCE_DATE_EPOCH (externalParameters), every input file with its sha256
 * (resolvedDependencies), the imager's version (runDetails.builder.version).
 * The record is itself reproducible: fixed key order, inputs sorted by uri, paths inside
 * the inputs folder written relative to it ("inputs/vmlinuz"), likewise for the
 * --secureboot-keys folder ("secureboot-keys/db.auth"), no time, no host name.
 * Private keys are never read into it: Secure Boot adds the certificate's file and DER
 * fingerprint and the PCR public key's fingerprint. */
#ifndef IMAGER_CLI_RECORD_H
#define IMAGER_CLI_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"

#define IMAGER_VERSION_STR "0.1.0"
#define IMAGER_BUILD_TYPE  "https://github.com/imager/imager/build/v1"
#define IMAGER_BUILDER_ID  "https://github.com/imager/imager"

struct im_rec_dep {
	char *name;    /* what the input is ("kernel", "GRUB images", ...) */
	char *uri;     /* "inputs/<rel>", a path as given, or a "pkg:"/"urn:" name */
	char *path;    /* host path checked by verify, NULL when not a file */
	char hex[65];  /* sha256 */
	char *package; /* payload manifest entry "name version arch", or NULL */
};

struct im_record {
	const char *inputs; /* the plan's inputs folder (uris "inputs/<rel>") */
	const char *keys;   /* --secureboot-keys (uris "secureboot-keys/<rel>") */
	struct im_rec_dep *v;
	size_t n, cap;
	int failed; /* an input could not be hashed: the build stops with that error */
	struct im_error err;
};

/* Record `path` (a file, or a folder: each regular file below it, sorted) as the input
 * `name`. rec may be NULL (no record). Errors are kept in rec (im_record_failed). */
void im_record_input(struct im_record *rec, const char *name, const char *path);
/* A digest that is not a file's (a certificate or public key fingerprint, a package). */
void im_record_digest(struct im_record *rec, const char *name, const char *uri, const char *hex,
		      const char *package);
/* The payload manifest (pkgs/payload.sh: "package version arch sha256" lines) of the
 * source tree's inputs folder, for the target arch, when the inputs are that folder. */
void im_record_manifest(struct im_record *rec, const char *arch);
/* The certificate's fingerprint (sha256 of its DER) and the PCR public key's (sha256 of
 * its DER SubjectPublicKeyInfo), read from the certificate and derived from the key. */
void im_record_secureboot(struct im_record *rec, const char *cert, const char *pcr_key);
void im_record_free(struct im_record *rec);

/* sha256 of a file as hex (streamed with OpenSSL). Missing/unreadable: IM_EXIT_MISSING
 * "<path> (<what>): <reason>". */
int im_sha256_file_hex(const char *path, const char *what, char hex[65], struct im_error *err);
struct im_record_build {
	const char *output;  /* the artifact's path */
	const char *profile; /* the effective profile as YAML (im_profile_dump) */
	int64_t epoch;
	int keys_dir;	   /* --secureboot-keys was given (.auth files come from it) */
	int strict_kernel; /* --strict-kernel */
};

/* Write <output>.build.json (temporary name + rename). */
int im_record_write(struct im_record *rec, const struct im_record_build *b, struct im_error *err);

#endif
