/* Image Factory schematics (see include/imager/talos/schematic.h).
 *
 * Image Factory (siderolabs/image-factory pkg/schematic/schematic.go) decodes with
 * gopkg.in/yaml.v3 and KnownFields(true), and its ID is hex(SHA-256(yaml.Marshal(s))).
 * Marshal writes the Go structs' fields in declaration order, leaving out the empty
 * `omitempty` ones: Schematic{overlay (omitempty), customization}, Overlay{image, name,
 * options (omitempty)}, Customization{extraKernelArgs, meta, systemExtensions,
 * secureboot, bootloader} (all omitempty), MetaValue{key, value}. The YAML writing itself
 * is lib/talos/schematic_yaml.c. */
#include "imager/talos/schematic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imager/util/sha256.h"
#include "imager/util/yaml.h"
#include "schematic_yaml.h"

typedef struct im_yaml_node ynode;

struct im_schematic_opt {
	struct sv v; /* a map */
};

struct ps {
	struct im_schematic *s;
	const char *origin;
	struct im_error *err;
};

static int oom(struct ps *ps)
{
	return im_fail(ps->err, IM_EXIT_INTERNAL, "out of memory");
}

static int bad(struct ps *ps, const ynode *n, const char *field, const char *expected)
{
	return im_fail(ps->err, IM_EXIT_INVALID, "%s:%u:%u: %s: expected %s", ps->origin, n->line,
		       n->col, field, expected);
}

/* go-yaml v3 decodes "", ~, null, Null and NULL (plain) as null: the Go zero value. */
static bool is_null(const ynode *n)
{
	return n->kind == IM_YAML_NULL || (n->kind == IM_YAML_SCALAR && n->plain &&
					   sv_resolve_plain(n->text, NULL) == SV_NULL);
}

/* A mapping with only the `known` keys (NULL-terminated); an unknown one is refused
 * where it stands, as yaml.v3 KnownFields(true) refuses it. */
static int check_fields(struct ps *ps, const ynode *map, const char *where,
			const char *const *known)
{
	for (size_t i = 0; i < map->n; i++) {
		const ynode *k = map->items[2 * i];
		bool ok = false;
		for (const char *const *f = known; *f && !ok; f++)
			ok = !strcmp(k->text, *f);
		if (ok)
			continue;
		char list[200] = "";
		for (const char *const *f = known; *f; f++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 f == known ? "" : ", ", *f);
		return im_fail(ps->err, IM_EXIT_INVALID,
			       "%s:%u:%u: unknown field \"%.100s\" in %s (known: %s)", ps->origin,
			       k->line, k->col, k->text, where, list);
	}
	return 0;
}

/* yaml.v3 resolves a plain "<<" key as a merge of another mapping, which libyaml (our
 * parser) does not do: refused rather than giving an ID Image Factory would not. */
static int no_merge_keys(struct ps *ps, const ynode *n, unsigned depth)
{
	if (depth > IM_YAML_MAX_DEPTH)
		return 0;
	size_t cnt = n->kind == IM_YAML_MAP ? 2 * n->n : n->kind == IM_YAML_SEQ ? n->n : 0;
	for (size_t i = 0; i < cnt; i++) {
		const ynode *c = n->items[i];
		if (n->kind == IM_YAML_MAP && i % 2 == 0 && c->plain && !strcmp(c->text, "<<"))
			return im_fail(ps->err, IM_EXIT_UNSUPPORTED,
				       "%s:%u:%u: merge keys (<<) are not supported in schematics",
				       ps->origin, c->line, c->col);
		if (no_merge_keys(ps, c, depth + 1) < 0)
			return -1;
	}
	return 0;
}

static const ynode *get(const ynode *map, const char *key)
{
	for (size_t i = 0; i < map->n; i++)
		if (!strcmp(map->items[2 * i]->text, key))
			return map->items[2 * i + 1];
	return NULL;
}

/* A Go string field: any scalar's text (yaml.v3 keeps the source text of 123 or true),
 * null is "". */
static int get_string(struct ps *ps, const ynode *n, const char *field, char **out)
{
	if (n->kind != IM_YAML_SCALAR && n->kind != IM_YAML_NULL)
		return bad(ps, n, field, "a string");
	free(*out);
	*out = strdup(is_null(n) ? "" : n->text);
	return *out ? 0 : oom(ps);
}

