/* `imager inspect` of a squashfs image, as `imager mksquashfs` packs a system extension
 * (manifest.yaml + rootfs/, DESIGN.md §5) or the imager writes <i>.sqsh / rootfs.sqsh:
 * the super block (squashfs 4.0: compressor, block size, inodes, size, time), every entry
 * (path, type, mode, size) and, when there is a /manifest.yaml, the extension it names
 * (name, version, author, description, compatibility.talos.version). Read with
 * libsquashfs; nothing is extracted. */
#include <limits.h>
#include <sqfs/inode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inspect.h"
#include "json.h"
#include "imager/fs/oci.h"
#include "imager/fs/sqread.h"
#include "imager/util/error.h"

#define MANIFEST_MAX (64u << 10)
#define HUMAN_FIRST  20

struct entry {
	char *path;
	const char *type;
	uint32_t mode;
	uint64_t size;
};

/* manifest.yaml: version, metadata.{name, version, author, description,
 * compatibility.talos.version} */
static const char *const man_keys[] = {"manifestVersion", "name",	 "version",
				       "author",	  "description", "compatibility"};
#define N_MAN (sizeof man_keys / sizeof man_keys[0])

struct sq {
	const char *path;
	struct im_sqfs_reader r;
	struct entry *e;
	size_t ne;
	int has_manifest;
	char *man[N_MAN];
};

static int sq_fail(struct sq *s, const char *step, int rc, struct im_error *err)
{
	return im_fail(err, IM_EXIT_INVALID,
		       "inspect: %s: %s failed (libsquashfs error %d): truncated or not a "
		       "squashfs 4.0 image",
		       s->path, step, rc);
}

static int sq_open(struct sq *s, struct im_error *err)
{
	char what[PATH_MAX + 16];
	snprintf(what, sizeof(what), "inspect: %s", s->path);
	int rc = im_sqfs_reader_open(&s->r, s->path, what, err);
	return rc == 1 ? sq_fail(s, s->r.step, s->r.rc, err) : rc;
}

static void sq_close(struct sq *s)
{
	im_sqfs_reader_close(&s->r);
	for (size_t i = 0; i < s->ne; i++)
		free(s->e[i].path);
	for (size_t i = 0; i < N_MAN; i++)
		free(s->man[i]);
	free(s->e);
}

static const char *type_of(const sqfs_inode_generic_t *ino)
{
	switch (ino->base.type) {
	case SQFS_INODE_DIR:
	case SQFS_INODE_EXT_DIR:
		return "dir";
	case SQFS_INODE_FILE:
	case SQFS_INODE_EXT_FILE:
		return "file";
	case SQFS_INODE_SLINK:
	case SQFS_INODE_EXT_SLINK:
		return "symlink";
	case SQFS_INODE_CDEV:
	case SQFS_INODE_EXT_CDEV:
		return "char";
	case SQFS_INODE_BDEV:
	case SQFS_INODE_EXT_BDEV:
		return "block";
	case SQFS_INODE_FIFO:
	case SQFS_INODE_EXT_FIFO:
		return "fifo";
	default:
		return "socket";
	}
}

/* Pre-order walk: children in directory order (sorted, squashfs stores them so). */
static int walk(struct sq *s, const sqfs_tree_node_t *n, const char *path, int depth,
		struct im_error *err)
{
	char child[4096];
	if (depth > 128)
		return im_fail(err, IM_EXIT_INVALID, "inspect: %s: directories nested too deep",
			       s->path);
	for (const sqfs_tree_node_t *c = n->children; c; c = c->next) {
		if (snprintf(child, sizeof child, "%s%s%s", path, *path ? "/" : "",
			     (const char *)c->name) >= (int)sizeof child)
			return im_fail(err, IM_EXIT_INVALID, "inspect: %s: a path over 4096 bytes",
				       s->path);
		struct entry *e = realloc(s->e, (s->ne + 1) * sizeof *e);
		if (!e)
			return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		s->e = e;
		sqfs_u64 size = 0;
		if (!strcmp(type_of(c->inode), "file"))
			sqfs_inode_get_file_size(c->inode, &size);
		s->e[s->ne++] = (struct entry){strdup(child), type_of(c->inode),
					       c->inode->base.mode & 07777u, size};
		if (!s->e[s->ne - 1].path)
			return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		if (!strcmp(s->e[s->ne - 1].type, "dir") && walk(s, c, child, depth + 1, err) < 0)
			return -1;
	}
	return 0;
}

