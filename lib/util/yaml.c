/* YAML text -> tree with 1-based line/column marks (libyaml document API), and the scalar
 * writer of YAML dumps (see include/imager/util/yaml.h). */
#include "imager/util/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

struct conv {
	yaml_document_t *doc;
	const char *origin;
	size_t nodes;
	struct im_error *err;
};

const char *im_yaml_kind_name(enum im_yaml_kind k)
{
	switch (k) {
	case IM_YAML_NULL:
		return "null";
	case IM_YAML_SCALAR:
		return "a scalar";
	case IM_YAML_SEQ:
		return "a list";
	case IM_YAML_MAP:
		return "a mapping";
	}
	return "?";
}

void im_yaml_free(struct im_yaml_node *n)
{
	if (!n)
		return;
	size_t items = n->kind == IM_YAML_MAP ? 2 * n->n : n->n;
	for (size_t i = 0; i < items; i++)
		im_yaml_free(n->items[i]);
	free(n->items);
	free(n->text);
	free(n);
}

static int fail_mark(struct conv *c, yaml_mark_t m, const char *what)
{
	return im_fail(c->err, IM_EXIT_INVALID, "%s:%zu:%zu: %s", c->origin, m.line + 1,
		       m.column + 1, what);
}

static int fail_oom(struct conv *c)
{
	return im_fail(c->err, IM_EXIT_INTERNAL, "%s: out of memory", c->origin);
}

/* YAML 1.2 core schema nulls, written plain. */
static bool is_null_text(const char *s)
{
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static struct im_yaml_node *conv_node(struct conv *c, yaml_node_t *yn, int depth);

static int conv_scalar(struct conv *c, yaml_node_t *yn, struct im_yaml_node *n)
{
	size_t len = yn->data.scalar.length;
	if (memchr(yn->data.scalar.value, 0, len))
		return fail_mark(c, yn->start_mark, "a string holds a NUL character");
	n->text = strndup((const char *)yn->data.scalar.value, len);
	if (!n->text)
		return fail_oom(c);
	n->plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	n->kind = n->plain && is_null_text(n->text) ? IM_YAML_NULL : IM_YAML_SCALAR;
	return 0;
}

static int conv_seq(struct conv *c, yaml_node_t *yn, struct im_yaml_node *n, int depth)
{
	size_t cnt = yn->data.sequence.items.top - yn->data.sequence.items.start;
	n->kind = IM_YAML_SEQ;
	n->items = calloc(cnt ? cnt : 1, sizeof(*n->items));
	if (!n->items)
		return fail_oom(c);
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *it = yaml_document_get_node(c->doc, yn->data.sequence.items.start[i]);
		n->items[i] = conv_node(c, it, depth + 1);
		if (!n->items[i])
			return -1;
		n->n++;
	}
	return 0;
}

/* Keys must be plain/quoted non-empty scalars, unique within the mapping. */
static int check_key(struct conv *c, const struct im_yaml_node *n, const struct im_yaml_node *k)
{
	char msg[600];
	if (k->kind != IM_YAML_SCALAR || !*k->text) {
		snprintf(msg, sizeof(msg), "a mapping key must be a non-empty string, not %s",
			 k->kind == IM_YAML_SCALAR ? "\"\"" : im_yaml_kind_name(k->kind));
		return im_fail(c->err, IM_EXIT_INVALID, "%s:%u:%u: %s", c->origin, k->line, k->col,
			       msg);
	}
	for (size_t i = 0; i < n->n; i++)
		if (!strcmp(n->items[2 * i]->text, k->text))
			return im_fail(c->err, IM_EXIT_INVALID,
				       "%s:%u:%u: duplicate key \"%.200s\" (first at line %u)",
				       c->origin, k->line, k->col, k->text, n->items[2 * i]->line);
	return 0;
}

