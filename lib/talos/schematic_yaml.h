/* Private to lib/talos/: the go-yaml v3 model behind Image Factory schematic IDs.
 *
 * Image Factory (siderolabs/image-factory pkg/schematic) computes a schematic's ID as the
 * SHA-256 of yaml.Marshal(schematic) with gopkg.in/yaml.v3. To give the same bytes we
 * model what that marshalling sees: a tree of Go values (sv), built by schematic.c in
 * the struct's field order, and written here the way go-yaml v3's encoder and its libyaml
 * port emit it (block style, 4-space indent, no line folding). The scalar resolver is the
 * one v3 uses when decoding into `any` (overlay options) and when it decides whether a
 * string may be written plain. */
#ifndef IMAGER_TALOS_SCHEMATIC_YAML_H
#define IMAGER_TALOS_SCHEMATIC_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum sv_kind { SV_NULL, SV_BOOL, SV_INT, SV_UINT, SV_FLOAT, SV_STR, SV_TIME, SV_SEQ, SV_MAP };

/* A Go value as yaml.Marshal sees it. SV_TIME: a plain timestamp, which v3.0.1 decodes
 * into `any` as a time.Time and writes back in RFC 3339 (ts holds that form; s too, once
 * copied). MAP: 2n items key, value. */
struct sv {
	enum sv_kind kind;
	bool b;
	int64_t i;
	uint64_t u;
	double f;
	char *s;
	char ts[48];
	size_t n;
	struct sv *items;
};

/* go-yaml v3 resolve("", s) for a plain scalar: the kind it decodes to in `any` (SV_STR
 * when it stays a string), with the value filled in v. */
enum sv_kind sv_resolve_plain(const char *s, struct sv *v);

/* go-yaml v3's map key order for string keys (keyList.Less: letters before digits, runs
 * of digits compared as numbers). Returns <0, 0, >0 like strcmp. */
int sv_key_cmp(const char *a, const char *b);

/* Write v as the whole YAML document (yaml.Marshal). Returns 0, or -1 for a value the
 * model cannot write (a collection as a map key). */
int sv_marshal(FILE *f, const struct sv *v);

void sv_free(struct sv *v); /* frees what v holds, not v itself */

#endif
