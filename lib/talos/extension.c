/* System extensions: loading, validation and the initramfs they go into (see
 * include/imager/extension.h). */
#include "imager/talos/extension.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/util/compress.h"
#include "imager/fs/content.h"
#include "imager/fs/cpio.h"
#include "imager/util/outfile.h"
#include "imager/util/semver.h"
#include "imager/fs/squashfs.h"

#define MANIFEST_MAX (1u << 20)
#define COPY_BUF     (1u << 16)
#define FIRMWARE     "lib/firmware"

/* Talos pkg/machinery/extensions AllowedPaths: where a non-directory may be. */
static const char *const allowed_paths[] = {
    "etc/cri/conf.d", "lib/firmware",	      "lib/modules", "lib64/ld-linux-x86-64.so.2",
    "sbin/ldconfig",  "usr/lib/udev/rules.d", "usr/local",   "usr/share/glvnd",
    "usr/share/egl",  "etc/vulkan",
};

/* ---- manifest.yaml -------------------------------------------------------------------- */

/* A scalar field (absent: NULL). Anything but a scalar is an error naming the field. */
static int get_field(struct im_ext *x, struct im_ydoc *d, yaml_node_t *map, const char *key,
		     const char *field, char **out, struct im_error *err)
{
	yaml_node_t *n = im_ydoc_get(d, map, key);
	const char *s = im_ydoc_str(n);

	if (!n)
		return 0;
	if (!s)
		return im_fail(err, IM_EXIT_INVALID, "%s: manifest.yaml: %s: expected a string",
			       x->path, field);
	if (!(*out = strdup(s)))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	return 0;
}

static int need_map(struct im_ext *x, yaml_node_t *n, const char *field, struct im_error *err)
{
	if (n && n->type != YAML_MAPPING_NODE)
		return im_fail(err, IM_EXIT_INVALID, "%s: manifest.yaml: %s: expected a mapping",
			       x->path, field);
	return 0;
}

static int parse_manifest(struct im_ext *x, const char *text, size_t len, struct im_error *err)
{
	struct im_ydoc d;
	char what[PATH_MAX + 32];

	snprintf(what, sizeof(what), "%s: manifest.yaml", x->path);
	if (im_ydoc_load(&d, text, len, false, what, err) < 0)
		return -1;
	yaml_node_t *root = im_ydoc_root(&d), *md = im_ydoc_get(&d, root, "metadata");
	yaml_node_t *compat = im_ydoc_get(&d, md, "compatibility");
	yaml_node_t *talos = im_ydoc_get(&d, compat, "talos");
	struct im_ext_meta *m = &x->meta;
	int rc = root && root->type == YAML_MAPPING_NODE
		     ? 0
		     : im_fail(err, IM_EXIT_INVALID, "%s: expected a mapping", what);
	if (rc == 0)
		rc = need_map(x, md, "metadata", err);
	if (rc == 0)
		rc = need_map(x, compat, "metadata.compatibility", err);
	if (rc == 0)
		rc = need_map(x, talos, "metadata.compatibility.talos", err);
	if (rc == 0)
		rc = get_field(x, &d, root, "version", "version", &m->manifest_version, err);
	if (rc == 0)
		rc = get_field(x, &d, md, "name", "metadata.name", &m->name, err);
	if (rc == 0)
		rc = get_field(x, &d, md, "version", "metadata.version", &m->version, err);
	if (rc == 0)
		rc = get_field(x, &d, md, "author", "metadata.author", &m->author, err);
	if (rc == 0)
		rc = get_field(x, &d, md, "description", "metadata.description", &m->description,
			       err);
	if (rc == 0)
		rc = get_field(x, &d, talos, "version", "metadata.compatibility.talos.version",
			       &m->constraint, err);
	im_ydoc_free(&d);
	return rc;
}

static int load_manifest(struct im_ext *x, struct im_error *err)
{
	struct im_node *n = im_tree_lookup(x->tree, "manifest.yaml");
	char *text = NULL;
	size_t len = 0;

	if (!n || n->type != IM_NODE_FILE)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: no manifest.yaml (expected an extension: manifest.yaml + "
			       "rootfs/)",
			       x->path);
	if (n->src && im_read_small_file(n->src, MANIFEST_MAX, &text, &len, err) < 0)
		return -1;
	int rc = parse_manifest(x, n->src ? text : n->data, n->src ? len : n->size, err);
	free(text);
	return rc;
}

