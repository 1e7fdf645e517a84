/* META partition (Talos ADV) and the INSTALLER_META_BASE64 string; see meta.h. */
#include "imager/disk/meta.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/util/sha256.h"
#include <zlib.h>

#include "imager/util/base64.h"
#include "imager/util/outfile.h"

/* On-disk pieces of one copy (Talos internal/pkg/meta/internal/adv/talos/talos.go). */
struct meta_record_hdr {
	uint32_t tag; /* BE; 0 ends the records */
	uint32_t len; /* BE; value bytes that follow */
} __attribute__((packed));
_Static_assert(sizeof(struct meta_record_hdr) == 8, "META record header is 8 bytes");

struct meta_trailer {
	uint8_t sha256[32]; /* of the whole copy with this field zeroed */
	uint32_t magic2;    /* BE IM_META_MAGIC2 */
} __attribute__((packed));
_Static_assert(sizeof(struct meta_trailer) == 36, "META trailer is 36 bytes at copy-0x24");

#define HDR_SIZE   4 /* BE IM_META_MAGIC1 */
#define DATA_END   (IM_META_COPY_SIZE - sizeof(struct meta_trailer))
#define GZIP_ABOVE 256		     /* Talos gzips the text when longer than this */
#define GUNZIP_MAX (4 * 1024 * 1024) /* refuse strings that inflate beyond this */

static int oom(struct im_error *err)
{
	return im_fail(err, IM_EXIT_INTERNAL, "META: out of memory");
}

/* ---- in-memory META -------------------------------------------------------------- */

void im_meta_init(struct im_meta *m)
{
	memset(m, 0, sizeof(*m));
}

void im_meta_free(struct im_meta *m)
{
	for (size_t i = 0; i <= IM_META_KEY_MAX; i++)
		free(m->v[i].data);
	im_meta_init(m);
}

static int check_key(unsigned key, struct im_error *err)
{
	if (key == 0 || key > IM_META_KEY_MAX)
		return im_fail(err, IM_EXIT_INVALID,
			       "META key %u is out of range: expected 1..255 (0 ends the records)",
			       key);
	return 0;
}

/* Replace a value without the size limit (decode uses it: the copy bounds the size). */
static int set_value(struct im_meta *m, unsigned key, const void *data, size_t len,
		     struct im_error *err)
{
	uint8_t *copy = malloc(len + 1);
	if (!copy)
		return oom(err);
	if (len)
		memcpy(copy, data, len);
	copy[len] = '\0';
	im_meta_delete(m, key);
	m->v[key] = (struct im_meta_value){.data = copy, .len = len, .set = true};
	m->records += sizeof(struct meta_record_hdr) + len;
	return 0;
}

int im_meta_set(struct im_meta *m, unsigned key, const void *data, size_t len, struct im_error *err)
{
	if (check_key(key, err))
		return -1;
	size_t old = m->v[key].set ? sizeof(struct meta_record_hdr) + m->v[key].len : 0;
	size_t need = m->records - old + sizeof(struct meta_record_hdr);
	size_t room = need <= IM_META_RECORDS_MAX ? IM_META_RECORDS_MAX - need : 0;
	if (need > IM_META_RECORDS_MAX || len > room)
		return im_fail(err, IM_EXIT_INVALID,
			       "META key 0x%x: value of %zu bytes does not fit, expected at most "
			       "%zu bytes (META holds %d bytes of records)",
			       key, len, room, IM_META_RECORDS_MAX);
	return set_value(m, key, data, len, err);
}

const uint8_t *im_meta_get(const struct im_meta *m, unsigned key, size_t *len)
{
	if (key > IM_META_KEY_MAX || !m->v[key].set)
		return NULL;
	if (len)
		*len = m->v[key].len;
	return m->v[key].data;
}

bool im_meta_delete(struct im_meta *m, unsigned key)
{
	if (key > IM_META_KEY_MAX || !m->v[key].set)
		return false;
	m->records -= sizeof(struct meta_record_hdr) + m->v[key].len;
	free(m->v[key].data);
	m->v[key] = (struct im_meta_value){0};
	return true;
}

size_t im_meta_count(const struct im_meta *m)
{
	size_t n = 0;
	for (size_t i = 1; i <= IM_META_KEY_MAX; i++)
		n += m->v[i].set;
	return n;
}

/* ---- partition image ----------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return be32toh(v);
}

/* SHA-256 of a copy as if its hash field were zero (Talos: checksum "with checksum set to
 * zero"); the copy itself is not modified. */
