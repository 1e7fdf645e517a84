/* .config parsing, kernel-config/ fragments and the check of one against the other.
 * Syntax: the kernel's Documentation/kbuild/kconfig-language.rst and kconfig.rst (a
 * .config is "CONFIG_X=value" lines and "# CONFIG_X is not set" lines, which
 * scripts/kconfig/merge_config.sh also reads from fragments). */
#include "imager/talos/kconfig.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Kconfig symbol: upper-case letters, digits and '_' (Kconfig itself allows lower case,
 * which real trees use for a handful of symbols). */
static size_t symbol_len(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_'))
		i++;
	return i;
}

/* One line of option syntax: "CONFIG_X=V" or "# CONFIG_X is not set". Returns 1 and sets
 * name and value (malloc'd) for an option, 0 for anything else, -1 for memory. */
static int parse_option_line(const char *l, size_t n, char **name, char **value)
{
	static const char notset[] = " is not set";
	*name = *value = NULL;
	int off = 0;
	if (n >= 2 && l[0] == '#' && l[1] == ' ') {
		l += 2;
		n -= 2;
		off = 1;
	}
	if (n < 8 || memcmp(l, "CONFIG_", 7))
		return 0;
	size_t sl = symbol_len(l + 7, n - 7);
	if (!sl)
		return 0;
	const char *rest = l + 7 + sl;
	size_t rn = n - 7 - sl;
	if (off) {
		if (rn != sizeof(notset) - 1 || memcmp(rest, notset, rn))
			return 0;
		*value = strdup("n");
	} else {
		if (rn < 2 || rest[0] != '=')
			return 0;
		*value = strndup(rest + 1, rn - 1);
	}
	*name = strndup(l + 7, sl);
	if (!*name || !*value) {
		free(*name);
		free(*value);
		return -1;
	}
	return 1;
}

/* Lines without their '\n' (and without a '\r' before it). */
struct lines {
	const char *p, *end;
	unsigned no;
};

static int next_line(struct lines *ls, const char **l, size_t *n)
{
	if (ls->p >= ls->end)
		return 0;
	const char *nl = memchr(ls->p, '\n', (size_t)(ls->end - ls->p));
	const char *e = nl ? nl : ls->end;
	*l = ls->p;
	*n = (size_t)(e - ls->p);
	if (*n && (*l)[*n - 1] == '\r')
		(*n)--;
	ls->p = nl ? nl + 1 : ls->end;
	ls->no++;
	return 1;
}

static int blank(const char *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)l[i]))
			return 0;
	return 1;
}

struct seq_entry {
	struct im_kconfig_entry e;
	size_t seq;
};

