/* Applying YAML (a node tree, lib/util/yaml.c) and CLI settings onto a profile through the
 * schema tables (profile_schema.h). Merging is "apply onto": the base profile is applied to
 * an empty profile, then the user's YAML onto the result, then the CLI settings; applying a
 * scalar replaces, a list appends, a mapping applies key by key. Errors carry the YAML
 * position (origin:line:col) and the dotted field path. */
#include "profile_schema.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- applying a YAML tree -------------------------------------------------------- */

struct actx {
	const char *origin; /* NULL: values come from the command line (no position) */
	struct im_error *err;
	char path[512]; /* dotted path of the mapping being applied */
};

static int afail(struct actx *a, const struct im_yaml_node *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int afail(struct actx *a, const struct im_yaml_node *n, int code, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (a->origin && n && n->line)
		return im_fail(a->err, code, "%s:%u:%u: %s", a->origin, n->line, n->col, msg);
	if (a->origin)
		return im_fail(a->err, code, "%s: %s", a->origin, msg);
	return im_fail(a->err, code, "%s", msg);
}

static size_t path_push(struct actx *a, const char *seg, bool index, size_t i)
{
	size_t len = strlen(a->path);
	if (index)
		snprintf(a->path + len, sizeof(a->path) - len, "[%zu]", i);
	else
		snprintf(a->path + len, sizeof(a->path) - len, "%s%s", len ? "." : "", seg);
	return len;
}

static void path_pop(struct actx *a, size_t len)
{
	a->path[len] = 0;
}

static int oom(struct actx *a)
{
	return im_fail(a->err, IM_EXIT_INTERNAL, "out of memory");
}

/* "expected X, got Y" for the field at a->path. */
static int wrong_type(struct actx *a, const struct im_yaml_node *n, const char *expected)
{
	if (n->kind == IM_YAML_SCALAR)
		return afail(a, n, IM_EXIT_INVALID, "%s: expected %s, got \"%.200s\"", a->path,
			     expected, n->text);
	return afail(a, n, IM_EXIT_INVALID, "%s: expected %s, got %s", a->path, expected,
		     im_yaml_kind_name(n->kind));
}

static int apply_map(struct actx *a, const struct schema *s, void *base,
		     const struct im_yaml_node *n);
static int apply_field(struct actx *a, const struct field *f, void *base,
		       const struct im_yaml_node *n);

static int set_str(struct actx *a, char **dst, const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_SCALAR)
		return wrong_type(a, n, "a string");
	char *s = NULL;
	if (*n->text && !(s = strdup(n->text)))
		return oom(a);
	free(*dst);
	*dst = s; /* "" means "not given" */
	return 0;
}

static int set_bool(struct actx *a, bool *dst, const struct im_yaml_node *n)
{
	static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False",
									       "FALSE"};
	for (size_t i = 0; n->kind == IM_YAML_SCALAR && i < 3; i++) {
		if (!strcmp(n->text, t[i]) || !strcmp(n->text, f[i])) {
			*dst = !strcmp(n->text, t[i]);
			return 0;
		}
	}
	return wrong_type(a, n, "true or false");
}

static int set_enum(struct actx *a, const struct enum_desc *d, void *dst,
		    const struct im_yaml_node *n)
{
	char allowed[300];
	im_prof_enum_allowed(d, allowed, sizeof(allowed));
	if (n->kind != IM_YAML_SCALAR) {
		char exp[340];
		snprintf(exp, sizeof(exp), "one of %s", allowed);
		return wrong_type(a, n, exp);
	}
	int v = im_prof_enum_parse(d, n->text);
	if (v < 0)
		return afail(a, n, IM_EXIT_INVALID, "%s: invalid value \"%.200s\" (allowed: %s)",
			     a->path, n->text, allowed);
	put_int(dst, v);
	return 0;
}

static int set_size(struct actx *a, uint64_t *dst, const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_SCALAR || im_profile_parse_size(n->text, dst))
		return wrong_type(a, n, "a size in bytes (e.g. 8589934592, 8GiB or 1246MiB)");
	return 0;
}