static char *dup_scalar(const yaml_node_t *n)
{
	const char *v = im_ydoc_str(n);
	return v ? strdup(v) : NULL;
}

/* /manifest.yaml, when the image has one (an extension). */
static int read_manifest(struct sq *s, struct im_error *err)
{
	const sqfs_tree_node_t *n = s->r.root->children;
	while (n && strcmp((const char *)n->name, "manifest.yaml"))
		n = n->next;
	sqfs_u64 size = 0;
	if (!n || strcmp(type_of(n->inode), "file"))
		return 0;
	sqfs_inode_get_file_size(n->inode, &size);
	if (size > MANIFEST_MAX)
		return im_fail(err, IM_EXIT_INVALID, "inspect: %s: /manifest.yaml of %llu bytes",
			       s->path, (unsigned long long)size);
	char *text = calloc(1, (size_t)size + 1);
	if (!text)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	sqfs_s32 got =
	    size ? sqfs_data_reader_read(s->r.data, n->inode, 0, text, (sqfs_u32)size) : 0;
	struct im_ydoc d = {0};
	char what[300];
	snprintf(what, sizeof what, "inspect: %s: /manifest.yaml", s->path);
	int rc = (sqfs_u64)got != size
		     ? im_fail(err, IM_EXIT_INVALID, "%s: cannot read its data (%d)", what, got)
		     : im_ydoc_load(&d, text, (size_t)size, false, what, err);
	if (!rc) {
		yaml_node_t *root = im_ydoc_root(&d), *md = im_ydoc_get(&d, root, "metadata");
		s->has_manifest = 1;
		s->man[0] = dup_scalar(im_ydoc_get(&d, root, "version"));
		for (size_t i = 1; i < N_MAN - 1; i++)
			s->man[i] = dup_scalar(im_ydoc_get(&d, md, man_keys[i]));
		s->man[N_MAN - 1] = dup_scalar(im_ydoc_get(
		    &d, im_ydoc_get(&d, im_ydoc_get(&d, md, "compatibility"), "talos"), "version"));
		im_ydoc_free(&d);
	}
	free(text);
	return rc;
}

static void jstr(FILE *f, const char *s)
{
	if (s)
		imager_json_str(f, s, strlen(s));
	else
		fputs("null", f);
}

static void totals(const struct sq *s, size_t count[4], uint64_t *bytes)
{
	*bytes = 0;
	for (size_t i = 0; i < s->ne; i++) {
		const char *t = s->e[i].type;
		count[!strcmp(t, "file")      ? 0
		      : !strcmp(t, "dir")     ? 1
		      : !strcmp(t, "symlink") ? 2
					      : 3]++;
		*bytes += s->e[i].size;
	}
}

