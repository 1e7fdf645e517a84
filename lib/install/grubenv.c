/* GRUB environment blocks; see grubenv.h. */
#include "imager/install/grubenv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LEN (sizeof(IM_GRUBENV_SIGNATURE) - 1)

static int oom(struct im_error *err)
{
	return im_fail(err, IM_EXIT_INTERNAL, "grubenv: out of memory");
}

void im_grubenv_init(struct im_grubenv *env, size_t size)
{
	memset(env, 0, sizeof(*env));
	env->size = size ? size : IM_GRUBENV_SIZE;
}

static void free_line(struct im_grubenv_line *l)
{
	free(l->name);
	free(l->value);
}

void im_grubenv_free(struct im_grubenv *env)
{
	for (size_t i = 0; i < env->n; i++)
		free_line(&env->lines[i]);
	free(env->lines);
	env->lines = NULL;
	env->n = 0;
}

/* Bytes of a value once escaped: '\\' and '\n' get a backslash in front (envblk.c). */
static size_t escaped_len(const char *v)
{
	size_t n = 0;
	for (; *v; v++)
		n += (*v == '\\' || *v == '\n') ? 2 : 1;
	return n;
}

static size_t line_len(const struct im_grubenv_line *l)
{
	if (!l->name)
		return strlen(l->value) + 1;
	return strlen(l->name) + 1 + escaped_len(l->value) + 1;
}

size_t im_grubenv_used(const struct im_grubenv *env)
{
	size_t n = SIG_LEN;
	for (size_t i = 0; i < env->n; i++)
		n += line_len(&env->lines[i]);
	return n;
}

static int push_line(struct im_grubenv *env, char *name, char *value, struct im_error *err)
{
	struct im_grubenv_line *l = realloc(env->lines, (env->n + 1) * sizeof(*l));
	if (!l) {
		free(name);
		free(value);
		return oom(err);
	}
	env->lines = l;
	env->lines[env->n++] = (struct im_grubenv_line){.name = name, .value = value};
	return 0;
}

/* End of the line starting at p: the first '\n' not escaped by a backslash (GRUB skips the
 * byte after every backslash, in comments too), or NULL if the block ends first. */
static const char *line_end(const char *p, const char *end)
{
	while (p < end) {
		if (*p == '\\')
			p += 2;
		else if (*p == '\n')
			return p;
		else
			p++;
	}
	return NULL;
}

static char *unescape(const char *p, const char *e)
{
	char *v = malloc((size_t)(e - p) + 1), *q = v;
	if (!v)
		return NULL;
	for (; p < e; p++) {
		if (*p == '\\')
			p++;
		*q++ = *p;
	}
	*q = '\0';
	return v;
}

static int parse_var(struct im_grubenv *env, const char *buf, const char *p, const char *nl,
		     struct im_error *err)
{
	const char *eq = memchr(p, '=', (size_t)(nl - p));
	if (!eq || eq == p || memchr(p, '\0', (size_t)(nl - p)))
		return im_fail(
		    err, IM_EXIT_INVALID,
		    "grubenv: the line at byte %zu is not name=value (or holds a NUL byte)",
		    (size_t)(p - buf));
	char *name = strndup(p, (size_t)(eq - p));
	char *value = unescape(eq + 1, nl);
	if (!name || !value) {
		free(name);
		free(value);
		return oom(err);
	}
	return push_line(env, name, value, err);
}

int im_grubenv_parse(struct im_grubenv *env, const void *data, size_t len, struct im_error *err)
{
	const char *buf = data, *end = buf + len;
	im_grubenv_init(env, len);
	if (len < SIG_LEN || memcmp(buf, IM_GRUBENV_SIGNATURE, SIG_LEN))
		return im_fail(err, IM_EXIT_INVALID,
			       "grubenv: not a GRUB environment block: expected \"# GRUB "
			       "Environment Block\" and a newline at its start");
	for (const char *p = buf + SIG_LEN; p < end;) {
		const char *nl = line_end(p, end);
		if (*p == '#') {
			if (!nl)
				break; /* the '#' fill */
			char *c = strndup(p, (size_t)(nl - p));
			if (!c)
				return oom(err);
			if (push_line(env, NULL, c, err))
				return -1;
		} else if (!nl) {
			return im_fail(err, IM_EXIT_INVALID,
				       "grubenv: the line at byte %zu has no end (expected a "
				       "newline before the '#' fill)",
				       (size_t)(p - buf));
		} else if (parse_var(env, buf, p, nl, err)) {
			return -1;
		}
		p = nl + 1;
	}
	return 0;
}

