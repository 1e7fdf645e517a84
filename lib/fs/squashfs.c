/* Squashfs images from file trees with libsquashfs (see include/imager/squashfs.h).
 *
 * References to "format" below are to the squashfs 4.0 format description shipped with
 * squashfs-tools-ng (doc/format.txt). An image is, in this order (format §2): superblock,
 * compressor options, data and fragment blocks, inode table, directory table, fragment
 * table, (export table,) ID table. The superblock is written twice: a placeholder first,
 * the real one over it at the end, once every table's location is known. */
#include "imager/fs/squashfs.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>

#include "imager/util/outfile.h"

#define DEFAULT_LEVEL	   3
#define MAX_WORKERS	   64
#define BACKLOG_PER_WORKER 4	       /* blocks in flight per thread: bounds memory */
#define SQFS_NAME_MAX	   256	       /* the kernel's SQUASHFS_NAME_LEN (format §6) */
#define NO_XATTR	   0xFFFFFFFFu /* "no extended attributes" index (format §5) */
#define IMAGE_ALIGN	   4096	       /* pad the image for block devices / loop mounts */

/* The output as a sqfs_file_t over the outfile's descriptor, so libsquashfs writes into
 * our temporary file and an I/O error is reported with the output's name and errno. */
struct out_file {
	sqfs_file_t base; /* first member: libsquashfs only sees the sqfs_file_t */
	int fd;
	sqfs_u64 size;
	const char *path;
	struct im_error *err;
};

struct sq {
	struct im_tree *t;
	const char *out_path;
	struct im_error *err;
	struct im_outfile out;
	struct out_file file;
	sqfs_super_t super;
	int level;
	unsigned block_size, workers;
	sqfs_compressor_t *cmp, *uncmp;
	sqfs_block_writer_t *bw;
	sqfs_frag_table_t *frags;
	sqfs_block_processor_t *proc;
	sqfs_id_table_t *ids;
	sqfs_meta_writer_t *itab, *dtab; /* inode table, directory table */
	sqfs_dir_writer_t *dirs;
	sqfs_u16 root_id;	      /* ID table index of uid/gid 0 */
	sqfs_inode_generic_t **files; /* by inode number: file inodes from the processor */
	sqfs_u64 *refs;		      /* by inode number: inode reference (block << 16 | offset) */
	unsigned char *buf;	      /* one block of file content being read */
};

/* ---- output file ---------------------------------------------------------------- */

static int of_read_at(sqfs_file_t *f, sqfs_u64 off, void *buf, size_t len)
{
	struct out_file *o = (struct out_file *)f;
	char *p = buf;
	while (len) {
		ssize_t n = pread(o->fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			im_fail_errno(o->err, IM_EXIT_IO, "%s: read back at offset %llu", o->path,
				      (unsigned long long)off);
			return SQFS_ERROR_IO;
		}
		p += n;
		off += (sqfs_u64)n;
		len -= (size_t)n;
	}
	return 0;
}

static int of_write_at(sqfs_file_t *f, sqfs_u64 off, const void *buf, size_t len)
{
	struct out_file *o = (struct out_file *)f;
	if (im_pwrite_all(o->fd, buf, len, (long long)off, o->path, o->err) < 0)
		return SQFS_ERROR_IO;
	if (off + len > o->size)
		o->size = off + len;
	return 0;
}

static sqfs_u64 of_get_size(const sqfs_file_t *f)
{
	return ((const struct out_file *)f)->size;
}

static int of_truncate(sqfs_file_t *f, sqfs_u64 size)
{
	struct out_file *o = (struct out_file *)f;
	if (ftruncate(o->fd, (off_t)size) < 0) {
		im_fail_errno(o->err, errno == ENOSPC ? IM_EXIT_ENV : IM_EXIT_IO,
			      "%s: resize to %llu bytes", o->path, (unsigned long long)size);
		return SQFS_ERROR_IO;
	}
	o->size = size;
	return 0;
}

static void of_destroy(sqfs_object_t *obj)
{
	(void)obj; /* embedded in struct sq; the descriptor belongs to the outfile */
}