static int copy_digest(const uint8_t *c, uint8_t out[32])
{
	static const uint8_t zero[32];
	struct im_sha256 s;
	im_sha256_init(&s);
	im_sha256_update(&s, c, DATA_END);
	im_sha256_update(&s, zero, 32);
	im_sha256_update(&s, c + IM_META_COPY_SIZE - 4, 4);
	im_sha256_final(&s, out);
	return 0;
}

static int encode_copy(const struct im_meta *m, uint8_t *c, struct im_error *err)
{
	memset(c, 0, IM_META_COPY_SIZE);
	put_be32(c, IM_META_MAGIC1);
	size_t off = HDR_SIZE;
	for (unsigned key = 1; key <= IM_META_KEY_MAX; key++) {
		const struct im_meta_value *v = &m->v[key];
		if (!v->set)
			continue;
		if (off + sizeof(struct meta_record_hdr) > DATA_END ||
		    v->len > DATA_END - off - sizeof(struct meta_record_hdr))
			return im_fail(err, IM_EXIT_INVALID,
				       "META key 0x%x: %zu bytes do not fit in the META copy", key,
				       v->len);
		put_be32(c + off, key);
		put_be32(c + off + 4, (uint32_t)v->len);
		memcpy(c + off + sizeof(struct meta_record_hdr), v->data, v->len);
		off += sizeof(struct meta_record_hdr) + v->len;
	}
	/* The remaining zero bytes start with tag 0: the terminator. */
	struct meta_trailer *t = (struct meta_trailer *)(c + DATA_END);
	t->magic2 = htobe32(IM_META_MAGIC2);
	if (copy_digest(c, t->sha256))
		return im_fail(err, IM_EXIT_INTERNAL, "META: SHA-256 failed");
	return 0;
}

int im_meta_encode_image(const struct im_meta *m, uint8_t *buf, struct im_error *err)
{
	if (encode_copy(m, buf, err))
		return -1;
	memcpy(buf + IM_META_COPY_SIZE, buf, IM_META_COPY_SIZE);
	memset(buf + 2 * IM_META_COPY_SIZE, 0, IM_META_IMAGE_SIZE - 2 * IM_META_COPY_SIZE);
	return 0;
}

static int check_copy(const uint8_t *c, char *why, size_t n)
{
	uint8_t sum[32];
	if (get_be32(c) != IM_META_MAGIC1) {
		snprintf(why, n, "magic 0x%08x, expected 0x%08x", get_be32(c), IM_META_MAGIC1);
		return 1;
	}
	const struct meta_trailer *t = (const struct meta_trailer *)(c + DATA_END);
	if (be32toh(t->magic2) != IM_META_MAGIC2) {
		snprintf(why, n, "end magic 0x%08x, expected 0x%08x", be32toh(t->magic2),
			 IM_META_MAGIC2);
		return 1;
	}
	if (copy_digest(c, sum) < 0) {
		snprintf(why, n, "SHA-256 failed");
		return 1;
	}
	if (memcmp(sum, t->sha256, 32) != 0) {
		snprintf(why, n, "SHA-256 mismatch");
		return 1;
	}
	return 0;
}

/* 0: valid (values in out); 1: invalid copy (reason in why); -1: error in err. */
static int decode_copy(const uint8_t *c, struct im_meta *out, char *why, size_t n,
		       struct im_error *err)
{
	if (check_copy(c, why, n))
		return 1;
	size_t off = HDR_SIZE;
	while (DATA_END - off >= sizeof(struct meta_record_hdr)) {
		uint32_t tag = get_be32(c + off), len = get_be32(c + off + 4);
		if (tag == 0)
			break;
		off += sizeof(struct meta_record_hdr);
		if (len > DATA_END - off) {
			snprintf(why, n, "record 0x%x of %u bytes overruns the copy", tag, len);
			return 1;
		}
		if (tag > IM_META_KEY_MAX) {
			snprintf(why, n, "record tag 0x%x is out of range 1..255", tag);
			return 1;
		}
		if (set_value(out, tag, c + off, len, err))
			return -1;
		off += len;
	}
	return 0;
}

int im_meta_decode_image(const uint8_t *buf, size_t len, const char *what, struct im_meta *m,
			 struct im_error *err)
{
	char why[2][128] = {"", "missing (image shorter than 512 KiB)"};
	struct im_meta tmp;
	what = what ? what : "META image";
	if (len < IM_META_COPY_SIZE)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: %zu bytes, expected a META image of 1 MiB (two 256 KiB copies)",
			       what, len);
	for (int copy = 0; copy < 2; copy++) {
		if ((size_t)(copy + 1) * IM_META_COPY_SIZE > len)
			break;
		im_meta_init(&tmp);
		int rc = decode_copy(buf + (size_t)copy * IM_META_COPY_SIZE, &tmp, why[copy],
				     sizeof(why[copy]), err);
		if (rc == 0) {
			im_meta_free(m);
			*m = tmp;
			return 0;
		}
		im_meta_free(&tmp);
		if (rc < 0)
			return -1;
	}
	return im_fail(err, IM_EXIT_INVALID,
		       "%s: no valid META copy (copy 1: %s; copy 2: %s), expected Talos ADV copies "
		       "at 0 and 256 KiB",
		       what, why[0], why[1]);
}