static int seq_cmp(const void *a, const void *b)
{
	const struct seq_entry *x = a, *y = b;
	int c = strcmp(x->e.name, y->e.name);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sort by name and keep the last assignment of each name (Kconfig semantics). */
static int sort_unique(struct im_kconfig *kc)
{
	struct seq_entry *t = calloc(kc->n ? kc->n : 1, sizeof(*t));
	if (!t)
		return -1;
	for (size_t i = 0; i < kc->n; i++)
		t[i] = (struct seq_entry){kc->v[i], i};
	qsort(t, kc->n, sizeof(*t), seq_cmp);
	size_t out = 0;
	for (size_t i = 0; i < kc->n; i++) {
		if (i + 1 < kc->n && !strcmp(t[i].e.name, t[i + 1].e.name)) {
			free(t[i].e.name);
			free(t[i].e.value);
			continue;
		}
		kc->v[out++] = t[i].e;
	}
	kc->n = out;
	free(t);
	return 0;
}

static int push_entry(struct im_kconfig *kc, size_t *cap, char *name, char *value)
{
	if (kc->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		void *nv = realloc(kc->v, nc * sizeof(kc->v[0]));
		if (!nv)
			return -1;
		kc->v = nv;
		*cap = nc;
	}
	kc->v[kc->n++] = (struct im_kconfig_entry){name, value};
	return 0;
}

int im_kconfig_parse(const char *text, size_t len, const char *what, struct im_kconfig *kc,
		     struct im_error *err)
{
	struct lines ls = {text, text + len, 0};
	const char *l;
	size_t n, cap = 0;
	memset(kc, 0, sizeof(*kc));
	if (memchr(text, '\0', len))
		return im_fail(
		    err, IM_EXIT_INVALID,
		    "%s: not a kernel configuration (binary data; expected .config text)", what);
	while (next_line(&ls, &l, &n)) {
		char *name, *value;
		int r = parse_option_line(l, n, &name, &value);
		if (r < 0)
			goto oom;
		if (r == 0) {
			if (blank(l, n) || l[0] == '#')
				continue;
			im_fail(
			    err, IM_EXIT_INVALID,
			    "%s:%u: expected CONFIG_NAME=value or \"# CONFIG_NAME is not set\", "
			    "got \"%.60s\"",
			    what, ls.no, l);
			im_kconfig_free(kc);
			return -1;
		}
		if (push_entry(kc, &cap, name, value) < 0) {
			free(name);
			free(value);
			goto oom;
		}
	}
	if (kc->n == 0) {
		im_kconfig_free(kc);
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: not a kernel configuration (no CONFIG_ option in it)", what);
	}
	if (sort_unique(kc) < 0)
		goto oom;
	return 0;
oom:
	im_kconfig_free(kc);
	return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
}

const char *im_kconfig_get(const struct im_kconfig *kc, const char *name)
{
	size_t lo = 0, hi = kc->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(kc->v[mid].name, name);
		if (c == 0)
			return kc->v[mid].value;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void im_kconfig_free(struct im_kconfig *kc)
{
	for (size_t i = 0; i < kc->n; i++) {
		free(kc->v[i].name);
		free(kc->v[i].value);
	}
	free(kc->v);
	kc->v = NULL;
	kc->n = 0;
}

static int is_off(const char *v)
{
	return !v || !strcmp(v, "n");
}

int im_kconfig_satisfies(const char *want, const char *have)
{
	if (!strcmp(want, "n"))
		return is_off(have);
	if (!have)
		return 0;
	if (!strcmp(want, "m"))
		return !strcmp(have, "y") || !strcmp(have, "m");
	return !strcmp(want, have);
}

/* --- fragments ------------------------------------------------------------------------- */

/* "# text" -> "text" (the reason of the option below it). */
static char *comment_text(const char *l, size_t n)
{
	size_t i = 1;
	while (i < n && l[i] == ' ')
		i++;
	while (n > i && isspace((unsigned char)l[n - 1]))
		n--;
	return strndup(l + i, n - i);
}

static int directive(const char *l, size_t n, const char *word)
{
	size_t w = strlen(word);
	return n >= w + 3 && !memcmp(l, "# @", 3) && !memcmp(l + 3, word, w) &&
	       (n == w + 3 || l[w + 3] == ' ');
}

static void free_want(struct im_kfrag_want *w)
{
	free(w->name);
	free(w->value);
}

void im_kfrag_free(struct im_kfrag *f)
{
	for (size_t i = 0; i < f->n; i++) {
		struct im_kfrag_opt *o = &f->v[i];
		free_want(&o->want);
		for (size_t j = 0; j < o->n_alt; j++)
			free_want(&o->alt[j]);
		free(o->alt);
		free(o->reason);
	}
	free(f->v);
	free(f->name);
	memset(f, 0, sizeof(*f));
}

static int add_alt(struct im_kfrag_opt *o, char *name, char *value)
{
	void *nv = realloc(o->alt, (o->n_alt + 1) * sizeof(o->alt[0]));
	if (!nv)
		return -1;
	o->alt = nv;
	o->alt[o->n_alt++] = (struct im_kfrag_want){name, value};
	return 0;
}

struct frag_parser {
	struct im_kfrag *f;
	size_t cap;
	enum im_kfrag_level level;
	char *reason; /* pending comment */
	int last_is_opt;
};

static int frag_add(struct frag_parser *p, char *name, char *value, unsigned line,
		    struct im_error *err)
{
	struct im_kfrag *f = p->f;
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].want.name, name)) {
			im_fail(err, IM_EXIT_INVALID, "%s:%u: CONFIG_%s is already set on line %u",
				f->name, line, name, f->v[i].line);
			goto bad;
		}
	if (!p->reason) {
		im_fail(err, IM_EXIT_INVALID,
			"%s:%u: CONFIG_%s has no reason (a comment line right above it)", f->name,
			line, name);
		goto bad;
	}
	if (f->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 64;
		void *nv = realloc(f->v, nc * sizeof(f->v[0]));
		if (!nv) {
			im_fail(err, IM_EXIT_INTERNAL, "out of memory");
			goto bad;
		}
		f->v = nv;
		p->cap = nc;
	}
	f->v[f->n++] = (struct im_kfrag_opt){
	    .want = {name, value}, .reason = p->reason, .level = p->level, .line = line};
	p->reason = NULL;
	return 0;
bad:
	free(name);
	free(value);
	return -1;
}