static void out_file_init(struct out_file *o, int fd, const char *path, struct im_error *err)
{
	memset(o, 0, sizeof(*o));
	o->base.base.destroy = of_destroy;
	o->base.base.copy = NULL; /* writable files are never copied (sqfs/io.h) */
	o->base.read_at = of_read_at;
	o->base.write_at = of_write_at;
	o->base.get_size = of_get_size;
	o->base.truncate = of_truncate;
	o->fd = fd;
	o->path = path;
	o->err = err;
}

/* ---- errors --------------------------------------------------------------------- */

static const char *sq_strerror(int rc)
{
	switch (rc) {
	case SQFS_ERROR_ALLOC:
		return "out of memory";
	case SQFS_ERROR_IO:
		return "I/O error";
	case SQFS_ERROR_COMPRESSOR:
		return "compressor failure";
	case SQFS_ERROR_OVERFLOW:
		return "size overflow";
	case SQFS_ERROR_UNSUPPORTED:
		return "unsupported setting";
	case SQFS_ERROR_ARG_INVALID:
		return "invalid argument";
	default:
		return "internal error";
	}
}

/* Record a libsquashfs failure about `what`. Output I/O errors were already recorded
 * (with errno) by out_file, and the first error wins. */
static int sq_fail(struct sq *s, int rc, const char *what)
{
	int code = rc == SQFS_ERROR_IO ? IM_EXIT_IO : IM_EXIT_INTERNAL;
	return im_fail(s->err, code, "%s: squashfs: %s (%d)", what, sq_strerror(rc), rc);
}

static int oom(struct sq *s)
{
	return im_fail(s->err, IM_EXIT_INTERNAL, "%s: out of memory", s->out_path);
}

/* How a node is named in messages: its host source if any, else its path in the tree. */
static const char *node_what(const struct im_node *n)
{
	if (n->src)
		return n->src;
	return n->path[0] ? n->path : "/";
}

/* ---- options and input checks --------------------------------------------------- */

static int resolve_opts(struct sq *s, const struct im_squashfs_opts *o)
{
	s->level = o && o->level ? o->level : DEFAULT_LEVEL;
	s->block_size = o && o->block_size ? o->block_size : SQFS_DEFAULT_BLOCK_SIZE;
	s->workers = o && o->workers ? o->workers : 1;
	unsigned bs = s->block_size;
	if (s->level < SQFS_ZSTD_MIN_LEVEL || s->level > SQFS_ZSTD_MAX_LEVEL)
		return im_fail(s->err, IM_EXIT_INVALID, "%s: zstd level %d is not in %d..%d",
			       s->out_path, s->level, SQFS_ZSTD_MIN_LEVEL, SQFS_ZSTD_MAX_LEVEL);
	if (bs < SQFS_MIN_BLOCK_SIZE || bs > SQFS_MAX_BLOCK_SIZE || (bs & (bs - 1)))
		return im_fail(s->err, IM_EXIT_INVALID,
			       "%s: block size %u is not a power of two in %d..%d", s->out_path, bs,
			       SQFS_MIN_BLOCK_SIZE, SQFS_MAX_BLOCK_SIZE);
	if (s->workers > MAX_WORKERS)
		return im_fail(s->err, IM_EXIT_INVALID, "%s: %u workers (at most %d)", s->out_path,
			       s->workers, MAX_WORKERS);
	/* Inode and superblock times are unsigned 32-bit seconds (format §3, §5.1). */
	if (s->t->mtime < 0 || s->t->mtime > (int64_t)UINT32_MAX)
		return im_fail(s->err, IM_EXIT_INVALID,
			       "%s: modification time %lld is not in 0..%u (SOURCE_DATE_EPOCH)",
			       s->out_path, (long long)s->t->mtime, UINT32_MAX);
	return 0;
}

static int check_node(struct im_node *n, void *ctx)
{
	struct sq *s = ctx;
	if (strlen(n->name) > SQFS_NAME_MAX)
		return im_fail(s->err, IM_EXIT_INVALID, "%s: name longer than %d bytes", n->path,
			       SQFS_NAME_MAX);
	if (n->type == IM_NODE_CHRDEV && (n->rdev_major > 0xfff || n->rdev_minor > 0xfffff))
		return im_fail(s->err, IM_EXIT_INVALID,
			       "%s: device %u:%u does not fit (major < 4096, minor < 2^20)",
			       n->path, n->rdev_major, n->rdev_minor);
	if (n->type == IM_NODE_FILE && !n->src && n->size && !n->data)
		return im_fail(s->err, IM_EXIT_INTERNAL, "%s: file without content", n->path);
	if (n->type == IM_NODE_SYMLINK && (!n->target || !n->target[0]))
		return im_fail(s->err, IM_EXIT_INVALID, "%s: empty symlink target", n->path);
	return 0;
}