/* ---- files and devices ------------------------------------------------------------- */

/* pread up to len bytes; returns the count (short only at end of file) or -1. */
static ssize_t pread_full(int fd, uint8_t *buf, size_t len, off_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int im_meta_read_fd(int fd, off_t off, const char *what, struct im_meta *m, struct im_error *err)
{
	size_t want = 2 * IM_META_COPY_SIZE;
	uint8_t *buf = malloc(want);
	if (!buf)
		return oom(err);
	ssize_t n = pread_full(fd, buf, want, off);
	int rc;
	if (n < 0)
		rc = im_fail_errno(err, IM_EXIT_IO, "%s: read META at offset %lld", what,
				   (long long)off);
	else if ((size_t)n < IM_META_COPY_SIZE)
		rc = im_fail(err, IM_EXIT_INVALID,
			     "%s: only %zd bytes at offset %lld, expected a 1 MiB META partition",
			     what, n, (long long)off);
	else
		rc = im_meta_decode_image(buf, (size_t)n, what, m, err);
	free(buf);
	return rc;
}

int im_meta_write_fd(int fd, off_t off, const char *what, const struct im_meta *m,
		     struct im_error *err)
{
	uint8_t *buf = malloc(IM_META_IMAGE_SIZE);
	if (!buf)
		return oom(err);
	int rc = im_meta_encode_image(m, buf, err);
	if (rc == 0)
		rc = im_pwrite_all(fd, buf, IM_META_IMAGE_SIZE, (long long)off, what, err);
	free(buf);
	return rc;
}

int im_meta_read_file(const char *path, struct im_meta *m, struct im_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno),
				     "%s: cannot open META image", path);
	struct stat st;
	int rc;
	if (fstat(fd, &st) < 0)
		rc = im_fail_errno(err, IM_EXIT_IO, "%s: stat", path);
	else if (S_ISDIR(st.st_mode))
		rc = im_fail(err, IM_EXIT_INVALID, "%s: is a directory, expected a META image",
			     path);
	else
		rc = im_meta_read_fd(fd, 0, path, m, err);
	close(fd);
	return rc;
}

int im_meta_write_file(const char *path, const struct im_meta *m, struct im_error *err)
{
	struct im_outfile o;
	if (im_outfile_open(&o, path, err))
		return -1;
	if (im_meta_write_fd(o.fd, 0, path, m, err)) {
		im_outfile_abort(&o);
		return -1;
	}
	return im_outfile_commit(&o, err);
}

/* ---- INSTALLER_META_BASE64 ----------------------------------------------------------- */

/* "0xK=V;0xK=V" in ascending key order (Talos Value.String joined by ';'). */
static int build_text(const struct im_meta *m, char **out, size_t *out_len, struct im_error *err)
{
	size_t cap = 1;
	for (unsigned k = 1; k <= IM_META_KEY_MAX; k++) {
		if (!m->v[k].set)
			continue;
		if (memchr(m->v[k].data, ';', m->v[k].len))
			return im_fail(err, IM_EXIT_INVALID,
				       "META key 0x%x: value contains ';', which "
				       "INSTALLER_META_BASE64 uses as separator",
				       k);
		cap += sizeof("0xff=;") + m->v[k].len;
	}
	char *s = malloc(cap), *p = s;
	if (!s)
		return oom(err);
	for (unsigned k = 1; k <= IM_META_KEY_MAX; k++) {
		if (!m->v[k].set)
			continue;
		p += sprintf(p, "%s0x%x=", p == s ? "" : ";", k);
		memcpy(p, m->v[k].data, m->v[k].len);
		p += m->v[k].len;
	}
	*p = '\0';
	*out = s;
	*out_len = (size_t)(p - s);
	return 0;
}

/* gzip with the header Go's compress/gzip writes at BestCompression (Talos): mtime 0, no
 * name, XFL 2 (zlib derives it from level 9), OS 255 "unknown". */
