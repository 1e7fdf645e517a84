/* `imager inspect` of an installer bundle: the OCI image layout tar the `installer` and
 * `secureboot-installer` profiles write (also with --tar-to-stdout). One pass over the
 * archive with libarchive: every blob is hashed (and must match its name), the small ones
 * (JSON) are kept, and blobs that are tar layers (plain or gzip) are walked as they stream
 * by, hashing the files under /usr/install/ (the assets `installer install` takes). Then
 * index.json -> image manifest -> config and layers are described (image-spec
 * image-layout.md, image-index.md, manifest.md, config.md). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect.h"
#include "json.h"
#include "imager/util/error.h"

#define SMALL_MAX (1u << 20) /* JSON blobs kept in memory */
#define TEXT_MAX  (64u << 10)
#define PEEK	  65536

struct blob {
	char *name; /* archive path without "./" */
	uint64_t size;
	char sha[65];
	char *data; /* whole content when small, NUL-terminated */
	int layer;  /* walked as a tar layer */
	uint64_t files, bytes;
};

struct asset {
	char *path; /* "/usr/install/..." */
	uint64_t size;
	char sha[65];
};

static const char *const rec_names[] = {"name", "version", "bootloader", "cmdline", "meta"};
#define N_REC (sizeof rec_names / sizeof rec_names[0])

struct bundle {
	const char *path;
	struct blob *b;
	size_t nb;
	struct asset *a;
	size_t na;
	char *rec[N_REC];
	char *build_record;
	char *member; /* the bundle's name inside an outer tar (--tar-to-stdout), or NULL */
	uint64_t size;
	struct imager_json *index, *manifest, *config;
	char index_sha[65], manifest_digest[80];
};

/* The nested reader: a layer read from the outer archive's current entry, the first
 * PEEK bytes served from the peek buffer. Everything read is hashed into the blob's
 * digest. */
struct nest {
	struct archive *outer;
	EVP_MD_CTX *md;
	const uint8_t *peek;
	size_t peek_len;
	uint8_t buf[PEEK];
};

static la_ssize_t nest_read(struct archive *a, void *ctx, const void **out)
{
	(void)a;
	struct nest *n = ctx;
	if (n->peek) {
		*out = n->peek;
		n->peek = NULL;
		return (la_ssize_t)n->peek_len;
	}
	la_ssize_t got = archive_read_data(n->outer, n->buf, sizeof n->buf);
	if (got > 0)
		EVP_DigestUpdate(n->md, n->buf, (size_t)got);
	*out = n->buf;
	return got;
}

static void hex(char *out, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static char *strip(const char *p)
{
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	while (*p == '/')
		p++;
	return strdup(p);
}

/* Read the current entry of `a` to its end: sha256 (hex) and, when keep, the bytes (at
 * most `keep` of them, NUL-terminated). */
static int read_entry(struct archive *a, char sha[65], char **keep, size_t max)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t buf[PEEK], d[32];
	size_t len = 0;
	char *k = NULL;
	la_ssize_t got;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((got = archive_read_data(a, buf, sizeof buf)) > 0) {
		EVP_DigestUpdate(md, buf, (size_t)got);
		if (keep && len + (size_t)got <= max) {
			char *nk = realloc(k, len + (size_t)got + 1);
			if (!nk)
				break;
			k = nk;
			memcpy(k + len, buf, (size_t)got);
			k[len += (size_t)got] = 0;
		}
	}
	EVP_DigestFinal_ex(md, d, NULL);
	EVP_MD_CTX_free(md);
	hex(sha, d, 32);
	if (keep)
		*keep = k;
	else
		free(k);
	return got < 0 ? -1 : 0;
}

