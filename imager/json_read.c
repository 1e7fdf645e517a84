/* A small JSON reader (RFC 8259) for the build records imager verify reads (json.h). */
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct parser {
	const char *s, *end;
	int depth;
};

static void ws(struct parser *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static int put_utf8(char *o, unsigned c)
{
	if (c < 0x80)
		return o[0] = (char)c, 1;
	if (c < 0x800)
		return o[0] = (char)(0xc0 | c >> 6), o[1] = (char)(0x80 | (c & 0x3f)), 2;
	o[0] = (char)(0xe0 | c >> 12);
	o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[2] = (char)(0x80 | (c & 0x3f));
	return 3;
}

/* A string after its opening quote; \uXXXX outside the BMP is refused (records hold none). */
static char *string(struct parser *p)
{
	char *o = malloc((size_t)(p->end - p->s) + 1), *w = o;
	while (o && p->s < p->end && *p->s != '"') {
		char c = *p->s++;
		if ((unsigned char)c < 0x20)
			break;
		if (c != '\\') {
			*w++ = c;
			continue;
		}
		if (p->s >= p->end)
			break;
		c = *p->s++;
		const char *m = strchr("\"\\/bfnrt", c);
		if (m && c) {
			*w++ = "\"\\/\b\f\n\r\t"[m - "\"\\/bfnrt"];
		} else if (c == 'u' && p->end - p->s >= 4) {
			char h[5] = {p->s[0], p->s[1], p->s[2], p->s[3], 0}, *e;
			unsigned v = (unsigned)strtoul(h, &e, 16);
			if (*e || (v >= 0xd800 && v < 0xe000) || v == 0)
				break;
			w += put_utf8(w, v);
			p->s += 4;
		} else {
			break;
		}
	}
	if (!o || p->s >= p->end || *p->s != '"') {
		free(o);
		return NULL;
	}
	p->s++;
	*w = 0;
	return o;
}

static struct imager_json *value(struct parser *p);

static int add_kid(struct imager_json *j, char *key, struct imager_json *v)
{
	struct imager_json **k = realloc(j->kids, (j->n + 1) * sizeof(*k));
	char **ks = realloc(j->keys, (j->n + 1) * sizeof(*ks));
	if (k)
		j->kids = k;
	if (ks)
		j->keys = ks;
	if (!k || !ks || !v)
		return -1;
	j->kids[j->n] = v;
	j->keys[j->n++] = key;
	return 0;
}

static struct imager_json *container(struct parser *p, struct imager_json *j, char close)
{
	ws(p);
	if (p->s < p->end && *p->s == close) {
		p->s++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		ws(p);
		if (j->type == IMAGER_JSON_OBJECT) {
			if (p->s >= p->end || *p->s++ != '"' || !(key = string(p)))
				break;
			ws(p);
			if (p->s >= p->end || *p->s++ != ':') {
				free(key);
				break;
			}
		}
		struct imager_json *v = value(p);
		if (add_kid(j, key, v) < 0) {
			free(key);
			imager_json_free(v);
			break;
		}
		ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s++ == close)
			return j;
		break;
	}
	imager_json_free(j);
	return NULL;
}

static struct imager_json *value(struct parser *p)
{
	ws(p);
	if (p->s >= p->end || ++p->depth > 64)
		return NULL;
	struct imager_json *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	char c = *p->s;
	int cont = c == '{' || c == '[';
	struct imager_json *r = j;
	if (cont) {
		p->s++;
		j->type = c == '{' ? IMAGER_JSON_OBJECT : IMAGER_JSON_ARRAY;
		r = container(p, j, c == '{' ? '}' : ']');
	} else if (c == '"') {
		p->s++;
		j->type = IMAGER_JSON_STRING;
		if (!(j->str = string(p)))
			r = NULL;
	} else if (!strncmp(p->s, "true", 4) || !strncmp(p->s, "null", 4)) {
		j->type = c == 't' ? IMAGER_JSON_BOOL : IMAGER_JSON_NULL;
		j->num = c == 't';
		p->s += 4;
	} else if (!strncmp(p->s, "false", 5)) {
		j->type = IMAGER_JSON_BOOL;
		p->s += 5;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		char *e;
		j->type = IMAGER_JSON_NUMBER;
		j->num = strtoll(p->s, &e, 10);
		if (e == p->s || e > p->end || *e == '.' || *e == 'e' || *e == 'E')
			r = NULL; /* records hold integers only */
		p->s = e;
	} else {
		r = NULL;
	}
	if (!r && !cont)
		imager_json_free(j); /* containers free themselves on error */
	p->depth--;
	return r;
}

/* s must be NUL-terminated at s[len] (numbers are read with strtoll). */
struct imager_json *imager_json_parse(const char *s, size_t len)
{
	struct parser p = {s, s + len, 0};
	struct imager_json *j = value(&p);
	ws(&p);
	if (j && p.s != p.end) {
		imager_json_free(j);
		return NULL;
	}
	return j;
}

void imager_json_free(struct imager_json *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		imager_json_free(j->kids[i]);
		free(j->keys[i]);
	}
	free(j->kids);
	free(j->keys);
	free(j->str);
	free(j);
}

const struct imager_json *imager_json_get(const struct imager_json *j, const char *path)
{
	char key[64];
	while (j && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof(key) || j->type != IMAGER_JSON_OBJECT)
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		path += n + (path[n] == '.');
		const struct imager_json *next = NULL;
		for (size_t i = 0; i < j->n; i++)
			if (!strcmp(j->keys[i], key))
				next = j->kids[i];
		j = next;
	}
	return j;
}

const char *imager_json_str_at(const struct imager_json *j, const char *path)
{
	j = imager_json_get(j, path);
	return j && j->type == IMAGER_JSON_STRING ? j->str : NULL;
}
