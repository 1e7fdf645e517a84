/* newc cpio writer over libarchive (see cpio.h). */
#include "imager/fs/cpio.h"

#include "imager/fs/arwrite.h"
#include "imager/util/outfile.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct cpio_ctx {
	struct archive *a;
	struct im_cstream *cs;
	struct im_error *err;
	struct archive_entry *e;
	int64_t mtime;
};

static la_ssize_t sink_write(struct archive *a, void *opaque, const void *buf, size_t len)
{
	struct cpio_ctx *c = opaque;
	if (im_cstream_write(c->cs, buf, len, c->err) < 0) {
		archive_set_error(a, EIO, "compressed write failed");
		return -1;
	}
	return (la_ssize_t)len;
}

static int fill_entry(struct cpio_ctx *c, const struct im_node *n)
{
	struct archive_entry *e = c->e;
	archive_entry_clear(e);
	archive_entry_set_pathname(e, n->path);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, c->mtime, 0);
	archive_entry_set_ino64(e, n->ino);
	archive_entry_set_dev(e, 0);
	archive_entry_set_perm(e, n->mode);
	archive_entry_set_nlink(e, 1);
	archive_entry_set_size(e, 0); /* libarchive insists on a size for every entry */
	switch (n->type) {
	case IM_NODE_DIR:
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_nlink(e, 2);
		break;
	case IM_NODE_FILE:
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, (la_int64_t)n->size);
		break;
	case IM_NODE_SYMLINK:
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_symlink(e, n->target);
		break;
	case IM_NODE_CHRDEV:
		archive_entry_set_filetype(e, AE_IFCHR);
		archive_entry_set_rdevmajor(e, n->rdev_major);
		archive_entry_set_rdevminor(e, n->rdev_minor);
		break;
	}
	if (archive_write_header(c->a, e) != ARCHIVE_OK)
		return im_fail(c->err, IM_EXIT_IO, "%s: cpio header: %s", n->path,
			       archive_error_string(c->a));
	return 0;
}

static int visit(struct im_node *n, void *opaque)
{
	struct cpio_ctx *c = opaque;
	if (!n->parent)
		return 0; /* the root itself is implicit in an initramfs */
	if (fill_entry(c, n) < 0)
		return -1;
	return n->type == IM_NODE_FILE
		   ? im_archive_write_node_data(c->a, n, n->path, "cpio data", c->err)
		   : 0;
}

int im_cpio_write_fd(struct im_tree *t, int fd, const struct im_cpio_opts *o, struct im_error *err)
{
	struct cpio_ctx c = {.err = err, .mtime = t->mtime};
	if (im_cstream_open(&c.cs, o->compress, o->level, o->threads, fd, err) < 0)
		return -1;
	c.a = archive_write_new();
	c.e = archive_entry_new();
	int rc = -1;
	if (!c.a || !c.e) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	im_tree_number(t);
	archive_write_set_format_cpio_newc(c.a);
	/* No padding to libarchive's 10 KiB records: the kernel needs none. */
	archive_write_set_bytes_per_block(c.a, 0);
	if (archive_write_open2(c.a, &c, NULL, sink_write, NULL, NULL) != ARCHIVE_OK) {
		im_fail(err, IM_EXIT_INTERNAL, "cpio: %s", archive_error_string(c.a));
		goto out;
	}
	if (im_tree_walk(t, visit, &c) != 0)
		goto out;
	if (archive_write_close(c.a) != ARCHIVE_OK) {
		im_fail(err, IM_EXIT_IO, "cpio: %s", archive_error_string(c.a));
		goto out;
	}
	rc = im_cstream_finish(c.cs, err);
	c.cs = NULL;
out:
	if (c.a)
		archive_write_free(c.a);
	if (c.e)
		archive_entry_free(c.e);
	im_cstream_free(c.cs);
	return rc;
}

int im_cpio_write(struct im_tree *t, const char *path, const struct im_cpio_opts *o,
		  struct im_error *err)
{
	struct im_outfile out;
	if (im_outfile_open(&out, path, err) < 0)
		return -1;
	if (im_cpio_write_fd(t, out.fd, o, err) < 0) {
		im_outfile_abort(&out);
		return -1;
	}
	return im_outfile_commit(&out, err);
}