static void add_asset(struct bundle *bu, const char *path, struct archive *in,
		      struct archive_entry *e)
{
	char sha[65], *text = NULL;
	/* the record files `installer install` applies: usr/install/<arch>/<name> */
	const char *base = strrchr(path, '/') + 1;
	int rec = -1;
	if (strchr(path + strlen("usr/install/"), '/') == base - 1)
		for (size_t i = 0; i < N_REC; i++)
			if (!strcmp(base, rec_names[i]))
				rec = (int)i;
	if (read_entry(in, sha, rec >= 0 ? &text : NULL, TEXT_MAX) < 0)
		return;
	if (rec >= 0) {
		free(bu->rec[rec]);
		size_t n = text ? strlen(text) : 0;
		while (n && text[n - 1] == '\n')
			text[--n] = 0;
		bu->rec[rec] = text;
	}
	size_t i = 0;
	while (i < bu->na && strcmp(bu->a[i].path + 1, path))
		i++;
	if (i == bu->na) {
		struct asset *na = realloc(bu->a, (bu->na + 1) * sizeof *na);
		if (!na)
			return;
		bu->a = na;
		char *p = malloc(strlen(path) + 2);
		if (!p)
			return;
		sprintf(p, "/%s", path);
		bu->a[bu->na++] = (struct asset){.path = p};
	}
	bu->a[i].size = (uint64_t)archive_entry_size(e);
	memcpy(bu->a[i].sha, sha, 65);
}

/* Walk one layer (tar, optionally compressed) as it streams by. 0, or -1 when it is not a
 * readable tar (then it is just a blob). */
static int walk_layer(struct bundle *bu, struct blob *bl, struct nest *n)
{
	struct archive *in = archive_read_new();
	struct archive_entry *e;
	archive_read_support_format_tar(in);
	archive_read_support_filter_gzip(in);
	archive_read_support_filter_zstd(in);
	/* a small blob is walked from memory, a large one as it streams by */
	int rc = (n ? archive_read_open(in, n, NULL, nest_read, NULL)
		    : archive_read_open_memory(in, bl->data, bl->size)) == ARCHIVE_OK
		     ? 0
		     : -1;
	while (!rc && (rc = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		char *p = strip(archive_entry_pathname(e));
		bl->files++;
		bl->bytes += (uint64_t)archive_entry_size(e);
		if (p && !strncmp(p, "usr/install/", 12) && strchr(p + 12, '/'))
			add_asset(bu, p, in, e);
		if (p && strlen(p) > 11 && !strcmp(p + strlen(p) - 11, ".build.json")) {
			free(bu->build_record);
			bu->build_record = malloc(strlen(p) + 2);
			if (bu->build_record)
				sprintf(bu->build_record, "/%s", p);
		}
		free(p);
	}
	archive_read_free(in);
	bl->layer = rc == ARCHIVE_EOF;
	return bl->layer ? 0 : -1;
}

/* gzip (RFC 1952 §2.3.1), zstd (RFC 8878 §3.1.1) or a ustar header (POSIX pax) */
static int layer_magic(const uint8_t *p, size_t len)
{
	return (len > 2 && p[0] == 0x1f && p[1] == 0x8b) ||
	       (len > 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4)) ||
	       (len > 262 && !memcmp(p + 257, "ustar", 5));
}