static int get_string_list(struct ps *ps, const ynode *n, const char *field, char ***v, size_t *nv)
{
	if (is_null(n))
		return 0;
	if (n->kind != IM_YAML_SEQ)
		return bad(ps, n, field, "a list of strings");
	if (!(*v = calloc(n->n + 1, sizeof(**v))))
		return oom(ps);
	for (size_t i = 0; i < n->n; i++) {
		if (is_null(n->items[i]))
			continue; /* yaml.v3 drops null items of typed lists */
		if (get_string(ps, n->items[i], field, &(*v)[*nv]) < 0)
			return -1;
		(*nv)++;
	}
	return 0;
}

/* yaml.v3 into a Go bool: true/false, and YAML 1.1's y/yes/on, n/no/off (any style). */
static int get_bool(struct ps *ps, const ynode *n, const char *field, bool *out)
{
	static const char *const yes[] = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", NULL};
	static const char *const no[] = {"n", "N", "no", "No", "NO", "off", "Off", "OFF", NULL};
	struct sv v;
	if (is_null(n)) {
		*out = false;
		return 0;
	}
	if (n->kind == IM_YAML_SCALAR && n->plain && sv_resolve_plain(n->text, &v) == SV_BOOL) {
		*out = v.b;
		return 0;
	}
	for (int i = 0; n->kind == IM_YAML_SCALAR && yes[i]; i++)
		if (!strcmp(n->text, yes[i]) || !strcmp(n->text, no[i])) {
			*out = !strcmp(n->text, yes[i]);
			return 0;
		}
	return bad(ps, n, field, "true or false");
}

/* yaml.v3 into a uint8: a plain integer (10, 0xa, 0o12, 012) in 0..255, or a plain
 * number it reads as a float (09, 1e1), truncated. */
static int get_u8(struct ps *ps, const ynode *n, const char *field, uint8_t *out)
{
	struct sv v = {0};
	if (is_null(n)) {
		*out = 0;
		return 0;
	}
	enum sv_kind k =
	    n->kind == IM_YAML_SCALAR && n->plain ? sv_resolve_plain(n->text, &v) : SV_STR;
	if ((k == SV_INT && v.i >= 0 && v.i <= 255)) {
		*out = (uint8_t)v.i;
		return 0;
	}
	if (k == SV_FLOAT && v.f >= 0 && v.f < 256) { /* v3 truncates a float (09 is 9.0) */
		*out = (uint8_t)v.f;
		return 0;
	}
	return bad(ps, n, field, "an integer 0..255 (e.g. 0xa)");
}

static int parse_meta(struct ps *ps, const ynode *n)
{
	static const char *const known[] = {"key", "value", NULL};
	struct im_schematic *s = ps->s;
	if (is_null(n))
		return 0;
	if (n->kind != IM_YAML_SEQ)
		return bad(ps, n, "customization.meta", "a list of {key, value}");
	if (!(s->meta = calloc(n->n + 1, sizeof(*s->meta))))
		return oom(ps);
	for (size_t i = 0; i < n->n; i++) {
		const ynode *m = n->items[i], *k, *v;
		struct im_schematic_meta *e = &s->meta[s->n_meta];
		if (is_null(m))
			continue; /* dropped, as yaml.v3 drops null items of typed lists */
		if (!(e->value = strdup("")))
			return oom(ps);
		s->n_meta++;
		if (m->kind != IM_YAML_MAP)
			return bad(ps, m, "customization.meta", "a mapping {key, value}");
		if (check_fields(ps, m, "customization.meta[]", known) < 0)
			return -1;
		if (((k = get(m, "key")) && get_u8(ps, k, "customization.meta.key", &e->key) < 0) ||
		    ((v = get(m, "value")) &&
		     get_string(ps, v, "customization.meta.value", &e->value) < 0))
			return -1;
	}
	return 0;
}

static int parse_bootloader(struct ps *ps, const ynode *n)
{
	static const struct {
		const char *name;
		enum im_prof_bootloader v;
	} kinds[] = {{"none", IM_PROF_BOOT_UNSET},
		     {"dual-boot", IM_PROF_BOOT_DUAL},
		     {"sd-boot", IM_PROF_BOOT_SDBOOT},
		     {"grub", IM_PROF_BOOT_GRUB}};
	if (is_null(n))
		return 0;
	for (size_t i = 0; n->kind == IM_YAML_SCALAR && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(n->text, kinds[i].name)) {
			ps->s->bootloader = kinds[i].v;
			return 0;
		}
	return bad(ps, n, "customization.bootloader", "dual-boot, sd-boot, grub or none");
}

