/* Writing OCI image layout archives (https://github.com/opencontainers/image-spec:
 * image-layout.md, manifest.md, config.md, layer.md), the format of the installer bundle:
 * a tar holding `oci-layout`, `index.json` and `blobs/sha256/<hex>`; one image manifest for
 * linux/<arch>; a config whose `created` is the given epoch; one gzip tar layer per tree.
 * Reproducible: entries in tree order (sorted), owner 0:0, every time the tree's mtime,
 * gzip by zlib with mtime 0 at a fixed level, JSON written in a fixed key order. */
#ifndef IMAGER_OCI_WRITE_H
#define IMAGER_OCI_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imager/fs/fstree.h"
#include "imager/util/error.h"

/* Digests of what im_tar_write_tree wrote: of the bytes written (the blob) and, with gzip,
 * of the uncompressed tar (the layer's DiffID, config.md "rootfs"). Lower-case hex. */
struct im_tar_sums {
	char digest[65];
	uint64_t size;
	char diff_id[65];
};

/* Write t (its root not as an entry) as a ustar archive to fd, gzip-compressed when `gzip`.
 * `what` names the output in messages. sums may be NULL. Errors: a name longer than ustar
 * holds is IM_EXIT_INVALID naming it; write failures IM_EXIT_IO. */
int im_tar_write_tree(struct im_tree *t, int fd, bool gzip, const char *what,
		      struct im_tar_sums *sums, struct im_error *err);

struct im_oci_image {
	const char *arch;	/* GOARCH: "amd64" | "arm64" */
	int64_t created;	/* seconds since the epoch (SOURCE_DATE_EPOCH) */
	const char *entrypoint; /* one path, e.g. "/usr/bin/installer" */
	const char *const *env; /* "K=V" strings */
	size_t n_env;
	const char *const *labels; /* "K=V" config labels, may be NULL */
	size_t n_labels;
	struct im_tree *const *layers; /* bottom first; each written as a gzip tar layer */
	size_t n_layers;
};

/* Write the whole layout archive to fd. Layers are staged in `tmpdir` under hidden
 * temporary names and removed before returning. `what` names the output in messages. */
int im_oci_write(int fd, const char *what, const char *tmpdir, const struct im_oci_image *img,
		 struct im_error *err);

#endif