static int gzip_text(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
		     struct im_error *err)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return im_fail(err, IM_EXIT_INTERNAL, "META: deflateInit2 failed");
	gz_header h;
	memset(&h, 0, sizeof(h));
	h.os = 255;
	uLong cap = 0;
	uint8_t *buf = NULL;
	if (deflateSetHeader(&zs, &h) != Z_OK)
		goto fail;
	cap = deflateBound(&zs, len);
	if (!(buf = malloc(cap)))
		goto fail;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		goto fail;
	*out = buf;
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return 0;
fail:
	free(buf);
	deflateEnd(&zs);
	return im_fail(err, IM_EXIT_INTERNAL, "META: gzip failed");
}

char *im_meta_encode_string(const struct im_meta *m, struct im_error *err)
{
	char *text = NULL;
	size_t len = 0;
	if (build_text(m, &text, &len, err))
		return NULL;
	uint8_t *gz = NULL;
	size_t gz_len = 0;
	if (len > GZIP_ABOVE && gzip_text((uint8_t *)text, len, &gz, &gz_len, err)) {
		free(text);
		return NULL;
	}
	char *b64 = gz ? im_base64_encode(gz, gz_len) : im_base64_encode(text, len);
	free(gz);
	free(text);
	if (!b64)
		oom(err);
	return b64;
}

/* Grow buf (with room for a NUL) when full; 0, or -1 when at the size cap or OOM. */
static int grow(uint8_t **buf, size_t *cap, bool *capped)
{
	if (*cap >= GUNZIP_MAX) {
		*capped = true;
		return -1;
	}
	uint8_t *nb = realloc(*buf, *cap * 2 + 1);
	if (!nb)
		return -1;
	*buf = nb;
	*cap *= 2;
	return 0;
}

static int gunzip_text(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
		       struct im_error *err)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	size_t cap = 4096;
	uint8_t *buf = malloc(cap + 1);
	if (!buf)
		return oom(err);
	if (inflateInit2(&zs, 15 + 16) != Z_OK) {
		free(buf);
		return im_fail(err, IM_EXIT_INTERNAL, "META: inflateInit2 failed");
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	int rc = Z_OK;
	bool capped = false, nomem = false;
	while (rc == Z_OK) {
		if (zs.total_out == cap && grow(&buf, &cap, &capped)) {
			nomem = !capped;
			break;
		}
		zs.next_out = buf + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		rc = inflate(&zs, Z_NO_FLUSH);
	}
	const char *why = zs.msg ? zs.msg : "truncated";
	size_t total = zs.total_out;
	bool trailing = rc == Z_STREAM_END && zs.avail_in;
	if (trailing)
		why = "trailing bytes after the gzip stream";
	inflateEnd(&zs);
	if (rc == Z_STREAM_END && !trailing) {
		buf[total] = '\0';
		*out = buf;
		*out_len = total;
		return 0;
	}
	free(buf);
	if (nomem)
		return oom(err);
	if (capped)
		return im_fail(err, IM_EXIT_INVALID,
			       "INSTALLER_META_BASE64: gzip data inflates beyond %d bytes",
			       GUNZIP_MAX);
	return im_fail(err, IM_EXIT_INVALID,
		       "INSTALLER_META_BASE64: invalid gzip data (%s), expected one gzip stream",
		       why);
}

/* One "0xK=V" entry of the decoded text (Talos meta.Value.Parse). */
static int parse_entry(const char *e, size_t len, struct im_meta *m, struct im_error *err)
{
	const char *eq = memchr(e, '=', len);
	if (!eq)
		return im_fail(err, IM_EXIT_INVALID,
			       "INSTALLER_META_BASE64: entry \"%.*s\" has no '=', expected 0xK=V",
			       (int)(len > 40 ? 40 : len), e);
	char arg[64];
	snprintf(arg, sizeof(arg), "%.*s", (int)(len > 40 ? 40 : len), e);
	unsigned key;
	if (im_meta_parse_key(e, (size_t)(eq - e), arg, &key, err))
		return -1;
	return im_meta_set(m, key, eq + 1, len - (size_t)(eq - e) - 1, err);
}

static int parse_text(const char *t, size_t len, struct im_meta *m, struct im_error *err)
{
	if (len == 0)
		return 0; /* Talos: empty => no values */
	const char *end = t + len;
	for (const char *p = t;;) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *e = semi ? semi : end;
		if (parse_entry(p, (size_t)(e - p), m, err))
			return -1;
		if (!semi)
			return 0;
		p = semi + 1;
	}
}

static void trim(const char **s, size_t *len)
{
	while (*len && strchr(" \t\r\n", (*s)[0]))
		(*s)++, (*len)--;
	while (*len && strchr(" \t\r\n", (*s)[*len - 1]))
		(*len)--;
}

