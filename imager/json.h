/* JSON output helpers shared by the verbs that print --json. */
#ifndef IMAGER_JSON_H
#define IMAGER_JSON_H

#include <stddef.h>
#include <stdio.h>

/* `s` (n bytes) as a JSON string (RFC 8259 §7): quotes, backslashes and control
 * characters escaped. */
void imager_json_str(FILE *f, const char *s, size_t n);

/* Reading (json_read.c): a parsed document. Objects keep their keys in order. */
enum imager_json_type {
	IMAGER_JSON_NULL,
	IMAGER_JSON_BOOL,
	IMAGER_JSON_NUMBER, /* integers only */
	IMAGER_JSON_STRING,
	IMAGER_JSON_ARRAY,
	IMAGER_JSON_OBJECT,
};

struct imager_json {
	enum imager_json_type type;
	long long num; /* NUMBER, BOOL */
	char *str;     /* STRING (NUL-terminated, no NUL inside) */
	size_t n;      /* ARRAY, OBJECT */
	struct imager_json **kids;
	char **keys; /* OBJECT: keys[i] names kids[i]; ARRAY: NULLs */
};

/* Parse a whole document (s NUL-terminated at s[len]); NULL when it is not JSON. */
struct imager_json *imager_json_parse(const char *s, size_t len);
void imager_json_free(struct imager_json *j);
/* The value at a dotted path of object keys ("predicate.buildDefinition"), or NULL. */
const struct imager_json *imager_json_get(const struct imager_json *j, const char *path);
/* The string at a dotted path, or NULL when absent or not a string. */
const char *imager_json_str_at(const struct imager_json *j, const char *path);

#endif
