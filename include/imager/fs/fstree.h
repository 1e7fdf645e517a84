/* An in-memory, sorted description of a file tree, the common input of the
 * squashfs and cpio writers. Walks are in byte order of names (strcmp), owners
 * are fixed to 0:0 and every timestamp is the tree's mtime, so what is written
 * from a tree does not depend on the host's directory order, umask or clock. */
#ifndef IMAGER_FSTREE_H
#define IMAGER_FSTREE_H

#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"

enum im_node_type {
	IM_NODE_DIR,
	IM_NODE_FILE,
	IM_NODE_SYMLINK,
	IM_NODE_CHRDEV, /* only ever synthesized (e.g. /dev/console), never read from a folder */
};

struct im_node {
	char *name; /* entry name; "" for the root */
	char *path; /* relative to the root, no leading slash; "" for the root */
	enum im_node_type type;
	uint32_t mode; /* permission bits only (type is in `type`) */
	uint64_t size; /* files: content length */
	char *src;     /* files: host path to read the content from, or NULL ... */
	void *data;    /* ... files: owned in-memory content when src is NULL */
	char *target;  /* symlinks: target */
	uint32_t rdev_major, rdev_minor; /* device nodes */
	struct im_node *parent;
	struct im_node **children; /* directories: sorted by name */
	size_t nchildren;
	uint32_t ino; /* 1-based, assigned in walk order by im_tree_number() */
};

/* Deepest path a tree holds (levels below the root). Deeper entries are refused
 * (IM_EXIT_INVALID): the walks over a tree recurse with PATH_MAX buffers per level, and no
 * real image nests this deep. Names are at most NAME_MAX (255) bytes, paths shorter than
 * PATH_MAX; longer ones are refused, never cut. */
#define IM_TREE_MAX_DEPTH 128

struct im_tree {
	struct im_node *root;
	int64_t mtime;	/* every entry's timestamp */
	uint32_t count; /* number of nodes including the root */
};

/* Read a host folder. Modes are normalised (dirs and executables 0755, other files
 * 0644, symlinks 0777) so the checkout's umask does not leak into outputs. Sockets,
 * FIFOs and device nodes are refused (IM_EXIT_INVALID). A missing or unreadable
 * folder/file is IM_EXIT_MISSING, naming the path. */
int im_tree_from_dir(struct im_tree **out, const char *dir, int64_t mtime, struct im_error *err);

/* An empty tree (just the root directory). */
struct im_tree *im_tree_new(int64_t mtime);

/* Add entries by path, creating missing parent directories (0755). Replaces nothing:
 * adding an existing path is IM_EXIT_INVALID. `data` is copied. */
int im_tree_add_dir(struct im_tree *t, const char *path, uint32_t mode, struct im_error *err);
int im_tree_add_file_mem(struct im_tree *t, const char *path, const void *data, size_t len,
			 uint32_t mode, struct im_error *err);
int im_tree_add_file_src(struct im_tree *t, const char *path, const char *src, uint32_t mode,
			 struct im_error *err);
int im_tree_add_symlink(struct im_tree *t, const char *path, const char *target,
			struct im_error *err);
int im_tree_add_chrdev(struct im_tree *t, const char *path, uint32_t mode, uint32_t major,
		       uint32_t minor, struct im_error *err);

/* Find a node by relative path ("" is the root); NULL if absent. */
struct im_node *im_tree_lookup(const struct im_tree *t, const char *path);

/* Find a node with its symlinks followed inside the tree, never on the host: relative
 * targets resolve from the link's folder, ".." stops at the root. For what to copy into a
 * filesystem without symlinks (FAT) from an input that has them. */
enum im_tree_resolve {
	IM_RESOLVE_OK,
	IM_RESOLVE_MISSING,  /* a component does not exist (or is not a folder) */
	IM_RESOLVE_ABSOLUTE, /* a link has an absolute target: it points outside the tree */
	IM_RESOLVE_ESCAPES,  /* a link's ".." climbs above the root */
	IM_RESOLVE_LOOP,     /* more than IM_TREE_MAX_LINKS links on the way */
};
#define IM_TREE_MAX_LINKS 40 /* as the kernel's path walk (ELOOP) */
/* *out: the node reached; *link: the last link followed (NULL if none), for messages. */
enum im_tree_resolve im_tree_resolve(const struct im_tree *t, const char *path,
				     const struct im_node **out, const struct im_node **link);

/* Pre-order walk (a directory before its children, children in name order).
 * Stops and returns the callback's value when it is non-zero. */
typedef int (*im_tree_visit_fn)(struct im_node *n, void *ctx);
int im_tree_walk(struct im_tree *t, im_tree_visit_fn fn, void *ctx);

/* Assign ino = 1.. in pre-order walk order (deterministic). */
void im_tree_number(struct im_tree *t);

/* Open a file node's content for reading: returns an fd (src) or -1 with err set.
 * For in-memory nodes use n->data/n->size directly. */
int im_node_open(const struct im_node *n, struct im_error *err);

void im_tree_free(struct im_tree *t);

#endif