static int parse_sub(struct ps *ps, const ynode *n, const char *where, const char *field,
		     const char *expected, bool *out)
{
	const char *const known[] = {field, NULL};
	const ynode *v;
	if (is_null(n))
		return 0;
	if (n->kind != IM_YAML_MAP)
		return bad(ps, n, where, expected);
	if (check_fields(ps, n, where, known) < 0)
		return -1;
	if (!(v = get(n, field)))
		return 0;
	if (out)
		return get_bool(ps, v, field, out);
	return get_string_list(ps, v, "customization.systemExtensions.officialExtensions",
			       &ps->s->official_extensions, &ps->s->n_official_extensions);
}

static int parse_customization(struct ps *ps, const ynode *n)
{
	static const char *const known[] = {"extraKernelArgs", "meta",	     "systemExtensions",
					    "secureboot",      "bootloader", NULL};
	struct im_schematic *s = ps->s;
	const ynode *v;
	if (is_null(n))
		return 0;
	if (n->kind != IM_YAML_MAP)
		return bad(ps, n, "customization", "a mapping");
	if (check_fields(ps, n, "customization", known) < 0)
		return -1;
	if ((v = get(n, "extraKernelArgs")) &&
	    get_string_list(ps, v, "customization.extraKernelArgs", &s->extra_kernel_args,
			    &s->n_extra_kernel_args) < 0)
		return -1;
	if ((v = get(n, "meta")) && parse_meta(ps, v) < 0)
		return -1;
	if ((v = get(n, "systemExtensions")) &&
	    parse_sub(ps, v, "customization.systemExtensions", "officialExtensions",
		      "a mapping {officialExtensions: [...]}", NULL) < 0)
		return -1;
	if ((v = get(n, "secureboot")) &&
	    parse_sub(ps, v, "customization.secureboot", "includeWellKnownCertificates",
		      "a mapping {includeWellKnownCertificates: bool}",
		      &s->include_well_known_certificates) < 0)
		return -1;
	if ((v = get(n, "bootloader")) && parse_bootloader(ps, v) < 0)
		return -1;
	return 0;
}

/* An overlay option as yaml.v3 decodes it into `any`: plain scalars resolved (123 is an
 * int, true a bool, 0x10 is 16), quoted ones strings, mappings with sorted keys. */
static int opt_value(struct ps *ps, const ynode *n, struct sv *out, unsigned depth)
{
	memset(out, 0, sizeof(*out));
	if (n->kind == IM_YAML_NULL)
		return 0;
	if (n->kind == IM_YAML_SCALAR) {
		out->kind = n->plain ? sv_resolve_plain(n->text, out) : SV_STR;
		if ((out->kind == SV_STR || out->kind == SV_TIME) &&
		    !(out->s = strdup(out->kind == SV_TIME ? out->ts : n->text)))
			return oom(ps);
		return 0;
	}
	size_t cnt = n->kind == IM_YAML_MAP ? 2 * n->n : n->n;
	out->kind = n->kind == IM_YAML_MAP ? SV_MAP : SV_SEQ;
	if (!(out->items = calloc(cnt + 1, sizeof(*out->items))))
		return oom(ps);
	out->n = n->n;
	for (size_t i = 0; i < cnt; i++) {
		const ynode *c = n->items[i];
		if (n->kind == IM_YAML_MAP && i % 2 == 0 && depth > 0 && c->plain &&
		    sv_resolve_plain(c->text, NULL) != SV_STR)
			return im_fail(ps->err, IM_EXIT_UNSUPPORTED,
				       "%s:%u:%u: overlay.options: key \"%.100s\" is not a string "
				       "(not supported)",
				       ps->origin, c->line, c->col, c->text);
		if (n->kind == IM_YAML_MAP && i % 2 == 0) {
			/* map[string]any: keys are their text */
			out->items[i].kind = SV_STR;
			if (!(out->items[i].s = strdup(c->text)))
				return oom(ps);
		} else if (opt_value(ps, c, &out->items[i], depth + 1) < 0) {
			return -1;
		}
	}
	if (out->kind == SV_MAP) /* yaml.v3 writes map keys sorted (sorter.go) */
		for (size_t i = 1; i < out->n; i++)
			for (size_t j = i;
			     j > 0 && sv_key_cmp(out->items[2 * j - 2].s, out->items[2 * j].s) > 0;
			     j--) {
				struct sv k = out->items[2 * j], v = out->items[2 * j + 1];
				out->items[2 * j] = out->items[2 * j - 2];
				out->items[2 * j + 1] = out->items[2 * j - 1];
				out->items[2 * j - 2] = k;
				out->items[2 * j - 1] = v;
			}
	return 0;
}