int im_meta_decode_string(const char *s, struct im_meta *m, struct im_error *err)
{
	static const char prefix[] = "INSTALLER_META_BASE64=";
	size_t len = strlen(s), bad = 0, raw_len;
	trim(&s, &len);
	if (len >= sizeof(prefix) - 1 && memcmp(s, prefix, sizeof(prefix) - 1) == 0)
		s += sizeof(prefix) - 1, len -= sizeof(prefix) - 1;
	uint8_t *raw = NULL;
	int rc = im_base64_decode(s, len, &raw, &raw_len, &bad);
	if (rc == -2)
		return oom(err);
	if (rc < 0)
		return im_fail(err, IM_EXIT_INVALID,
			       "INSTALLER_META_BASE64: not base64 at offset %zu of %zu "
			       "characters, expected standard padded base64",
			       bad, len);
	/* Talos hasGzipMagic: at least 10 bytes starting 1f 8b. */
	if (raw_len >= 10 && raw[0] == 0x1f && raw[1] == 0x8b) {
		uint8_t *text = NULL;
		size_t text_len = 0;
		rc = gunzip_text(raw, raw_len, &text, &text_len, err);
		free(raw);
		if (rc)
			return -1;
		raw = text;
		raw_len = text_len;
	}
	rc = parse_text((const char *)raw, raw_len, m, err);
	free(raw);
	return rc;
}

/* ---- --meta K=V ---------------------------------------------------------------------- */

static int digit(char c, bool hex)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (hex && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (hex && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int im_meta_parse_key(const char *key, size_t len, const char *arg, unsigned *out,
		      struct im_error *err)
{
	bool hex = len > 2 && key[0] == '0' && (key[1] == 'x' || key[1] == 'X');
	size_t i = hex ? 2 : 0;
	unsigned long v = 0;
	bool ok = len > 0;
	/* Talos parses keys with Go's base-0 rules, where "010" is octal: refuse it. */
	if (!hex && len > 1 && key[0] == '0')
		ok = false;
	for (; ok && i < len; i++) {
		int d = digit(key[i], hex);
		if (d < 0)
			ok = false;
		else if (v <= IM_META_KEY_MAX)
			v = v * (hex ? 16 : 10) + (unsigned long)d;
	}
	if (!ok)
		return im_fail(err, IM_EXIT_INVALID,
			       "META key \"%.*s\" in \"%s\": expected a number 1..255, decimal "
			       "without leading zeros or 0x hex",
			       (int)len, key, arg);
	if (v == 0 || v > IM_META_KEY_MAX)
		return im_fail(err, IM_EXIT_INVALID,
			       "META key \"%.*s\" in \"%s\" is out of range: expected 1..255 "
			       "(0 ends the records)",
			       (int)len, key, arg);
	*out = (unsigned)v;
	return 0;
}

/* Read a whole file for "@FILE" (bounded: a value must fit in a META copy). */
static int slurp(const char *path, const char *arg, uint8_t **out, size_t *out_len,
		 struct im_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "--meta \"%s\": %s", arg,
				     path);
	size_t cap = IM_META_COPY_SIZE + 1, len = 0;
	uint8_t *buf = malloc(cap);
	int rc = buf ? 0 : oom(err);
	while (rc == 0 && len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = im_fail_errno(err, im_exit_for_input_errno(errno),
					   "--meta \"%s\": read %s", arg, path);
		else if (n == 0)
			break;
		else
			len += (size_t)n;
	}
	close(fd);
	if (rc == 0 && len == cap)
		rc = im_fail(err, IM_EXIT_INVALID,
			     "--meta \"%s\": %s is larger than a META copy (%d bytes)", arg, path,
			     IM_META_COPY_SIZE);
	if (rc) {
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

int im_meta_set_arg(struct im_meta *m, const char *arg, struct im_error *err)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return im_fail(err, IM_EXIT_INVALID,
			       "--meta \"%s\": expected KEY=VALUE or KEY=@FILE", arg);
	unsigned key;
	if (im_meta_parse_key(arg, (size_t)(eq - arg), arg, &key, err))
		return -1;
	const char *val = eq + 1;
	if (val[0] != '@')
		return im_meta_set(m, key, val, strlen(val), err);
	if (!val[1])
		return im_fail(err, IM_EXIT_INVALID,
			       "--meta \"%s\": expected a file name after '@'", arg);
	uint8_t *data = NULL;
	size_t len = 0;
	if (slurp(val + 1, arg, &data, &len, err))
		return -1;
	int rc = im_meta_set(m, key, data, len, err);
	free(data);
	return rc;
}
