/* `imager inspect` of an initramfs: the kernel's buffer format
 * (Documentation/driver-api/early-userspace/buffer-format.rst), newc cpio archives one
 * after another, each plain or compressed (xz, zstd, gzip), zero padding between them.
 * The imager writes [microcode cpio, plain] [base, compressed] [extensions cpio,
 * compressed: /extensions.yaml + <i>.sqsh] (DESIGN.md §5, talos/extension.h). Every
 * archive's members are listed (path, mode, size) and the extensions are named from
 * extensions.yaml. The file is read whole; each compressed stream is inflated in memory. */
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "inspect.h"
#include "json.h"
#include "imager/fs/oci.h"
#include "imager/util/error.h"
#include "imager/util/readfile.h"

#define SEGMENT_MAX (4ull << 30) /* inflated bytes of one compressed stream */
#define HUMAN_FIRST 20		 /* members the human form lists */
#define NEWC_HDR    110

struct member {
	char *path;
	uint32_t mode;
	uint64_t size;
	size_t archive;
};

struct ext {
	char *image, *name, *version;
	uint64_t size;
};

struct archive_info {
	uint64_t offset, stored, size; /* in the file, bytes there, bytes inflated */
	const char *compression;
	size_t members;
	uint64_t bytes;
};

struct initramfs {
	const char *path;
	uint64_t file_size;
	struct member *m;
	size_t nm;
	struct archive_info *a;
	size_t na;
	struct ext *x;
	size_t nx;
	char *ext_yaml; /* the last /extensions.yaml seen */
};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int grow(struct buf *b, size_t more, struct initramfs *ir, struct im_error *err)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 1 << 20;
	while (cap < b->len + more)
		cap *= 2;
	if (cap > SEGMENT_MAX)
		return im_fail(err, IM_EXIT_INVALID,
			       "inspect: %s: a compressed archive inflates "
			       "to over %llu bytes",
			       ir->path, SEGMENT_MAX);
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	b->p = p;
	b->cap = cap;
	return 0;
}

static int truncated(struct initramfs *ir, uint64_t off, const char *what, struct im_error *err)
{
	return im_fail(err, IM_EXIT_INVALID, "inspect: %s: %s at byte %llu is truncated or corrupt",
		       ir->path, what, (unsigned long long)off);
}

/* One gzip member (RFC 1952) from in; *used = its compressed length. */
static int inflate_gzip(struct initramfs *ir, const uint8_t *in, size_t n, struct buf *out,
			size_t *used, uint64_t off, struct im_error *err)
{
	z_stream z = {0};
	int rc = Z_OK;
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
	while (rc == Z_OK) {
		if (grow(out, 1 << 20, ir, err) < 0)
			break;
		z.next_out = out->p + out->len;
		z.avail_out = (uInt)(out->cap - out->len);
		rc = inflate(&z, Z_NO_FLUSH);
		out->len = out->cap - z.avail_out;
	}
	*used = z.total_in;
	inflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : err->code ? -1 : truncated(ir, off, "gzip data", err);
}

/* One .xz stream (no concatenation: what follows may be another archive). */
static int inflate_xz(struct initramfs *ir, const uint8_t *in, size_t n, struct buf *out,
		      size_t *used, uint64_t off, struct im_error *err)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret rc = LZMA_OK;
	if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	s.next_in = in;
	s.avail_in = n;
	while (rc == LZMA_OK) {
		if (grow(out, 1 << 20, ir, err) < 0)
			break;
		s.next_out = out->p + out->len;
		s.avail_out = out->cap - out->len;
		rc = lzma_code(&s, LZMA_FINISH);
		out->len = out->cap - s.avail_out;
	}
	*used = s.total_in;
	lzma_end(&s);
	return rc == LZMA_STREAM_END ? 0 : err->code ? -1 : truncated(ir, off, "xz data", err);
}

