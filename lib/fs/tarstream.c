/* Sequential tar reader (tarstream.h). Header layout: POSIX.1-2008 "pax" (ustar) header
 * block of 512 bytes: name[100] @0, mode[8] @100, size[12] @124, chksum[8] @148,
 * typeflag @156, linkname[100] @157, magic "ustar" @257, prefix[155] @345; numbers are
 * octal text, or GNU base-256 when the first byte has its high bit set. */
#include "imager/fs/tarstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK	 512
#define META_MAX (1u << 20) /* pax / GNU long-name records we accept */

void im_tar_in_init(struct im_tar_in *t, im_tar_read_fn read, void *ctx, const char *what)
{
	memset(t, 0, sizeof(*t));
	t->read = read;
	t->ctx = ctx;
	t->what = what;
}

long im_tar_read_fd(void *ctx, void *buf, size_t n, struct im_error *err)
{
	int fd = *(int *)ctx;
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return im_fail_errno(err, IM_EXIT_IO, "read");
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long)got;
}

/* Exactly n bytes from the stream; `inside` says what the stream ended in. */
static int read_exact(struct im_tar_in *t, void *buf, size_t n, const char *inside,
		      struct im_error *err)
{
	long r = t->read(t->ctx, buf, n, err);
	if (r < 0)
		return -1;
	t->pos += (uint64_t)r;
	if ((size_t)r < n)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: truncated archive (the stream ends inside %s at byte %llu)",
			       t->what, inside, (unsigned long long)t->pos);
	return 0;
}

static int skip(struct im_tar_in *t, uint64_t n, struct im_error *err)
{
	static char sink[BLOCK * 16];
	while (n) {
		size_t k = n < sizeof(sink) ? (size_t)n : sizeof(sink);
		if (read_exact(t, sink, k, "an entry's data", err) < 0)
			return -1;
		n -= k;
	}
	return 0;
}

static int parse_num(const unsigned char *f, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (f[0] & 0x80) { /* GNU base-256 */
		if (f[0] != 0x80)
			return -1; /* negative or huge */
		for (size_t i = 1; i < len; i++) {
			if (v >> 56)
				return -1;
			v = v << 8 | f[i];
		}
		*out = v;
		return 0;
	}
	size_t i = 0;
	while (i < len && f[i] == ' ')
		i++;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	for (; i < len; i++)
		if (f[i] != ' ' && f[i] != 0)
			return -1;
	*out = v;
	return 0;
}

static int header_ok(const unsigned char *h)
{
	uint64_t want;
	unsigned long sum = 0;
	if (parse_num(h + 148, 8, &want) < 0)
		return 0;
	for (int i = 0; i < BLOCK; i++)
		sum += i >= 148 && i < 156 ? ' ' : h[i];
	return sum == want && memcmp(h + 257, "ustar", 5) == 0;
}

static int is_zero(const unsigned char *h)
{
	for (int i = 0; i < BLOCK; i++)
		if (h[i])
			return 0;
	return 1;
}

/* Copy a name field (not NUL-terminated when full). */
static void field(char *out, size_t size, const unsigned char *f, size_t len)
{
	size_t n = strnlen((const char *)f, len);
	if (n >= size)
		n = size - 1;
	memcpy(out, f, n);
	out[n] = 0;
}

static void clean(char *p)
{
	char *s = p;
	while (*s == '/' || (s[0] == '.' && s[1] == '/'))
		s += *s == '/' ? 1 : 2;
	memmove(p, s, strlen(s) + 1);
	size_t n = strlen(p);
	while (n && p[n - 1] == '/')
		p[--n] = 0;
	if (!strcmp(p, "."))
		p[0] = 0;
}

/* The data of a pax or GNU meta entry, NUL-terminated. */
static int read_meta(struct im_tar_in *t, uint64_t size, char **out, struct im_error *err)
{
	if (size > META_MAX)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: extended header of %llu bytes (at most %u)", t->what,
			       (unsigned long long)size, META_MAX);
	uint64_t padded = (size + BLOCK - 1) / BLOCK * BLOCK;
	char *b = malloc((size_t)padded + 1);
	if (!b)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (read_exact(t, b, (size_t)padded, "an extended header", err) < 0) {
		free(b);
		return -1;
	}
	b[size] = 0;
	*out = b;
	return 0;
}

