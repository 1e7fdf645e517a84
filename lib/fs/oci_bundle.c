/* Unpacking an OCI image layout archive (oci_bundle.h). Two passes over the archive: the
 * first records where each member's data is (the outer tar is not compressed, so a blob is
 * a byte range of the file) and hashes every blob; the second reads index.json -> manifest
 * -> config and streams the layers from their byte ranges. */
#include "imager/fs/oci_bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "imager/fs/oci.h"
#include "imager/fs/tarstream.h"
#include "imager/util/outfile.h"
#include "imager/util/sha256.h"

#define JSON_MAX (4u << 20)
#define IO_BUF	 (1u << 16)

struct member {
	char *name; /* "oci-layout", "index.json", "blobs/sha256/<hex>" */
	uint64_t off, size;
};

struct bundle {
	const char *path, *arch, *dest;
	int fd;
	struct member *m;
	size_t n, cap;
	struct im_error *err;
};

/* ---- pass 1: members and blob digests --------------------------------------------------- */

static int is_blob_name(const char *p)
{
	return !strncmp(p, "blobs/sha256/", 13) && strlen(p + 13) == 64 &&
	       strspn(p + 13, "0123456789abcdef") == 64;
}

static int add_member(struct bundle *b, const struct im_tar_entry *e)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct member *m = realloc(b->m, cap * sizeof(*m));
		if (!m)
			return im_fail(b->err, IM_EXIT_INTERNAL, "out of memory");
		b->m = m;
		b->cap = cap;
	}
	b->m[b->n] = (struct member){strdup(e->path), e->offset, e->size};
	return b->m[b->n++].name ? 0 : im_fail(b->err, IM_EXIT_INTERNAL, "out of memory");
}