/* One entry of the outer archive: hashed, kept when small, walked when a tar layer. */
static int read_blob(struct bundle *bu, struct archive *a, struct archive_entry *e)
{
	struct blob *nb = realloc(bu->b, (bu->nb + 1) * sizeof *nb);
	if (!nb)
		return -1;
	bu->b = nb;
	struct blob *bl = &bu->b[bu->nb++];
	*bl = (struct blob){.name = strip(archive_entry_pathname(e)),
			    .size = (uint64_t)archive_entry_size(e)};
	if (bl->size <= SMALL_MAX) {
		if (!bl->name || read_entry(a, bl->sha, &bl->data, SMALL_MAX) < 0)
			return -1;
		if (bl->data && layer_magic((const uint8_t *)bl->data, bl->size))
			walk_layer(bu, bl, NULL);
		return 0;
	}
	struct nest *n = malloc(sizeof *n);
	uint8_t *peek = malloc(PEEK), d[32];
	size_t len = 0;
	la_ssize_t got = 0;
	if (!n || !peek) {
		free(n);
		free(peek);
		return -1;
	}
	*n = (struct nest){.outer = a, .md = EVP_MD_CTX_new(), .peek = peek};
	EVP_DigestInit_ex(n->md, EVP_sha256(), NULL);
	while (len < PEEK && (got = archive_read_data(a, peek + len, PEEK - len)) > 0)
		len += (size_t)got;
	EVP_DigestUpdate(n->md, peek, len);
	n->peek_len = len;
	if (got >= 0 && layer_magic(peek, len))
		walk_layer(bu, bl, n);
	n->peek = NULL;
	while ((got = archive_read_data(a, n->buf, sizeof n->buf)) > 0)
		EVP_DigestUpdate(n->md, n->buf, (size_t)got);
	EVP_DigestFinal_ex(n->md, d, NULL);
	EVP_MD_CTX_free(n->md);
	hex(bl->sha, d, 32);
	free(n);
	free(peek);
	return got < 0 ? -1 : 0;
}

/* Every entry of an opened archive; ARCHIVE_EOF when all were read. */
static int scan(struct bundle *bu, struct archive *a)
{
	struct archive_entry *e;
	int rc;
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK)
		if (archive_entry_filetype(e) == AE_IFREG && read_blob(bu, a, e) < 0)
			return ARCHIVE_FATAL;
	return rc;
}

/* The one *.tar member of an archive without index.json: the --tar-to-stdout form, a tar
 * of the output folder (as Talos's imager writes it). NULL when it is not that. */
static const struct blob *wrapped(const struct bundle *bu)
{
	const struct blob *w = NULL;
	for (size_t i = 0; i < bu->nb; i++) {
		const char *n = bu->b[i].name;
		if (!strcmp(n, "index.json"))
			return NULL;
		if (strlen(n) > 4 && !strcmp(n + strlen(n) - 4, ".tar") && !strchr(n, '/'))
			w = &bu->b[i];
	}
	return w;
}

static void blobs_free(struct bundle *bu);

/* Re-read the file and scan the member `name` (a tar inside the tar). */
static int scan_member(struct bundle *bu, struct archive *a, int fd, const char *name)
{
	struct archive_entry *e;
	int rc;
	if (lseek(fd, 0, SEEK_SET) != 0 || archive_read_open_fd(a, fd, PEEK) != ARCHIVE_OK)
		return ARCHIVE_FATAL;
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		char *n = strip(archive_entry_pathname(e));
		int hit = n && !strcmp(n, name);
		free(n);
		if (!hit)
			continue;
		struct archive *in = archive_read_new();
		struct nest *ns = calloc(1, sizeof *ns);
		if (!in || !ns || !(ns->md = EVP_MD_CTX_new())) {
			archive_read_free(in);
			free(ns);
			return ARCHIVE_FATAL;
		}
		ns->outer = a;
		EVP_DigestInit_ex(ns->md, EVP_sha256(), NULL);
		archive_read_support_format_tar(in);
		rc = archive_read_open(in, ns, NULL, nest_read, NULL) == ARCHIVE_OK ? scan(bu, in)
										    : ARCHIVE_FATAL;
		if (rc != ARCHIVE_EOF)
			archive_set_error(a, EINVAL, "%s: %s", name,
					  archive_error_string(in) ?: "not a tar archive");
		archive_read_free(in);
		EVP_MD_CTX_free(ns->md);
		free(ns);
		return rc;
	}
	return ARCHIVE_FATAL;
}