static char *render_line(char *q, const struct im_grubenv_line *l)
{
	if (!l->name) {
		size_t n = strlen(l->value);
		memcpy(q, l->value, n);
		q += n;
	} else {
		size_t n = strlen(l->name);
		memcpy(q, l->name, n);
		q += n;
		*q++ = '=';
		for (const char *v = l->value; *v; v++) {
			if (*v == '\\' || *v == '\n')
				*q++ = '\\';
			*q++ = *v;
		}
	}
	*q++ = '\n';
	return q;
}

int im_grubenv_render(const struct im_grubenv *env, void *buf, size_t len, struct im_error *err)
{
	size_t used = im_grubenv_used(env);
	if (used > len)
		return im_fail(err, IM_EXIT_INVALID,
			       "grubenv: the variables need %zu bytes, the block holds %zu", used,
			       len);
	char *q = buf;
	memcpy(q, IM_GRUBENV_SIGNATURE, SIG_LEN);
	q += SIG_LEN;
	for (size_t i = 0; i < env->n; i++)
		q = render_line(q, &env->lines[i]);
	memset(q, '#', len - used);
	return 0;
}

const char *im_grubenv_get(const struct im_grubenv *env, const char *name)
{
	for (size_t i = env->n; i-- > 0;)
		if (env->lines[i].name && !strcmp(env->lines[i].name, name))
			return env->lines[i].value;
	return NULL;
}

static bool valid_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* Remove lines named `name` from index `from` on; returns how many. */
static size_t drop(struct im_grubenv *env, const char *name, size_t from)
{
	size_t k = from, dropped = 0;
	for (size_t i = from; i < env->n; i++) {
		if (env->lines[i].name && !strcmp(env->lines[i].name, name)) {
			free_line(&env->lines[i]);
			dropped++;
		} else {
			env->lines[k++] = env->lines[i];
		}
	}
	env->n = k;
	return dropped;
}

static size_t find(const struct im_grubenv *env, const char *name)
{
	for (size_t i = 0; i < env->n; i++)
		if (env->lines[i].name && !strcmp(env->lines[i].name, name))
			return i;
	return SIZE_MAX;
}

int im_grubenv_set(struct im_grubenv *env, const char *name, const char *value,
		   struct im_error *err)
{
	if (!valid_name(name))
		return im_fail(err, IM_EXIT_INVALID,
			       "grubenv: variable name \"%s\": expected letters, digits and _ "
			       "(not starting with a digit)",
			       name);
	size_t at = find(env, name);
	/* the size after the change: the first occurrence replaced, later ones dropped */
	size_t after = im_grubenv_used(env) + strlen(name) + escaped_len(value) + 2;
	for (size_t i = at == SIZE_MAX ? env->n : at; i < env->n; i++)
		if (env->lines[i].name && !strcmp(env->lines[i].name, name))
			after -= line_len(&env->lines[i]);
	if (after > env->size)
		return im_fail(err, IM_EXIT_INVALID,
			       "grubenv: %s (%zu bytes of value) does not fit: the variables "
			       "would need %zu bytes, the block holds %zu",
			       name, strlen(value), after, env->size);
	char *v = strdup(value);
	if (!v)
		return oom(err);
	if (at != SIZE_MAX) {
		free(env->lines[at].value);
		env->lines[at].value = v;
		drop(env, name, at + 1);
		return 0;
	}
	char *nm = strdup(name);
	if (!nm) {
		free(v);
		return oom(err);
	}
	return push_line(env, nm, v, err);
}

bool im_grubenv_unset(struct im_grubenv *env, const char *name)
{
	return drop(env, name, 0) > 0;
}

int im_grubenv_new_block(void *buf, size_t len, const char *const *kv, struct im_error *err)
{
	struct im_grubenv env;
	im_grubenv_init(&env, len);
	int rc = 0;
	for (size_t i = 0; !rc && kv && kv[i]; i += 2)
		rc = kv[i + 1] ? im_grubenv_set(&env, kv[i], kv[i + 1], err)
			       : im_fail(err, IM_EXIT_INVALID, "grubenv: variable %s has no value",
					 kv[i]);
	if (!rc)
		rc = im_grubenv_render(&env, buf, len, err);
	im_grubenv_free(&env);
	return rc;
}

int im_grubenv_edit_block(void *buf, size_t len, const char *name, const char *value,
			  struct im_error *err)
{
	struct im_grubenv env;
	int rc = im_grubenv_parse(&env, buf, len, err);
	if (!rc && value)
		rc = im_grubenv_set(&env, name, value, err);
	else if (!rc)
		im_grubenv_unset(&env, name);
	if (!rc)
		rc = im_grubenv_render(&env, buf, len, err);
	im_grubenv_free(&env);
	return rc;
}
