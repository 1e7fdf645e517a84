/* Tar, squashfs and OCI image layout readers into im_tree (see include/imager/oci.h). */
#include "imager/fs/oci.h"
#include "imager/util/cleanup.h"
#include "imager/util/outfile.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSON_MAX    (4u << 20) /* index.json and manifests are a few KiB */
#define COPY_BUF    (1u << 16)
#define INDEX_DEPTH 4 /* nested image indexes followed */
#define DIGEST_HEX  64

/* ---- staging folder ------------------------------------------------------------------- */

int im_stage_create(struct im_stage *st, struct im_error *err)
{
	const char *tmp = getenv("TMPDIR");

	memset(st, 0, sizeof(*st));
	if (asprintf(&st->dir, "%s/imager-stage.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) {
		st->dir = NULL;
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	st->trash = im_tree_new(0);
	if (!st->trash || !mkdtemp(st->dir)) {
		int code = st->trash ? IM_EXIT_ENV : IM_EXIT_INTERNAL;
		im_fail_errno(err, code, "%s: cannot create a staging folder", st->dir);
		free(st->dir);
		st->dir = NULL; /* nothing to delete */
		im_stage_remove(st);
		return -1;
	}
	st->cleanup = im_cleanup_add(st->dir, true);
	return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void im_stage_remove(struct im_stage *st)
{
	if (st->dir)
		nftw(st->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	im_cleanup_forget(st->cleanup);
	free(st->dir);
	im_tree_free(st->trash);
	memset(st, 0, sizeof(*st));
}

/* Caps on what one input may extract (issue 17: resource bombs): total content bytes
 * (apparent sizes, so a sparse entry claiming terabytes counts fully) and entries. */
static uint64_t cap_from_env(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	char *end;
	if (!v || !*v)
		return def;
	unsigned long long n = strtoull(v, &end, 10);
	return *end ? def : (uint64_t)n;
}

int im_stage_account(struct im_stage *st, const char *what, const char *path, uint64_t bytes,
		     struct im_error *err)
{
	uint64_t max_bytes = cap_from_env("IMAGER_CONTENT_MAX_BYTES", IM_CONTENT_MAX_BYTES);
	uint64_t max_entries = cap_from_env("IMAGER_CONTENT_MAX_ENTRIES", IM_CONTENT_MAX_ENTRIES);
	if (++st->entries > max_entries)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: \"%s\": more than %llu entries (IMAGER_CONTENT_MAX_ENTRIES)",
			       what, path, (unsigned long long)max_entries);
	if (st->bytes > max_bytes || bytes > max_bytes - st->bytes)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: \"%s\": more than %llu bytes of content "
			       "(IMAGER_CONTENT_MAX_BYTES)",
			       what, path, (unsigned long long)max_bytes);
	st->bytes += bytes;
	return 0;
}

/* A new empty file in the staging folder; its name goes to `path`. */
int im_stage_new_file(struct im_stage *st, char *path, size_t size, struct im_error *err)
{
	snprintf(path, size, "%s/f%lu", st->dir, st->next++);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return im_fail_errno(err, errno == ENOSPC ? IM_EXIT_ENV : IM_EXIT_IO,
				     "%s: cannot create staging file", path);
	return fd;
}

/* ---- tree editing --------------------------------------------------------------------- */

static uint32_t subtree_count(const struct im_node *n)
{
	uint32_t c = 1;
	for (size_t i = 0; i < n->nchildren; i++)
		c += subtree_count(n->children[i]);
	return c;
}

/* Detach n (and its subtree) from t; the stage's trash tree frees it later, so the tree
 * library's own destructor is the only one that ever frees nodes. */
static int tree_remove(struct im_tree *t, struct im_stage *st, struct im_node *n,
		       struct im_error *err)
{
	struct im_node *p = n->parent, *bin = st->trash->root;
	struct im_node **c = realloc(bin->children, (bin->nchildren + 1) * sizeof(*c));

	if (!c)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	bin->children = c;
	size_t i = 0;
	while (i < p->nchildren && p->children[i] != n)
		i++;
	memmove(p->children + i, p->children + i + 1, (p->nchildren - i - 1) * sizeof(*c));
	p->nchildren--;
	t->count -= subtree_count(n);
	bin->children[bin->nchildren++] = n;
	n->parent = bin;
	return 0;
}

/* Make room for a new entry at `path`: a non-directory on the way is replaced by the
 * directories the new entry needs, and an existing entry at `path` goes away. */
static int make_room(struct im_tree *t, struct im_stage *st, const char *path, struct im_error *err)
{
	char prefix[PATH_MAX];

	for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(s - path), path);
		struct im_node *n = im_tree_lookup(t, prefix);
		if (!n)
			break;
		if (n->type != IM_NODE_DIR)
			return tree_remove(t, st, n, err);
	}
	struct im_node *n = im_tree_lookup(t, path);
	return n ? tree_remove(t, st, n, err) : 0;
}