static int read_archive(struct bundle *bu, int fd, struct im_error *err)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	int rc = archive_read_open_fd(a, fd, PEEK) == ARCHIVE_OK ? scan(bu, a) : ARCHIVE_FATAL;
	const struct blob *w = rc == ARCHIVE_EOF ? wrapped(bu) : NULL;
	if (w) {
		bu->member = strdup(w->name);
		bu->size = w->size;
		blobs_free(bu);
		archive_read_free(a);
		a = archive_read_new();
		archive_read_support_format_tar(a);
		archive_read_support_filter_all(a);
		rc = bu->member ? scan_member(bu, a, fd, bu->member) : ARCHIVE_FATAL;
	} else {
		struct stat st;
		bu->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	}
	if (rc != ARCHIVE_EOF)
		im_fail(err, IM_EXIT_INVALID, "inspect: %s: not a readable tar archive: %s",
			bu->path,
			archive_error_string(a) ? archive_error_string(a) : "out of memory");
	archive_read_free(a);
	return rc == ARCHIVE_EOF ? 0 : -1;
}

static struct blob *find(struct bundle *bu, const char *name)
{
	for (size_t i = 0; i < bu->nb; i++)
		if (!strcmp(bu->b[i].name, name))
			return &bu->b[i];
	return NULL;
}

/* The blob a descriptor's digest names, checked (image-layout.md "Blobs"). */
static struct blob *blob_of(struct bundle *bu, const struct imager_json *desc, const char *what,
			    struct im_error *err)
{
	const char *dg = imager_json_str_at(desc, "digest");
	char name[160];
	if (!dg) {
		im_fail(err, IM_EXIT_INVALID, "inspect: %s: the %s descriptor has no digest",
			bu->path, what);
		return NULL;
	}
	if (strncmp(dg, "sha256:", 7)) {
		im_fail(err, IM_EXIT_UNSUPPORTED, "inspect: %s: %s digest %.80s: only sha256",
			bu->path, what, dg);
		return NULL;
	}
	snprintf(name, sizeof name, "blobs/sha256/%.100s", dg + 7);
	struct blob *b = find(bu, name);
	if (!b)
		im_fail(err, IM_EXIT_INVALID, "inspect: %s: the %s blob %.80s is not in the bundle",
			bu->path, what, dg);
	else if (strcmp(b->sha, dg + 7)) {
		im_fail(err, IM_EXIT_INVALID, "inspect: %s: blob %.80s holds content of sha256:%s",
			bu->path, dg, b->sha);
		return NULL;
	}
	return b;
}

static struct imager_json *parse_blob(struct bundle *bu, struct blob *b, const char *what,
				      struct im_error *err)
{
	struct imager_json *j = NULL;
	if (b && b->data)
		j = imager_json_parse(b->data, strlen(b->data));
	if (b && (!j || j->type != IMAGER_JSON_OBJECT)) {
		imager_json_free(j);
		im_fail(err, IM_EXIT_INVALID, "inspect: %s: %s (%s) is not a JSON object", bu->path,
			what, b->name);
		return NULL;
	}
	return j;
}

