/* Tree inputs: a folder, a tar, a squashfs image or an OCI image layout, read into an
 * in-memory tree (see include/imager/content.h). */
#include "imager/fs/content.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#include "imager/util/outfile.h"

#define COPY_BUF (1u << 16)

/* ---- squashfs input (libsquashfs's reading API) ---------------------------------------- */

struct sq_ctx {
	struct im_tree *t;
	struct im_stage *st;
	const char *what;
	struct im_error *err;
	sqfs_file_t *file;
	sqfs_super_t super;
	sqfs_compressor_t *cmp;
	sqfs_id_table_t *ids;
	sqfs_dir_reader_t *dirs;
	sqfs_data_reader_t *data;
	sqfs_tree_node_t *root;
};

static int sq_fail(struct sq_ctx *c, const char *step, int rc)
{
	return im_fail(c->err, IM_EXIT_INVALID,
		       "%s: %s failed (libsquashfs error %d; expected a squashfs 4.0 image)",
		       c->what, step, rc);
}

static int sq_open(struct sq_ctx *c, const char *path)
{
	sqfs_compressor_config_t cfg;
	int rc;

	c->file = sqfs_open_file(path, SQFS_FILE_OPEN_READ_ONLY);
	if (!c->file)
		return im_fail_errno(c->err, im_exit_for_input_errno(errno), "%s", path);
	if ((rc = sqfs_super_read(&c->super, c->file)))
		return sq_fail(c, "reading the super block", rc);
	sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)c->super.compression_id,
				    c->super.block_size, SQFS_COMP_FLAG_UNCOMPRESS);
	if ((rc = sqfs_compressor_create(&cfg, &c->cmp)))
		return im_fail(c->err, IM_EXIT_UNSUPPORTED, "%s: compressor %s not supported",
			       c->what, sqfs_compressor_name_from_id(c->super.compression_id));
	c->ids = sqfs_id_table_create(0);
	c->dirs = sqfs_dir_reader_create(&c->super, c->cmp, c->file, 0);
	c->data = sqfs_data_reader_create(c->file, c->super.block_size, c->cmp, 0);
	if (!c->ids || !c->dirs || !c->data)
		return im_fail(c->err, IM_EXIT_INTERNAL, "out of memory");
	if ((rc = sqfs_id_table_read(c->ids, c->file, &c->super, c->cmp)))
		return sq_fail(c, "reading the ID table", rc);
	if ((rc = sqfs_data_reader_load_fragment_table(c->data, &c->super)))
		return sq_fail(c, "reading the fragment table", rc);
	if ((rc = sqfs_dir_reader_get_full_hierarchy(c->dirs, c->ids, NULL, 0, &c->root)))
		return sq_fail(c, "reading the directory tree", rc);
	return 0;
}

static void sq_close(struct sq_ctx *c)
{
	sqfs_dir_tree_destroy(c->root);
	if (c->data)
		sqfs_destroy(c->data);
	if (c->dirs)
		sqfs_destroy(c->dirs);
	if (c->ids)
		sqfs_destroy(c->ids);
	if (c->cmp)
		sqfs_destroy(c->cmp);
	if (c->file)
		sqfs_destroy(c->file);
}