/* zstd frames (RFC 8878), consecutive ones taken as one stream. */
static int inflate_zstd(struct initramfs *ir, const uint8_t *in, size_t n, struct buf *out,
			size_t *used, uint64_t off, struct im_error *err)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer ib = {in, n, 0};
	size_t rc = 1;
	if (!d)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (;;) {
		if (grow(out, 1 << 20, ir, err) < 0)
			break;
		ZSTD_outBuffer ob = {out->p, out->cap, out->len};
		rc = ZSTD_decompressStream(d, &ob, &ib);
		out->len = ob.pos;
		if (ZSTD_isError(rc))
			break;
		if (rc == 0 && !(ib.pos + 4 <= n && !memcmp(in + ib.pos, "\x28\xb5\x2f\xfd", 4)))
			break;
		if (rc && ib.pos == n && ob.pos < ob.size)
			break; /* input ended inside a frame */
	}
	*used = ib.pos;
	ZSTD_freeDCtx(d);
	return rc == 0 ? 0 : err->code ? -1 : truncated(ir, off, "zstd data", err);
}

static unsigned long long field(const uint8_t *h, int i)
{
	char s[9];
	memcpy(s, h + 6 + 8 * i, 8);
	s[8] = 0;
	return strtoull(s, NULL, 16);
}

static int add_member(struct initramfs *ir, const char *name, size_t nlen, uint32_t mode,
		      uint64_t size, struct im_error *err)
{
	struct member *m = realloc(ir->m, (ir->nm + 1) * sizeof *m);
	if (!m)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	ir->m = m;
	while (nlen >= 2 && name[0] == '.' && name[1] == '/')
		name += 2, nlen -= 2;
	char *p = strndup(name, nlen);
	if (!p)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	ir->m[ir->nm++] = (struct member){p, mode, size, ir->na - 1};
	struct archive_info *a = &ir->a[ir->na - 1];
	a->members++;
	a->bytes += size;
	return 0;
}

/* newc archives in d[0..n) (zero padding between them); `base` is the file offset of d for
 * messages when the archive is plain (else the stream's offset). */
static int parse_cpio(struct initramfs *ir, const uint8_t *d, size_t n, uint64_t base,
		      struct im_error *err)
{
	size_t p = 0;
	while (p < n) {
		if (!d[p]) {
			p++;
			continue;
		}
		if (n - p < NEWC_HDR || memcmp(d + p, "07070", 5) ||
		    (d[p + 5] != '1' && d[p + 5] != '2'))
			return im_fail(err, IM_EXIT_INVALID,
				       "inspect: %s: no newc cpio header at byte %llu%s", ir->path,
				       (unsigned long long)(base + p),
				       base ? "" : " of the inflated data");
		unsigned long long mode = field(d + p, 1), size = field(d + p, 6),
				   nsize = field(d + p, 11);
		size_t name = p + NEWC_HDR, data = (name + nsize + 3) & ~(size_t)3;
		if (!nsize || nsize > 4096 || data > n || size > n - data)
			return truncated(ir, base + p, "the cpio member", err);
		p = (data + size + 3) & ~(size_t)3;
		if (nsize == 11 && !memcmp(d + name, "TRAILER!!!", 11))
			continue;
		if (add_member(ir, (const char *)d + name, nsize - 1, (uint32_t)mode, size, err) <
		    0)
			return -1;
		if (nsize == 16 && !memcmp(d + name, "extensions.yaml", 15) && size < (1 << 20)) {
			free(ir->ext_yaml);
			if ((ir->ext_yaml = strndup((const char *)d + data, size)))
				continue;
		}
	}
	return 0;
}

static int new_archive(struct initramfs *ir, uint64_t off, const char *comp, struct im_error *err)
{
	struct archive_info *a = realloc(ir->a, (ir->na + 1) * sizeof *a);
	if (!a)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	ir->a = a;
	ir->a[ir->na++] = (struct archive_info){.offset = off, .compression = comp};
	return 0;
}

/* The extent of a plain archive at d: up to and including its TRAILER!!! member. */
static size_t plain_extent(const uint8_t *d, size_t n)
{
	size_t p = 0;
	while (n - p >= NEWC_HDR && !memcmp(d + p, "07070", 5)) {
		unsigned long long size = field(d + p, 6), nsize = field(d + p, 11);
		size_t data = (p + NEWC_HDR + nsize + 3) & ~(size_t)3;
		if (data > n || size > n - data)
			return n;
		int trailer = nsize == 11 && !memcmp(d + p + NEWC_HDR, "TRAILER!!!", 11);
		p = (data + size + 3) & ~(size_t)3;
		if (trailer)
			return p < n ? p : n;
	}
	return n;
}