/* index.json -> the first image manifest (nested indexes followed) -> its config. */
static int resolve(struct bundle *bu, struct im_error *err)
{
	struct blob *ix = find(bu, "index.json");
	if (!find(bu, "oci-layout") || !ix)
		return im_fail(err, IM_EXIT_INVALID,
			       "inspect: %s: a tar archive but not an OCI image layout (no "
			       "oci-layout or index.json)",
			       bu->path);
	memcpy(bu->index_sha, ix->sha, 65);
	if (!(bu->index = parse_blob(bu, ix, "index.json", err)))
		return -1;
	const struct imager_json *cur = bu->index;
	struct imager_json *owned[4] = {NULL};
	for (int depth = 0; depth < 4; depth++) {
		const struct imager_json *m = imager_json_get(cur, "manifests");
		if (!m || m->type != IMAGER_JSON_ARRAY || !m->n)
			return im_fail(err, IM_EXIT_INVALID,
				       "inspect: %s: an index with no manifests", bu->path);
		const char *mt = imager_json_str_at(m->kids[0], "mediaType");
		struct blob *b = blob_of(bu, m->kids[0], "manifest", err);
		struct imager_json *j = parse_blob(bu, b, "the manifest", err);
		if (!j)
			return -1;
		if (mt && strstr(mt, "index")) {
			owned[depth] = j;
			cur = j;
			continue;
		}
		for (int i = 0; i < depth; i++)
			imager_json_free(owned[i]);
		bu->manifest = j;
		snprintf(bu->manifest_digest, sizeof bu->manifest_digest, "sha256:%s", b->sha);
		const struct imager_json *c = imager_json_get(j, "config");
		struct blob *cb = c ? blob_of(bu, c, "config", err) : NULL;
		if (!cb && !err->code)
			im_fail(err, IM_EXIT_INVALID, "inspect: %s: the manifest has no config",
				bu->path);
		return cb && (bu->config = parse_blob(bu, cb, "the config", err)) ? 0 : -1;
	}
	for (int i = 0; i < 4; i++)
		imager_json_free(owned[i]);
	return im_fail(err, IM_EXIT_UNSUPPORTED, "inspect: %s: indexes nested over 4 deep",
		       bu->path);
}

static void blobs_free(struct bundle *bu)
{
	for (size_t i = 0; i < bu->nb; i++) {
		free(bu->b[i].name);
		free(bu->b[i].data);
	}
	free(bu->b);
	bu->b = NULL;
	bu->nb = 0;
}

static void bundle_free(struct bundle *bu)
{
	blobs_free(bu);
	free(bu->member);
	for (size_t i = 0; i < bu->na; i++)
		free(bu->a[i].path);
	for (size_t i = 0; i < N_REC; i++)
		free(bu->rec[i]);
	free(bu->a);
	free(bu->build_record);
	imager_json_free(bu->index);
	imager_json_free(bu->manifest);
	imager_json_free(bu->config);
}

/* Any parsed JSON value, on one line. */
void inspect_json_value(FILE *f, const struct imager_json *j)
{
	if (!j) {
		fputs("null", f);
		return;
	}
	switch (j->type) {
	case IMAGER_JSON_NULL:
		fputs("null", f);
		break;
	case IMAGER_JSON_BOOL:
		fputs(j->num ? "true" : "false", f);
		break;
	case IMAGER_JSON_NUMBER:
		fprintf(f, "%lld", j->num);
		break;
	case IMAGER_JSON_STRING:
		imager_json_str(f, j->str, strlen(j->str));
		break;
	case IMAGER_JSON_ARRAY:
	case IMAGER_JSON_OBJECT:
		fputc(j->type == IMAGER_JSON_ARRAY ? '[' : '{', f);
		for (size_t i = 0; i < j->n; i++) {
			fputs(i ? ", " : "", f);
			if (j->type == IMAGER_JSON_OBJECT) {
				imager_json_str(f, j->keys[i], strlen(j->keys[i]));
				fputs(": ", f);
			}
			inspect_json_value(f, j->kids[i]);
		}
		fputc(j->type == IMAGER_JSON_ARRAY ? ']' : '}', f);
		break;
	}
}

static void str_member(FILE *f, const char *indent, const char *key, const char *v)
{
	fprintf(f, "%s\"%s\": ", indent, key);
	if (v)
		imager_json_str(f, v, strlen(v));
	else
		fputs("null", f);
}

static struct blob *layer_blob(struct bundle *bu, const struct imager_json *desc)
{
	struct im_error e = {0};
	return blob_of(bu, desc, "layer", &e);
}

