/* Loading profiles from text, files, stdin and the built-ins, following baseProfileName
 * (YAML via lib/util/yaml.c; the schema in profile_schema.c, applied by profile_apply.c). */
#include "imager/talos/profile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_PROFILE_BYTES (4u << 20)

/* ---- loading profiles ------------------------------------------------------------- */

static int apply_text(struct im_profile *p, const char *text, size_t len, const char *origin,
		      int depth, struct im_error *err);

static const struct im_yaml_node *map_get(const struct im_yaml_node *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->items[2 * i]->text, key))
			return m->items[2 * i + 1];
	return NULL;
}

static const char *known_builtins(char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < im_profile_n_builtins && used < size; i++)
		used += snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
				 im_profile_builtins[i].name);
	return buf;
}

/* baseProfileName: the named built-in is applied first, so this profile's values win. */
static int apply_base(struct im_profile *p, const struct im_yaml_node *b, const char *origin,
		      int depth, struct im_error *err)
{
	char buf[600];
	if (b->kind != IM_YAML_SCALAR)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s:%u:%u: baseProfileName: expected the name of a built-in "
			       "profile, got %s",
			       origin, b->line, b->col, im_yaml_kind_name(b->kind));
	const char *text = im_profile_builtin_yaml(b->text);
	if (!text)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s:%u:%u: baseProfileName: unknown built-in profile \"%.100s\" "
			       "(known: %s)",
			       origin, b->line, b->col, b->text, known_builtins(buf, sizeof(buf)));
	if (depth >= IM_PROFILE_BASE_DEPTH)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s:%u:%u: baseProfileName: more than %d levels of base profiles "
			       "(a cycle?)",
			       origin, b->line, b->col, IM_PROFILE_BASE_DEPTH);
	snprintf(buf, sizeof(buf), "profiles/%s.yaml", b->text);
	return apply_text(p, text, strlen(text), buf, depth + 1, err);
}

static int apply_text(struct im_profile *p, const char *text, size_t len, const char *origin,
		      int depth, struct im_error *err)
{
	struct im_yaml_node *root;
	if (im_yaml_parse(text, len, origin, &root, err))
		return -1;
	const struct im_yaml_node *b =
	    root->kind == IM_YAML_MAP ? map_get(root, "baseProfileName") : NULL;
	int rc = 0;
	if (b && b->kind != IM_YAML_NULL)
		rc = apply_base(p, b, origin, depth, err);
	if (!rc)
		rc = im_profile_apply_tree(p, root, origin, err);
	im_yaml_free(root);
	return rc;
}

int im_profile_apply_string(struct im_profile *p, const char *text, const char *origin,
			    struct im_error *err)
{
	return apply_text(p, text, strlen(text), origin ? origin : "<string>", 0, err);
}

static int new_profile(const char *origin, struct im_profile **out, struct im_error *err)
{
	struct im_profile *p = im_profile_new();
	if (!p || !(p->origin = strdup(origin))) {
		free(p);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	*out = p;
	return 0;
}

int im_profile_load_string(const char *text, const char *origin, struct im_profile **out,
			   struct im_error *err)
{
	struct im_profile *p = NULL;
	origin = origin ? origin : "<string>";
	if (new_profile(origin, &p, err))
		return -1;
	if (apply_text(p, text, strlen(text), origin, 0, err)) {
		im_profile_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

const char *im_profile_builtin_yaml(const char *name)
{
	for (size_t i = 0; name && i < im_profile_n_builtins; i++)
		if (!strcmp(im_profile_builtins[i].name, name))
			return im_profile_builtins[i].yaml;
	return NULL;
}

const char *const *im_profile_list_builtin(void)
{
	/* The table is sorted at the source (checked by the unit test). */
	static const char *names[64];
	if (!names[0])
		for (size_t i = 0; i < im_profile_n_builtins && i + 1 < 64; i++)
			names[i] = im_profile_builtins[i].name;
	return names;
}

int im_profile_load_builtin(const char *name, struct im_profile **out, struct im_error *err)
{
	const char *text = im_profile_builtin_yaml(name);
	char buf[600], origin[300];
	if (!text)
		return im_fail(err, IM_EXIT_MISSING,
			       "unknown built-in profile \"%.100s\" (known: %s)", name,
			       known_builtins(buf, sizeof(buf)));
	struct im_profile *p = NULL;
	snprintf(origin, sizeof(origin), "profile %s", name);
	if (new_profile(origin, &p, err))
		return -1;
	snprintf(origin, sizeof(origin), "profiles/%s.yaml", name);
	if (apply_text(p, text, strlen(text), origin, 0, err)) {
		im_profile_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* Read all of f into a NUL-terminated buffer; 0 or -1 with err set. */
static int slurp(FILE *f, const char *name, char **out, size_t *len, struct im_error *err)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf)
			return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		if (n == cap) {
			if (cap >= MAX_PROFILE_BYTES) {
				free(buf);
				return im_fail(err, IM_EXIT_INVALID,
					       "profile %s: larger than %u bytes", name,
					       MAX_PROFILE_BYTES);
			}
			char *nb = realloc(buf, 2 * cap + 1);
			if (!nb)
				free(buf);
			buf = nb;
			cap *= 2;
			continue;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got)
			continue;
		if (ferror(f)) {
			free(buf);
			return im_fail_errno(err, im_exit_for_input_errno(errno),
					     "cannot read profile %s", name);
		}
		buf[n] = 0;
		*out = buf;
		*len = n;
		return 0;
	}
}

/* Whole file (or stdin for "-") into a NUL-terminated buffer. */
static char *read_all(const char *path, const char *name, size_t *len, struct im_error *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *buf = NULL;
	if (!f) {
		im_fail_errno(err, im_exit_for_input_errno(errno), "cannot open profile %s", name);
		return NULL;
	}
	slurp(f, name, &buf, len, err);
	if (f != stdin)
		fclose(f);
	return buf;
}

static int load_or_apply_file(struct im_profile *p, const char *path, struct im_error *err)
{
	const char *name = strcmp(path, "-") ? path : "<stdin>";
	size_t len;
	char *text = read_all(path, name, &len, err);
	if (!text)
		return -1;
	int rc = apply_text(p, text, len, name, 0, err);
	free(text);
	return rc;
}

int im_profile_apply_file(struct im_profile *p, const char *path, struct im_error *err)
{
	return load_or_apply_file(p, path, err);
}

int im_profile_load_file(const char *path, struct im_profile **out, struct im_error *err)
{
	struct im_profile *p = NULL;
	if (new_profile(strcmp(path, "-") ? path : "<stdin>", &p, err))
		return -1;
	if (load_or_apply_file(p, path, err)) {
		im_profile_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

int im_profile_load(const char *spec, struct im_profile **out, struct im_error *err)
{
	if (!strcmp(spec, "-") || strchr(spec, '/') || ends_with(spec, ".yaml") ||
	    ends_with(spec, ".yml"))
		return im_profile_load_file(spec, out, err);
	if (im_profile_builtin_yaml(spec))
		return im_profile_load_builtin(spec, out, err);
	if (access(spec, F_OK) == 0)
		return im_profile_load_file(spec, out, err);
	return im_fail(err, IM_EXIT_MISSING,
		       "unknown profile \"%.200s\": neither a built-in profile (see 'imager "
		       "profiles') nor a file",
		       spec);
}
