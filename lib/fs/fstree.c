/* In-memory sorted file trees (see include/imager/fstree.h). */
#include "imager/fs/fstree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct im_node *node_new(const char *name, const char *path, enum im_node_type type,
				uint32_t mode)
{
	struct im_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->name = strdup(name);
	n->path = strdup(path);
	n->type = type;
	n->mode = mode & 07777;
	if (!n->name || !n->path) {
		free(n->name);
		free(n->path);
		free(n);
		return NULL;
	}
	return n;
}

static void node_free(struct im_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nchildren; i++)
		node_free(n->children[i]);
	free(n->children);
	free(n->name);
	free(n->path);
	free(n->src);
	free(n->data);
	free(n->target);
	free(n);
}

void im_tree_free(struct im_tree *t)
{
	if (!t)
		return;
	node_free(t->root);
	free(t);
}

struct im_tree *im_tree_new(int64_t mtime)
{
	struct im_tree *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->mtime = mtime;
	t->root = node_new("", "", IM_NODE_DIR, 0755);
	if (!t->root) {
		free(t);
		return NULL;
	}
	t->count = 1;
	return t;
}

static struct im_node *child_find(const struct im_node *dir, const char *name, size_t len)
{
	/* Children stay sorted, so a binary search would do; trees are small enough. */
	for (size_t i = 0; i < dir->nchildren; i++) {
		const char *cn = dir->children[i]->name;
		if (strlen(cn) == len && memcmp(cn, name, len) == 0)
			return dir->children[i];
	}
	return NULL;
}

/* Insert keeping byte order of names, so every walk is deterministic. */
static int child_insert(struct im_tree *t, struct im_node *dir, struct im_node *n)
{
	struct im_node **c = realloc(dir->children, (dir->nchildren + 1) * sizeof(*c));
	if (!c)
		return -1;
	dir->children = c;
	size_t i = dir->nchildren;
	while (i > 0 && strcmp(c[i - 1]->name, n->name) > 0) {
		c[i] = c[i - 1];
		i--;
	}
	c[i] = n;
	dir->nchildren++;
	n->parent = dir;
	t->count++;
	return 0;
}

struct im_node *im_tree_lookup(const struct im_tree *t, const char *path)
{
	struct im_node *n = t->root;
	const char *p = path;
	while (n && *p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, "/");
		if (n->type != IM_NODE_DIR)
			return NULL;
		n = child_find(n, p, len);
		p += len;
	}
	return n;
}

/* Components of a valid path. */
static size_t path_depth(const char *p)
{
	size_t n = 0;
	while (*p) {
		while (*p == '/')
			p++;
		if (*p)
			n++;
		p += strcspn(p, "/");
	}
	return n;
}

/* Walks the components of `rest` from `cur`; a link's target is spliced in front of what
 * is left of the path, and the walk goes on from the link's folder. */
enum im_tree_resolve im_tree_resolve(const struct im_tree *t, const char *path,
				     const struct im_node **out, const struct im_node **link)
{
	char *rest = strdup(path);
	const struct im_node *cur = t->root;
	enum im_tree_resolve r = rest ? IM_RESOLVE_OK : IM_RESOLVE_MISSING;
	unsigned links = 0;
	*out = NULL;
	*link = NULL;
	for (size_t at = 0; r == IM_RESOLVE_OK && rest[at];) {
		const char *p = rest + at;
		size_t len = strcspn(p, "/");
		at += len + (p[len] == '/');
		if (len == 0 || (len == 1 && p[0] == '.'))
			continue;
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (!cur->parent)
				r = IM_RESOLVE_ESCAPES;
			else
				cur = cur->parent;
			continue;
		}
		const struct im_node *c = cur->type == IM_NODE_DIR ? child_find(cur, p, len) : NULL;
		if (!c) {
			r = IM_RESOLVE_MISSING;
		} else if (c->type != IM_NODE_SYMLINK) {
			cur = c;
		} else if (++links > IM_TREE_MAX_LINKS) {
			r = IM_RESOLVE_LOOP;
		} else if (c->target[0] == '/') {
			*link = c;
			r = IM_RESOLVE_ABSOLUTE;
		} else {
			*link = c;
			char *next;
			if (asprintf(&next, "%s/%s", c->target, rest + at) < 0) {
				r = IM_RESOLVE_MISSING;
				break;
			}
			free(rest);
			rest = next;
			at = 0; /* cur stays: the link's folder */
		}
	}
	free(rest);
	if (r == IM_RESOLVE_OK)
		*out = cur;
	return r;
}

