/* Board overlays: resolving files, DTBs, templates and blobs against the inputs folder
 * into what the install code writes (see include/imager/overlay.h). */
#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/talos/overlay.h"
#include "imager/util/readfile.h"

struct res {
	const struct im_overlay *o;
	const char *inputs;
	struct im_overlay_assets *a;
	struct im_error *err;
};

static char *keep(struct res *r, char *s)
{
	char **v = s ? realloc(r->a->strings, (r->a->n_strings + 1) * sizeof(*v)) : NULL;
	if (!v) {
		free(s);
		im_fail(r->err, IM_EXIT_INTERNAL, "out of memory");
		return NULL;
	}
	r->a->strings = v;
	v[r->a->n_strings++] = s;
	return s;
}

static int add_file(struct res *r, const char *dst, const char *src, const void *data, size_t len)
{
	struct im_install_file *f =
	    realloc(r->a->files, (r->a->n_files + 1) * sizeof(*r->a->files));
	if (!f)
		return im_fail(r->err, IM_EXIT_INTERNAL, "out of memory");
	r->a->files = f;
	char *d = keep(r, strdup(dst));
	if (!d)
		return -1;
	f[r->a->n_files++] = (struct im_install_file){d, src, data, len};
	return 0;
}

/* "to" as a FAT path: no leading slash; "" is the root. */
static const char *fat_path(const char *to)
{
	while (*to == '/')
		to++;
	return to;
}

static char *join(const char *dir, const char *name)
{
	char *s;
	return asprintf(&s, "%s%s%s", dir, *dir && dir[strlen(dir) - 1] != '/' ? "/" : "", name) < 0
		   ? NULL
		   : s;
}

/* A path of the overlay with its symlinks followed inside the tree t (the overlay, or a
 * host folder an overlay copies): FAT has no symlinks, so a link is copied as what it
 * points to; a link that leaves the tree (absolute, or ".." above its root) is refused,
 * never followed on the host. `tree` names t in messages. */
static int tree_node(struct res *r, const struct im_tree *t, const char *tree, const char *path,
		     const char *field, const char *from, const struct im_node **out)
{
	const struct im_node *link;
	switch (im_tree_resolve(t, path, out, &link)) {
	case IM_RESOLVE_OK:
		return 0;
	case IM_RESOLVE_MISSING:
		return im_fail(r->err, IM_EXIT_INVALID, "%s: %s \"%s\": no such file in %s", tree,
			       field, from,
			       link ? "the overlay (after its symlinks)" : "the overlay");
	case IM_RESOLVE_ABSOLUTE:
		return im_fail(
		    r->err, IM_EXIT_INVALID,
		    "%s: %s \"%s\": symlink %s -> %s points outside (absolute); expected "
		    "a relative link that stays inside",
		    tree, field, from, link->path, link->target);
	case IM_RESOLVE_ESCAPES:
		return im_fail(r->err, IM_EXIT_INVALID,
			       "%s: %s \"%s\": symlink %s -> %s leaves it; expected a link that "
			       "stays inside",
			       tree, field, from, link->path, link->target);
	default:
		return im_fail(r->err, IM_EXIT_INVALID,
			       "%s: %s \"%s\": more than %d symlinks on the way (a loop?)", tree,
			       field, from, IM_TREE_MAX_LINKS);
	}
}

/* "overlay NAME (PATH)": how messages name the overlay. */
static const char *overlay_name(struct res *r)
{
	char *s;
	if (asprintf(&s, "overlay %s (%s)", r->o->name, r->o->path) < 0)
		return "overlay";
	return keep(r, s) ? s : "overlay";
}

/* An input:PATH stays inside the inputs folder: relative, no "..", and (after the host's
 * symlinks) still below it, so an overlay cannot copy host files into an image. */
static bool has_dotdot(const char *p)
{
	for (; *p; p += strcspn(p, "/"), p += *p == '/')
		if (!strncmp(p, "..", 2) && (p[2] == '/' || !p[2]))
			return true;
	return false;
}

