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

#include <sqfs/inode.h>

#include "imager/fs/sqread.h"
#include "imager/util/outfile.h"

#define COPY_BUF (1u << 16)

/* ---- squashfs input (libsquashfs's reading API) ---------------------------------------- */

struct sq_ctx {
	struct im_tree *t;
	struct im_stage *st;
	const char *what;
	struct im_error *err;
	struct im_sqfs_reader r;
};

static int sq_fail(struct sq_ctx *c, const char *step, int rc)
{
	return im_fail(c->err, IM_EXIT_INVALID,
		       "%s: %s failed (libsquashfs error %d; expected a squashfs 4.0 image)",
		       c->what, step, rc);
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
		sqfs_s32 n = sqfs_data_reader_read(c->r.data, ino, off, buf, want);
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
	int rc = im_sqfs_reader_open(&c.r, path, path, err);

	if (rc == 1)
		rc = sq_fail(&c, c.r.step, c.r.rc);
	if (rc == 0)
		rc = sq_add(&c, c.r.root, "");
	im_sqfs_reader_close(&c.r);
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