/* pax records "<len> <key>=<value>\n" (POSIX.1-2008 pax, "pax Extended Header"). */
static int apply_pax(struct im_tar_in *t, char *b, uint64_t size, char *path, char *link,
		     uint64_t *sz, int *have_size, struct im_error *err)
{
	char *p = b, *end = b + size;
	while (p < end) {
		char *sp;
		unsigned long len = strtoul(p, &sp, 10);
		if (*sp != ' ' || len == 0 || len > (unsigned long)(end - p) || p[len - 1] != '\n')
			return im_fail(err, IM_EXIT_INVALID, "%s: bad pax extended header record",
				       t->what);
		char *kv = sp + 1, *eq = memchr(kv, '=', (size_t)(p + len - 1 - kv));
		if (eq) {
			size_t vl = (size_t)(p + len - 1 - (eq + 1));
			if (!strncmp(kv, "path=", 5) && vl < PATH_MAX) {
				memcpy(path, eq + 1, vl);
				path[vl] = 0;
			} else if (!strncmp(kv, "linkpath=", 9) && vl < PATH_MAX) {
				memcpy(link, eq + 1, vl);
				link[vl] = 0;
			} else if (!strncmp(kv, "size=", 5)) {
				*sz = strtoull(eq + 1, NULL, 10);
				*have_size = 1;
			}
		}
		p += len;
	}
	return 0;
}

int im_tar_next(struct im_tar_in *t, struct im_tar_entry *e, struct im_error *err)
{
	unsigned char h[BLOCK];
	char xpath[PATH_MAX] = "", xlink[PATH_MAX] = "";
	uint64_t xsize = 0;
	int have_size = 0;
	if (skip(t, t->left + t->pad, err) < 0)
		return -1;
	t->left = t->pad = 0;
	for (;;) {
		long r = t->read(t->ctx, h, BLOCK, err);
		if (r < 0)
			return -1;
		t->pos += (uint64_t)r;
		if (r < BLOCK && t->entries)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: truncated archive (no end-of-archive block after %d "
				       "entries)",
				       t->what, t->entries);
		if (r < BLOCK)
			return im_fail(err, IM_EXIT_INVALID,
				       r ? "%s: not a tar archive (%ld bytes, less than one header)"
					 : "%s: empty file (expected a tar archive)%.0ld",
				       t->what, r);
		if (is_zero(h))
			return t->entries
				   ? 0
				   : im_fail(err, IM_EXIT_INVALID,
					     "%s: no entries (expected a tar archive)", t->what);
		if (!header_ok(h))
			return im_fail(err, IM_EXIT_INVALID,
				       t->entries
					   ? "%s: corrupt tar header at byte %llu"
					   : "%s: not a tar archive (no ustar header at byte "
					     "%llu)",
				       t->what, (unsigned long long)(t->pos - BLOCK));
		t->entries++;
		uint64_t size, mode;
		if (parse_num(h + 124, 12, &size) < 0 || parse_num(h + 100, 8, &mode) < 0)
			return im_fail(err, IM_EXIT_INVALID, "%s: corrupt tar header at byte %llu",
				       t->what, (unsigned long long)(t->pos - BLOCK));
		char type = (char)h[156];
		if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
			char *b = NULL;
			if (read_meta(t, size, &b, err) < 0)
				return -1;
			int rc = 0;
			if (type == 'x')
				rc = apply_pax(t, b, size, xpath, xlink, &xsize, &have_size, err);
			else if (type == 'L')
				snprintf(xpath, sizeof(xpath), "%s", b);
			else if (type == 'K')
				snprintf(xlink, sizeof(xlink), "%s", b);
			free(b);
			if (rc < 0)
				return -1;
			continue;
		}
		memset(e, 0, sizeof(*e));
		if (xpath[0]) {
			snprintf(e->path, sizeof(e->path), "%s", xpath);
		} else {
			char name[101], prefix[156];
			field(name, sizeof(name), h, 100);
			field(prefix, sizeof(prefix), h + 345, 155);
			snprintf(e->path, sizeof(e->path), "%s%s%s", prefix, prefix[0] ? "/" : "",
				 name);
		}
		if (xlink[0])
			snprintf(e->link, sizeof(e->link), "%s", xlink);
		else
			field(e->link, sizeof(e->link), h + 157, 100);
		clean(e->path);
		e->type = type ? type : '0';
		e->mode = (uint32_t)(mode & 07777);
		e->size = have_size ? xsize : size;
		/* Only files carry data (ustar: a hard link's or directory's size is ignored). */
		if (e->type == '1' || e->type == '2' || e->type == '5')
			e->size = 0;
		e->offset = t->pos;
		t->left = e->size;
		t->pad = (BLOCK - e->size % BLOCK) % BLOCK;
		return 1;
	}
}

long im_tar_read(struct im_tar_in *t, void *buf, size_t n, struct im_error *err)
{
	if (n > t->left)
		n = (size_t)t->left;
	if (n == 0)
		return 0;
	if (read_exact(t, buf, n, "an entry's data", err) < 0)
		return -1;
	t->left -= n;
	return (long)n;
}