static void print_json(FILE *f, struct bundle *bu)
{
	const struct imager_json *c = bu->config, *m = bu->manifest;
	const struct imager_json *layers = imager_json_get(m, "layers");
	str_member(f, "{\n  ", "file", bu->path);
	str_member(f, ",\n  \"kind\": \"bundle\",\n  ", "member", bu->member);
	fprintf(f, ",\n  \"size\": %llu", (unsigned long long)bu->size);
	str_member(f, ",\n  ", "arch", imager_json_str_at(c, "architecture"));
	str_member(f, ",\n  ", "os", imager_json_str_at(c, "os"));
	fprintf(f, ",\n  \"index\": {\"digest\": \"sha256:%s\", ", bu->index_sha);
	str_member(f, "", "mediaType", imager_json_str_at(bu->index, "mediaType"));
	fputs(", \"manifests\": ", f);
	inspect_json_value(f, imager_json_get(bu->index, "manifests"));
	fputs(", \"annotations\": ", f);
	inspect_json_value(f, imager_json_get(bu->index, "annotations"));
	fprintf(f, "},\n  \"manifest\": {\"digest\": \"%s\", ", bu->manifest_digest);
	str_member(f, "", "mediaType", imager_json_str_at(m, "mediaType"));
	fputs(", \"config\": ", f);
	inspect_json_value(f, imager_json_get(m, "config"));
	fputs(", \"annotations\": ", f);
	inspect_json_value(f, imager_json_get(m, "annotations"));
	fputs("}", f);
	str_member(f, ",\n  \"config\": {", "created", imager_json_str_at(c, "created"));
	fputs(", \"entrypoint\": ", f);
	inspect_json_value(f, imager_json_get(c, "config.Entrypoint"));
	fputs(", \"env\": ", f);
	inspect_json_value(f, imager_json_get(c, "config.Env"));
	fputs(", \"labels\": ", f);
	inspect_json_value(f, imager_json_get(c, "config.Labels"));
	fputs(", \"diffIds\": ", f);
	inspect_json_value(f, imager_json_get(c, "rootfs.diff_ids"));
	fputs("},\n  \"layers\": [", f);
	for (size_t i = 0; i < layers->n; i++) {
		struct blob *b = layer_blob(bu, layers->kids[i]);
		fprintf(f, "%s\n    {", i ? "," : "");
		str_member(f, "", "digest", imager_json_str_at(layers->kids[i], "digest"));
		str_member(f, ", ", "mediaType", imager_json_str_at(layers->kids[i], "mediaType"));
		fprintf(f, ", \"size\": %llu, \"files\": %llu, \"bytes\": %llu}",
			(unsigned long long)b->size, (unsigned long long)b->files,
			(unsigned long long)b->bytes);
	}
	fputs("\n  ],\n  \"assets\": [", f);
	for (size_t i = 0; i < bu->na; i++) {
		str_member(f, i ? ",\n    {" : "\n    {", "path", bu->a[i].path);
		fprintf(f, ", \"size\": %llu, \"sha256\": \"%s\"}",
			(unsigned long long)bu->a[i].size, bu->a[i].sha);
	}
	fputs(bu->na ? "\n  ],\n  \"record\": {" : "],\n  \"record\": {", f);
	for (size_t i = 0; i < N_REC; i++)
		str_member(f, i ? ", " : "", rec_names[i], bu->rec[i]);
	str_member(f, "},\n  ", "buildRecord", bu->build_record);
	fputs("\n}\n", f);
}

/* "sha256:0123456789ab" (the first 12 hex digits: the human form's short digest). */
static const char *short_digest(const char *d, char out[24])
{
	snprintf(out, 24, "%.19s", d ? d : "(none)");
	return out;
}

static void print_strings(FILE *f, const char *key, const struct imager_json *a)
{
	for (size_t i = 0; a && a->type == IMAGER_JSON_ARRAY && i < a->n; i++)
		if (a->kids[i]->type == IMAGER_JSON_STRING)
			inspect_wrap(f, 2, key, a->kids[i]->str);
}

