/* A file tree node's content streamed into a libarchive writer, after its header: the cpio
 * (cpio.c) and tar (oci_write.c) writers share it. */
#ifndef IMAGER_FS_ARWRITE_H
#define IMAGER_FS_ARWRITE_H

#include <archive.h>

#include "imager/fs/fstree.h"
#include "imager/util/error.h"

/* Write n's bytes (in memory, or read from n->src, whose size must not change under us:
 * the header has it). A failed archive write is IM_EXIT_IO "<a>: <b>: <libarchive's
 * message>"; a host file that cannot be read or shrank names n->src. */
int im_archive_write_node_data(struct archive *ar, const struct im_node *n, const char *a,
			       const char *b, struct im_error *err);

#endif