int im_ext_load(const char *path, struct im_ext **out, struct im_error *err)
{
	struct im_ext *x = calloc(1, sizeof(*x));

	*out = NULL;
	if (!x || !(x->path = strdup(path))) {
		free(x);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	if (im_content_load(x->path, "system extension", &x->tree, &x->stage, err) < 0 ||
	    load_manifest(x, err) < 0) {
		im_ext_free(x);
		return -1;
	}
	*out = x;
	return 0;
}

void im_ext_free(struct im_ext *x)
{
	if (!x)
		return;
	im_tree_free(x->tree);
	im_stage_remove(&x->stage);
	free(x->meta.manifest_version);
	free(x->meta.name);
	free(x->meta.version);
	free(x->meta.author);
	free(x->meta.description);
	free(x->meta.constraint);
	free(x->path);
	free(x);
}

/* ---- validation ----------------------------------------------------------------------- */

static int check_layout(const struct im_ext *x, struct im_error *err)
{
	const struct im_node *root = x->tree->root, *rootfs = im_tree_lookup(x->tree, "rootfs");

	for (size_t i = 0; i < root->nchildren; i++) {
		const struct im_node *c = root->children[i];
		if (strcmp(c->name, "manifest.yaml") != 0 && strcmp(c->name, "rootfs") != 0)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: unexpected \"%s\" at the top (expected only "
				       "manifest.yaml and rootfs/)",
				       x->path, c->name);
	}
	if (!rootfs || rootfs->type != IM_NODE_DIR)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: no rootfs/ folder (expected manifest.yaml and rootfs/)",
			       x->path);
	return 0;
}

static bool name_ok(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s);
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int check_manifest(const struct im_ext *x, struct im_error *err)
{
	const struct im_ext_meta *m = &x->meta;

	if (!m->manifest_version || strcmp(m->manifest_version, "v1alpha1") != 0)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: manifest.yaml: version \"%s\": expected v1alpha1", x->path,
			       m->manifest_version ? m->manifest_version : "");
	if (!m->name || !name_ok(m->name))
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: manifest.yaml: metadata.name \"%s\": expected a name of "
			       "a-z, 0-9 and '-'",
			       x->path, m->name ? m->name : "");
	if (!m->version || !*m->version || !printable(m->version) || strchr(m->version, ' '))
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: manifest.yaml: metadata.version \"%s\": expected a version "
			       "(one word)",
			       x->path, m->version ? m->version : "");
	return 0;
}

static int check_constraint(const struct im_ext *x, const char *profile_version,
			    struct im_error *err)
{
	struct im_error e = {0};
	struct im_semver v;
	bool ok;

	if (!x->meta.constraint)
		return 0;
	if (im_semver_parse(profile_version, "profile version", &v, &e) < 0)
		return im_fail(err, e.code, "%s: %s", x->path, e.msg);
	v.pre[0] = '\0'; /* Talos checks the core version: v1.7.0-beta.1 counts as 1.7.0 */
	if (im_semver_range_check(x->meta.constraint, &v, &ok, &e) < 0)
		return im_fail(err, e.code, "%s: manifest.yaml: metadata.compatibility.talos.%s",
			       x->path, e.msg);
	if (!ok)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: extension %s requires Talos version \"%s\", but the profile "
			       "version is %s",
			       x->path, x->meta.name, x->meta.constraint, profile_version);
	return 0;
}

static bool path_allowed(const char *rel)
{
	for (size_t i = 0; i < sizeof(allowed_paths) / sizeof(allowed_paths[0]); i++) {
		size_t n = strlen(allowed_paths[i]);
		if (strncmp(rel, allowed_paths[i], n) == 0 && (rel[n] == '\0' || rel[n] == '/'))
			return true;
	}
	return false;
}

/* Resolve a relative target lexically from the link's folder: may it leave rootfs/? */
static bool link_escapes(const char *rel, const char *target)
{
	long depth = 0;

	for (const char *s = rel; (s = strchr(s, '/')); s++)
		depth++; /* components of the folder holding the link */
	for (const char *p = target; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			depth--;
		else if (len && !(len == 1 && p[0] == '.'))
			depth++;
		if (depth < 0)
			return true;
		p += len;
		p += *p == '/';
	}
	return false;
}

struct check_ctx {
	const struct im_ext *x;
	struct im_error *err;
};