static int parse_overlay(struct ps *ps, const ynode *n)
{
	static const char *const known[] = {"image", "name", "options", NULL};
	struct im_schematic *s = ps->s;
	const ynode *v;
	if (is_null(n))
		return 0;
	if (n->kind != IM_YAML_MAP)
		return bad(ps, n, "overlay", "a mapping {image, name, options}");
	if (check_fields(ps, n, "overlay", known) < 0)
		return -1;
	if ((v = get(n, "image")) && get_string(ps, v, "overlay.image", &s->overlay_image) < 0)
		return -1;
	if ((v = get(n, "name")) && get_string(ps, v, "overlay.name", &s->overlay_name) < 0)
		return -1;
	if (!(v = get(n, "options")) || is_null(v))
		return 0;
	if (v->kind != IM_YAML_MAP)
		return bad(ps, v, "overlay.options", "a mapping");
	if (!(s->overlay_options = calloc(1, sizeof(*s->overlay_options))))
		return oom(ps);
	return opt_value(ps, v, &s->overlay_options->v, 0);
}

int im_schematic_parse(const char *text, size_t len, const char *origin, struct im_schematic **out,
		       struct im_error *err)
{
	static const char *const known[] = {"overlay", "customization", NULL};
	struct im_yaml_node *root = NULL;
	struct im_schematic *s = calloc(1, sizeof(*s));
	struct ps ps = {.s = s, .origin = origin, .err = err};
	int rc = -1;
	*out = NULL;
	if (!s || !(s->origin = strdup(origin))) {
		oom(&ps);
		goto done;
	}
	if (im_yaml_parse(text, len, origin, &root, err) < 0)
		goto done;
	if (root->kind == IM_YAML_NULL) {
		im_fail(err, IM_EXIT_INVALID, "%s: empty schematic (the empty one is \"{}\")",
			origin);
		goto done;
	}
	if (root->kind != IM_YAML_MAP) {
		bad(&ps, root, "schematic", "a mapping {overlay, customization}");
		goto done;
	}
	const ynode *v;
	if (no_merge_keys(&ps, root, 0) < 0 ||
	    check_fields(&ps, root, "the schematic", known) < 0 ||
	    ((v = get(root, "overlay")) && parse_overlay(&ps, v) < 0) ||
	    ((v = get(root, "customization")) && parse_customization(&ps, v) < 0))
		goto done;
	*out = s;
	s = NULL;
	rc = 0;
done:
	im_yaml_free(root);
	im_schematic_free(s);
	return rc;
}

int im_schematic_load(const char *path, struct im_schematic **out, struct im_error *err)
{
	bool in = !strcmp(path, "-");
	FILE *f = in ? stdin : fopen(path, "rb");
	*out = NULL;
	if (!f)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "schematic %s", path);
	char *buf = malloc(IM_SCHEMATIC_MAX + 1);
	size_t len = buf ? fread(buf, 1, IM_SCHEMATIC_MAX + 1, f) : 0;
	bool rerr = ferror(f);
	if (!in)
		fclose(f);
	int rc = -1;
	if (!buf)
		rc = im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	else if (rerr)
		rc = im_fail(err, IM_EXIT_IO, "schematic %s: read error", in ? "<stdin>" : path);
	else if (len > IM_SCHEMATIC_MAX)
		rc = im_fail(err, IM_EXIT_INVALID, "schematic %s: larger than %u bytes",
			     in ? "<stdin>" : path, IM_SCHEMATIC_MAX);
	else
		rc = im_schematic_parse(buf, len, in ? "<stdin>" : path, out, err);
	free(buf);
	return rc;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void im_schematic_free(struct im_schematic *s)
{
	if (!s)
		return;
	free(s->origin);
	free(s->overlay_image);
	free(s->overlay_name);
	if (s->overlay_options)
		sv_free(&s->overlay_options->v);
	free(s->overlay_options);
	free_list(s->extra_kernel_args, s->n_extra_kernel_args);
	for (size_t i = 0; i < s->n_meta; i++)
		free(s->meta[i].value);
	free(s->meta);
	free_list(s->official_extensions, s->n_official_extensions);
	free(s);
}

/* --- the canonical form ---------------------------------------------------------------- */