static int set_u32(struct actx *a, const struct u32_desc *d, uint32_t *dst,
		   const struct im_yaml_node *n)
{
	uint64_t v;
	if (n->kind != IM_YAML_SCALAR || im_prof_parse_u64(n->text, &v))
		return wrong_type(a, n, "an integer");
	if (d->allowed) {
		char allowed[100] = "";
		size_t used = 0;
		for (size_t i = 0; i < d->n_allowed; i++) {
			if (v == d->allowed[i]) {
				*dst = (uint32_t)v;
				return 0;
			}
			used += snprintf(allowed + used, sizeof(allowed) - used, "%s%u",
					 i ? ", " : "", d->allowed[i]);
		}
		return afail(a, n, IM_EXIT_INVALID, "%s: invalid value %s (allowed: %s)", a->path,
			     n->text, allowed);
	}
	if (v < d->min || v > d->max)
		return afail(a, n, IM_EXIT_INVALID, "%s: %s is out of range %u..%u", a->path,
			     n->text, d->min, d->max);
	*dst = (uint32_t)v;
	return 0;
}

/* Grow a {v, n} list by one zeroed element; returns it or NULL. */
static void *list_add(void *lp, size_t size)
{
	void *v;
	size_t n;
	list_get(lp, &v, &n);
	void *nv = realloc(v, (n + 1) * size);
	if (!nv)
		return NULL;
	memset(at(nv, n * size), 0, size);
	list_put(lp, nv, n + 1);
	return at(nv, n * size);
}

static void list_drop_last(void *lp)
{
	void *v;
	size_t n;
	list_get(lp, &v, &n);
	list_put(lp, v, n - 1);
}

static int apply_strlist(struct actx *a, void *lp, const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_SEQ)
		return wrong_type(a, n, "a list of strings");
	for (size_t i = 0; i < n->n; i++) {
		const struct im_yaml_node *it = n->items[i];
		if (it->kind != IM_YAML_SCALAR || !*it->text) {
			size_t mark = path_push(a, NULL, true, i);
			int rc = wrong_type(a, it, "a non-empty string");
			path_pop(a, mark);
			return rc;
		}
		char *s = strdup(it->text);
		char **slot = s ? list_add(lp, sizeof(char *)) : NULL;
		if (!slot) {
			free(s);
			return oom(a);
		}
		*slot = s;
	}
	return 0;
}

/* apply_field with the field's key added to the path for messages. */
static int apply_sub(struct actx *a, const struct field *f, void *base,
		     const struct im_yaml_node *n)
{
	size_t mark = path_push(a, f->key, false, 0);
	int rc = apply_field(a, f, base, n);
	path_pop(a, mark);
	return rc;
}

/* A bare scalar list item: its first field, or KEY=VALUE into the first two. */
static int apply_shorthand(struct actx *a, const struct list_desc *ld, void *elem,
			   const struct im_yaml_node *n)
{
	const struct field *f = ld->elem->f;
	if (ld->sh == SH_FIRST)
		return apply_sub(a, &f[0], elem, n);
	const char *eq = strchr(n->text, '=');
	if (ld->sh != SH_KV || !eq || eq == n->text)
		return wrong_type(a, n, ld->what);
	char *k = strndup(n->text, eq - n->text);
	if (!k)
		return oom(a);
	struct im_yaml_node kn = *n, vn = *n;
	kn.text = k;
	vn.text = (char *)eq + 1;
	int rc = apply_sub(a, &f[0], elem, &kn);
	if (!rc)
		rc = apply_sub(a, &f[1], elem, &vn);
	free(k);
	return rc;
}

static int apply_list_item(struct actx *a, const struct list_desc *ld, void *lp,
			   const struct im_yaml_node *it)
{
	void *elem = list_add(lp, ld->size);
	if (!elem)
		return oom(a);
	int rc;
	if (it->kind == IM_YAML_MAP)
		rc = apply_map(a, ld->elem, elem, it);
	else if (it->kind == IM_YAML_SCALAR && ld->sh != SH_NONE)
		rc = apply_shorthand(a, ld, elem, it);
	else
		rc = wrong_type(a, it, ld->what);
	char msg[800];
	int code;
	if (!rc && ld->check && (code = ld->check(elem, a->path, msg, sizeof(msg))))
		rc = afail(a, it, code, "%s", msg);
	if (rc) {
		im_prof_free_fields(ld->elem, elem);
		list_drop_last(lp);
	}
	return rc;
}

