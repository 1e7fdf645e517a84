/* Opening a squashfs image for reading (see include/imager/fs/sqread.h). */
#include "imager/fs/sqread.h"

#include <errno.h>
#include <string.h>

#include <sqfs/error.h>

static int step_failed(struct im_sqfs_reader *r, const char *step, int rc)
{
	r->step = step;
	r->rc = rc;
	return 1;
}

int im_sqfs_reader_open(struct im_sqfs_reader *r, const char *path, const char *what,
			struct im_error *err)
{
	sqfs_compressor_config_t cfg;
	int rc;
	memset(r, 0, sizeof(*r));
	if (!(r->file = sqfs_open_file(path, SQFS_FILE_OPEN_READ_ONLY)))
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s", what);
	if ((rc = sqfs_super_read(&r->super, r->file)))
		return step_failed(r, "reading the super block", rc);
	sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)r->super.compression_id,
				    r->super.block_size, SQFS_COMP_FLAG_UNCOMPRESS);
	if ((rc = sqfs_compressor_create(&cfg, &r->cmp)))
		return im_fail(err, IM_EXIT_UNSUPPORTED, "%s: compressor %s not supported", what,
			       sqfs_compressor_name_from_id(r->super.compression_id));
	r->ids = sqfs_id_table_create(0);
	r->dirs = sqfs_dir_reader_create(&r->super, r->cmp, r->file, 0);
	r->data = sqfs_data_reader_create(r->file, r->super.block_size, r->cmp, 0);
	if (!r->ids || !r->dirs || !r->data)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if ((rc = sqfs_id_table_read(r->ids, r->file, &r->super, r->cmp)))
		return step_failed(r, "reading the ID table", rc);
	if ((rc = sqfs_data_reader_load_fragment_table(r->data, &r->super)))
		return step_failed(r, "reading the fragment table", rc);
	if ((rc = sqfs_dir_reader_get_full_hierarchy(r->dirs, r->ids, NULL, 0, &r->root)))
		return step_failed(r, "reading the directory tree", rc);
	return 0;
}

void im_sqfs_reader_close(struct im_sqfs_reader *r)
{
	sqfs_dir_tree_destroy(r->root);
	void *objs[] = {r->data, r->dirs, r->ids, r->cmp, r->file};
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		if (objs[i])
			sqfs_destroy(objs[i]);
	memset(r, 0, sizeof(*r));
}
