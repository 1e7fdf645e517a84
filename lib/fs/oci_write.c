/* OCI image layout archives (oci_write.h). The layout (image-spec image-layout.md):
 *   oci-layout          {"imageLayoutVersion": "1.0.0"}
 *   index.json          image index (image-index.md) -> one manifest, platform linux/<arch>
 *   blobs/sha256/<hex>  the manifest (manifest.md), the config (config.md), the layers
 * Layers are gzip'd tars (layer.md, media type application/vnd.oci.image.layer.v1.tar+gzip);
 * the config's rootfs.diff_ids are the sha256 of the uncompressed layer tars. */
#include "imager/fs/oci_write.h"
#include "imager/fs/arwrite.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "imager/util/cleanup.h"
#include "imager/util/outfile.h"
#include "imager/util/sha256.h"

#define GZIP_LEVEL  6 /* zlib's default: the output depends only on input and level */
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_LAYER    "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_INDEX    "application/vnd.oci.image.index.v1+json"

/* ---- a tree as a tar stream -------------------------------------------------------------- */

struct sink {
	int fd;
	bool gzip;
	z_stream z;
	struct im_sha256 raw, out;
	uint64_t size;
	const char *what;
	struct im_error *err;
};

static int sink_emit(struct sink *s, const void *buf, size_t len)
{
	im_sha256_update(&s->out, buf, len);
	s->size += len;
	return im_write_all(s->fd, buf, len, s->what, s->err);
}

static int sink_deflate(struct sink *s, const void *buf, size_t len, int flush)
{
	unsigned char out[1 << 16];
	s->z.next_in = (unsigned char *)buf;
	s->z.avail_in = (uInt)len;
	int r;
	do {
		s->z.next_out = out;
		s->z.avail_out = sizeof(out);
		r = deflate(&s->z, flush);
		if (r == Z_STREAM_ERROR)
			return im_fail(s->err, IM_EXIT_INTERNAL, "%s: deflate failed", s->what);
		if (sink_emit(s, out, sizeof(out) - s->z.avail_out) < 0)
			return -1;
	} while (s->z.avail_out == 0 || (flush == Z_FINISH && r != Z_STREAM_END));
	return 0;
}

static la_ssize_t sink_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	(void)a;
	struct sink *s = ctx;
	im_sha256_update(&s->raw, buf, len);
	int rc = s->gzip ? sink_deflate(s, buf, len, Z_NO_FLUSH) : sink_emit(s, buf, len);
	return rc < 0 ? -1 : (la_ssize_t)len;
}

struct tar_ctx {
	struct archive *a;
	struct archive_entry *e;
	int64_t mtime;
	const char *what;
	struct im_error *err;
};

static int tar_visit(struct im_node *n, void *opaque)
{
	struct tar_ctx *c = opaque;
	if (!n->parent)
		return 0;
	char path[4096];
	snprintf(path, sizeof(path), "%s%s", n->path, n->type == IM_NODE_DIR ? "/" : "");
	archive_entry_clear(c->e);
	archive_entry_set_pathname(c->e, path);
	archive_entry_set_uid(c->e, 0);
	archive_entry_set_gid(c->e, 0);
	archive_entry_set_mtime(c->e, c->mtime, 0);
	archive_entry_set_perm(c->e, n->mode);
	archive_entry_set_size(c->e, 0);
	switch (n->type) {
	case IM_NODE_DIR:
		archive_entry_set_filetype(c->e, AE_IFDIR);
		break;
	case IM_NODE_FILE:
		archive_entry_set_filetype(c->e, AE_IFREG);
		archive_entry_set_size(c->e, (la_int64_t)n->size);
		break;
	case IM_NODE_SYMLINK:
		archive_entry_set_filetype(c->e, AE_IFLNK);
		archive_entry_set_symlink(c->e, n->target);
		break;
	default:
		return im_fail(c->err, IM_EXIT_INVALID, "%s: %s: device nodes do not go into a tar",
			       c->what, n->path);
	}
	if (archive_write_header(c->a, c->e) != ARCHIVE_OK)
		return im_fail(c->err, IM_EXIT_INVALID,
			       "%s: \"%s\": %s (ustar holds names of at most "
			       "255 bytes, link targets of 100)",
			       c->what, n->path, archive_error_string(c->a));
	return n->type == IM_NODE_FILE
		   ? im_archive_write_node_data(c->a, n, c->what, n->path, c->err)
		   : 0;
}