static struct sv *sv_push(struct sv *m, size_t count)
{
	struct sv *n =
	    realloc(m->items, (m->n * (m->kind == SV_MAP ? 2 : 1) + count + 1) * sizeof(*n));
	if (!n)
		return NULL;
	m->items = n;
	struct sv *at = n + m->n * (m->kind == SV_MAP ? 2 : 1);
	memset(at, 0, (count + 1) * sizeof(*at));
	m->n += m->kind == SV_MAP ? count / 2 : count;
	return at;
}

static int sv_str(struct sv *v, const char *s)
{
	v->kind = SV_STR;
	return (v->s = strdup(s ? s : "")) ? 0 : -1;
}

static int sv_copy(struct sv *dst, const struct sv *src)
{
	*dst = *src;
	dst->s = NULL;
	dst->items = NULL;
	if (src->s && !(dst->s = strdup(src->s)))
		return -1;
	size_t cnt = src->kind == SV_MAP ? 2 * src->n : src->kind == SV_SEQ ? src->n : 0;
	if (!cnt)
		return 0;
	if (!(dst->items = calloc(cnt, sizeof(*dst->items))))
		return -1;
	for (size_t i = 0; i < cnt; i++)
		if (sv_copy(&dst->items[i], &src->items[i]) < 0)
			return -1;
	return 0;
}

/* Add "key: <value>" to map m; returns the value slot (NULL on OOM). */
static struct sv *map_add(struct sv *m, const char *key, enum sv_kind kind)
{
	struct sv *kv = sv_push(m, 2);
	if (!kv || sv_str(&kv[0], key) < 0)
		return NULL;
	kv[1].kind = kind;
	return &kv[1];
}

static int add_list(struct sv *m, const char *key, char **v, size_t n)
{
	if (!n)
		return 0; /* omitempty */
	struct sv *l = map_add(m, key, SV_SEQ);
	struct sv *it = l ? sv_push(l, n) : NULL;
	for (size_t i = 0; it && i < n; i++)
		if (sv_str(&it[i], v[i]) < 0)
			return -1;
	return it ? 0 : -1;
}

static int build_customization(const struct im_schematic *s, struct sv *c)
{
	struct sv *v;
	if (add_list(c, "extraKernelArgs", s->extra_kernel_args, s->n_extra_kernel_args) < 0)
		return -1;
	if (s->n_meta) {
		struct sv *l = map_add(c, "meta", SV_SEQ);
		struct sv *it = l ? sv_push(l, s->n_meta) : NULL;
		for (size_t i = 0; it && i < s->n_meta; i++) {
			it[i].kind = SV_MAP;
			struct sv *k = map_add(&it[i], "key", SV_INT);
			if (!k)
				return -1;
			k->i = s->meta[i].key;
			if (!(v = map_add(&it[i], "value", SV_STR)) ||
			    sv_str(v, s->meta[i].value) < 0)
				return -1;
		}
		if (!it)
			return -1;
	}
	if (s->n_official_extensions && (!(v = map_add(c, "systemExtensions", SV_MAP)) ||
					 add_list(v, "officialExtensions", s->official_extensions,
						  s->n_official_extensions) < 0))
		return -1;
	if (s->include_well_known_certificates) {
		if (!(v = map_add(c, "secureboot", SV_MAP)) ||
		    !(v = map_add(v, "includeWellKnownCertificates", SV_BOOL)))
			return -1;
		v->b = true;
	}
	if (s->bootloader && (!(v = map_add(c, "bootloader", SV_STR)) ||
			      sv_str(v, im_prof_bootloader_name(s->bootloader)) < 0))
		return -1;
	return 0;
}

static int build_tree(const struct im_schematic *s, struct sv *root)
{
	struct sv *v;
	root->kind = SV_MAP;
	bool opts = s->overlay_options && s->overlay_options->v.n;
	if ((s->overlay_image && *s->overlay_image) || (s->overlay_name && *s->overlay_name) ||
	    opts) {
		struct sv *o = map_add(root, "overlay", SV_MAP);
		if (!o || !(v = map_add(o, "image", SV_STR)) || sv_str(v, s->overlay_image) < 0 ||
		    !(v = map_add(o, "name", SV_STR)) || sv_str(v, s->overlay_name) < 0)
			return -1;
		if (opts && (!(v = map_add(o, "options", SV_MAP)) ||
			     sv_copy(v, &s->overlay_options->v) < 0))
			return -1;
	}
	struct sv *c = map_add(root, "customization", SV_MAP);
	return c ? build_customization(s, c) : -1;
}