static int read_segments(struct initramfs *ir, const uint8_t *d, size_t n, struct im_error *err)
{
	typedef int (*inflate_fn)(struct initramfs *, const uint8_t *, size_t, struct buf *,
				  size_t *, uint64_t, struct im_error *);
	static const struct {
		const char *magic, *name;
		size_t len;
		inflate_fn fn;
	} c[] = {{"\xfd"
		  "7zXZ",
		  "xz", 5, inflate_xz},
		 {"\x28\xb5\x2f\xfd", "zstd", 4, inflate_zstd},
		 {"\x1f\x8b", "gzip", 2, inflate_gzip}};
	size_t p = 0;
	while (p < n) {
		if (!d[p]) {
			p++;
			continue;
		}
		size_t i = 0, used = 0;
		while (i < 3 && !(n - p >= c[i].len && !memcmp(d + p, c[i].magic, c[i].len)))
			i++;
		if (i == 3) {
			if (n - p < 6 || memcmp(d + p, "07070", 5))
				return im_fail(err, IM_EXIT_INVALID,
					       "inspect: %s: at byte %llu neither a newc cpio "
					       "archive nor xz, zstd or gzip data",
					       ir->path, (unsigned long long)p);
			used = plain_extent(d + p, n - p);
			if (new_archive(ir, p, "none", err) < 0 ||
			    parse_cpio(ir, d + p, used, p, err) < 0)
				return -1;
			ir->a[ir->na - 1].stored = ir->a[ir->na - 1].size = used;
			p += used;
			continue;
		}
		struct buf b = {0};
		int rc = new_archive(ir, p, c[i].name, err);
		if (!rc)
			rc = c[i].fn(ir, d + p, n - p, &b, &used, p, err);
		if (!rc)
			rc = parse_cpio(ir, b.p, b.len, 0, err);
		if (!rc) {
			ir->a[ir->na - 1].stored = used;
			ir->a[ir->na - 1].size = b.len;
		}
		free(b.p);
		if (rc)
			return -1;
		p += used;
	}
	return 0;
}

static char *dup_str(const yaml_node_t *n)
{
	const char *s = im_ydoc_str(n);
	return s ? strdup(s) : NULL;
}

/* extensions.yaml: layers: [{image, metadata: {name, version, ...}}] (extension.h). */
static int read_extensions(struct initramfs *ir, struct im_error *err)
{
	struct im_ydoc d = {0};
	if (!ir->ext_yaml)
		return 0;
	char what[300];
	snprintf(what, sizeof what, "inspect: %s: /extensions.yaml", ir->path);
	if (im_ydoc_load(&d, ir->ext_yaml, strlen(ir->ext_yaml), false, what, err) < 0)
		return -1;
	yaml_node_t *l = im_ydoc_get(&d, im_ydoc_root(&d), "layers");
	for (yaml_node_item_t *it =
		 l && l->type == YAML_SEQUENCE_NODE ? l->data.sequence.items.start : NULL;
	     it && it < l->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(&d.doc, *it);
		yaml_node_t *md = im_ydoc_get(&d, e, "metadata");
		struct ext *x = realloc(ir->x, (ir->nx + 1) * sizeof *x);
		if (!x)
			break;
		ir->x = x;
		x = &ir->x[ir->nx++];
		*x = (struct ext){dup_str(im_ydoc_get(&d, e, "image")),
				  dup_str(im_ydoc_get(&d, md, "name")),
				  dup_str(im_ydoc_get(&d, md, "version")), 0};
		for (size_t i = 0; x->image && i < ir->nm; i++)
			if (!strcmp(ir->m[i].path, x->image + (x->image[0] == '/')))
				x->size = ir->m[i].size;
	}
	im_ydoc_free(&d);
	return 0;
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFCHR:
		return "char";
	case S_IFBLK:
		return "block";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	}
	return "unknown";
}