/* Copy a file's content into a staging file, a block at a time. */
static int sq_stage_file(struct sq_ctx *c, const sqfs_inode_generic_t *ino, const char *path,
			 char *file, size_t size)
{
	sqfs_u64 len = 0;
	int fd = im_stage_new_file(c->st, file, size, c->err);
	char *buf = malloc(COPY_BUF);
	int rc = 0;

	if (fd < 0 || !buf) {
		rc = fd < 0 ? -1 : im_fail(c->err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	sqfs_inode_get_file_size(ino, &len);
	for (sqfs_u64 off = 0; rc == 0 && off < len;) {
		sqfs_u32 want = len - off < COPY_BUF ? (sqfs_u32)(len - off) : COPY_BUF;
		sqfs_s32 n = sqfs_data_reader_read(c->data, ino, off, buf, want);
		if (n <= 0)
			rc = im_fail(c->err, IM_EXIT_INVALID, "%s: \"%s\": cannot read data (%d)",
				     c->what, path, (int)n);
		else
			rc = im_write_all(fd, buf, (size_t)n, file, c->err);
		off += n > 0 ? (sqfs_u64)n : 0;
	}
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int sq_add(struct sq_ctx *c, const sqfs_tree_node_t *n, const char *path);

static int sq_add_children(struct sq_ctx *c, const sqfs_tree_node_t *n, const char *path)
{
	char child[PATH_MAX];

	for (const sqfs_tree_node_t *ch = n->children; ch; ch = ch->next) {
		const char *name = (const char *)ch->name;
		if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
			return im_fail(c->err, IM_EXIT_INVALID, "%s: \"%s\": invalid entry name",
				       c->what, path);
		if (snprintf(child, sizeof(child), "%s%s%s", path, *path ? "/" : "", name) >=
		    (int)sizeof(child))
			return im_fail(c->err, IM_EXIT_INVALID, "%s: \"%s/%s\": path too long",
				       c->what, path, name);
		if (sq_add(c, ch, child) < 0)
			return -1;
	}
	return 0;
}

static int sq_add(struct sq_ctx *c, const sqfs_tree_node_t *n, const char *path)
{
	const sqfs_inode_generic_t *ino = n->inode;
	uint32_t mode = ino->base.mode & 07777;
	char file[PATH_MAX], *target;
	int rc;
	sqfs_u64 size = 0;

	if (ino->base.type == SQFS_INODE_FILE || ino->base.type == SQFS_INODE_EXT_FILE)
		sqfs_inode_get_file_size(ino, &size);
	if (im_stage_account(c->st, c->what, path, size, c->err) < 0)
		return -1;

	switch (ino->base.type) {
	case SQFS_INODE_DIR:
	case SQFS_INODE_EXT_DIR:
		if (im_layer_put(c->t, c->st, path, IM_NODE_DIR, mode, NULL, c->err) < 0)
			return -1;
		return sq_add_children(c, n, path);
	case SQFS_INODE_FILE:
	case SQFS_INODE_EXT_FILE:
		if (sq_stage_file(c, ino, path, file, sizeof(file)) < 0)
			return -1;
		return im_layer_put(c->t, c->st, path, IM_NODE_FILE, mode, file, c->err);
	case SQFS_INODE_SLINK:
	case SQFS_INODE_EXT_SLINK:
		target = strndup((const char *)ino->extra, ino->data.slink.target_size);
		if (!target)
			return im_fail(c->err, IM_EXIT_INTERNAL, "out of memory");
		rc = im_layer_put(c->t, c->st, path, IM_NODE_SYMLINK, mode, target, c->err);
		free(target);
		return rc;
	default:
		return im_refuse_special(c->what, path, ino->base.mode & SQFS_INODE_MODE_MASK,
					 c->err);
	}
}

static int load_squashfs(struct im_tree *t, struct im_stage *st, const char *path,
			 struct im_error *err)
{
	struct sq_ctx c = {.t = t, .st = st, .what = path, .err = err};
	int rc = sq_open(&c, path);

	if (rc == 0)
		rc = sq_add(&c, c.root, "");
	sq_close(&c);
	return rc;
}

/* ---- loading -------------------------------------------------------------------------- */

static bool is_squashfs(const char *path)
{
	char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool yes = fd >= 0 && read(fd, magic, 4) == 4 && memcmp(magic, "hsqs", 4) == 0;

	if (fd >= 0)
		close(fd);
	return yes;
}

static int load_archive(const char *path, struct im_tree *t, struct im_stage *st,
			struct im_error *err)
{
	bool oci;

	if (is_squashfs(path))
		return load_squashfs(t, st, path, err);
	if (im_oci_tar_is_layout(path, &oci, err) < 0)
		return -1;
	if (oci)
		return im_oci_read(t, st, path, true, err);
	return im_tar_apply(t, st, path, false, path, err);
}

int im_content_load(const char *path, const char *what, struct im_tree **tree,
		    struct im_stage *stage, struct im_error *err)
{
	struct stat st;
	bool dir;

	*tree = NULL;
	if (stat(path, &st) < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno),
				     "%s: %s (expected a folder, tar, squashfs or OCI layout)",
				     path, what);
	if (access(path, R_OK) < 0)
		return im_fail_errno(err, IM_EXIT_MISSING, "%s: %s", path, what);
	dir = S_ISDIR(st.st_mode);
	if (dir && !im_oci_dir_is_layout(path))
		return im_tree_from_dir(tree, path, 0, err);
	if (!(*tree = im_tree_new(0)))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (im_stage_create(stage, err) < 0)
		return -1;
	return dir ? im_oci_read(*tree, stage, path, false, err)
		   : load_archive(path, *tree, stage, err);
}