static int apply_list(struct actx *a, const struct list_desc *ld, void *lp,
		      const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_SEQ)
		return wrong_type(a, n, "a list");
	for (size_t i = 0; i < n->n; i++) {
		size_t mark = path_push(a, NULL, true, i);
		int rc = apply_list_item(a, ld, lp, n->items[i]);
		path_pop(a, mark);
		if (rc)
			return rc;
	}
	return 0;
}

static int kv_set(struct actx *a, void *lp, const char *key, const char *value)
{
	struct im_prof_kv *v;
	size_t n;
	list_get(lp, (void **)&v, &n);
	char *val = strdup(value);
	if (!val)
		return oom(a);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].key, key)) { /* maps merge: the later value wins */
			free(v[i].value);
			v[i].value = val;
			return 0;
		}
	}
	struct im_prof_kv *slot = list_add(lp, sizeof(*slot));
	if (!slot || !(slot->key = strdup(key))) {
		if (slot)
			list_drop_last(lp);
		free(val);
		return oom(a);
	}
	slot->value = val;
	return 0;
}

static int apply_kvlist(struct actx *a, void *lp, const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_MAP)
		return wrong_type(a, n, "a mapping of option names to values");
	for (size_t i = 0; i < n->n; i++) {
		const struct im_yaml_node *k = n->items[2 * i], *v = n->items[2 * i + 1];
		if (v->kind == IM_YAML_SEQ || v->kind == IM_YAML_MAP) {
			size_t mark = path_push(a, k->text, false, 0);
			int rc = wrong_type(a, v, "a scalar");
			path_pop(a, mark);
			return rc;
		}
		if (kv_set(a, lp, k->text, v->kind == IM_YAML_SCALAR ? v->text : ""))
			return -1;
	}
	return 0;
}

static bool is_empty_collection(const struct im_yaml_node *n)
{
	return (n->kind == IM_YAML_SEQ || n->kind == IM_YAML_MAP) && n->n == 0;
}

/* n is the value for field f (a->path already names it). */
static int apply_field(struct actx *a, const struct field *f, void *base,
		       const struct im_yaml_node *n)
{
	void *p = at(base, f->off);
	if (n->kind == IM_YAML_NULL)
		return 0; /* "key:" with nothing: leaves the value as it was */
	switch (f->type) {
	case T_STR:
		return set_str(a, p, n);
	case T_BOOL:
		return set_bool(a, p, n);
	case T_ENUM:
		return set_enum(a, f->aux, p, n);
	case T_SIZE:
		return set_size(a, p, n);
	case T_U32:
		return set_u32(a, f->aux, p, n);
	case T_MAP:
		if (n->kind == IM_YAML_SCALAR && (f->flags & FL_SHORT))
			return apply_field(a, &((const struct schema *)f->aux)->f[0], p, n);
		return apply_map(a, f->aux, p, n);
	case T_STRLIST:
		return apply_strlist(a, p, n);
	case T_LIST:
		return apply_list(a, f->aux, p, n);
	case T_KVLIST:
		return apply_kvlist(a, p, n);
	case T_IGNORE:
		return 0;
	case T_UNSUP:
		if (is_empty_collection(n))
			return 0;
		return afail(a, n, IM_EXIT_UNSUPPORTED, "%s: not supported: %s", a->path,
			     (const char *)f->aux);
	}
	return im_fail(a->err, IM_EXIT_INTERNAL, "bad profile schema");
}

static const struct field *find_field(const struct schema *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->f[i].key, key))
			return &s->f[i];
	return NULL;
}

