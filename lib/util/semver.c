/* Semantic versions and ranges (see include/imager/semver.h). */
#include "imager/util/semver.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANGE_MAX 1024 /* longer constraints are refused rather than truncated */

static bool is_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '-';
}

/* A numeric part: digits, no leading zero (semver §2), no overflow. Advances *p. */
static bool parse_num(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return true;
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Dot-separated identifiers [0-9A-Za-z-]+ (semver §9, §10); numeric pre-release
 * identifiers must not have leading zeros. Returns the length consumed or 0. */
static size_t scan_idents(const char *s, bool pre)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;
		while (is_ident_char(s[i]))
			i++;
		size_t len = i - start;
		if (len == 0)
			return 0;
		if (pre && len > 1 && s[start] == '0' && all_digits(s + start, len))
			return 0;
		if (s[i] != '.')
			return i;
		i++;
	}
}

static int bad_version(const char *s, const char *what, const char *why, struct im_error *err)
{
	return im_fail(err, IM_EXIT_INVALID,
		       "%s \"%s\": %s (expected a semantic version like v1.6.0 or 1.6.0-rc.1)",
		       what, s, why);
}

int im_semver_parse(const char *s, const char *what, struct im_semver *v, struct im_error *err)
{
	const char *p = s;

	memset(v, 0, sizeof(*v));
	if (*p == 'v')
		p++;
	if (!parse_num(&p, &v->major))
		return bad_version(s, what, "bad major number", err);
	if (*p == '.' && (p++, !parse_num(&p, &v->minor)))
		return bad_version(s, what, "bad minor number", err);
	if (*p == '.' && (p++, !parse_num(&p, &v->patch)))
		return bad_version(s, what, "bad patch number", err);
	if (*p == '-') {
		size_t n = scan_idents(++p, true);
		if (n == 0)
			return bad_version(s, what, "bad pre-release", err);
		if (n >= sizeof(v->pre))
			return bad_version(s, what, "pre-release too long", err);
		memcpy(v->pre, p, n);
		v->pre[n] = '\0';
		p += n;
	}
	if (*p == '+') {
		size_t n = scan_idents(++p, false);
		if (n == 0)
			return bad_version(s, what, "bad build metadata", err);
		p += n;
	}
	if (*p)
		return bad_version(s, what, "unexpected characters", err);
	return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

/* One pre-release identifier against another (semver §11.4.1-3). */
static int cmp_ident(const char *a, size_t alen, const char *b, size_t blen)
{
	bool an = all_digits(a, alen), bn = all_digits(b, blen);

	if (an && bn) {
		/* no leading zeros: a longer number is a larger number */
		if (alen != blen)
			return alen < blen ? -1 : 1;
		int c = memcmp(a, b, alen);
		return c < 0 ? -1 : c > 0;
	}
	if (an != bn)
		return an ? -1 : 1; /* numeric identifiers have lower precedence */
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c < 0 ? -1 : 1;
	return cmp_u64(alen, blen);
}

static int cmp_pre(const char *a, const char *b)
{
	if (!*a || !*b) /* a release ranks above its pre-releases (§11.3) */
		return (*a ? -1 : 0) + (*b ? 1 : 0);
	for (;;) {
		size_t alen = strcspn(a, "."), blen = strcspn(b, ".");
		int c = cmp_ident(a, alen, b, blen);
		if (c)
			return c;
		a += alen;
		b += blen;
		if (!*a || !*b) /* the longer set of identifiers ranks higher (§11.4.4) */
			return (*a ? 1 : 0) - (*b ? 1 : 0);
		a++;
		b++;
	}
}

int im_semver_cmp(const struct im_semver *a, const struct im_semver *b)
{
	int c = cmp_u64(a->major, b->major);

	if (!c)
		c = cmp_u64(a->minor, b->minor);
	if (!c)
		c = cmp_u64(a->patch, b->patch);
	return c ? c : cmp_pre(a->pre, b->pre);
}

/* ---- ranges --------------------------------------------------------------------------- */

enum op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE };

static const struct {
	const char *text;
	enum op op;
} ops[] = {
    /* longest first, so ">=" is not read as ">" followed by "=..." */
    {">=", OP_GE}, {"<=", OP_LE}, {"==", OP_EQ}, {"!=", OP_NE},
    {">", OP_GT},  {"<", OP_LT},  {"=", OP_EQ},	 {"!", OP_NE},
};

/* Reads an operator at *p (none means "="). */
static enum op read_op(const char **p)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].text);
		if (strncmp(*p, ops[i].text, n) == 0) {
			*p += n;
			return ops[i].op;
		}
	}
	return OP_EQ;
}

static bool op_holds(enum op op, int c)
{
	switch (op) {
	case OP_EQ:
		return c == 0;
	case OP_NE:
		return c != 0;
	case OP_GT:
		return c > 0;
	case OP_GE:
		return c >= 0;
	case OP_LT:
		return c < 0;
	case OP_LE:
		return c <= 0;
	}
	return false;
}

struct range_ctx {
	const char *range; /* the whole constraint, for messages */
	const struct im_semver *v;
	struct im_error *err;
};

static int bad_range(struct range_ctx *r, const char *part, const char *why)
{
	return im_fail(r->err, IM_EXIT_INVALID,
		       "version constraint \"%s\": \"%s\": %s (expected comparisons like "
		       "\">= v1.6.0\" or \">=1.0.0 <2.0.0\", alternatives separated by \"||\")",
		       r->range, part, why);
}

/* One comparison "OP VERSION" (spaces already removed between them). */
static int eval_cmp(struct range_ctx *r, const char *tok, bool *ok)
{
	const char *p = tok;
	enum op op = read_op(&p);
	struct im_semver want;
	struct im_error e = {0};

	if (!*p)
		return bad_range(r, tok, "operator without a version");
	if (im_semver_parse(p, "version", &want, &e) < 0)
		return bad_range(r, tok, "not a semantic version");
	*ok = op_holds(op, im_semver_cmp(r->v, &want));
	return 0;
}

/* Space-separated comparisons, all of which must hold. `alt` is modified in place. */
static int eval_and(struct range_ctx *r, char *alt, bool *ok)
{
	char tok[RANGE_MAX];
	size_t n = 0, count = 0;
	char *p = alt;

	*ok = true;
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, " \t\r\n");
		memcpy(tok + n, p, len);
		n += len;
		tok[n] = '\0';
		p += len;
		/* a bare operator takes the next word as its version: ">= v1.6.0" */
		if (strspn(tok, "<>=!") == n)
			continue;
		bool one = false;
		if (eval_cmp(r, tok, &one) < 0)
			return -1;
		*ok = *ok && one;
		n = 0;
		count++;
	}
	if (n)
		return bad_range(r, tok, "operator without a version");
	if (count == 0)
		return bad_range(r, alt, "empty comparison");
	return 0;
}

int im_semver_range_check(const char *range, const struct im_semver *v, bool *ok,
			  struct im_error *err)
{
	struct range_ctx r = {.range = range, .v = v, .err = err};
	char buf[RANGE_MAX];

	*ok = false;
	if (strlen(range) >= sizeof(buf))
		return bad_range(&r, "", "too long");
	snprintf(buf, sizeof(buf), "%s", range);
	for (char *alt = buf;;) {
		char *bar = strstr(alt, "||");
		if (bar)
			*bar = '\0';
		bool one;
		if (eval_and(&r, alt, &one) < 0) {
			*ok = false;
			return -1;
		}
		*ok = *ok || one;
		if (!bar)
			return 0;
		alt = bar + 2;
	}
}