/* "drwxr-xr-x" as ls(1) prints it (setuid/setgid/sticky left out). */
static void mode_str(uint32_t mode, char out[11])
{
	static const char t[] = "?pc?d?b?-?l?s???";
	out[0] = t[(mode >> 12) & 15];
	for (int i = 0; i < 9; i++)
		out[1 + i] = mode & (0400u >> i) ? "rwx"[i % 3] : '-';
	out[10] = 0;
}

static void jstr(FILE *f, const char *s)
{
	if (s)
		imager_json_str(f, s, strlen(s));
	else
		fputs("null", f);
}

static void print_json(FILE *f, const struct initramfs *ir)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < ir->nm; i++)
		bytes += ir->m[i].size;
	fputs("{\n  \"file\": ", f);
	jstr(f, ir->path);
	fprintf(f, ",\n  \"kind\": \"initramfs\",\n  \"size\": %llu,\n  \"archives\": [",
		(unsigned long long)ir->file_size);
	for (size_t i = 0; i < ir->na; i++) {
		const struct archive_info *a = &ir->a[i];
		fprintf(f,
			"%s\n    {\"offset\": %llu, \"compression\": \"%s\", \"storedSize\": %llu, "
			"\"size\": %llu, \"members\": %zu, \"bytes\": %llu}",
			i ? "," : "", (unsigned long long)a->offset, a->compression,
			(unsigned long long)a->stored, (unsigned long long)a->size, a->members,
			(unsigned long long)a->bytes);
	}
	fprintf(f, "\n  ],\n  \"memberCount\": %zu,\n  \"bytes\": %llu,\n  \"members\": [", ir->nm,
		(unsigned long long)bytes);
	for (size_t i = 0; i < ir->nm; i++) {
		fputs(i ? ",\n    {\"path\": " : "\n    {\"path\": ", f);
		jstr(f, ir->m[i].path);
		fprintf(f, ", \"type\": \"%s\", \"mode\": %u, \"size\": %llu, \"archive\": %zu}",
			type_name(ir->m[i].mode), ir->m[i].mode & 07777,
			(unsigned long long)ir->m[i].size, ir->m[i].archive);
	}
	fputs(ir->nm ? "\n  ],\n  \"extensions\": [" : "],\n  \"extensions\": [", f);
	for (size_t i = 0; i < ir->nx; i++) {
		fputs(i ? ",\n    {\"image\": " : "\n    {\"image\": ", f);
		jstr(f, ir->x[i].image);
		fputs(", \"name\": ", f);
		jstr(f, ir->x[i].name);
		fputs(", \"version\": ", f);
		jstr(f, ir->x[i].version);
		fprintf(f, ", \"size\": %llu}", (unsigned long long)ir->x[i].size);
	}
	fputs(ir->nx ? "\n  ]\n}\n" : "]\n}\n", f);
}

static void print_human(FILE *f, const struct initramfs *ir)
{
	char h1[16], h2[16], mode[11];
	size_t count[8] = {0};
	uint64_t bytes = 0;
	inspect_wrap(f, 0, "file", ir->path);
	inspect_human(ir->file_size, h1);
	fprintf(f, "kind: initramfs, %zu archive(s), %s\n", ir->na, h1);
	for (size_t i = 0; i < ir->na; i++) {
		inspect_human(ir->a[i].stored, h1);
		inspect_human(ir->a[i].size, h2);
		fprintf(f, "archive %zu: %s at byte %llu, %s -> %s, %zu members\n", i + 1,
			ir->a[i].compression, (unsigned long long)ir->a[i].offset, h1, h2,
			ir->a[i].members);
	}
	for (size_t i = 0; i < ir->nm; i++) {
		bytes += ir->m[i].size;
		count[(ir->m[i].mode & S_IFMT) == S_IFREG   ? 0
		      : (ir->m[i].mode & S_IFMT) == S_IFDIR ? 1
		      : (ir->m[i].mode & S_IFMT) == S_IFLNK ? 2
							    : 3]++;
	}
	inspect_human(bytes, h1);
	fprintf(f, "members: %zu (%zu files, %zu dirs, %zu symlinks, %zu other), %s\n", ir->nm,
		count[0], count[1], count[2], count[3], h1);
	for (size_t i = 0; i < ir->nm && i < HUMAN_FIRST; i++) {
		mode_str(ir->m[i].mode, mode);
		inspect_human(ir->m[i].size, h1);
		int col = fprintf(f, "  %s %10s  ", mode, h1);
		size_t room = (size_t)(80 - col), len = strlen(ir->m[i].path);
		/* a long path keeps its end: the file name */
		if (len > room)
			fprintf(f, "...%s\n", ir->m[i].path + len - (room - 3));
		else
			fprintf(f, "%s\n", ir->m[i].path);
	}
	if (ir->nm > HUMAN_FIRST)
		fprintf(f, "  ... %zu more (--json lists them all)\n", ir->nm - HUMAN_FIRST);
	fprintf(f, "extensions: %zu\n", ir->nx);
	for (size_t i = 0; i < ir->nx; i++) {
		inspect_human(ir->x[i].size, h1);
		fprintf(f, "  %.16s: %.30s %.20s (%s)\n", ir->x[i].image ?: "?",
			ir->x[i].name ?: "?", ir->x[i].version ?: "?", h1);
	}
}