static void print_map(FILE *f, const char *what, const struct imager_json *o)
{
	char key[300];
	for (size_t i = 0; o && o->type == IMAGER_JSON_OBJECT && i < o->n; i++)
		if (o->kids[i]->type == IMAGER_JSON_STRING) {
			snprintf(key, sizeof key, "%s %s", what, o->keys[i]);
			inspect_wrap(f, 2, key, o->kids[i]->str);
		}
}

static void print_human(FILE *f, struct bundle *bu)
{
	const struct imager_json *c = bu->config, *m = bu->manifest;
	const struct imager_json *layers = imager_json_get(m, "layers");
	char d[24], h1[16], h2[16];
	inspect_wrap(f, 0, "file", bu->path);
	if (bu->member)
		inspect_wrap(f, 0, "member", bu->member);
	inspect_human(bu->size, h1);
	fprintf(f, "kind: installer bundle (OCI image layout, %s)\n", h1);
	fprintf(f, "platform: %.20s/%.20s, created %.40s\n", imager_json_str_at(c, "os") ?: "?",
		imager_json_str_at(c, "architecture") ?: "?",
		imager_json_str_at(c, "created") ?: "(not set)");
	fprintf(f, "index: sha256:%.12s, %zu manifest(s)\n", bu->index_sha,
		imager_json_get(bu->index, "manifests")->n);
	fprintf(f, "manifest: %s\n", short_digest(bu->manifest_digest, d));
	print_map(f, "annotation", imager_json_get(m, "annotations"));
	fprintf(f, "config: %s\n",
		short_digest(imager_json_str_at(imager_json_get(m, "config"), "digest"), d));
	print_strings(f, "entrypoint", imager_json_get(c, "config.Entrypoint"));
	print_strings(f, "env", imager_json_get(c, "config.Env"));
	print_map(f, "label", imager_json_get(c, "config.Labels"));
	for (size_t i = 0; i < layers->n; i++) {
		struct blob *b = layer_blob(bu, layers->kids[i]);
		const char *mt = imager_json_str_at(layers->kids[i], "mediaType");
		const char *sub = mt && strrchr(mt, '.') ? strrchr(mt, '.') + 1 : "?";
		inspect_human(b->size, h1);
		inspect_human(b->bytes, h2);
		fprintf(f, "layer %zu: %s %s %.16s, %llu files, %s\n", i + 1,
			short_digest(imager_json_str_at(layers->kids[i], "digest"), d), h1, sub,
			(unsigned long long)b->files, h2);
	}
	for (size_t i = 0; i < N_REC; i++)
		if (bu->rec[i])
			inspect_wrap(f, 0, rec_names[i], bu->rec[i]);
	fprintf(f, "assets: %zu files\n", bu->na);
	for (size_t i = 0; i < bu->na; i++) {
		inspect_human(bu->a[i].size, h1);
		int col = fprintf(f, "  %s", bu->a[i].path);
		if (col > 80 - 28)
			col = fprintf(f, "\n") - 1;
		fprintf(f, "%*s %10s  %.12s\n", 80 - 28 - col, "", h1, bu->a[i].sha);
	}
	if (bu->build_record)
		inspect_wrap(f, 0, "build record", bu->build_record);
}

int imager_inspect_bundle(const char *path, int fd, int json, struct im_error *err)
{
	struct bundle bu = {.path = path};
	int rc = read_archive(&bu, fd, err);
	if (!rc)
		rc = resolve(&bu, err);
	const struct imager_json *layers = imager_json_get(bu.manifest, "layers");
	for (size_t i = 0; !rc && layers && i < layers->n; i++)
		if (!blob_of(&bu, layers->kids[i], "layer", err))
			rc = -1;
	if (!rc && (!layers || layers->type != IMAGER_JSON_ARRAY))
		rc = im_fail(err, IM_EXIT_INVALID, "inspect: %s: the manifest has no layers", path);
	if (!rc)
		(json ? print_json : print_human)(stdout, &bu);
	bundle_free(&bu);
	return rc;
}