static int check_entry(struct im_node *n, void *opaque)
{
	struct check_ctx *c = opaque;
	const char *path = c->x->path, *rel;

	if (strncmp(n->path, "rootfs/", 7) != 0)
		return 0; /* the root, manifest.yaml, rootfs itself */
	rel = n->path + 7;
	if (n->type == IM_NODE_CHRDEV)
		return im_fail(c->err, IM_EXIT_INVALID,
			       "%s: rootfs/%s: device nodes are not allowed in extensions", path,
			       rel);
	if (n->type != IM_NODE_SYMLINK && (n->mode & 0002))
		return im_fail(c->err, IM_EXIT_INVALID,
			       "%s: rootfs/%s: world-writable entries are not allowed in "
			       "extensions (mode %04o)",
			       path, rel, n->mode);
	if (n->type == IM_NODE_SYMLINK && n->target[0] == '/')
		return im_fail(c->err, IM_EXIT_INVALID,
			       "%s: rootfs/%s: absolute symlink to \"%s\" (expected a relative "
			       "target inside rootfs/)",
			       path, rel, n->target);
	if (n->type == IM_NODE_SYMLINK && link_escapes(rel, n->target))
		return im_fail(c->err, IM_EXIT_INVALID,
			       "%s: rootfs/%s: symlink to \"%s\" leaves rootfs/", path, rel,
			       n->target);
	if (n->type != IM_NODE_DIR && !path_allowed(rel))
		return im_fail(c->err, IM_EXIT_INVALID,
			       "%s: rootfs/%s: path not allowed in extensions (expected under "
			       "/usr/local, /lib/firmware, /lib/modules, /etc/cri/conf.d, ...)",
			       path, rel);
	return 0;
}

int im_ext_validate(const struct im_ext *x, const char *profile_version, struct im_error *err)
{
	struct check_ctx c = {.x = x, .err = err};

	if (check_layout(x, err) < 0 || check_manifest(x, err) < 0 ||
	    check_constraint(x, profile_version, err) < 0)
		return -1;
	return im_tree_walk(x->tree, check_entry, &c) ? -1 : 0;
}

/* ---- extensions.yaml ------------------------------------------------------------------ */

/* A YAML double-quoted scalar (YAML 1.2 §7.3.1) that any YAML parser and the reference
 * init's line reader take back unchanged. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (s = s ? s : ""; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	fputs("\"\n", f);
}

char *im_ext_config_yaml(struct im_ext *const *exts, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fputs(n ? "layers:\n" : "layers: []\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct im_ext_meta *m = &exts[i]->meta;
		fprintf(f, "  - image: \"%zu.sqsh\"\n    metadata:\n", i);
		fputs("      name: ", f);
		put_quoted(f, m->name);
		fputs("      version: ", f);
		put_quoted(f, m->version);
		fputs("      author: ", f);
		put_quoted(f, m->author);
		fputs("      description: ", f);
		put_quoted(f, m->description);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* ---- trees for the initramfs ---------------------------------------------------------- */

/* Microcode blobs (Talos internal/pkg/extensions/compress.go earlyCPUUcode). */
static const struct {
	const char *dir, *glob, *dst;
} ucode[] = {
    {FIRMWARE "/intel-ucode", "*", "kernel/x86/microcode/GenuineIntel.bin"},
    {FIRMWARE "/amd-ucode", "microcode_amd*.bin", "kernel/x86/microcode/AuthenticAMD.bin"},
};

/* rel: path inside rootfs/. Which vendor's microcode is it (-1: none)? */
static int ucode_vendor(const char *rel)
{
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(ucode[i].dir);
		if (strncmp(rel, ucode[i].dir, n) == 0 && rel[n] == '/' &&
		    !strchr(rel + n + 1, '/') && fnmatch(ucode[i].glob, rel + n + 1, 0) == 0)
			return i;
	}
	return -1;
}

/* Add one entry unless the path is taken: the first one added wins (callers go from the
 * top layer down), directories merge. */
static int copy_entry(struct im_tree *dst, const struct im_node *n, const char *path,
		      struct im_error *err)
{
	if (!*path || im_tree_lookup(dst, path))
		return 0;
	switch (n->type) {
	case IM_NODE_DIR:
		return im_tree_add_dir(dst, path, n->mode, err);
	case IM_NODE_FILE:
		return n->src ? im_tree_add_file_src(dst, path, n->src, n->mode, err)
			      : im_tree_add_file_mem(dst, path, n->data, n->size, n->mode, err);
	case IM_NODE_SYMLINK:
		return im_tree_add_symlink(dst, path, n->target, err);
	case IM_NODE_CHRDEV:
		break;
	}
	return im_tree_add_chrdev(dst, path, n->mode, n->rdev_major, n->rdev_minor, err);
}