static void initramfs_free(struct initramfs *ir)
{
	for (size_t i = 0; i < ir->nm; i++)
		free(ir->m[i].path);
	for (size_t i = 0; i < ir->nx; i++) {
		free(ir->x[i].image);
		free(ir->x[i].name);
		free(ir->x[i].version);
	}
	free(ir->m);
	free(ir->a);
	free(ir->x);
	free(ir->ext_yaml);
}

/* Does the xz / zstd / gzip stream at the start of fd inflate to a newc cpio header?
 * Only the first bytes are inflated (the rest may be truncated: then inspect says so). */
int inspect_compressed_cpio(int fd)
{
	/* a zstd block is up to 128 KiB compressed (RFC 8878 §3.1.1.2.4): read enough of them */
	uint8_t *in = malloc(1 << 20), out[6];
	ssize_t got = in ? pread(fd, in, 1 << 20, 0) : -1;
	size_t n = got > 0 ? (size_t)got : 0, done = 0;
	if (n > 5 && !memcmp(in,
			     "\xfd"
			     "7zXZ",
			     5)) {
		lzma_stream s = LZMA_STREAM_INIT;
		if (lzma_stream_decoder(&s, UINT64_MAX, 0) == LZMA_OK) {
			s.next_in = in, s.avail_in = n, s.next_out = out, s.avail_out = 6;
			if (lzma_code(&s, LZMA_RUN) == LZMA_OK || s.avail_out == 0)
				done = 6 - s.avail_out;
		}
		lzma_end(&s);
	} else if (n > 4 && !memcmp(in, "\x28\xb5\x2f\xfd", 4)) {
		ZSTD_DCtx *d = ZSTD_createDCtx();
		ZSTD_inBuffer ib = {in, n, 0};
		ZSTD_outBuffer ob = {out, 6, 0};
		/* the first calls may only take the frame header */
		for (int i = 0; d && i < 64 && ob.pos < 6 && ib.pos < ib.size; i++)
			if (ZSTD_isError(ZSTD_decompressStream(d, &ob, &ib)))
				break;
		done = ob.pos;
		ZSTD_freeDCtx(d);
	} else if (n > 2 && in[0] == 0x1f && in[1] == 0x8b) {
		z_stream z = {0};
		if (inflateInit2(&z, 16 + MAX_WBITS) == Z_OK) {
			z.next_in = in, z.avail_in = (uInt)n, z.next_out = out, z.avail_out = 6;
			inflate(&z, Z_SYNC_FLUSH);
			done = 6 - z.avail_out;
			inflateEnd(&z);
		}
	}
	free(in);
	return done == 6 && !memcmp(out, "07070", 5);
}

int imager_inspect_initramfs(const char *path, int json, struct im_error *err)
{
	struct initramfs ir = {.path = path};
	uint8_t *d;
	size_t n;
	if (im_read_file(path, "initramfs", &d, &n, err) < 0)
		return -1;
	ir.file_size = n;
	int rc = read_segments(&ir, d, n, err);
	if (!rc)
		rc = read_extensions(&ir, err);
	if (!rc)
		(json ? print_json : print_human)(stdout, &ir);
	initramfs_free(&ir);
	free(d);
	return rc;
}