/* ---- setup ---------------------------------------------------------------------- */

static int setup_compressors(struct sq *s)
{
	sqfs_compressor_config_t cfg;
	int rc = sqfs_compressor_config_init(&cfg, SQFS_COMP_ZSTD, s->block_size, 0);
	if (rc == 0) {
		cfg.level = (sqfs_u32)s->level;
		rc = sqfs_compressor_create(&cfg, &s->cmp);
	}
	/* A decompressor lets fragment deduplication compare candidates byte by byte
	 * instead of trusting a hash. */
	if (rc == 0)
		rc = sqfs_compressor_config_init(&cfg, SQFS_COMP_ZSTD, s->block_size,
						 SQFS_COMP_FLAG_UNCOMPRESS);
	if (rc == 0)
		rc = sqfs_compressor_create(&cfg, &s->uncmp);
	return rc ? sq_fail(s, rc, "zstd") : 0;
}

/* The superblock comes first and the compressor options (a non-default zstd level)
 * right behind it (format §3, §3.1). The superblock written here is a placeholder of the
 * right size; finish_image() rewrites it. */
static int begin_image(struct sq *s)
{
	int rc = sqfs_super_init(&s->super, s->block_size, (sqfs_u32)s->t->mtime, SQFS_COMP_ZSTD);
	if (rc == 0)
		rc = sqfs_super_write(&s->super, &s->file.base);
	if (rc)
		return sq_fail(s, rc, s->out_path);
	rc = s->cmp->write_options(s->cmp, &s->file.base);
	if (rc < 0)
		return sq_fail(s, rc, s->out_path);
	if (rc > 0)
		s->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;
	s->super.flags |= SQFS_FLAG_NO_XATTRS;
	return 0;
}

/* Data path: block processor (split, compress on `workers` threads, pack tail ends into
 * fragment blocks) -> block writer (deduplicate, append to the image in submission order,
 * so the thread count never changes the bytes). */
static int setup_data(struct sq *s)
{
	s->bw = sqfs_block_writer_create(&s->file.base, SQFS_DEVBLK_SIZE, 0);
	s->frags = sqfs_frag_table_create(0);
	if (!s->bw || !s->frags)
		return oom(s);
	sqfs_block_processor_desc_t d;
	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	d.max_block_size = s->block_size;
	d.num_workers = s->workers;
	d.max_backlog = s->workers * BACKLOG_PER_WORKER;
	d.cmp = s->cmp;
	d.wr = s->bw;
	d.tbl = s->frags;
	d.file = &s->file.base;
	d.uncmp = s->uncmp;
	int rc = sqfs_block_processor_create_ex(&d, &s->proc);
	return rc ? sq_fail(s, rc, "block processor") : 0;
}

