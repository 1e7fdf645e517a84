/* Private to the profile files of lib/talos/ (profile_schema.c: the tables; profile_apply.c:
 * YAML and CLI values onto them; profile.c: defaults, validation, the dump): how one table
 * per YAML mapping describes its keys, so that a field is declared exactly once. */
#ifndef IMAGER_TALOS_PROFILE_SCHEMA_H
#define IMAGER_TALOS_PROFILE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imager/talos/profile.h"

enum ftype {
	T_STR,	   /* char * */
	T_BOOL,	   /* bool */
	T_ENUM,	   /* int-sized enum, aux: struct enum_desc */
	T_SIZE,	   /* uint64_t, bytes with optional suffix */
	T_U32,	   /* uint32_t, aux: struct u32_desc */
	T_MAP,	   /* nested mapping at base+off, aux: struct schema */
	T_STRLIST, /* struct im_prof_str_list */
	T_LIST,	   /* list of structs, aux: struct list_desc */
	T_KVLIST,  /* struct im_prof_kv_list: mapping of scalars, order kept */
	T_IGNORE,  /* accepted, no effect */
	T_UNSUP,   /* refused unless empty, aux: reason */
};

enum {
	FL_ALIAS = 1,  /* another name for storage reached elsewhere: not dumped nor freed */
	FL_SHORT = 2,  /* T_MAP: a bare scalar sets the first (string) field */
	FL_ALWAYS = 4, /* dumped even when zero/false/NULL */
	FL_HEX = 8,    /* T_U32 dumped as 0x.. */
	FL_NODUMP = 16,
};

struct field {
	const char *key;
	unsigned char type, flags;
	size_t off;
	const void *aux;
};

struct schema {
	const struct field *f;
	size_t n;
};

struct enum_desc {
	const char *const *names; /* index = value; [0] is NULL or an accepted "unset" word */
	size_t n;
	bool dot_optional; /* ".zst" may be written "zst" */
};

struct u32_desc {
	uint32_t min, max;
	const uint32_t *allowed; /* when non-NULL, only these */
	size_t n_allowed;
};

enum shorthand { SH_NONE, SH_FIRST, SH_KV };

struct list_desc {
	const struct schema *elem;
	size_t size;
	enum shorthand sh; /* what a bare scalar item means */
	const char *what;  /* e.g. "KEY=VALUE" for messages */
	/* Extra check of a completed element at path: 0, or an exit code with the message
	 * (without position: the engine adds the item's line:col) in msg. */
	int (*check)(const void *elem, const char *path, char *msg, size_t size);
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* clang-format off */
#define SCHEMA(arr) {arr, ARRAY_LEN(arr)}
/* clang-format on */
#define P(m) offsetof(struct im_profile, m)

_Static_assert(sizeof(enum im_prof_kind) == sizeof(int), "enums are stored as int");
_Static_assert(offsetof(struct im_prof_str_list, n) == offsetof(struct im_prof_meta_list, n) &&
		   offsetof(struct im_prof_str_list, n) ==
		       offsetof(struct im_prof_container_list, n) &&
		   offsetof(struct im_prof_str_list, n) == offsetof(struct im_prof_kv_list, n),
	       "lists share one layout");

/* The root table (struct im_profile) and the enum tables other files name. */
extern const struct schema im_prof_root_s;
extern const struct enum_desc im_prof_kind_enum;

/* The name of value v ("" when out of range). */
const char *im_prof_enum_name(const struct enum_desc *d, int v);
/* "a, b, c" into buf. */
const char *im_prof_enum_allowed(const struct enum_desc *d, char *buf, size_t size);
/* The value of s, or -1. */
int im_prof_enum_parse(const struct enum_desc *d, const char *s);
/* Decimal or 0x hex, as YAML ints are written in Talos profiles (profile.c). */
int im_prof_parse_u64(const char *s, uint64_t *out);
/* Free what the fields of s own in base (strings, lists), leaving them empty. */
void im_prof_free_fields(const struct schema *s, void *base);

/* ---- raw storage access ---------------------------------------------------------- */

static inline void *at(const void *base, size_t off)
{
	return (char *)base + off;
}

/* Lists are {T *v; size_t n;}; accessed via memcpy so no struct type is punned. */
static inline void list_get(const void *p, void **v, size_t *n)
{
	memcpy(v, p, sizeof(*v));
	memcpy(n, (const char *)p + offsetof(struct im_prof_str_list, n), sizeof(*n));
}

static inline void list_put(void *p, void *v, size_t n)
{
	memcpy(p, &v, sizeof(v));
	memcpy((char *)p + offsetof(struct im_prof_str_list, n), &n, sizeof(n));
}

static inline int get_int(const void *p)
{
	int v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void put_int(void *p, int v)
{
	memcpy(p, &v, sizeof(v));
}

#endif