static int conv_map(struct conv *c, yaml_node_t *yn, struct im_yaml_node *n, int depth)
{
	size_t cnt = yn->data.mapping.pairs.top - yn->data.mapping.pairs.start;
	n->kind = IM_YAML_MAP;
	n->items = calloc(cnt ? 2 * cnt : 1, sizeof(*n->items));
	if (!n->items)
		return fail_oom(c);
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_pair_t *pr = &yn->data.mapping.pairs.start[i];
		struct im_yaml_node *k =
		    conv_node(c, yaml_document_get_node(c->doc, pr->key), depth + 1);
		if (!k)
			return -1;
		if (check_key(c, n, k)) {
			im_yaml_free(k);
			return -1;
		}
		struct im_yaml_node *v =
		    conv_node(c, yaml_document_get_node(c->doc, pr->value), depth + 1);
		if (!v) {
			im_yaml_free(k);
			return -1;
		}
		n->items[2 * n->n] = k;
		n->items[2 * n->n + 1] = v;
		n->n++;
	}
	return 0;
}

static struct im_yaml_node *conv_node(struct conv *c, yaml_node_t *yn, int depth)
{
	if (!yn) {
		im_fail(c->err, IM_EXIT_INTERNAL, "%s: dangling YAML node", c->origin);
		return NULL;
	}
	/* Aliases are shared nodes in libyaml's document; expanding them can loop (an
	 * alias inside its own anchor) or explode, hence both limits. */
	if (depth > IM_YAML_MAX_DEPTH) {
		fail_mark(c, yn->start_mark, "nesting too deep (recursive alias?)");
		return NULL;
	}
	if (++c->nodes > IM_YAML_MAX_NODES) {
		fail_mark(c, yn->start_mark, "document too large once aliases are expanded");
		return NULL;
	}
	struct im_yaml_node *n = calloc(1, sizeof(*n));
	if (!n) {
		fail_oom(c);
		return NULL;
	}
	n->line = yn->start_mark.line + 1;
	n->col = yn->start_mark.column + 1;
	int rc = 0;
	switch (yn->type) {
	case YAML_SCALAR_NODE:
		rc = conv_scalar(c, yn, n);
		break;
	case YAML_SEQUENCE_NODE:
		rc = conv_seq(c, yn, n, depth);
		break;
	case YAML_MAPPING_NODE:
		rc = conv_map(c, yn, n, depth);
		break;
	default:
		rc = fail_mark(c, yn->start_mark, "empty YAML node");
	}
	if (rc) {
		im_yaml_free(n);
		return NULL;
	}
	return n;
}

static int fail_parser(yaml_parser_t *ps, const char *origin, struct im_error *err)
{
	if (ps->error == YAML_MEMORY_ERROR)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory", origin);
	yaml_mark_t m = ps->problem_mark;
	if (ps->error == YAML_READER_ERROR)
		return im_fail(err, IM_EXIT_INVALID, "%s: byte %zu: %s", origin, ps->problem_offset,
			       ps->problem ? ps->problem : "unreadable");
	return im_fail(err, IM_EXIT_INVALID, "%s:%zu:%zu: YAML syntax error: %s%s%s", origin,
		       m.line + 1, m.column + 1, ps->problem ? ps->problem : "malformed",
		       ps->context ? " " : "", ps->context ? ps->context : "");
}

static struct im_yaml_node *null_root(void)
{
	struct im_yaml_node *n = calloc(1, sizeof(*n));
	if (n) {
		n->line = n->col = 1;
		n->text = strdup("");
		if (!n->text) {
			free(n);
			return NULL;
		}
	}
	return n;
}

/* A second document in the stream is refused rather than ignored. */
static int check_single_doc(yaml_parser_t *ps, const char *origin, struct im_error *err)
{
	yaml_document_t doc2;
	if (!yaml_parser_load(ps, &doc2))
		return fail_parser(ps, origin, err);
	yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
	int rc = 0;
	if (r2)
		rc = im_fail(err, IM_EXIT_INVALID, "%s:%zu:%zu: only one YAML document expected",
			     origin, r2->start_mark.line + 1, r2->start_mark.column + 1);
	yaml_document_delete(&doc2);
	return rc;
}