/* "./a//b/./c/" -> "a/b/c" ("" for the root); -1 when a ".." would leave the root. */
static int clean_path(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (const char *p = in; *p;) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if (len == 0 || (len == 1 && p[0] == '.')) {
			p += len;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		if (n + len + 2 > size)
			return -1;
		if (n)
			out[n++] = '/';
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
	out[n] = '\0';
	return 0;
}

static const char *type_name(unsigned type)
{
	switch (type) {
	case S_IFCHR:
		return "character device";
	case S_IFBLK:
		return "block device";
	case S_IFIFO:
		return "FIFO";
	case S_IFSOCK:
		return "socket";
	default:
		return "special file";
	}
}

int im_refuse_special(const char *what, const char *path, unsigned type, struct im_error *err)
{
	return im_fail(err, IM_EXIT_INVALID,
		       "%s: \"%s\": %s not allowed (expected regular files, directories and "
		       "symlinks only)",
		       what, path, type_name(type));
}

int im_layer_put(struct im_tree *t, struct im_stage *st, const char *path, enum im_node_type type,
		 uint32_t mode, const char *arg, struct im_error *err)
{
	struct im_node *n = im_tree_lookup(t, path);

	mode &= 07777;
	if (type == IM_NODE_DIR && n && n->type == IM_NODE_DIR) {
		n->mode = mode; /* a directory over a directory: contents merge */
		return 0;
	}
	if (!*path)
		return im_fail(err, IM_EXIT_INVALID, "\"%s\": expected a directory at the root",
			       arg ? arg : "");
	if (make_room(t, st, path, err) < 0)
		return -1;
	switch (type) {
	case IM_NODE_DIR:
		return im_tree_add_dir(t, path, mode, err);
	case IM_NODE_FILE:
		return im_tree_add_file_src(t, path, arg, mode, err);
	case IM_NODE_SYMLINK:
		return im_tree_add_symlink(t, path, arg, err);
	case IM_NODE_CHRDEV:
		break;
	}
	return im_fail(err, IM_EXIT_INTERNAL, "%s: device nodes cannot be staged", path);
}

/* ---- tar ------------------------------------------------------------------------------ */

struct tar_ctx {
	struct im_tree *t;
	struct im_stage *st;
	const char *what;
	struct im_error *err;
	struct archive *a;
};

static int tar_open(struct tar_ctx *c, const char *path)
{
	c->a = archive_read_new();
	if (!c->a)
		return im_fail(c->err, IM_EXIT_INTERNAL, "out of memory");
	/* Only the built-in decompressors we support: filter_all would also run external
	 * programs (lrzip, lzop, grzip...) that a crafted archive asks for. */
	archive_read_support_filter_gzip(c->a);
	archive_read_support_filter_zstd(c->a);
	archive_read_support_filter_xz(c->a);
	archive_read_support_filter_bzip2(c->a);
	archive_read_support_format_tar(c->a);
	if (archive_read_open_filename(c->a, path, COPY_BUF) != ARCHIVE_OK) {
		int e = archive_errno(c->a);
		im_fail(c->err, e == ENOENT || e == EACCES ? IM_EXIT_MISSING : IM_EXIT_INVALID,
			"%s: %s (expected a tar archive)", c->what, archive_error_string(c->a));
		archive_read_free(c->a);
		c->a = NULL;
		return -1;
	}
	return 0;
}

/* Next header: 1, 0 at the end, -1 on error. */
static int tar_next(struct tar_ctx *c, struct archive_entry **e)
{
	int r = archive_read_next_header(c->a, e);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
		return 1;
	return im_fail(c->err, IM_EXIT_INVALID, "%s: %s (expected a tar archive)", c->what,
		       archive_error_string(c->a));
}

/* Stream the current entry's data into a new staging file (sparse holes kept). */
static int tar_stage_data(struct tar_ctx *c, struct archive_entry *e, const char *entry, char *file,
			  size_t size)
{
	int fd = im_stage_new_file(c->st, file, size, c->err);
	const void *buf;
	size_t len;
	la_int64_t off;
	int r, rc = 0;

	if (fd < 0)
		return -1;
	while (rc == 0 && (r = archive_read_data_block(c->a, &buf, &len, &off)) != ARCHIVE_EOF) {
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			rc = im_fail(c->err, IM_EXIT_INVALID, "%s: \"%s\": %s", c->what, entry,
				     archive_error_string(c->a));
		else
			rc = im_pwrite_all(fd, buf, len, (long long)off, file, c->err);
	}
	if (rc == 0 && archive_entry_size_is_set(e) &&
	    ftruncate(fd, (off_t)archive_entry_size(e)) < 0)
		rc = im_fail_errno(c->err, IM_EXIT_IO, "%s: truncate", file);
	close(fd);
	return rc;
}

/* A hard link gets its own copy of the target's content (trees have no hard links). */
static int tar_add_hardlink(struct tar_ctx *c, const char *path, const char *raw_target)
{
	char target[PATH_MAX], src[PATH_MAX];
	struct im_node *n;

	if (clean_path(raw_target, target, sizeof(target)) < 0 ||
	    !(n = im_tree_lookup(c->t, target)) || n->type != IM_NODE_FILE || !n->src)
		return im_fail(c->err, IM_EXIT_INVALID,
			       "%s: \"%s\": hard link to \"%s\", which is not an earlier regular "
			       "file of the archive",
			       c->what, path, raw_target);
	snprintf(src, sizeof(src), "%s", n->src); /* n may go if path == target */
	return im_layer_put(c->t, c->st, path, IM_NODE_FILE, n->mode, src, c->err);
}

static int tar_add_entry(struct tar_ctx *c, struct archive_entry *e, const char *path)
{
	uint32_t mode = archive_entry_perm(e);
	mode_t type = archive_entry_filetype(e);
	char file[PATH_MAX];
	la_int64_t size =
	    type == AE_IFREG && archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;

	if (im_stage_account(c->st, c->what, path, size > 0 ? (uint64_t)size : 0, c->err) < 0)
		return -1;
	if (!*path && type != AE_IFDIR)
		return im_fail(c->err, IM_EXIT_INVALID,
			       "%s: \"%s\": expected a directory at the archive root", c->what,
			       archive_entry_pathname(e));
	if (archive_entry_hardlink(e))
		return tar_add_hardlink(c, path, archive_entry_hardlink(e));
	switch (type) {
	case AE_IFDIR:
		return im_layer_put(c->t, c->st, path, IM_NODE_DIR, mode, NULL, c->err);
	case AE_IFREG:
		if (tar_stage_data(c, e, path, file, sizeof(file)) < 0)
			return -1;
		return im_layer_put(c->t, c->st, path, IM_NODE_FILE, mode, file, c->err);
	case AE_IFLNK:
		return im_layer_put(c->t, c->st, path, IM_NODE_SYMLINK, mode,
				    archive_entry_symlink(e) ? archive_entry_symlink(e) : "",
				    c->err);
	default:
		return im_refuse_special(c->what, path, type, c->err);
	}
}

static bool is_whiteout(const char *path)
{
	const char *base = strrchr(path, '/');

	return strncmp(base ? base + 1 : path, ".wh.", 4) == 0;
}

/* OCI layer.md: ".wh.NAME" hides NAME of the lower layers, ".wh..wh..opq" hides every
 * lower entry of its directory. Other ".wh..wh." names (aufs metadata) are ignored. */
static int apply_whiteout(struct tar_ctx *c, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char dir[PATH_MAX], victim[PATH_MAX];

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 0, path);
	if (strcmp(base, ".wh..wh..opq") == 0) {
		struct im_node *d = im_tree_lookup(c->t, dir);
		while (d && d->type == IM_NODE_DIR && d->nchildren)
			if (tree_remove(c->t, c->st, d->children[0], c->err) < 0)
				return -1;
		return 0;
	}
	if (strncmp(base, ".wh..wh.", 8) == 0)
		return 0;
	if (!base[4])
		return im_fail(c->err, IM_EXIT_INVALID, "%s: \"%s\": whiteout without a name",
			       c->what, path);
	if (snprintf(victim, sizeof(victim), "%s%s%s", dir, *dir ? "/" : "", base + 4) >=
	    (int)sizeof(victim))
		return im_fail(c->err, IM_EXIT_INVALID, "%s: \"%s\": path too long", c->what, path);
	struct im_node *n = im_tree_lookup(c->t, victim);
	return n ? tree_remove(c->t, c->st, n, c->err) : 0;
}