static int unknown_key(struct actx *a, const struct schema *s, const struct im_yaml_node *k)
{
	char known[600];
	size_t used = 0;
	known[0] = 0;
	for (size_t i = 0; i < s->n && used < sizeof(known); i++)
		used += snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "",
				 s->f[i].key);
	if (!a->path[0])
		return afail(a, k, IM_EXIT_INVALID,
			     "unknown key \"%.100s\" at top level (known: %s)", k->text, known);
	return afail(a, k, IM_EXIT_INVALID, "unknown key \"%.100s\" in %s (known: %s)", k->text,
		     a->path, known);
}

static int apply_map(struct actx *a, const struct schema *s, void *base,
		     const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_MAP)
		return wrong_type(a, n, "a mapping");
	for (size_t i = 0; i < n->n; i++) {
		const struct im_yaml_node *k = n->items[2 * i];
		const struct field *f = find_field(s, k->text);
		if (!f)
			return unknown_key(a, s, k);
		size_t mark = path_push(a, f->key, false, 0);
		int rc = apply_field(a, f, base, n->items[2 * i + 1]);
		path_pop(a, mark);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- applying a whole document ----------------------------------------------------- */

/* The schema half of loading; lib/profile_yaml.c reads text and follows
 * baseProfileName before calling this. */
int im_profile_apply_tree(struct im_profile *p, const struct im_yaml_node *root, const char *origin,
			  struct im_error *err)
{
	struct actx a = {.origin = origin, .err = err};
	if (root->kind == IM_YAML_NULL)
		return 0;
	if (root->kind != IM_YAML_MAP)
		return afail(&a, root, IM_EXIT_INVALID, "a profile must be a mapping, not %s",
			     im_yaml_kind_name(root->kind));
	const struct im_yaml_node *out = NULL;
	for (size_t i = 0; i < root->n && !out; i++)
		if (!strcmp(root->items[2 * i]->text, "output"))
			out = root->items[2 * i + 1];
	for (size_t i = 0; out && out->kind == IM_YAML_MAP && i < out->n; i++)
		if (!strcmp(out->items[2 * i]->text, "outFormat"))
			p->output.out_format_builtin = !strncmp(origin, "profiles/", 9);
	return apply_map(&a, &im_prof_root_s, p, root);
}

/* ---- CLI overrides ------------------------------------------------------------- */

static const struct field *resolve(const char *path, void **base, struct actx *a)
{
	const struct schema *s = &im_prof_root_s;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL, *seg = strtok_r(buf, ".", &save);
	const struct field *f = NULL;
	while (seg) {
		if (f) { /* descend into the previous segment */
			if (f->type != T_MAP)
				return NULL;
			*base = at(*base, f->off);
			s = f->aux;
			path_push(a, f->key, false, 0);
		}
		if (!(f = find_field(s, seg)))
			return NULL;
		seg = strtok_r(NULL, ".", &save);
	}
	return f;
}

int im_profile_set(struct im_profile *p, const char *path, const char *value, struct im_error *err)
{
	struct actx a = {.origin = NULL, .err = err};
	void *base = p;
	const struct field *f = resolve(path, &base, &a);
	if (!f)
		return im_fail(err, IM_EXIT_INVALID, "unknown profile field \"%.200s\"", path);
	path_push(&a, f->key, false, 0);
	struct im_yaml_node sv = {.kind = IM_YAML_SCALAR, .plain = true, .text = (char *)value};
	struct im_yaml_node *items[2] = {&sv, NULL};
	struct im_yaml_node wrap = {.kind = IM_YAML_SEQ, .n = 1, .items = items};
	if (f->type == T_MAP && !(f->flags & FL_SHORT))
		return afail(&a, NULL, IM_EXIT_INVALID, "%s is a section; set one of its fields",
			     a.path);
	if (f->type == T_STRLIST || f->type == T_LIST)
		return apply_field(&a, f, base, &wrap);
	if (f->type == T_KVLIST) {
		const char *eq = strchr(value, '=');
		if (!eq || eq == value)
			return wrong_type(&a, &sv, "KEY=VALUE");
		char *k = strndup(value, eq - value);
		if (!k)
			return oom(&a);
		int rc = kv_set(&a, at(base, f->off), k, eq + 1);
		free(k);
		return rc;
	}
	return apply_field(&a, f, base, &sv);
}