static int path_ok(const char *path)
{
	/* No empty, "." or ".." components: entries must stay inside the tree. */
	const char *p = path;
	while (*p == '/')
		p++;
	if (!*p)
		return 0;
	while (*p) {
		size_t len = strcspn(p, "/");
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += len;
		while (*p == '/')
			p++;
	}
	return 1;
}

/* Find or create the parent directory of `path`; returns it and the leaf name. */
static struct im_node *ensure_parent(struct im_tree *t, const char *path, const char **leaf,
				     struct im_error *err)
{
	struct im_node *dir = t->root;
	const char *p = path;
	while (*p == '/')
		p++;
	for (;;) {
		size_t len = strcspn(p, "/");
		const char *rest = p + len;
		while (*rest == '/')
			rest++;
		if (!*rest) {
			*leaf = p;
			return dir;
		}
		struct im_node *c = child_find(dir, p, len);
		if (!c && len > NAME_MAX) { /* never cut: two long names would become one */
			im_fail(err, IM_EXIT_INVALID, "\"%s\": name too long (over %d bytes)", path,
				NAME_MAX);
			return NULL;
		}
		if (!c) {
			char sub[PATH_MAX];
			snprintf(sub, sizeof(sub), "%.*s", (int)(p + len - path), path);
			char name[NAME_MAX + 1];
			snprintf(name, sizeof(name), "%.*s", (int)len, p);
			while (sub[0] == '/')
				memmove(sub, sub + 1, strlen(sub));
			c = node_new(name, sub, IM_NODE_DIR, 0755);
			if (!c || child_insert(t, dir, c) < 0) {
				node_free(c);
				im_fail(err, IM_EXIT_INTERNAL, "out of memory");
				return NULL;
			}
		} else if (c->type != IM_NODE_DIR) {
			im_fail(err, IM_EXIT_INVALID, "%s: parent \"%s\" is not a directory", path,
				c->path);
			return NULL;
		}
		dir = c;
		p = rest;
	}
}

static struct im_node *add_node(struct im_tree *t, const char *path, enum im_node_type type,
				uint32_t mode, struct im_error *err)
{
	if (!path_ok(path)) {
		im_fail(err, IM_EXIT_INVALID, "\"%s\": invalid path in file tree", path);
		return NULL;
	}
	if (strlen(path) >= PATH_MAX) {
		im_fail(err, IM_EXIT_INVALID, "\"%.64s...\": path of %zu bytes, the limit is %d",
			path, strlen(path), PATH_MAX - 1);
		return NULL;
	}
	if (path_depth(path) > IM_TREE_MAX_DEPTH) {
		im_fail(err, IM_EXIT_INVALID, "\"%.64s...\": %zu levels deep, the limit is %d",
			path, path_depth(path), IM_TREE_MAX_DEPTH);
		return NULL;
	}
	const char *leaf;
	struct im_node *dir = ensure_parent(t, path, &leaf, err);
	if (!dir)
		return NULL;
	size_t len = strcspn(leaf, "/");
	if (child_find(dir, leaf, len)) {
		im_fail(err, IM_EXIT_INVALID, "\"%s\": already present in file tree", path);
		return NULL;
	}
	char name[NAME_MAX + 1];
	if (len > NAME_MAX) {
		im_fail(err, IM_EXIT_INVALID, "\"%s\": name too long", path);
		return NULL;
	}
	snprintf(name, sizeof(name), "%.*s", (int)len, leaf);
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s%s%s", dir->path, dir->path[0] ? "/" : "", name);
	struct im_node *n = node_new(name, rel, type, mode);
	if (!n || child_insert(t, dir, n) < 0) {
		node_free(n);
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		return NULL;
	}
	return n;
}

int im_tree_add_dir(struct im_tree *t, const char *path, uint32_t mode, struct im_error *err)
{
	return add_node(t, path, IM_NODE_DIR, mode, err) ? 0 : -1;
}

int im_tree_add_file_mem(struct im_tree *t, const char *path, const void *data, size_t len,
			 uint32_t mode, struct im_error *err)
{
	if (len && !data) /* a caller passing a node that has no bytes in memory */
		return im_fail(err, IM_EXIT_INTERNAL, "%s: no content to add", path);
	void *copy = malloc(len ? len : 1);
	if (!copy)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (len)
		memcpy(copy, data, len);
	struct im_node *n = add_node(t, path, IM_NODE_FILE, mode, err);
	if (!n) {
		free(copy);
		return -1;
	}
	n->data = copy;
	n->size = len;
	return 0;
}