/* "# @or CONFIG_X=V": an alternative for the option on the line above. */
static int frag_alt(struct frag_parser *p, const char *l, size_t n, unsigned line,
		    struct im_error *err)
{
	char *name, *value;
	int r = parse_option_line(l + 6, n - 6, &name, &value);
	if (r < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (r == 0 || !p->last_is_opt) {
		free(name);
		free(value);
		return im_fail(err, IM_EXIT_INVALID,
			       "%s:%u: expected \"# @or CONFIG_NAME=value\" right below an option",
			       p->f->name, line);
	}
	if (add_alt(&p->f->v[p->f->n - 1], name, value) < 0) {
		free(name);
		free(value);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	return 0;
}

static int frag_line(struct frag_parser *p, const char *l, size_t n, unsigned line,
		     struct im_error *err)
{
	char *name, *value;
	if (directive(l, n, "or"))
		return frag_alt(p, l, n, line, err);
	p->last_is_opt = 0;
	if (directive(l, n, "required") || directive(l, n, "recommended")) {
		p->level = directive(l, n, "required") ? IM_KFRAG_REQUIRED : IM_KFRAG_RECOMMENDED;
		free(p->reason);
		p->reason = NULL;
		return 0;
	}
	if (n >= 3 && !memcmp(l, "# @", 3))
		return im_fail(err, IM_EXIT_INVALID,
			       "%s:%u: unknown directive \"%.40s\" (expected @required, "
			       "@recommended or @or)",
			       p->f->name, line, l);
	int r = parse_option_line(l, n, &name, &value);
	if (r < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (r > 0) {
		if (frag_add(p, name, value, line, err) < 0)
			return -1;
		p->last_is_opt = 1;
		return 0;
	}
	free(p->reason);
	p->reason = NULL;
	if (blank(l, n))
		return 0;
	if (l[0] != '#')
		return im_fail(err, IM_EXIT_INVALID,
			       "%s:%u: expected CONFIG_NAME=value, \"# CONFIG_NAME is not set\" or "
			       "a comment, got \"%.60s\"",
			       p->f->name, line, l);
	p->reason = comment_text(l, n);
	return p->reason ? 0 : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
}

int im_kfrag_parse(const char *text, size_t len, const char *name, struct im_kfrag *f,
		   struct im_error *err)
{
	memset(f, 0, sizeof(*f));
	f->name = strdup(name);
	if (!f->name)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	struct frag_parser p = {.f = f};
	struct lines ls = {text, text + len, 0};
	const char *l;
	size_t n;
	int rc = 0;
	while (rc == 0 && next_line(&ls, &l, &n))
		rc = frag_line(&p, l, n, ls.no, err);
	free(p.reason);
	if (rc < 0)
		im_kfrag_free(f);
	return rc;
}

/* --- the check ------------------------------------------------------------------------- */

static int opt_holds(const struct im_kconfig *kc, const struct im_kfrag_opt *o)
{
	if (im_kconfig_satisfies(o->want.value, im_kconfig_get(kc, o->want.name)))
		return 1;
	for (size_t i = 0; i < o->n_alt; i++)
		if (im_kconfig_satisfies(o->alt[i].value, im_kconfig_get(kc, o->alt[i].name)))
			return 1;
	return 0;
}

int im_kcheck_run(const struct im_kconfig *kc, const struct im_kfrag *frags, size_t n_frags,
		  struct im_kcheck *out, struct im_error *err)
{
	size_t total = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_frags; i++)
		total += frags[i].n;
	out->v = calloc(total ? total : 1, sizeof(out->v[0]));
	if (!out->v)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < n_frags; i++)
		for (size_t j = 0; j < frags[i].n; j++) {
			const struct im_kfrag_opt *o = &frags[i].v[j];
			out->n_checked++;
			if (opt_holds(kc, o))
				continue;
			out->v[out->n++] =
			    (struct im_kcheck_item){&frags[i], o, im_kconfig_get(kc, o->want.name)};
			if (o->level == IM_KFRAG_REQUIRED)
				out->n_required++;
			else
				out->n_recommended++;
		}
	return 0;
}

void im_kcheck_free(struct im_kcheck *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
}

const char *im_kcheck_wanted(const char *want)
{
	if (!strcmp(want, "n"))
		return "off";
	if (!strcmp(want, "m"))
		return "y or m";
	return want;
}

const char *im_kcheck_state(const struct im_kcheck_item *it)
{
	return is_off(it->have) && strcmp(it->opt->want.value, "n") ? "missing" : "wrong";
}

void im_kcheck_describe(const struct im_kcheck_item *it, char *buf, size_t size)
{
	const char *want = it->opt->want.value, *have = it->have;
	/* A module where the option must be built in: say why m is not enough. */
	const char *why = have && !strcmp(want, "y") && !strcmp(have, "m") ? " (built in)" : "";
	if (!have)
		snprintf(buf, size, "is missing, needs %s", im_kcheck_wanted(want));
	else
		snprintf(buf, size, "is %s, needs %s%s", !strcmp(have, "n") ? "off" : have,
			 im_kcheck_wanted(want), why);
}