/* Content addressing (image-spec descriptor.md "Digests"): the bytes must hash to the name. */
static int hash_member(struct bundle *b, struct im_tar_in *t, const struct im_tar_entry *e)
{
	static unsigned char buf[IO_BUF];
	struct im_sha256 s;
	uint8_t d[32];
	char hex[65];
	long r;
	im_sha256_init(&s);
	while ((r = im_tar_read(t, buf, sizeof(buf), b->err)) > 0)
		im_sha256_update(&s, buf, (size_t)r);
	if (r < 0)
		return -1;
	im_sha256_final(&s, d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	if (strcmp(hex, e->path + 13))
		return im_fail(b->err, IM_EXIT_INVALID,
			       "%s: blob sha256:%s: content has digest sha256:%s (expected the "
			       "content its name says; corrupt archive)",
			       b->path, e->path + 13, hex);
	return 0;
}

static int scan(struct bundle *b)
{
	struct im_tar_in t;
	struct im_tar_entry e;
	int r;
	im_tar_in_init(&t, im_tar_read_fd, &b->fd, b->path);
	while ((r = im_tar_next(&t, &e, b->err)) > 0) {
		if (e.type != '0' && e.type != '7')
			continue;
		bool blob = is_blob_name(e.path);
		if (!blob && strcmp(e.path, "oci-layout") && strcmp(e.path, "index.json"))
			continue;
		if (add_member(b, &e) < 0 || (blob && hash_member(b, &t, &e) < 0))
			return -1;
	}
	return r;
}

static const struct member *find(const struct bundle *b, const char *name)
{
	for (size_t i = b->n; i-- > 0;) /* a later member replaces an earlier one (tar) */
		if (!strcmp(b->m[i].name, name))
			return &b->m[i];
	return NULL;
}

/* ---- JSON blobs ----------------------------------------------------------------------------- */

static int read_member(struct bundle *b, const struct member *m, char **out)
{
	if (m->size > JSON_MAX)
		return im_fail(b->err, IM_EXIT_INVALID, "%s: %s: %llu bytes of JSON (at most %u)",
			       b->path, m->name, (unsigned long long)m->size, JSON_MAX);
	char *buf = malloc((size_t)m->size + 1);
	if (!buf)
		return im_fail(b->err, IM_EXIT_INTERNAL, "out of memory");
	ssize_t r = pread(b->fd, buf, (size_t)m->size, (off_t)m->off);
	if (r != (ssize_t)m->size) {
		free(buf);
		return im_fail_errno(b->err, IM_EXIT_IO, "%s: %s", b->path, m->name);
	}
	buf[m->size] = 0;
	*out = buf;
	return 0;
}

static int load_json(struct bundle *b, const struct member *m, struct im_ydoc *d)
{
	char *text = NULL, what[PATH_MAX + 80];
	if (read_member(b, m, &text) < 0)
		return -1;
	snprintf(what, sizeof(what), "%s: %s", b->path, m->name);
	int rc = im_ydoc_load(d, text, (size_t)m->size, true, what, b->err);
	free(text);
	return rc;
}

/* The blob a descriptor names; its size must be the descriptor's. */
static const struct member *blob_of(struct bundle *b, struct im_ydoc *d, yaml_node_t *desc,
				    const char *what)
{
	const char *digest = im_ydoc_str(im_ydoc_get(d, desc, "digest"));
	const char *size = im_ydoc_str(im_ydoc_get(d, desc, "size"));
	char name[128];
	if (!digest) {
		im_fail(b->err, IM_EXIT_INVALID, "%s: %s without a digest", b->path, what);
		return NULL;
	}
	if (strncmp(digest, "sha256:", 7)) {
		im_fail(b->err, IM_EXIT_UNSUPPORTED, "%s: %s digest \"%s\" (expected sha256:...)",
			b->path, what, digest);
		return NULL;
	}
	snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
	const struct member *m = is_blob_name(name) ? find(b, name) : NULL;
	if (!m)
		im_fail(b->err, IM_EXIT_MISSING, "%s: %s %s: no such blob in the archive", b->path,
			what, digest);
	else if (size && strtoull(size, NULL, 10) != m->size) {
		im_fail(b->err, IM_EXIT_INVALID,
			"%s: %s %s: blob of %llu bytes (the descriptor says %s)", b->path, what,
			digest, (unsigned long long)m->size, size);
		m = NULL;
	}
	return m;
}

static yaml_node_t *seq_item(struct im_ydoc *d, yaml_node_t *seq, size_t i)
{
	if (!seq || seq->type != YAML_SEQUENCE_NODE ||
	    (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) <= i)
		return NULL;
	return yaml_document_get_node(&d->doc, seq->data.sequence.items.start[i]);
}

/* image-index.md: the manifest whose platform is linux/<arch>; without platforms, the first. */
static int pick_manifest(struct bundle *b, struct im_ydoc *idx, struct im_ydoc *man)
{
	yaml_node_t *list = im_ydoc_get(idx, im_ydoc_root(idx), "manifests"), *pick = NULL, *n;
	const char *seen = NULL;
	for (size_t i = 0; (n = seq_item(idx, list, i)); i++) {
		yaml_node_t *pl = im_ydoc_get(idx, n, "platform");
		const char *a = im_ydoc_str(im_ydoc_get(idx, pl, "architecture"));
		if (!pl && !pick)
			pick = n;
		if (a && !strcmp(a, b->arch)) {
			pick = n;
			break;
		}
		if (a && !seen)
			seen = a;
	}
	if (!pick && seen)
		return im_fail(b->err, IM_EXIT_INVALID,
			       "%s: image for linux/%s (expected linux/%s)", b->path, seen,
			       b->arch);
	if (!pick)
		return im_fail(b->err, IM_EXIT_INVALID, "%s: index.json lists no image manifest",
			       b->path);
	const struct member *m = blob_of(b, idx, pick, "manifest");
	return m ? load_json(b, m, man) : -1;
}

static int check_config(struct bundle *b, struct im_ydoc *man)
{
	struct im_ydoc cfg = {0};
	const struct member *m =
	    blob_of(b, man, im_ydoc_get(man, im_ydoc_root(man), "config"), "config");
	if (!m || load_json(b, m, &cfg) < 0)
		return -1;
	const char *a = im_ydoc_str(im_ydoc_get(&cfg, im_ydoc_root(&cfg), "architecture"));
	const char *os = im_ydoc_str(im_ydoc_get(&cfg, im_ydoc_root(&cfg), "os"));
	int rc = 0;
	if (!a || strcmp(a, b->arch) || (os && strcmp(os, "linux")))
		rc = im_fail(b->err, IM_EXIT_INVALID, "%s: image for %s/%s (expected linux/%s)",
			     b->path, os ? os : "?", a ? a : "?", b->arch);
	im_ydoc_free(&cfg);
	return rc;
}

/* ---- layers ------------------------------------------------------------------------------ */

struct range {
	int fd;
	uint64_t off, left;
};

static long range_read(void *ctx, void *buf, size_t n, struct im_error *err)
{
	struct range *r = ctx;
	if (n > r->left)
		n = (size_t)r->left;
	ssize_t k = n ? pread(r->fd, buf, n, (off_t)r->off) : 0;
	if (k < 0)
		return im_fail_errno(err, IM_EXIT_IO, "read");
	r->off += (uint64_t)k;
	r->left -= (uint64_t)k;
	return (long)k;
}

struct gunzip {
	struct range *in;
	z_stream z;
	unsigned char buf[IO_BUF];
	bool done;
	const char *what;
};

static long gunzip_read(void *ctx, void *buf, size_t n, struct im_error *err)
{
	struct gunzip *g = ctx;
	g->z.next_out = buf;
	g->z.avail_out = (uInt)n;
	while (g->z.avail_out && !g->done) {
		if (!g->z.avail_in) {
			long k = range_read(g->in, g->buf, sizeof(g->buf), err);
			if (k < 0)
				return -1;
			if (k == 0)
				return im_fail(err, IM_EXIT_INVALID, "%s: truncated gzip stream",
					       g->what);
			g->z.next_in = g->buf;
			g->z.avail_in = (uInt)k;
		}
		int r = inflate(&g->z, Z_NO_FLUSH);
		if (r == Z_STREAM_END)
			g->done = true;
		else if (r != Z_OK)
			return im_fail(err, IM_EXIT_INVALID, "%s: bad gzip data (%s)", g->what,
				       g->z.msg ? g->z.msg : "inflate failed");
	}
	return (long)(n - g->z.avail_out);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

void im_rmtree(const char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* No "..", and no symlink on the way to the entry (a layer must not write outside dest). */
static int safe_path(struct bundle *b, const char *what, const char *p)
{
	char buf[2 * PATH_MAX + 2];
	const char *s = p;
	while (*s) {
		size_t len = strcspn(s, "/");
		if ((len == 2 && !strncmp(s, "..", 2)) || len == 0)
			return im_fail(b->err, IM_EXIT_INVALID, "%s: \"%s\": path leaves the root",
				       what, p);
		if (s[len] == '/') {
			struct stat st;
			snprintf(buf, sizeof(buf), "%s/%.*s", b->dest, (int)(s + len - p), p);
			if (lstat(buf, &st) == 0 && !S_ISDIR(st.st_mode))
				return im_fail(b->err, IM_EXIT_INVALID,
					       "%s: \"%s\": a parent is not a directory", what, p);
			if (lstat(buf, &st) < 0 && mkdir(buf, 0755) < 0)
				return im_fail_errno(b->err, IM_EXIT_IO, "%s", buf);
		}
		s += len + (s[len] == '/');
	}
	return 0;
}

static int write_file(struct bundle *b, struct im_tar_in *t, const char *dst, uint32_t mode)
{
	static unsigned char buf[IO_BUF];
	int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	long r;
	int rc = 0;
	if (fd < 0)
		return im_fail_errno(b->err, IM_EXIT_IO, "%s", dst);
	while (rc == 0 && (r = im_tar_read(t, buf, sizeof(buf), b->err)) != 0)
		rc = r < 0 ? -1 : im_write_all(fd, buf, (size_t)r, dst, b->err);
	if (rc == 0 && fchmod(fd, mode & 0755) < 0)
		rc = im_fail_errno(b->err, IM_EXIT_IO, "%s", dst);
	close(fd);
	return rc;
}

/* layer.md "Whiteouts": .wh.NAME removes NAME, .wh..wh..opq empties the folder. */
static int whiteout(struct bundle *b, const char *path, const char *base)
{
	char dst[2 * PATH_MAX + 2];
	int dl = (int)(base - path);
	if (!strcmp(base, ".wh..wh..opq")) {
		snprintf(dst, sizeof(dst), "%s/%.*s", b->dest, dl, path);
		im_rmtree(dst);
		return mkdir(dst, 0755) < 0 && errno != EEXIST
			   ? im_fail_errno(b->err, IM_EXIT_IO, "%s", dst)
			   : 0;
	}
	const char *name = base + 4;
	if (!name[0] || !strcmp(name, ".") || !strcmp(name, ".."))
		return im_fail(b->err, IM_EXIT_INVALID, "%s: whiteout \"%s\" names no entry",
			       b->path, path);
	snprintf(dst, sizeof(dst), "%s/%.*s%s", b->dest, dl, path, name);
	im_rmtree(dst);
	return 0;
}

static int apply_entry(struct bundle *b, struct im_tar_in *t, const struct im_tar_entry *e,
		       const char *what)
{
	char dst[2 * PATH_MAX + 2];
	struct stat st;
	if (!e->path[0])
		return 0; /* the root itself */
	if (safe_path(b, what, e->path) < 0)
		return -1;
	const char *slash = strrchr(e->path, '/'), *base = slash ? slash + 1 : e->path;
	if (!strncmp(base, ".wh.", 4))
		return whiteout(b, e->path, base);
	snprintf(dst, sizeof(dst), "%s/%s", b->dest, e->path);
	bool is_dir = lstat(dst, &st) == 0 && S_ISDIR(st.st_mode);
	if (e->type == '5') {
		if (!is_dir && lstat(dst, &st) == 0)
			unlink(dst);
		if (!is_dir && mkdir(dst, 0755) < 0)
			return im_fail_errno(b->err, IM_EXIT_IO, "%s", dst);
		return chmod(dst, (e->mode & 0755) | 0700) < 0
			   ? im_fail_errno(b->err, IM_EXIT_IO, "%s", dst)
			   : 0;
	}
	im_rmtree(dst); /* anything else replaces what is there */
	switch (e->type) {
	case '0':
	case '7':
		return write_file(b, t, dst, e->mode);
	case '2':
		return symlink(e->link, dst) < 0 ? im_fail_errno(b->err, IM_EXIT_IO, "%s", dst) : 0;
	case '1': {
		char src[2 * PATH_MAX + 2];
		snprintf(src, sizeof(src), "%s/%s", b->dest, e->link);
		if (strstr(e->link, "..") || link(src, dst) < 0)
			return im_fail(b->err, IM_EXIT_INVALID,
				       "%s: \"%s\": bad hard link to \"%s\"", what, e->path,
				       e->link);
		return 0;
	}
	default:
		return im_fail(b->err, IM_EXIT_UNSUPPORTED,
			       "%s: \"%s\": entry type '%c' (device nodes, FIFOs are not unpacked)",
			       what, e->path, e->type);
	}
}

static int apply_layer(struct bundle *b, const struct member *m, size_t i)
{
	char what[PATH_MAX + 64];
	unsigned char magic[2] = {0, 0};
	struct range r = {b->fd, m->off, m->size};
	struct gunzip *g = NULL;
	struct im_tar_in t;
	struct im_tar_entry e;
	int rc;
	snprintf(what, sizeof(what), "%s: layer %zu", b->path, i);
	if (pread(b->fd, magic, 2, (off_t)m->off) < 0)
		return im_fail_errno(b->err, IM_EXIT_IO, "%s", what);
	if (magic[0] == 0x28 && magic[1] == 0xb5)
		return im_fail(b->err, IM_EXIT_UNSUPPORTED,
			       "%s: zstd layers are not supported "
			       "(expected tar or tar+gzip)",
			       what);
	if (magic[0] == 0x1f && magic[1] == 0x8b) {
		if (!(g = calloc(1, sizeof(*g))) || inflateInit2(&g->z, 15 + 16) != Z_OK) {
			free(g);
			return im_fail(b->err, IM_EXIT_INTERNAL, "out of memory");
		}
		g->in = &r;
		g->what = what;
		im_tar_in_init(&t, gunzip_read, g, what);
	} else {
		im_tar_in_init(&t, range_read, &r, what);
	}
	while ((rc = im_tar_next(&t, &e, b->err)) > 0)
		if (apply_entry(b, &t, &e, what) < 0) {
			rc = -1;
			break;
		}
	if (g) {
		inflateEnd(&g->z);
		free(g);
	}
	return rc;
}

static int apply_layers(struct bundle *b, struct im_ydoc *man)
{
	yaml_node_t *layers = im_ydoc_get(man, im_ydoc_root(man), "layers"), *l;
	const struct member **ms;
	size_t n = 0;
	if (!layers || layers->type != YAML_SEQUENCE_NODE)
		return im_fail(b->err, IM_EXIT_INVALID, "%s: image manifest without \"layers\"",
			       b->path);
	while (seq_item(man, layers, n))
		n++;
	if (!(ms = calloc(n + 1, sizeof(*ms))))
		return im_fail(b->err, IM_EXIT_INTERNAL, "out of memory");
	int rc = 0;
	/* Every layer's blob is found before the first one is unpacked. */
	for (size_t i = 0; rc == 0 && (l = seq_item(man, layers, i)); i++)
		if (!(ms[i] = blob_of(b, man, l, "layer")))
			rc = -1;
	if (rc == 0 && mkdir(b->dest, 0755) < 0)
		rc = im_fail_errno(b->err, IM_EXIT_IO, "%s", b->dest);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = apply_layer(b, ms[i], i);
	free(ms);
	return rc;
}

int im_oci_unpack(const char *path, const char *arch, const char *dest, struct im_error *err)
{
	struct bundle b = {.path = path, .arch = arch, .dest = dest, .err = err};
	struct im_ydoc idx = {0}, man = {0};
	int rc = -1;
	b.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b.fd < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s", path);
	if (scan(&b) < 0)
		goto out;
	if (!find(&b, "oci-layout")) {
		im_fail(err, IM_EXIT_INVALID,
			"%s: no oci-layout file (expected an OCI image layout archive)", path);
		goto out;
	}
	const struct member *m = find(&b, "index.json");
	if (!m) {
		im_fail(err, IM_EXIT_INVALID,
			"%s: no index.json (expected an OCI image layout archive)", path);
		goto out;
	}
	if (load_json(&b, m, &idx) < 0 || pick_manifest(&b, &idx, &man) < 0 ||
	    check_config(&b, &man) < 0)
		goto out;
	rc = apply_layers(&b, &man);
out:
	im_ydoc_free(&idx);
	im_ydoc_free(&man);
	for (size_t i = 0; i < b.n; i++)
		free(b.m[i].name);
	free(b.m);
	close(b.fd);
	return rc;
}