static int inside_inputs(struct res *r, const char *host, const char *field, const char *from)
{
	char *root = realpath(r->inputs, NULL), *real = realpath(host, NULL);
	size_t n = root ? strlen(root) : 0;
	bool in = root && real && !strncmp(real, root, n) && (real[n] == '/' || !real[n]);
	free(root);
	free(real);
	if (in)
		return 0;
	return im_fail(r->err, IM_EXIT_INVALID,
		       "overlay %s: %s \"%s\": %s is outside the inputs folder %s", r->o->name,
		       field, from, host, r->inputs);
}

/* A source: a host path (input:, option:) or a node of the overlay (overlay:). */
struct src {
	char *host;		    /* kept in r->a->strings */
	const struct im_node *node; /* overlay content */
};

static int find_src(struct res *r, const char *from, const char *field, struct src *s)
{
	const struct im_overlay *o = r->o;
	memset(s, 0, sizeof(*s));
	if (!strncmp(from, "input:", 6)) {
		if (from[6] == '/' || has_dotdot(from + 6))
			return im_fail(r->err, IM_EXIT_INVALID,
				       "overlay %s: %s \"%s\": expected a relative path inside the "
				       "inputs folder (no \"..\")",
				       o->name, field, from);
		if (!(s->host = keep(r, join(r->inputs, from + 6))))
			return -1;
	} else if (!strncmp(from, "option:", 7)) {
		const struct im_ovl_option *opt = im_overlay_find_option(o, from + 7);
		if (!opt || opt->type != IM_OVL_PATH)
			return im_fail(r->err, IM_EXIT_INVALID,
				       "overlay %s: %s \"%s\": expected a declared path option",
				       o->name, field, from);
		if (!opt->value && !opt->def)
			return 1; /* an optional path option not given: nothing to copy */
		if (!(s->host = keep(r, strdup(opt->value ? opt->value : opt->def))))
			return -1;
	} else if (!strncmp(from, "overlay:", 8)) {
		return tree_node(r, o->tree, overlay_name(r), fat_path(from + 8), field, from,
				 &s->node);
	} else {
		return im_fail(r->err, IM_EXIT_INVALID,
			       "overlay %s: %s \"%s\": expected input:PATH, overlay:PATH or "
			       "option:NAME",
			       o->name, field, from);
	}
	if (access(s->host, R_OK) < 0)
		return im_fail_errno(r->err, IM_EXIT_MISSING, "%s (overlay %s, %s %s)", s->host,
				     o->name, field, from);
	return strncmp(from, "input:", 6) ? 0 : inside_inputs(r, s->host, field, from);
}

struct copy_ctx {
	struct res *r;
	const struct im_tree *t; /* the tree copied from */
	const char *tree;	 /* its name in messages */
	const char *to;
	size_t skip; /* length of the source root's path prefix */
};

static int copy_node(struct im_node *n, void *opaque)
{
	struct copy_ctx *c = opaque;
	const char *dst_path = n->path + c->skip;
	if (n->type == IM_NODE_SYMLINK) { /* copied as the file it points to, inside the tree */
		const struct im_node *f;
		if (tree_node(c->r, c->t, c->tree, n->path, "files", n->path, &f) < 0)
			return -1;
		if (f->type != IM_NODE_FILE)
			return im_fail(c->r->err, IM_EXIT_INVALID,
				       "%s: files \"%s\": a symlink to a folder inside a copied "
				       "folder is not supported; name the folder itself",
				       c->tree, n->path);
		n = (struct im_node *)f;
	} else if (n->type != IM_NODE_FILE) {
		return 0;
	}
	char *dst = join(c->to, dst_path);
	if (!dst)
		return im_fail(c->r->err, IM_EXIT_INTERNAL, "out of memory");
	/* the source tree may be a temporary one: keep a copy of the host path */
	char *src = n->src ? keep(c->r, strdup(n->src)) : NULL;
	int rc = n->src && !src ? -1 : add_file(c->r, dst, src, n->data, n->size);
	free(dst);
	return rc;
}

