/* Opening a squashfs 4.0 image for reading with libsquashfs: the super block, compressor,
 * ID table, fragment table and the whole directory tree, as every reader of an image
 * (content.c's inputs, imager inspect) needs them. */
#ifndef IMAGER_FS_SQREAD_H
#define IMAGER_FS_SQREAD_H

#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir_reader.h>
#include <sqfs/id_table.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#include "imager/util/error.h"

struct im_sqfs_reader {
	sqfs_file_t *file;
	sqfs_super_t super;
	sqfs_compressor_t *cmp;
	sqfs_id_table_t *ids;
	sqfs_dir_reader_t *dirs;
	sqfs_data_reader_t *data;
	sqfs_tree_node_t *root;
	const char *step; /* after a return of 1: the libsquashfs step that failed ... */
	int rc;		  /* ... and its error code */
};

/* Open `path` (`what` names it in messages). 0: every field is ready. -1 with err set: the
 * file cannot be opened (errno), its compressor is not supported (IM_EXIT_UNSUPPORTED), out
 * of memory. 1: a libsquashfs step failed on the image's bytes (r->step, r->rc), err left
 * alone for the caller's own message. Close in every case. */
int im_sqfs_reader_open(struct im_sqfs_reader *r, const char *path, const char *what,
			struct im_error *err);
void im_sqfs_reader_close(struct im_sqfs_reader *r);

#endif