enum part { PART_SQUASHFS, PART_FIRMWARE };

/* Copy n's subtree to `path` in dst: the squashfs part is everything but lib/firmware,
 * the firmware part is lib/firmware without the microcode. */
static int copy_part(struct im_tree *dst, const struct im_node *n, const char *path, enum part part,
		     struct im_error *err)
{
	char sub[PATH_MAX];

	if (copy_entry(dst, n, path, err) < 0)
		return -1;
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct im_node *c = n->children[i];
		const char *rel = c->path + strlen("rootfs/");
		if (part == PART_SQUASHFS ? strcmp(rel, FIRMWARE) == 0 : ucode_vendor(rel) >= 0)
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "/" : "", c->name) >=
		    (int)sizeof(sub))
			return im_fail(err, IM_EXIT_INVALID, "%s: path too long", c->path);
		if (copy_part(dst, c, sub, part, err) < 0)
			return -1;
	}
	return 0;
}

/* Append a file node's content to fd. */
static int append_content(int fd, const struct im_node *n, const char *what, struct im_error *err)
{
	if (!n->src)
		return im_write_all(fd, n->data, n->size, what, err);
	int in = im_node_open(n, err), rc = 0;
	char *buf = malloc(COPY_BUF);
	ssize_t r;

	if (in < 0 || !buf) {
		rc = in < 0 ? -1 : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	while (rc == 0 && (r = read(in, buf, COPY_BUF)) != 0) {
		if (r < 0 && errno != EINTR)
			rc = im_fail_errno(err, IM_EXIT_IO, "%s: read", n->src);
		else if (r > 0)
			rc = im_write_all(fd, buf, (size_t)r, what, err);
	}
out:
	free(buf);
	if (in >= 0)
		close(in);
	return rc;
}

struct build {
	const struct im_ext_initramfs_opts *o;
	struct im_stage work;  /* extension images, concatenated microcode */
	struct im_tree *early; /* uncompressed archive: microcode */
	struct im_tree *late;  /* compressed archive: extensions.yaml, images, firmware */
	char ucode_file[2][PATH_MAX];
	struct im_error *err;
};

/* Concatenate this extension's microcode (name order) into the per-vendor staging file. */
static int collect_ucode(struct build *b, const struct im_ext *x)
{
	for (int v = 0; v < 2; v++) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "rootfs/%s", ucode[v].dir);
		const struct im_node *d = im_tree_lookup(x->tree, dir);
		for (size_t i = 0; d && d->type == IM_NODE_DIR && i < d->nchildren; i++) {
			const struct im_node *c = d->children[i];
			if (c->type != IM_NODE_FILE || ucode_vendor(c->path + 7) != v)
				continue;
			if (!b->ucode_file[v][0])
				snprintf(b->ucode_file[v], PATH_MAX, "%s/ucode%d", b->work.dir, v);
			int fd =
			    open(b->ucode_file[v], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (fd < 0)
				return im_fail_errno(b->err, IM_EXIT_IO, "%s", b->ucode_file[v]);
			int rc = append_content(fd, c, b->ucode_file[v], b->err);
			close(fd);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

/* Extension i's image: rootfs/ minus lib/firmware, as <work>/<i>.sqsh. */
static int write_image(struct build *b, const struct im_ext *x, size_t i)
{
	struct im_tree *t = im_tree_new(b->o->mtime);
	struct im_squashfs_opts so = {.level = b->o->squashfs_level ? b->o->squashfs_level : 3,
				      .workers = b->o->threads > 0 ? (unsigned)b->o->threads : 1};
	char img[PATH_MAX], name[32];
	int rc;

	if (!t)
		return im_fail(b->err, IM_EXIT_INTERNAL, "out of memory");
	snprintf(name, sizeof(name), "%zu.sqsh", i);
	snprintf(img, sizeof(img), "%s/%s", b->work.dir, name);
	rc = copy_part(t, im_tree_lookup(x->tree, "rootfs"), "", PART_SQUASHFS, b->err);
	if (rc == 0)
		rc = im_squashfs_write(t, img, &so, b->err);
	if (rc == 0)
		rc = im_tree_add_file_src(b->late, name, img, 0644, b->err);
	im_tree_free(t);
	return rc;
}

static int build_trees(struct build *b, struct im_ext *const *exts, size_t n)
{
	char *yaml = im_ext_config_yaml(exts, n);
	int rc = 0;

	b->early = im_tree_new(b->o->mtime);
	b->late = im_tree_new(b->o->mtime);
	if (!yaml || !b->early || !b->late)
		rc = im_fail(b->err, IM_EXIT_INTERNAL, "out of memory");
	if (rc == 0)
		rc = im_tree_add_file_mem(b->late, "extensions.yaml", yaml, strlen(yaml), 0644,
					  b->err);
	free(yaml);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = collect_ucode(b, exts[i]);
		if (rc == 0)
			rc = write_image(b, exts[i], i);
	}
	/* firmware: from the top layer down, so a later extension's file wins */
	for (size_t i = n; rc == 0 && i-- > 0;) {
		const struct im_node *fw = im_tree_lookup(exts[i]->tree, "rootfs/" FIRMWARE);
		if (fw && fw->type == IM_NODE_DIR)
			rc = copy_part(b->late, fw, FIRMWARE, PART_FIRMWARE, b->err);
	}
	for (int v = 0; rc == 0 && v < 2; v++)
		if (b->ucode_file[v][0])
			rc = im_tree_add_file_src(b->early, ucode[v].dst, b->ucode_file[v], 0644,
						  b->err);
	return rc;
}

/* ---- the output file ------------------------------------------------------------------ */

/* The base's compressor from its magic bytes (xz, zstd, gzip), or -1. */
static int detect_compress(const char *base, struct im_error *err)
{
	unsigned char m[6] = {0};
	int fd = open(base, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s: base initramfs",
				     base);
	ssize_t n = read(fd, m, sizeof(m));
	close(fd);
	if (n == 6 && memcmp(m,
			     "\xfd"
			     "7zXZ\0",
			     6) == 0)
		return IM_COMPRESS_XZ;
	if (n >= 4 && memcmp(m, "\x28\xb5\x2f\xfd", 4) == 0)
		return IM_COMPRESS_ZSTD;
	if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
		return IM_COMPRESS_GZIP;
	return im_fail(err, IM_EXIT_INVALID,
		       "%s: base initramfs is not xz, zstd or gzip compressed (magic %02x %02x "
		       "%02x %02x)",
		       base, m[0], m[1], m[2], m[3]);
}

static int copy_file(int out, const char *path, const char *what, struct im_error *err)
{
	struct im_node n = {.type = IM_NODE_FILE, .src = (char *)path, .path = (char *)path};

	return append_content(out, &n, what, err);
}

static int write_output(struct build *b, const char *base, const char *out_path, int compress)
{
	struct im_cpio_opts early = {.compress = IM_COMPRESS_NONE, .level = -1, .threads = 1};
	struct im_cpio_opts late = {
	    .compress = (enum im_compress)compress, .level = b->o->level, .threads = b->o->threads};
	struct im_outfile out;

	if (im_outfile_open(&out, out_path, b->err) < 0)
		return -1;
	int rc = 0;
	if (b->early->root->nchildren) /* the kernel looks for microcode in the first cpio */
		rc = im_cpio_write_fd(b->early, out.fd, &early, b->err);
	if (rc == 0)
		rc = copy_file(out.fd, base, out_path, b->err);
	if (rc == 0)
		rc = im_cpio_write_fd(b->late, out.fd, &late, b->err);
	if (rc < 0) {
		im_outfile_abort(&out);
		return -1;
	}
	return im_outfile_commit(&out, b->err);
}

int im_ext_append_to_initramfs(const char *base, struct im_ext *const *exts, size_t n,
			       const char *out_path, const struct im_ext_initramfs_opts *o,
			       struct im_error *err)
{
	struct build b = {.o = o, .err = err};
	int compress = o->compress >= 0 ? o->compress : detect_compress(base, err);

	if (compress < 0 || im_stage_create(&b.work, err) < 0)
		return -1;
	int rc = build_trees(&b, exts, n);
	if (rc == 0)
		rc = write_output(&b, base, out_path, compress);
	im_tree_free(b.early);
	im_tree_free(b.late);
	im_stage_remove(&b.work);
	return rc;
}