/* Files of the tree under `root` go to `to`/<path below root>. */
static int copy_tree(struct res *r, struct im_tree *t, const char *tree, const struct im_node *root,
		     const char *to)
{
	struct copy_ctx c = {r, t, tree, to, root->path[0] ? strlen(root->path) + 1 : 0};
	struct im_tree sub = *t;
	sub.root = (struct im_node *)root;
	return im_tree_walk(&sub, copy_node, &c);
}

static int copy_one(struct res *r, const struct im_ovl_copy *cp)
{
	struct src s;
	int rc = find_src(r, cp->from, "files", &s);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	const char *to = fat_path(cp->to);
	bool into_dir = !*to || cp->to[strlen(cp->to) - 1] == '/';
	struct stat st;
	if (s.node && s.node->type == IM_NODE_DIR)
		return copy_tree(r, r->o->tree, overlay_name(r), s.node, to);
	if (s.host && stat(s.host, &st) == 0 && S_ISDIR(st.st_mode)) {
		struct im_tree *t = NULL;
		rc = im_tree_from_dir(&t, s.host, 0, r->err);
		if (rc == 0)
			rc = copy_tree(r, t, s.host, t->root, to);
		im_tree_free(t);
		return rc;
	}
	const char *base = s.node ? s.node->name : strrchr(s.host, '/');
	base = base && *base == '/' ? base + 1 : base ? base : s.host;
	char *dst = into_dir ? join(to, base) : strdup(to);
	if (!dst)
		return im_fail(r->err, IM_EXIT_INTERNAL, "out of memory");
	rc = add_file(r, dst, s.node ? s.node->src : s.host, s.node ? s.node->data : NULL,
		      s.node ? s.node->size : 0);
	free(dst);
	return rc;
}

/* DTBs: "vendor/pattern" under <inputs>/dtb, matches in name order, to dtbs.to/<name>. */
static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int copy_dtbs(struct res *r, const char *pattern)
{
	const char *slash = strrchr(pattern, '/'), *glob = slash ? slash + 1 : pattern;
	char *dir = NULL, **names = NULL;
	size_t n = 0;
	int rc = -1;
	if (pattern[0] == '/' || has_dotdot(pattern))
		return im_fail(r->err, IM_EXIT_INVALID,
			       "overlay %s: dtbs \"%s\": expected VENDOR/GLOB inside the inputs "
			       "folder's dtb/ (no \"..\")",
			       r->o->name, pattern);
	if (asprintf(&dir, "%s/dtb/%.*s", r->inputs, slash ? (int)(slash - pattern) : 0, pattern) <
	    0)
		return im_fail(r->err, IM_EXIT_INTERNAL, "out of memory");
	DIR *d = opendir(dir);
	if (!d) {
		im_fail_errno(r->err, IM_EXIT_MISSING, "%s (overlay %s, dtbs %s)", dir, r->o->name,
			      pattern);
		goto out;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.' || fnmatch(glob, e->d_name, 0))
			continue;
		char **v = realloc(names, (n + 1) * sizeof(*v));
		if (!v || !(v[n] = strdup(e->d_name))) {
			names = v ? v : names;
			im_fail(r->err, IM_EXIT_INTERNAL, "out of memory");
			goto out;
		}
		names = v;
		n++;
	}
	if (!n) {
		im_fail(r->err, IM_EXIT_MISSING, "%s/%s: no such device tree (overlay %s, dtbs %s)",
			dir, glob, r->o->name, pattern);
		goto out;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char *src = keep(r, join(dir, names[i]));
		char *dst = join(fat_path(r->o->dtb_to ? r->o->dtb_to : "dtb"), names[i]);
		rc = src && dst ? inside_inputs(r, src, "dtbs", pattern) : -1;
		if (rc == 0)
			rc = add_file(r, dst, src, NULL, 0);
		free(dst);
	}
out:
	if (d)
		closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dir);
	return rc;
}