static void hex_of(struct im_sha256 *s, char hex[65])
{
	uint8_t d[32];
	im_sha256_final(s, d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int im_tar_write_tree(struct im_tree *t, int fd, bool gzip, const char *what,
		      struct im_tar_sums *sums, struct im_error *err)
{
	struct sink s = {.fd = fd, .gzip = gzip, .what = what, .err = err};
	struct tar_ctx c = {.mtime = t->mtime, .what = what, .err = err};
	int rc = -1;
	im_sha256_init(&s.raw);
	im_sha256_init(&s.out);
	/* gzip wrapper (windowBits 15 + 16): zlib writes mtime 0, no name (RFC 1952). */
	if (gzip &&
	    deflateInit2(&s.z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	c.a = archive_write_new();
	c.e = archive_entry_new();
	if (!c.a || !c.e) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	archive_write_set_format_ustar(c.a);
	if (archive_write_open2(c.a, &s, NULL, sink_write, NULL, NULL) != ARCHIVE_OK) {
		im_fail(err, IM_EXIT_INTERNAL, "%s: %s", what, archive_error_string(c.a));
		goto out;
	}
	if (im_tree_walk(t, tar_visit, &c) != 0)
		goto out;
	if (archive_write_close(c.a) != ARCHIVE_OK) {
		im_fail(err, IM_EXIT_IO, "%s: %s", what, archive_error_string(c.a));
		goto out;
	}
	if (gzip && sink_deflate(&s, NULL, 0, Z_FINISH) < 0)
		goto out;
	rc = 0;
	if (sums) {
		hex_of(&s.out, sums->digest);
		hex_of(&s.raw, sums->diff_id);
		sums->size = s.size;
	}
out:
	if (c.a)
		archive_write_free(c.a);
	if (c.e)
		archive_entry_free(c.e);
	if (gzip)
		deflateEnd(&s.z);
	return rc;
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_descriptor(FILE *f, const char *media_type, const char *hex, uint64_t size)
{
	fputs("{\"mediaType\":", f);
	json_str(f, media_type);
	fprintf(f, ",\"digest\":\"sha256:%s\",\"size\":%llu", hex, (unsigned long long)size);
}

/* config.md: architecture, os, created (RFC 3339), config.Entrypoint/Env/Labels, rootfs. */
static char *config_json(const struct im_oci_image *img, const struct im_tar_sums *layers,
			 size_t *len)
{
	char *buf = NULL, created[32];
	struct tm tm;
	time_t t = (time_t)img->created;
	gmtime_r(&t, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	fprintf(f, "{\"created\":\"%s\",\"architecture\":", created);
	json_str(f, img->arch);
	fputs(",\"os\":\"linux\",\"config\":{\"Env\":[", f);
	for (size_t i = 0; i < img->n_env; i++) {
		if (i)
			fputc(',', f);
		json_str(f, img->env[i]);
	}
	fputs("],\"Entrypoint\":[", f);
	json_str(f, img->entrypoint);
	fputs("]", f);
	if (img->n_labels) {
		fputs(",\"Labels\":{", f);
		for (size_t i = 0; i < img->n_labels; i++) {
			const char *eq = strchr(img->labels[i], '=');
			char key[256];
			snprintf(key, sizeof(key), "%.*s",
				 eq ? (int)(eq - img->labels[i]) : (int)strlen(img->labels[i]),
				 img->labels[i]);
			fputs(i ? "," : "", f);
			json_str(f, key);
			fputc(':', f);
			json_str(f, eq ? eq + 1 : "");
		}
		fputc('}', f);
	}
	fputs("},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[", f);
	for (size_t i = 0; i < img->n_layers; i++)
		fprintf(f, "%s\"sha256:%s\"", i ? "," : "", layers[i].diff_id);
	fputs("]},\"history\":[{\"created\":\"", f);
	fprintf(f, "%s\",\"created_by\":\"imager\"}]}", created);
	return fclose(f) == 0 ? buf : (free(buf), NULL);
}

static char *manifest_json(const char *config_hex, size_t config_len,
			   const struct im_tar_sums *layers, size_t n, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	fputs("{\"schemaVersion\":2,\"mediaType\":\"" MT_MANIFEST "\",\"config\":", f);
	json_descriptor(f, MT_CONFIG, config_hex, config_len);
	fputs("},\"layers\":[", f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? "," : "", f);
		json_descriptor(f, MT_LAYER, layers[i].digest, layers[i].size);
		fputc('}', f);
	}
	fputs("]}", f);
	return fclose(f) == 0 ? buf : (free(buf), NULL);
}

static char *index_json(const char *arch, const char *manifest_hex, size_t manifest_len,
			size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	fputs("{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX "\",\"manifests\":[", f);
	json_descriptor(f, MT_MANIFEST, manifest_hex, manifest_len);
	fputs(",\"platform\":{\"architecture\":", f);
	json_str(f, arch);
	fputs(",\"os\":\"linux\"}}]}", f);
	return fclose(f) == 0 ? buf : (free(buf), NULL);
}

/* ---- the layout ------------------------------------------------------------------------- */

static int add_blob_mem(struct im_tree *t, const char *json, size_t len, char hex[65],
			struct im_error *err)
{
	char path[128];
	im_sha256_hex(json, len, hex);
	snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
	if (im_tree_lookup(t, path))
		return 0; /* the same content twice is one blob */
	return im_tree_add_file_mem(t, path, json, len, 0644, err);
}

static int write_layers(const struct im_oci_image *img, const char *what, char **tmp, int *cleanup,
			struct im_tar_sums *sums, struct im_tree *layout, struct im_error *err)
{
	for (size_t i = 0; i < img->n_layers; i++) {
		struct im_outfile o;
		char path[128];
		if (im_outfile_open(&o, tmp[i], err) < 0)
			return -1;
		/* Keep the temporary file (still registered for removal if interrupted): it is
		 * the blob's source; tmp[i] now names it, cleanup[i] its handle. */
		int rc = im_tar_write_tree(img->layers[i], o.fd, true, what, &sums[i], err);
		close(o.fd);
		free(tmp[i]);
		tmp[i] = o.tmp;
		cleanup[i] = o.cleanup;
		free(o.path);
		if (rc < 0)
			return -1;
		snprintf(path, sizeof(path), "blobs/sha256/%s", sums[i].digest);
		if (!im_tree_lookup(layout, path) &&
		    im_tree_add_file_src(layout, path, tmp[i], 0644, err) < 0)
			return -1;
	}
	return 0;
}

int im_oci_write(int fd, const char *what, const char *tmpdir, const struct im_oci_image *img,
		 struct im_error *err)
{
	struct im_tar_sums *sums = calloc(img->n_layers + 1, sizeof(*sums));
	char **tmp = calloc(img->n_layers + 1, sizeof(*tmp));
	int *cleanup = calloc(img->n_layers + 1, sizeof(*cleanup));
	struct im_tree *layout = im_tree_new(img->created);
	char *config = NULL, *manifest = NULL, *index = NULL, chex[65], mhex[65];
	size_t clen = 0, mlen = 0, ilen = 0;
	int rc = -1;
	static const char oci_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	if (!sums || !tmp || !cleanup || !layout) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < img->n_layers; i++)
		if (asprintf(&tmp[i], "%s/layer%zu.tar.gz", tmpdir, i) < 0) {
			tmp[i] = NULL;
			im_fail(err, IM_EXIT_INTERNAL, "out of memory");
			goto out;
		}
	if (im_tree_add_dir(layout, "blobs/sha256", 0755, err) < 0 ||
	    write_layers(img, what, tmp, cleanup, sums, layout, err) < 0)
		goto out;
	if (!(config = config_json(img, sums, &clen)) ||
	    add_blob_mem(layout, config, clen, chex, err) < 0 ||
	    !(manifest = manifest_json(chex, clen, sums, img->n_layers, &mlen)) ||
	    add_blob_mem(layout, manifest, mlen, mhex, err) < 0 ||
	    !(index = index_json(img->arch, mhex, mlen, &ilen))) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	if (im_tree_add_file_mem(layout, "index.json", index, ilen, 0644, err) < 0 ||
	    im_tree_add_file_mem(layout, "oci-layout", oci_layout, sizeof(oci_layout) - 1, 0644,
				 err) < 0)
		goto out;
	rc = im_tar_write_tree(layout, fd, false, what, NULL, err);
out:
	for (size_t i = 0; tmp && i < img->n_layers; i++) {
		if (tmp[i])
			unlink(tmp[i]);
		im_cleanup_forget(cleanup[i]);
		free(tmp[i]);
	}
	free(tmp);
	free(cleanup);
	free(sums);
	free(config);
	free(manifest);
	free(index);
	im_tree_free(layout);
	return rc;
}