int im_schematic_marshal(const struct im_schematic *s, char **text, size_t *len,
			 struct im_error *err)
{
	struct sv root = {0};
	*text = NULL;
	*len = 0;
	FILE *f = NULL;
	int rc = -1;
	if (build_tree(s, &root) < 0 || !(f = open_memstream(text, len))) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto done;
	}
	if (sv_marshal(f, &root) < 0) {
		im_fail(err, IM_EXIT_UNSUPPORTED,
			"%s: overlay.options: a list or mapping as a key (not supported)",
			s->origin);
		goto done;
	}
	rc = 0;
done:
	if (f && fclose(f) && !rc)
		rc = im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	sv_free(&root);
	if (rc < 0) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

int im_schematic_id(const struct im_schematic *s, char hex[65], struct im_error *err)
{
	char *text;
	size_t len;
	if (im_schematic_marshal(s, &text, &len, err) < 0)
		return -1;
	im_sha256_hex(text, len, hex);
	free(text);
	return 0;
}

/* --- applying onto a profile ------------------------------------------------------------ */

static int set_kv(struct im_profile *p, const char *path, const char *k, const char *v,
		  struct im_error *err)
{
	char *kv;
	if (asprintf(&kv, "%s=%s", k, v) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int rc = im_profile_set(p, path, kv, err);
	free(kv);
	return rc;
}

static int apply_overlay(const struct im_schematic *s, struct im_profile *p, struct im_error *err)
{
	if (s->overlay_name && *s->overlay_name &&
	    im_profile_set(p, "overlay.name", s->overlay_name, err) < 0)
		return -1;
	const struct sv *o = s->overlay_options ? &s->overlay_options->v : NULL;
	for (size_t i = 0; o && i < o->n; i++) {
		const struct sv *k = &o->items[2 * i], *v = &o->items[2 * i + 1];
		char num[64];
		const char *text = num;
		switch (v->kind) {
		case SV_STR:
		case SV_TIME:
			text = v->s;
			break;
		case SV_BOOL:
			text = v->b ? "true" : "false";
			break;
		case SV_INT:
			snprintf(num, sizeof(num), "%lld", (long long)v->i);
			break;
		case SV_UINT:
			snprintf(num, sizeof(num), "%llu", (unsigned long long)v->u);
			break;
		case SV_NULL:
			text = "";
			break;
		default:
			return im_fail(err, IM_EXIT_UNSUPPORTED,
				       "%s: overlay.options.%.100s: only scalar options can be "
				       "applied here",
				       s->origin, k->s);
		}
		if (strchr(k->s, '='))
			return im_fail(err, IM_EXIT_UNSUPPORTED,
				       "%s: overlay.options: key \"%.100s\" has a \"=\"", s->origin,
				       k->s);
		if (set_kv(p, "overlay.options", k->s, text, err) < 0)
			return -1;
	}
	return 0;
}

int im_schematic_apply(const struct im_schematic *s, struct im_profile *p, struct im_error *err)
{
	if (s->n_official_extensions)
		return im_fail(err, IM_EXIT_UNSUPPORTED,
			       "%s: customization.systemExtensions.officialExtensions (%s...): "
			       "needs Image Factory's extension registry, which is not available "
			       "here; give the extensions with --system-extension-image",
			       s->origin, s->official_extensions[0]);
	if (s->include_well_known_certificates)
		return im_fail(err, IM_EXIT_UNSUPPORTED,
			       "%s: customization.secureboot.includeWellKnownCertificates: no "
			       "well-known UEFI certificates are shipped here",
			       s->origin);
	for (size_t i = 0; i < s->n_extra_kernel_args; i++)
		if (im_profile_set(p, "customization.extraKernelArgs", s->extra_kernel_args[i],
				   err) < 0)
			return -1;
	for (size_t i = 0; i < s->n_meta; i++) {
		char key[8];
		snprintf(key, sizeof(key), "0x%x", s->meta[i].key);
		if (set_kv(p, "customization.metaContents", key, s->meta[i].value, err) < 0)
			return -1;
	}
	if (s->bootloader) {
		const char *bl = im_prof_bootloader_name(s->bootloader);
		if (im_profile_set(p, "output.imageOptions.bootloader", bl, err) < 0 ||
		    im_profile_set(p, "output.isoOptions.bootloader", bl, err) < 0)
			return -1;
	}
	return apply_overlay(s, p, err);
}
