/* Reading file trees out of archives and images into an im_tree, the back ends of the
 * system extension loader (extension.h):
 *  - tar archives, any compression libarchive detects (.tar, .tar.gz, .tar.zst, .tar.xz);
 *  - squashfs images (libsquashfs; the reader is in extension.c, on the helpers below);
 *  - OCI image layouts (https://github.com/opencontainers/image-spec, image-layout.md),
 *    as a folder or as a tar of that folder: index.json -> image manifest -> layers, the
 *    layers applied in order with the whiteouts of layer.md ("Representing Changes").
 * File contents are extracted into a staging folder and the tree's nodes point at those
 * files (n->src), so memory does not grow with the size of the content. Entries keep the
 * permission bits the archive gives them; owners and times are not kept (the writers use
 * 0:0 and SOURCE_DATE_EPOCH). Device nodes, FIFOs and sockets are refused
 * (IM_EXIT_INVALID naming the input and the entry), as are paths that leave the root.
 * Later entries replace earlier ones at the same path (tar and layer semantics), except
 * that a directory over a directory only updates its mode. */
#ifndef IMAGER_OCI_H
#define IMAGER_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "imager/util/error.h"
#include "imager/fs/fstree.h"

/* A staging folder ("$TMPDIR/imager-stage.XXXXXX") plus a tree that owns the nodes
 * removed from trees being built (replaced entries, whiteouts) until im_stage_remove. */
struct im_stage {
	char *dir;
	unsigned long next; /* counter for staged file names */
	struct im_tree *trash;
	uint64_t bytes, entries; /* extracted so far (im_stage_account) */
	int cleanup;		 /* cleanup.h handle of dir */
};

/* Default caps on one archive input (tar, squashfs, OCI layout): content bytes, counted
 * at their apparent size (sparse entries included), and entries (a squashfs directory
 * DAG visited as a tree counts every visit). Overridable with the environment variables
 * IMAGER_CONTENT_MAX_BYTES and IMAGER_CONTENT_MAX_ENTRIES (decimal). */
#define IM_CONTENT_MAX_BYTES   (16ull << 30)
#define IM_CONTENT_MAX_ENTRIES 1000000ull

/* Count one entry of `bytes` content against the caps; over a cap: IM_EXIT_INVALID
 * naming the input, the entry and the variable that raises it. */
int im_stage_account(struct im_stage *st, const char *what, const char *path, uint64_t bytes,
		     struct im_error *err);

int im_stage_create(struct im_stage *st, struct im_error *err);
/* Delete the folder and everything in it; safe on a zeroed or already removed stage. */
void im_stage_remove(struct im_stage *st);

/* A new empty staging file (mode 0600); its name goes to `path`. Returns an fd or -1. */
int im_stage_new_file(struct im_stage *st, char *path, size_t size, struct im_error *err);

/* Put one entry into t with layer semantics: a directory over a directory updates its
 * mode; anything else first removes what is at `path` and any non-directory on the way
 * (the removed nodes go to the stage's trash). `arg` is the host file of a file (type
 * IM_NODE_FILE) or the target of a symlink. Device nodes cannot be put. */
int im_layer_put(struct im_tree *t, struct im_stage *st, const char *path, enum im_node_type type,
		 uint32_t mode, const char *arg, struct im_error *err);

/* The error for a device node, FIFO or socket entry (IM_EXIT_INVALID, naming both). */
int im_refuse_special(const char *what, const char *path, unsigned type_bits, struct im_error *err);

/* Apply a tar archive on top of t. `layer` selects OCI layer semantics (.wh. whiteouts,
 * .wh..wh..opq opaque directories); `what` names the input in errors. */
int im_tar_apply(struct im_tree *t, struct im_stage *st, const char *path, bool layer,
		 const char *what, struct im_error *err);

/* Does the tar at `path` hold an OCI image layout (an "oci-layout" file at its top)? */
int im_oci_tar_is_layout(const char *path, bool *yes, struct im_error *err);
/* Is the folder an OCI image layout (has "oci-layout" and "index.json")? */
bool im_oci_dir_is_layout(const char *dir);

/* Flatten the image of an OCI layout (folder, or tar when `is_tar`) into t: the first
 * image manifest of index.json (nested indexes followed), its layers applied in order.
 * Digests are verified (sha256). Errors: IM_EXIT_MISSING for a missing blob,
 * IM_EXIT_INVALID for bad JSON, digests or layers, IM_EXIT_UNSUPPORTED for another
 * digest algorithm or a non-tar layer media type. */
int im_oci_read(struct im_tree *t, struct im_stage *st, const char *path, bool is_tar,
		struct im_error *err);

/* ---- libyaml document helpers, shared with extension.c (JSON is read as YAML) ---------- */

struct im_ydoc {
	yaml_document_t doc;
	bool loaded;
};

/* Parse one document; `json` turns tabs (whitespace in JSON, not in YAML) into spaces.
 * Errors: IM_EXIT_INVALID "<what>:<line>:<col>: <problem>". */
int im_ydoc_load(struct im_ydoc *d, const char *text, size_t len, bool json, const char *what,
		 struct im_error *err);
void im_ydoc_free(struct im_ydoc *d);
yaml_node_t *im_ydoc_root(struct im_ydoc *d);
/* The value of `key` in a mapping node; NULL if n is not a mapping or has no such key. */
yaml_node_t *im_ydoc_get(struct im_ydoc *d, yaml_node_t *n, const char *key);
/* A scalar's text (NUL-terminated), or NULL when n is NULL or not a scalar. */
const char *im_ydoc_str(const yaml_node_t *n);

/* Read a whole (small) file into a malloc'd, NUL-terminated buffer of at most `max`
 * bytes. Errors name `path`: IM_EXIT_MISSING (cannot open), IM_EXIT_INVALID (too big). */
int im_read_small_file(const char *path, size_t max, char **out, size_t *len, struct im_error *err);

#endif