int im_tree_add_file_src(struct im_tree *t, const char *path, const char *src, uint32_t mode,
			 struct im_error *err)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s", src);
	if (!S_ISREG(st.st_mode))
		return im_fail(err, IM_EXIT_INVALID, "%s: not a regular file", src);
	struct im_node *n = add_node(t, path, IM_NODE_FILE, mode, err);
	if (!n)
		return -1;
	n->src = strdup(src);
	n->size = (uint64_t)st.st_size;
	return n->src ? 0 : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
}

int im_tree_add_symlink(struct im_tree *t, const char *path, const char *target,
			struct im_error *err)
{
	struct im_node *n = add_node(t, path, IM_NODE_SYMLINK, 0777, err);
	if (!n)
		return -1;
	n->target = strdup(target);
	n->size = strlen(target);
	return n->target ? 0 : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
}

int im_tree_add_chrdev(struct im_tree *t, const char *path, uint32_t mode, uint32_t major,
		       uint32_t minor, struct im_error *err)
{
	struct im_node *n = add_node(t, path, IM_NODE_CHRDEV, mode, err);
	if (!n)
		return -1;
	n->rdev_major = major;
	n->rdev_minor = minor;
	return 0;
}

/* Modes are normalised so the checkout's umask never reaches an output. */
static uint32_t normal_mode(mode_t m)
{
	if (S_ISDIR(m))
		return 0755;
	return (m & 0111) ? 0755 : 0644;
}

static int scan_dir(struct im_tree *t, const char *host, const char *rel, struct im_error *err);

static int scan_entry(struct im_tree *t, const char *host, const char *rel, struct im_error *err)
{
	struct stat st;
	if (lstat(host, &st) < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s", host);
	if (S_ISDIR(st.st_mode)) {
		if (im_tree_add_dir(t, rel, normal_mode(st.st_mode), err) < 0)
			return -1;
		return scan_dir(t, host, rel, err);
	}
	if (S_ISREG(st.st_mode)) {
		if (access(host, R_OK) < 0)
			return im_fail_errno(err, IM_EXIT_MISSING, "%s", host);
		return im_tree_add_file_src(t, rel, host, normal_mode(st.st_mode), err);
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(host, target, sizeof(target) - 1);
		if (n < 0)
			return im_fail_errno(err, IM_EXIT_MISSING, "%s", host);
		target[n] = 0;
		return im_tree_add_symlink(t, rel, target, err);
	}
	return im_fail(err, IM_EXIT_INVALID,
		       "%s: unsupported file type (expected directory, file or symlink)", host);
}

static int scan_dir(struct im_tree *t, const char *host, const char *rel, struct im_error *err)
{
	DIR *d = opendir(host);
	if (!d)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s", host);
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char h[PATH_MAX], r[PATH_MAX];
		if (snprintf(h, sizeof(h), "%s/%s", host, de->d_name) >= (int)sizeof(h) ||
		    snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >=
			(int)sizeof(r)) {
			rc =
			    im_fail(err, IM_EXIT_INVALID, "%s/%s: path too long", host, de->d_name);
			break;
		}
		rc = scan_entry(t, h, r, err);
		errno = 0;
	}
	if (rc == 0 && errno)
		rc = im_fail_errno(err, IM_EXIT_IO, "%s: reading directory", host);
	closedir(d);
	return rc;
}

int im_tree_from_dir(struct im_tree **out, const char *dir, int64_t mtime, struct im_error *err)
{
	struct stat st;
	*out = NULL;
	if (stat(dir, &st) < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s", dir);
	if (!S_ISDIR(st.st_mode))
		return im_fail(err, IM_EXIT_INVALID, "%s: not a directory", dir);
	struct im_tree *t = im_tree_new(mtime);
	if (!t)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (scan_dir(t, dir, "", err) < 0) {
		im_tree_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

static int walk(struct im_node *n, im_tree_visit_fn fn, void *ctx)
{
	int rc = fn(n, ctx);
	for (size_t i = 0; rc == 0 && i < n->nchildren; i++)
		rc = walk(n->children[i], fn, ctx);
	return rc;
}

int im_tree_walk(struct im_tree *t, im_tree_visit_fn fn, void *ctx)
{
	return walk(t->root, fn, ctx);
}

static int number_one(struct im_node *n, void *ctx)
{
	uint32_t *next = ctx;
	n->ino = (*next)++;
	return 0;
}

void im_tree_number(struct im_tree *t)
{
	uint32_t next = 1;
	im_tree_walk(t, number_one, &next);
}

int im_node_open(const struct im_node *n, struct im_error *err)
{
	if (n->type != IM_NODE_FILE || !n->src)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: no host file behind this entry",
			       n->path);
	int fd = open(n->src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s", n->src);
	return fd;
}