static int setup_meta(struct sq *s)
{
	s->ids = sqfs_id_table_create(0);
	/* Both tables are kept in memory until the end: they are produced together, but
	 * the whole inode table must precede the directory table on disk (format §2). */
	s->itab = sqfs_meta_writer_create(&s->file.base, s->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	s->dtab = sqfs_meta_writer_create(&s->file.base, s->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	if (!s->ids || !s->itab || !s->dtab)
		return oom(s);
	s->dirs = sqfs_dir_writer_create(s->dtab, 0);
	if (!s->dirs)
		return oom(s);
	int rc = sqfs_id_table_id_to_index(s->ids, 0, &s->root_id);
	return rc ? sq_fail(s, rc, "ID table") : 0;
}

static int setup(struct sq *s)
{
	size_t n = (size_t)s->t->count + 1;
	s->files = calloc(n, sizeof(*s->files));
	s->refs = calloc(n, sizeof(*s->refs));
	s->buf = malloc(s->block_size);
	if (!s->files || !s->refs || !s->buf)
		return oom(s);
	if (setup_compressors(s) < 0 || begin_image(s) < 0 || setup_data(s) < 0)
		return -1;
	return setup_meta(s);
}

static void teardown(struct sq *s)
{
	/* Users before what they use: the processor holds the block writer, fragment
	 * table and compressors; the directory writer fills the directory table. */
	sqfs_destroy(s->proc);
	sqfs_destroy(s->bw);
	sqfs_destroy(s->frags);
	sqfs_destroy(s->dirs);
	sqfs_destroy(s->itab);
	sqfs_destroy(s->dtab);
	sqfs_destroy(s->ids);
	sqfs_destroy(s->cmp);
	sqfs_destroy(s->uncmp);
	if (s->files)
		for (size_t i = 0; i <= s->t->count; i++)
			sqfs_free(s->files[i]);
	free(s->files);
	free(s->refs);
	free(s->buf);
}

/* ---- file data ------------------------------------------------------------------ */

/* Stream a host file one block at a time; its size must still be the one recorded in
 * the tree (the image must describe what was checked, and a growing file must not grow
 * the image without bound). */
static int pack_fd(struct sq *s, const struct im_node *n, int fd)
{
	uint64_t total = 0;
	for (;;) {
		ssize_t r = read(fd, s->buf, s->block_size);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return im_fail_errno(s->err, IM_EXIT_IO, "%s: read", n->src);
		if (r == 0)
			break;
		total += (uint64_t)r;
		if (total > n->size)
			break;
		int rc = sqfs_block_processor_append(s->proc, s->buf, (size_t)r);
		if (rc)
			return sq_fail(s, rc, n->src);
	}
	if (total != n->size)
		return im_fail(s->err, IM_EXIT_INVALID,
			       "%s: size changed while being read (expected %llu bytes)", n->src,
			       (unsigned long long)n->size);
	return 0;
}

/* Feed one file to the block processor. It builds the file inode in s->files[ino] and
 * keeps updating it (block sizes, fragment location) until sqfs_block_processor_finish,
 * which is why the array is allocated once and never moved. */
static int pack_file(struct sq *s, const struct im_node *n)
{
	int fd = -1;
	if (n->src && (fd = im_node_open(n, s->err)) < 0)
		return -1;
	int rc = sqfs_block_processor_begin_file(s->proc, &s->files[n->ino], NULL, 0);
	if (rc) {
		if (fd >= 0)
			close(fd);
		return sq_fail(s, rc, node_what(n));
	}
	int failed = 0;
	if (fd >= 0) {
		failed = pack_fd(s, n, fd);
		close(fd);
	} else if (n->size) {
		rc = sqfs_block_processor_append(s->proc, n->data, (size_t)n->size);
		failed = rc ? sq_fail(s, rc, node_what(n)) : 0;
	}
	/* End the file even after a failure: libsquashfs only releases the blocks of a file
	 * in progress when it is ended (the image is discarded anyway). */
	rc = sqfs_block_processor_end_file(s->proc);
	if (failed)
		return -1;
	return rc ? sq_fail(s, rc, node_what(n)) : 0;
}

static int pack_node(struct im_node *n, void *ctx)
{
	return n->type == IM_NODE_FILE ? pack_file(ctx, n) : 0;
}

static int pack_all(struct sq *s)
{
	/* Pre-order walk: data blocks land in the tree's order whatever the host's. */
	int failed = im_tree_walk(s->t, pack_node, s) != 0;
	/* Drain the blocks in flight even after a failure, for the same reason as above. */
	int rc = sqfs_block_processor_finish(s->proc);
	if (failed)
		return -1;
	return rc ? sq_fail(s, rc, s->out_path) : 0;
}

/* ---- inodes and directories ----------------------------------------------------- */

static sqfs_u16 node_fmt(const struct im_node *n)
{
	switch (n->type) {
	case IM_NODE_DIR:
		return S_IFDIR;
	case IM_NODE_FILE:
		return S_IFREG;
	case IM_NODE_SYMLINK:
		return S_IFLNK;
	case IM_NODE_CHRDEV:
		return S_IFCHR;
	}
	return 0;
}

/* Common inode header (format §5.1). The mode keeps the type bits as well, like every
 * squashfs writer; readers derive the type from the inode type. */
static void inode_base(struct sq *s, sqfs_inode_generic_t *ino, const struct im_node *n)
{
	ino->base.mode = (sqfs_u16)(node_fmt(n) | (n->mode & 07777));
	ino->base.uid_idx = s->root_id;
	ino->base.gid_idx = s->root_id;
	ino->base.mod_time = (sqfs_u32)s->t->mtime;
	ino->base.inode_number = n->ino;
}

/* Append an inode to the inode table and remember where it went: directory entries and
 * the superblock refer to an inode by its metadata block's offset from the table start
 * (bits 16..47) and its byte offset in the uncompressed block (bits 0..15). */
static int put_inode(struct sq *s, const struct im_node *n, sqfs_inode_generic_t *ino)
{
	sqfs_u64 block;
	sqfs_u32 off;
	inode_base(s, ino, n);
	sqfs_meta_writer_get_position(s->itab, &block, &off);
	s->refs[n->ino] = block << 16 | off;
	int rc = sqfs_meta_writer_write_inode(s->itab, ino);
	return rc ? sq_fail(s, rc, node_what(n)) : 0;
}

static int file_inode(struct sq *s, const struct im_node *n)
{
	sqfs_inode_generic_t *ino = s->files[n->ino];
	if (!ino)
		return im_fail(s->err, IM_EXIT_INTERNAL, "%s: no inode from the block processor",
			       node_what(n));
	/* Extended file inodes (sparse blocks, > 4 GiB) carry a link count and xattr index. */
	if (ino->base.type == SQFS_INODE_EXT_FILE) {
		ino->data.file_ext.nlink = 1;
		ino->data.file_ext.xattr_idx = NO_XATTR;
	}
	return put_inode(s, n, ino);
}

static int symlink_inode(struct sq *s, const struct im_node *n)
{
	size_t len = strlen(n->target);
	/* The target follows the inode, not NUL-terminated (format §5.4). */
	sqfs_inode_generic_t *ino = calloc(1, sizeof(*ino) + len);
	if (!ino)
		return oom(s);
	ino->base.type = SQFS_INODE_SLINK;
	ino->payload_bytes_available = (sqfs_u32)len;
	ino->payload_bytes_used = (sqfs_u32)len;
	ino->data.slink.nlink = 1;
	ino->data.slink.target_size = (sqfs_u32)len;
	memcpy(ino->extra, n->target, len);
	int rc = put_inode(s, n, ino);
	free(ino);
	return rc;
}

/* Linux device number layout (format §5.5): minor bits 0..7 in 0..7, major in 8..19,
 * minor bits 8..19 in 20..31. */
static sqfs_u32 encode_dev(uint32_t major, uint32_t minor)
{
	return (minor & 0xffu) | (major << 8) | ((minor & ~0xffu) << 12);
}

static int chrdev_inode(struct sq *s, const struct im_node *n)
{
	sqfs_inode_generic_t ino;
	memset(&ino, 0, sizeof(ino));
	ino.base.type = SQFS_INODE_CDEV;
	ino.data.dev.nlink = 1;
	ino.data.dev.devno = encode_dev(n->rdev_major, n->rdev_minor);
	return put_inode(s, n, &ino);
}

static int write_node(struct sq *s, const struct im_node *n);

/* A directory's listing, in the tree's byte order (format §6 requires sorted names). */
static int dir_listing(struct sq *s, const struct im_node *n)
{
	int rc = sqfs_dir_writer_begin(s->dirs, 0);
	for (size_t i = 0; rc == 0 && i < n->nchildren; i++) {
		const struct im_node *c = n->children[i];
		sqfs_u16 mode = (sqfs_u16)(node_fmt(c) | (c->mode & 07777));
		rc = sqfs_dir_writer_add_entry(s->dirs, c->name, c->ino, s->refs[c->ino], mode);
	}
	if (rc == 0)
		rc = sqfs_dir_writer_end(s->dirs);
	return rc ? sq_fail(s, rc, node_what(n)) : 0;
}

static int dir_inode(struct sq *s, const struct im_node *n)
{
	/* Bottom-up: the listing needs the children's inode references, and the directory
	 * inode needs the listing's location and size (format §5.2, §6). So all children
	 * (recursively) go to the inode table first, then the listing, then this inode. */
	sqfs_u32 subdirs = 0;
	for (size_t i = 0; i < n->nchildren; i++) {
		if (write_node(s, n->children[i]) < 0)
			return -1;
		subdirs += n->children[i]->type == IM_NODE_DIR;
	}
	if (dir_listing(s, n) < 0)
		return -1;
	/* The root has no parent: point its ".." one past the last inode rather than at 0,
	 * which some readdir() implementations take for a deleted entry. */
	sqfs_u32 parent = n->parent ? n->parent->ino : s->t->count + 1;
	sqfs_inode_generic_t *ino = sqfs_dir_writer_create_inode(s->dirs, 0, NO_XATTR, parent);
	if (!ino)
		return oom(s);
	/* Link count: the entry in the parent + "." + each subdirectory's "..", the usual
	 * Unix convention; set here because libsquashfs counts every entry instead. */
	if (ino->base.type == SQFS_INODE_EXT_DIR)
		ino->data.dir_ext.nlink = 2 + subdirs;
	else
		ino->data.dir.nlink = 2 + subdirs;
	int rc = put_inode(s, n, ino);
	sqfs_free(ino);
	return rc;
}

static int write_node(struct sq *s, const struct im_node *n)
{
	switch (n->type) {
	case IM_NODE_DIR:
		return dir_inode(s, n);
	case IM_NODE_FILE:
		return file_inode(s, n);
	case IM_NODE_SYMLINK:
		return symlink_inode(s, n);
	case IM_NODE_CHRDEV:
		return chrdev_inode(s, n);
	}
	return im_fail(s->err, IM_EXIT_INTERNAL, "%s: unknown node type %d", node_what(n),
		       (int)n->type);
}

/* ---- tables and superblock ------------------------------------------------------ */

/* After the data come the inode table, the directory table, the fragment table and the
 * ID table, in that order (format §2, and the placement rules of the superblock's table
 * fields, format §3); then the final superblock and the padding. */
static int finish_image(struct sq *s)
{
	int rc = sqfs_meta_writer_flush(s->itab);
	if (rc == 0)
		rc = sqfs_meta_writer_flush(s->dtab);
	if (rc == 0) {
		s->super.inode_table_start = s->file.size;
		rc = sqfs_meta_write_write_to_file(s->itab);
	}
	if (rc == 0) {
		s->super.directory_table_start = s->file.size;
		rc = sqfs_meta_write_write_to_file(s->dtab);
	}
	if (rc == 0)
		rc = sqfs_frag_table_write(s->frags, &s->file.base, &s->super, s->cmp);
	if (rc == 0)
		rc = sqfs_id_table_write(s->ids, &s->file.base, &s->super, s->cmp);
	if (rc)
		return sq_fail(s, rc, s->out_path);
	s->super.inode_count = s->t->count;
	s->super.root_inode_ref = s->refs[s->t->root->ino];
	s->super.bytes_used = s->file.size; /* excludes the padding (format §3) */
	rc = sqfs_super_write(&s->super, &s->file.base);
	if (rc)
		return sq_fail(s, rc, s->out_path);
	sqfs_u64 padded = (s->file.size + IMAGE_ALIGN - 1) / IMAGE_ALIGN * IMAGE_ALIGN;
	return of_truncate(&s->file.base, padded) ? -1 : 0;
}

int im_squashfs_write(struct im_tree *t, const char *out_path, const struct im_squashfs_opts *o,
		      struct im_error *err)
{
	struct sq s;
	memset(&s, 0, sizeof(s));
	s.t = t;
	s.out_path = out_path;
	s.err = err;
	if (resolve_opts(&s, o) < 0 || im_tree_walk(t, check_node, &s) != 0)
		return -1;
	im_tree_number(t);
	if (im_outfile_open(&s.out, out_path, err) < 0)
		return -1;
	out_file_init(&s.file, s.out.fd, out_path, err);
	int rc = setup(&s);
	if (rc == 0)
		rc = pack_all(&s);
	if (rc == 0)
		rc = write_node(&s, t->root);
	if (rc == 0)
		rc = finish_image(&s);
	teardown(&s); /* joins the worker threads before the descriptor goes away */
	if (rc) {
		im_outfile_abort(&s.out);
		return -1;
	}
	return im_outfile_commit(&s.out, err);
}