static void print_json(FILE *f, const struct sq *s)
{
	size_t count[4] = {0};
	uint64_t bytes;
	totals(s, count, &bytes);
	fputs("{\n  \"file\": ", f);
	jstr(f, s->path);
	struct stat st;
	fprintf(f, ",\n  \"kind\": \"squashfs\",\n  \"size\": %llu,\n  \"bytesUsed\": %llu",
		stat(s->path, &st) == 0 ? (unsigned long long)st.st_size : 0ull,
		(unsigned long long)s->r.super.bytes_used);
	fprintf(f,
		",\n  \"compression\": \"%s\",\n  "
		"\"blockSize\": %u,\n  \"inodes\": %u,\n  \"modified\": %u,\n  \"manifest\": ",
		sqfs_compressor_name_from_id(s->r.super.compression_id) ?: "unknown",
		s->r.super.block_size, s->r.super.inode_count, s->r.super.modification_time);
	for (size_t i = 0; s->has_manifest && i < N_MAN; i++) {
		fprintf(f, "%s\"%s\": ", i ? ", " : "{", man_keys[i]);
		jstr(f, s->man[i]);
	}
	fputs(s->has_manifest ? "}" : "null", f);
	fprintf(f,
		",\n  \"files\": %zu,\n  \"dirs\": %zu,\n  \"symlinks\": %zu,\n  \"bytes\": %llu,\n"
		"  \"entries\": [",
		count[0], count[1], count[2], (unsigned long long)bytes);
	for (size_t i = 0; i < s->ne; i++) {
		fputs(i ? ",\n    {\"path\": " : "\n    {\"path\": ", f);
		jstr(f, s->e[i].path);
		fprintf(f, ", \"type\": \"%s\", \"mode\": %u, \"size\": %llu}", s->e[i].type,
			s->e[i].mode, (unsigned long long)s->e[i].size);
	}
	fputs(s->ne ? "\n  ]\n}\n" : "]\n}\n", f);
}

static void print_human(FILE *f, const struct sq *s)
{
	size_t count[4] = {0};
	uint64_t bytes;
	char h1[16], h2[16];
	totals(s, count, &bytes);
	inspect_wrap(f, 0, "file", s->path);
	inspect_human(s->r.super.bytes_used, h1);
	inspect_human(s->r.super.block_size, h2);
	fprintf(f, "kind: squashfs %u.%u, %s, %s blocks, %s\n", s->r.super.version_major,
		s->r.super.version_minor,
		sqfs_compressor_name_from_id(s->r.super.compression_id) ?: "unknown", h2, h1);
	if (s->has_manifest) {
		fprintf(f, "extension: %.30s %.30s (manifest %.12s)\n", s->man[1] ?: "(no name)",
			s->man[2] ?: "(no version)", s->man[0] ?: "?");
		for (size_t i = 3; i < N_MAN; i++)
			if (s->man[i]) {
				/* one line: YAML block scalars end in (and may hold) newlines */
				char *v = strdup(s->man[i]);
				size_t n = v ? strlen(v) : 0;
				while (n && (v[n - 1] == '\n' || v[n - 1] == ' '))
					v[--n] = 0;
				for (size_t j = 0; j < n; j++)
					v[j] = v[j] == '\n' || v[j] == '\t' ? ' ' : v[j];
				inspect_wrap(f, 2, man_keys[i], v ? v : "");
				free(v);
			}
	}
	inspect_human(bytes, h1);
	fprintf(f, "entries: %zu (%zu files, %zu dirs, %zu symlinks, %zu other), %s\n", s->ne,
		count[0], count[1], count[2], count[3], h1);
	for (size_t i = 0; i < s->ne && i < HUMAN_FIRST; i++) {
		inspect_human(s->e[i].size, h1);
		int col = fprintf(f, "  %-7s %04o %10s  ", s->e[i].type, s->e[i].mode, h1);
		size_t room = (size_t)(80 - col), len = strlen(s->e[i].path);
		if (len > room) /* a long path keeps its end: the file name */
			fprintf(f, "...%s\n", s->e[i].path + len - (room - 3));
		else
			fprintf(f, "%s\n", s->e[i].path);
	}
	if (s->ne > HUMAN_FIRST)
		fprintf(f, "  ... %zu more (--json lists them all)\n", s->ne - HUMAN_FIRST);
}

int imager_inspect_squashfs(const char *path, int json, struct im_error *err)
{
	struct sq s = {.path = path};
	int rc = sq_open(&s, err);
	if (!rc)
		rc = walk(&s, s.r.root, "", 0, err);
	if (!rc)
		rc = read_manifest(&s, err);
	if (!rc)
		(json ? print_json : print_human)(stdout, &s);
	sq_close(&s);
	return rc;
}