/* One pass over the archive: whiteouts only (pass 0) or everything else (pass 1). */
static int tar_pass(struct tar_ctx *c, const char *path, bool layer, int pass)
{
	struct archive_entry *e;
	char clean[PATH_MAX];
	int r, rc = 0;

	if (tar_open(c, path) < 0)
		return -1;
	while (rc == 0 && (r = tar_next(c, &e)) > 0) {
		const char *raw = archive_entry_pathname(e);
		if (!raw || clean_path(raw, clean, sizeof(clean)) < 0) {
			rc = im_fail(c->err, IM_EXIT_INVALID,
				     "%s: \"%s\": path leaves the archive root (expected relative "
				     "paths without \"..\")",
				     c->what, raw ? raw : "");
			break;
		}
		bool wh = layer && is_whiteout(clean);
		if (pass == 0 && wh)
			rc = apply_whiteout(c, clean);
		else if (pass == 1 && !wh)
			rc = tar_add_entry(c, e, clean);
	}
	if (r < 0)
		rc = -1;
	archive_read_free(c->a);
	c->a = NULL;
	return rc;
}

int im_tar_apply(struct im_tree *t, struct im_stage *st, const char *path, bool layer,
		 const char *what, struct im_error *err)
{
	struct tar_ctx c = {.t = t, .st = st, .what = what, .err = err};

	/* Whiteouts apply to the lower layers only (layer.md), so they go first. */
	if (layer && tar_pass(&c, path, layer, 0) < 0)
		return -1;
	return tar_pass(&c, path, layer, 1);
}