/* Collections nested deeper than IM_YAML_MAX_DEPTH in the text itself, found from the event
 * stream before libyaml builds a document: libyaml's scanner checks every open flow level
 * for each token, so loading 100000 nested "[" takes half a minute (quadratic); the events
 * stop at the first level too deep. Aliases are not expanded here (conv_node limits them). */
static int check_depth(const char *text, size_t len, const char *origin, struct im_error *err)
{
	yaml_parser_t ps;
	yaml_event_t ev;
	int depth = 0, rc = 0;
	if (!yaml_parser_initialize(&ps))
		return im_fail(err, IM_EXIT_INTERNAL, "%s: cannot start the YAML parser", origin);
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	for (;;) {
		if (!yaml_parser_parse(&ps, &ev)) {
			rc = fail_parser(&ps, origin, err);
			break;
		}
		yaml_event_type_t t = ev.type;
		yaml_mark_t m = ev.start_mark;
		yaml_event_delete(&ev);
		if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
			if (++depth > IM_YAML_MAX_DEPTH) {
				rc = im_fail(err, IM_EXIT_INVALID,
					     "%s:%zu:%zu: nesting too deep (more than %d levels)",
					     origin, m.line + 1, m.column + 1, IM_YAML_MAX_DEPTH);
				break;
			}
		} else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
			depth--;
		} else if (t == YAML_STREAM_END_EVENT) {
			break;
		}
	}
	yaml_parser_delete(&ps);
	return rc;
}

int im_yaml_parse(const char *text, size_t len, const char *origin, struct im_yaml_node **root,
		  struct im_error *err)
{
	yaml_parser_t ps;
	yaml_document_t doc;
	if (check_depth(text, len, origin, err))
		return -1;
	if (!yaml_parser_initialize(&ps))
		return im_fail(err, IM_EXIT_INTERNAL, "%s: cannot start the YAML parser", origin);
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	if (!yaml_parser_load(&ps, &doc)) {
		fail_parser(&ps, origin, err);
		yaml_parser_delete(&ps);
		return -1;
	}
	struct conv c = {.doc = &doc, .origin = origin, .err = err};
	yaml_node_t *yr = yaml_document_get_root_node(&doc);
	struct im_yaml_node *r = yr ? conv_node(&c, yr, 0) : null_root();
	if (!r && !yr)
		fail_oom(&c);
	yaml_document_delete(&doc);
	if (r && check_single_doc(&ps, origin, err)) {
		im_yaml_free(r);
		r = NULL;
	}
	yaml_parser_delete(&ps);
	if (!r)
		return -1;
	*root = r;
	return 0;
}

/* Words a YAML 1.1 or 1.2 reader would not take as a string when plain. */
static bool is_reserved_word(const char *s)
{
	static const char *const words[] = {"true", "false", "yes",   "no",   "on",
					    "off",  "y",     "n",     "null", "~",
					    ".inf", ".nan",  "-.inf", "+.inf"};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return true;
	return false;
}

static bool plain_ok(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	if (!*u || is_reserved_word(s))
		return false;
	/* Numbers (and anything starting like one) stay strings only when quoted. */
	if (isdigit(u[0]) || u[0] == '+' || u[0] == '-' || (u[0] == '.' && isdigit(u[1])))
		return false;
	if (!isalpha(u[0]) && u[0] != '_' && u[0] != '/' && u[0] != '.')
		return false;
	for (const unsigned char *p = u; *p; p++) {
		if (!isalnum(*p) && !strchr("_./+=:,@%-", *p))
			return false;
		if (*p == ':' && !p[1])
			return false;
	}
	return true;
}

void im_yaml_put_scalar(FILE *f, const char *s)
{
	if (plain_ok(s)) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\x%02x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}
