/* YAML documents as trees with source positions, for every YAML input (profiles,
 * overlay.yaml, manifests), and the scalar writer of YAML dumps. */
#ifndef IMAGER_UTIL_YAML_H
#define IMAGER_UTIL_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "imager/util/error.h"

/* A YAML document as a tree with source positions (libyaml based): profiles,
 * overlays, extension manifests. Aliases are expanded; nesting is
 * limited to IM_YAML_MAX_DEPTH and the expanded tree to IM_YAML_MAX_NODES nodes (so
 * a recursive alias or an alias bomb fails instead of hanging). */
#define IM_YAML_MAX_DEPTH 64
#define IM_YAML_MAX_NODES 100000

enum im_yaml_kind { IM_YAML_NULL, IM_YAML_SCALAR, IM_YAML_SEQ, IM_YAML_MAP };

struct im_yaml_node {
	enum im_yaml_kind kind;	     /* a plain "", "~" or "null" scalar is IM_YAML_NULL */
	unsigned line, col;	     /* 1-based */
	bool plain;		     /* scalar in plain style (not quoted, not a | or > block) */
	char *text;		     /* IM_YAML_SCALAR (and NULL nodes: ""), NUL-terminated */
	size_t n;		     /* IM_YAML_SEQ: items; IM_YAML_MAP: key/value pairs */
	struct im_yaml_node **items; /* SEQ: n items; MAP: 2n as key0, value0, key1, ... */
};

/* Parse one document (an empty text gives a NULL root node). Map keys are non-empty
 * scalars, unique per mapping. Errors: IM_EXIT_INVALID "ORIGIN:LINE:COL: ...". */
int im_yaml_parse(const char *text, size_t len, const char *origin, struct im_yaml_node **root,
		  struct im_error *err);
void im_yaml_free(struct im_yaml_node *n);
/* "null", "a scalar", "a list", "a mapping". */
const char *im_yaml_kind_name(enum im_yaml_kind k);
/* Write s as a YAML scalar: plain when that reads back as the same string, else
 * double-quoted with escapes. */
void im_yaml_put_scalar(FILE *f, const char *s);

#endif