/* ---- libyaml documents ---------------------------------------------------------------- */

int im_ydoc_load(struct im_ydoc *d, const char *text, size_t len, bool json, const char *what,
		 struct im_error *err)
{
	yaml_parser_t p;
	char *copy = malloc(len + 1);
	int rc = 0;

	memset(d, 0, sizeof(*d));
	if (!copy || !yaml_parser_initialize(&p)) {
		free(copy);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	memcpy(copy, text, len);
	for (size_t i = 0; json && i < len; i++)
		if (copy[i] == '\t') /* JSON whitespace; only valid outside strings */
			copy[i] = ' ';
	yaml_parser_set_input_string(&p, (const unsigned char *)copy, len);
	if (!yaml_parser_load(&p, &d->doc))
		rc = im_fail(err, IM_EXIT_INVALID, "%s:%zu:%zu: %s (expected %s)", what,
			     p.problem_mark.line + 1, p.problem_mark.column + 1,
			     p.problem ? p.problem : "syntax error", json ? "JSON" : "YAML");
	else
		d->loaded = true;
	yaml_parser_delete(&p);
	free(copy);
	return rc;
}

void im_ydoc_free(struct im_ydoc *d)
{
	if (d->loaded)
		yaml_document_delete(&d->doc);
	d->loaded = false;
}

yaml_node_t *im_ydoc_root(struct im_ydoc *d)
{
	return d->loaded ? yaml_document_get_root_node(&d->doc) : NULL;
}

yaml_node_t *im_ydoc_get(struct im_ydoc *d, yaml_node_t *n, const char *key)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const char *k = im_ydoc_str(yaml_document_get_node(&d->doc, p->key));
		if (k && strcmp(k, key) == 0)
			return yaml_document_get_node(&d->doc, p->value);
	}
	return NULL;
}