static int read_overlay_text(struct res *r, const char *path, char **text)
{
	const struct im_node *n;
	size_t len;
	if (tree_node(r, r->o->tree, overlay_name(r), fat_path(path), "template", path, &n) < 0)
		return -1;
	if (n->type != IM_NODE_FILE)
		return im_fail(r->err, IM_EXIT_INVALID,
			       "overlay %s (%s): template \"%s\": no such file in the overlay",
			       r->o->name, r->o->path, path);
	if (n->src)
		return im_read_file(n->src, "overlay template", (uint8_t **)text, &len, r->err);
	if (!(*text = strndup(n->data, n->size)))
		return im_fail(r->err, IM_EXIT_INTERNAL, "out of memory");
	return 0;
}

static int render_template(struct res *r, const struct im_ovl_copy *t)
{
	char *text = NULL, what[300];
	if (read_overlay_text(r, t->from, &text) < 0)
		return -1;
	snprintf(what, sizeof(what), "template %s", t->from);
	char *out = keep(r, im_overlay_render(r->o, text, what, r->err));
	free(text);
	return out ? add_file(r, fat_path(t->to), NULL, out, strlen(out)) : -1;
}

static int add_blob(struct res *r, const struct im_ovl_blob *b)
{
	struct src s;
	struct stat st;
	int rc = find_src(r, b->from, "blobs", &s);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if ((s.node && s.node->type != IM_NODE_FILE) ||
	    (s.host && (stat(s.host, &st) < 0 || !S_ISREG(st.st_mode))))
		return im_fail(r->err, IM_EXIT_INVALID, "overlay %s: blob %s: expected a file",
			       r->o->name, b->from);
	struct im_install_blob *v =
	    realloc(r->a->blobs, (r->a->n_blobs + 1) * sizeof(*r->a->blobs));
	if (!v)
		return im_fail(r->err, IM_EXIT_INTERNAL, "out of memory");
	r->a->blobs = v;
	v[r->a->n_blobs++] = (struct im_install_blob){
	    .what = b->from,
	    .src = s.node ? s.node->src : s.host,
	    .data = s.node ? s.node->data : NULL,
	    .len = s.node ? s.node->size : (size_t)st.st_size,
	    .offset = b->offset,
	};
	return 0;
}

int im_overlay_resolve(const struct im_overlay *o, const char *inputs,
		       struct im_overlay_assets *out, struct im_error *err)
{
	struct res r = {o, inputs, out, err};
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < o->n_files; i++)
		if (copy_one(&r, &o->files[i]) < 0)
			goto fail;
	for (size_t i = 0; i < o->n_dtbs; i++)
		if (copy_dtbs(&r, o->dtbs[i]) < 0)
			goto fail;
	for (size_t i = 0; i < o->n_templates; i++)
		if (render_template(&r, &o->templates[i]) < 0)
			goto fail;
	for (size_t i = 0; i < o->n_blobs; i++)
		if (add_blob(&r, &o->blobs[i]) < 0)
			goto fail;
	return 0;
fail:
	im_overlay_assets_free(out);
	return -1;
}

void im_overlay_assets_free(struct im_overlay_assets *a)
{
	for (size_t i = 0; i < a->n_strings; i++)
		free(a->strings[i]);
	free(a->strings);
	free(a->files);
	free(a->blobs);
	memset(a, 0, sizeof(*a));
}

void im_overlay_board(const struct im_overlay *o, const struct im_overlay_assets *a,
		      struct im_install_board *b)
{
	*b = (struct im_install_board){
	    .gpt_entries = o->gpt_entries,
	    .first_partition = o->first_partition,
	    .hybrid_mbr = o->table == IM_OVL_HYBRID,
	    .blobs = a->blobs,
	    .n_blobs = a->n_blobs,
	};
}
