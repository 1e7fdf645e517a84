/* Inputs that are file trees (system extensions, board overlays): a folder, a tar (any
 * compression libarchive reads), a squashfs 4.0 image, or an OCI image layout (folder or
 * tar) whose layers are flattened in order (oci.h). Archive content is extracted into a
 * staging folder the tree's nodes point at; folders are read in place (fstree.h). */
#ifndef IMAGER_CONTENT_H
#define IMAGER_CONTENT_H

#include "imager/util/error.h"
#include "imager/fs/fstree.h"
#include "imager/fs/oci.h"

/* Read `path` into *tree (free with im_tree_free, then im_stage_remove(stage)). `what`
 * names the input in messages ("system extension"). A missing or unreadable input is
 * IM_EXIT_MISSING, content we cannot read IM_EXIT_INVALID. */
int im_content_load(const char *path, const char *what, struct im_tree **tree,
		    struct im_stage *stage, struct im_error *err);

#endif