const char *im_ydoc_str(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int im_read_small_file(const char *path, size_t max, char **out, size_t *len, struct im_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	*out = NULL;
	if (fd < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		close(fd);
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: expected a regular file of at most %zu "
			       "bytes",
			       path, max);
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t n = 0;
	while (buf && n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!buf || n != (size_t)st.st_size) {
		free(buf);
		return buf ? im_fail(err, IM_EXIT_IO, "%s: short read", path)
			   : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* ---- OCI image layout ----------------------------------------------------------------- */

bool im_oci_dir_is_layout(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/oci-layout", dir);
	if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	snprintf(p, sizeof(p), "%s/index.json", dir);
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int im_oci_tar_is_layout(const char *path, bool *yes, struct im_error *err)
{
	struct tar_ctx c = {.what = path, .err = err};
	struct archive_entry *e;
	char clean[PATH_MAX];
	int r = 0;

	*yes = false;
	if (tar_open(&c, path) < 0)
		return -1;
	while (!*yes && (r = tar_next(&c, &e)) > 0) {
		const char *raw = archive_entry_pathname(e);
		*yes = raw && clean_path(raw, clean, sizeof(clean)) == 0 &&
		       strcmp(clean, "oci-layout") == 0;
	}
	archive_read_free(c.a);
	return *yes || r == 0 ? 0 : -1;
}

/* Only the files a layout consists of are taken out of the tar, under names we build. */
static bool layout_member(const char *p)
{
	if (!strcmp(p, "oci-layout") || !strcmp(p, "index.json"))
		return true;
	if (strncmp(p, "blobs/", 6) != 0)
		return false;
	p += 6;
	size_t alg = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789");
	if (alg == 0 || p[alg] != '/')
		return false;
	p += alg + 1;
	return *p && strspn(p, "0123456789abcdef") == strlen(p);
}

static int mkdir_p2(const char *dest, const char *rel, struct im_error *err)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s/%s", dest, rel) >= (int)sizeof(p))
		return im_fail(err, IM_EXIT_INVALID, "%s/%s: path too long", dest, rel);
	for (char *s = p + strlen(dest) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return im_fail_errno(err, IM_EXIT_IO, "%s", p);
		*s = '/';
	}
	return 0;
}

static int oci_tar_extract(const char *path, const char *dest, struct im_error *err)
{
	struct tar_ctx c = {.what = path, .err = err};
	struct archive_entry *e;
	char clean[PATH_MAX], out[PATH_MAX];
	int r, rc = 0;

	if (mkdir(dest, 0700) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s", dest);
	if (tar_open(&c, path) < 0)
		return -1;
	while (rc == 0 && (r = tar_next(&c, &e)) > 0) {
		const char *raw = archive_entry_pathname(e);
		if (!raw || clean_path(raw, clean, sizeof(clean)) < 0 ||
		    archive_entry_filetype(e) != AE_IFREG || !layout_member(clean))
			continue;
		if (snprintf(out, sizeof(out), "%s/%s", dest, clean) >= (int)sizeof(out)) {
			rc = im_fail(err, IM_EXIT_INVALID, "%s: \"%s\": path too long", path, raw);
			break;
		}
		if ((rc = mkdir_p2(dest, clean, err)) < 0)
			break;
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = im_fail_errno(err, IM_EXIT_IO, "%s", out);
			break;
		}
		if (archive_read_data_into_fd(c.a, fd) != ARCHIVE_OK)
			rc = im_fail(err, IM_EXIT_INVALID, "%s: \"%s\": %s", path, raw,
				     archive_error_string(c.a));
		close(fd);
	}
	if (r < 0)
		rc = -1;
	archive_read_free(c.a);
	return rc;
}

struct oci_ctx {
	const char *input; /* as given, for messages */
	const char *layout;
	struct im_tree *t;
	struct im_stage *st;
	struct im_error *err;
};

/* "sha256:<64 hex>" -> blobs/sha256/<hex> of the layout. */
static int blob_path(struct oci_ctx *c, const char *digest, char *out, size_t size)
{
	if (!digest)
		return im_fail(c->err, IM_EXIT_INVALID, "%s: descriptor without a digest",
			       c->input);
	const char *colon = strchr(digest, ':');
	if (colon && strncmp(digest, "sha256:", 7) != 0)
		return im_fail(c->err, IM_EXIT_UNSUPPORTED,
			       "%s: digest \"%s\": only sha256 digests are supported", c->input,
			       digest);
	const char *hex = digest + 7;
	if (!colon || strlen(hex) != DIGEST_HEX || strspn(hex, "0123456789abcdef") != DIGEST_HEX)
		return im_fail(c->err, IM_EXIT_INVALID,
			       "%s: digest \"%s\": expected sha256:<64 lower-case hex digits>",
			       c->input, digest);
	snprintf(out, size, "%s/blobs/sha256/%s", c->layout, hex);
	return 0;
}

/* Blobs are content-addressed: check the bytes against the digest (image-spec
 * descriptor.md: "the content MUST be verified"). */
static int verify_blob(struct oci_ctx *c, const char *path, const char *digest)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sum[EVP_MAX_MD_SIZE], *buf = malloc(COPY_BUF);
	char hex[2 * DIGEST_HEX + 1];
	unsigned len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	ssize_t n;

	if (fd < 0)
		rc = im_fail_errno(c->err, im_exit_for_input_errno(errno), "%s: blob %s", c->input,
				   digest);
	else if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		rc = im_fail(c->err, IM_EXIT_INTERNAL, "out of memory");
	while (rc == 0 && (n = read(fd, buf, COPY_BUF)) != 0) {
		if (n < 0 && errno != EINTR)
			rc = im_fail_errno(c->err, IM_EXIT_IO, "%s", path);
		else if (n > 0)
			EVP_DigestUpdate(md, buf, (size_t)n);
	}
	if (rc == 0) {
		EVP_DigestFinal_ex(md, sum, &len);
		for (unsigned i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", sum[i]);
		if (strcmp(hex, digest + 7) != 0)
			rc = im_fail(c->err, IM_EXIT_INVALID,
				     "%s: blob %s: content has digest sha256:%s (corrupt layout)",
				     c->input, digest, hex);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(md);
	return rc;
}

/* Load the JSON blob a descriptor points at (verified). */
static int load_blob_json(struct oci_ctx *c, struct im_ydoc *src, yaml_node_t *desc,
			  struct im_ydoc *out)
{
	const char *digest = im_ydoc_str(im_ydoc_get(src, desc, "digest"));
	char path[PATH_MAX], *text;
	size_t len;

	if (!desc || blob_path(c, digest, path, sizeof(path)) < 0 ||
	    verify_blob(c, path, digest) < 0 ||
	    im_read_small_file(path, JSON_MAX, &text, &len, c->err) < 0)
		return desc ? -1
			    : im_fail(c->err, IM_EXIT_INVALID, "%s: image index lists no manifest",
				      c->input);
	int rc = im_ydoc_load(out, text, len, true, path, c->err);
	free(text);
	return rc;
}

/* First entry of an index's "manifests" list. */
static yaml_node_t *first_manifest(struct im_ydoc *d)
{
	yaml_node_t *m = im_ydoc_get(d, im_ydoc_root(d), "manifests");

	if (!m || m->type != YAML_SEQUENCE_NODE ||
	    m->data.sequence.items.start == m->data.sequence.items.top)
		return NULL;
	return yaml_document_get_node(&d->doc, *m->data.sequence.items.start);
}

static bool is_layer_type(const char *t)
{
	return t && (strncmp(t, "application/vnd.oci.image.layer.", 32) == 0 ||
		     strncmp(t, "application/vnd.docker.image.rootfs.", 36) == 0);
}

static int apply_layers(struct oci_ctx *c, struct im_ydoc *m)
{
	yaml_node_t *layers = im_ydoc_get(m, im_ydoc_root(m), "layers");
	char path[PATH_MAX], what[PATH_MAX + 64];
	size_t i = 0;

	if (!layers || layers->type != YAML_SEQUENCE_NODE)
		return im_fail(c->err, IM_EXIT_INVALID, "%s: image manifest without \"layers\"",
			       c->input);
	for (yaml_node_item_t *it = layers->data.sequence.items.start;
	     it < layers->data.sequence.items.top; it++, i++) {
		yaml_node_t *l = yaml_document_get_node(&m->doc, *it);
		const char *type = im_ydoc_str(im_ydoc_get(m, l, "mediaType"));
		const char *digest = im_ydoc_str(im_ydoc_get(m, l, "digest"));
		if (!is_layer_type(type))
			return im_fail(c->err, IM_EXIT_UNSUPPORTED,
				       "%s: layer %zu: media type \"%s\" (expected a tar layer, "
				       "application/vnd.oci.image.layer.v1.tar[+gzip|+zstd])",
				       c->input, i, type ? type : "");
		if (blob_path(c, digest, path, sizeof(path)) < 0 ||
		    verify_blob(c, path, digest) < 0)
			return -1;
		snprintf(what, sizeof(what), "%s: layer %zu (%s)", c->input, i, digest);
		if (im_tar_apply(c->t, c->st, path, true, what, c->err) < 0)
			return -1;
	}
	return 0;
}

static int oci_flatten(struct oci_ctx *c)
{
	struct im_ydoc docs[2] = {0};
	char path[PATH_MAX], *text;
	size_t len;
	int cur = 0, rc;

	snprintf(path, sizeof(path), "%s/index.json", c->layout);
	if (im_read_small_file(path, JSON_MAX, &text, &len, c->err) < 0)
		return -1;
	rc = im_ydoc_load(&docs[0], text, len, true, path, c->err);
	free(text);
	/* follow nested indexes down to the first image manifest */
	for (int depth = 0; rc == 0; depth++) {
		if (!im_ydoc_get(&docs[cur], im_ydoc_root(&docs[cur]), "manifests"))
			break; /* an image manifest */
		if (depth > INDEX_DEPTH) {
			rc = im_fail(c->err, IM_EXIT_INVALID, "%s: image indexes nested too deep",
				     c->input);
			break;
		}
		rc = load_blob_json(c, &docs[cur], first_manifest(&docs[cur]), &docs[!cur]);
		im_ydoc_free(&docs[cur]);
		cur = !cur;
		if (rc == 0 && depth == 0 &&
		    !im_ydoc_get(&docs[cur], im_ydoc_root(&docs[cur]), "layers") &&
		    !im_ydoc_get(&docs[cur], im_ydoc_root(&docs[cur]), "manifests"))
			rc = im_fail(c->err, IM_EXIT_INVALID,
				     "%s: first manifest is neither an image manifest nor an index",
				     c->input);
	}
	if (rc == 0)
		rc = apply_layers(c, &docs[cur]);
	im_ydoc_free(&docs[0]);
	im_ydoc_free(&docs[1]);
	return rc;
}

int im_oci_read(struct im_tree *t, struct im_stage *st, const char *path, bool is_tar,
		struct im_error *err)
{
	char layout[PATH_MAX];
	struct oci_ctx c = {.input = path, .layout = path, .t = t, .st = st, .err = err};

	if (is_tar) {
		snprintf(layout, sizeof(layout), "%s/oci", st->dir);
		if (oci_tar_extract(path, layout, err) < 0)
			return -1;
		c.layout = layout;
	}
	return oci_flatten(&c);
}
