/* Board overlays: overlay.yaml, options and templates (see include/imager/overlay.h).
 * Resolving the overlay's files, DTBs and blobs against the inputs is lib/overlay_assets.c. */
#include "imager/talos/overlay.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/talos/profile.h"
#include "imager/util/readfile.h"

#define OVERLAY_YAML	   "overlay.yaml"
#define OVERLAY_YAML_MAX   (1u << 20)
#define TEMPLATE_MAX_DEPTH 4

typedef struct im_yaml_node ynode;

struct parse {
	struct im_overlay *o;
	const char *origin; /* "<path>: overlay.yaml" */
	struct im_error *err;
};

static int bad(struct parse *ps, const ynode *n, const char *field, const char *expected)
{
	return im_fail(ps->err, IM_EXIT_INVALID, "%s:%u:%u: %s: expected %s", ps->origin,
		       n ? n->line : 0, n ? n->col : 0, field, expected);
}

static const ynode *map_get(const ynode *map, const char *key)
{
	for (size_t i = 0; map && map->kind == IM_YAML_MAP && i < map->n; i++)
		if (!strcmp(map->items[2 * i]->text, key))
			return map->items[2 * i + 1];
	return NULL;
}

/* Keys of `map` must be among `known` (a typo is an error, not a silent default). */
static int only_keys(struct parse *ps, const ynode *map, const char *field,
		     const char *const *known)
{
	for (size_t i = 0; i < map->n; i++) {
		const ynode *k = map->items[2 * i];
		const char *const *q = known;
		while (*q && strcmp(*q, k->text))
			q++;
		if (!*q)
			return im_fail(ps->err, IM_EXIT_INVALID, "%s:%u:%u: %s%s%s: unknown field",
				       ps->origin, k->line, k->col, field, *field ? "." : "",
				       k->text);
	}
	return 0;
}

/* A scalar field into *out (absent: left NULL unless required). */
static int get_str(struct parse *ps, const ynode *map, const char *key, bool required, char **out)
{
	const ynode *n = map_get(map, key);
	if (!n || n->kind == IM_YAML_NULL) {
		if (required)
			return bad(ps, map, key, "a value (required)");
		return 0;
	}
	if (n->kind != IM_YAML_SCALAR)
		return bad(ps, n, key, "a string");
	free(*out);
	*out = strdup(n->text);
	return *out ? 0 : im_fail(ps->err, IM_EXIT_INTERNAL, "out of memory");
}

static int get_size(struct parse *ps, const ynode *map, const char *key, uint64_t *out)
{
	const ynode *n = map_get(map, key);
	if (!n)
		return 0;
	if (n->kind != IM_YAML_SCALAR || im_profile_parse_size(n->text, out) < 0)
		return bad(ps, n, key, "a size (512, 32KiB, 16MiB)");
	return 0;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 63)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-' &&
		    *s != '_')
			return false;
	return true;
}

static int parse_header(struct parse *ps, const ynode *root)
{
	struct im_overlay *o = ps->o;
	char *bl = NULL;
	int rc = -1;
	if (get_str(ps, root, "name", true, &o->name) ||
	    get_str(ps, root, "arch", true, &o->arch) ||
	    get_str(ps, root, "description", false, &o->description) ||
	    get_str(ps, root, "bootloader", false, &bl))
		goto out;
	if (!name_ok(o->name)) {
		bad(ps, map_get(root, "name"), "name", "1..63 characters of [a-z0-9_-]");
		goto out;
	}
	if (strcmp(o->arch, "arm64") && strcmp(o->arch, "amd64")) {
		bad(ps, map_get(root, "arch"), "arch", "amd64 or arm64");
		goto out;
	}
	o->bootloader = IM_BOOT_GRUB;
	if (bl && !strcmp(bl, "sd-boot"))
		o->bootloader = IM_BOOT_SDBOOT;
	else if (bl && strcmp(bl, "grub")) {
		bad(ps, map_get(root, "bootloader"), "bootloader", "grub or sd-boot");
		goto out;
	}
	rc = 0;
out:
	free(bl);
	return rc;
}

static int parse_table(struct parse *ps, const ynode *root)
{
	static const char *const known[] = {"type", "entries", "firstPartition", NULL};
	const ynode *t = map_get(root, "partitionTable");
	char *type = NULL;
	uint64_t entries = 0;
	if (!t)
		return 0;
	if (t->kind != IM_YAML_MAP)
		return bad(ps, t, "partitionTable", "a mapping");
	int rc = only_keys(ps, t, "partitionTable", known) ||
			 get_str(ps, t, "type", false, &type) ||
			 get_size(ps, t, "entries", &entries) ||
			 get_size(ps, t, "firstPartition", &ps->o->first_partition)
		     ? -1
		     : 0;
	if (rc == 0 && type && !strcmp(type, "hybrid"))
		ps->o->table = IM_OVL_HYBRID;
	else if (rc == 0 && type && strcmp(type, "gpt"))
		rc = bad(ps, map_get(t, "type"), "partitionTable.type", "gpt or hybrid");
	if (rc == 0 && (entries > 128 || (map_get(t, "entries") && entries < 4)))
		rc = bad(ps, map_get(t, "entries"), "partitionTable.entries", "4..128");
	ps->o->gpt_entries = (unsigned)entries;
	free(type);
	return rc;
}

static int parse_strings(struct parse *ps, const ynode *n, const char *field, char ***out,
			 size_t *nout)
{
	if (!n)
		return 0;
	if (n->kind != IM_YAML_SEQ)
		return bad(ps, n, field, "a list of strings");
	if (!(*out = calloc(n->n + 1, sizeof(**out))))
		return im_fail(ps->err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < n->n; i++) {
		if (n->items[i]->kind != IM_YAML_SCALAR)
			return bad(ps, n->items[i], field, "a string");
		if (!((*out)[(*nout)++] = strdup(n->items[i]->text)))
			return im_fail(ps->err, IM_EXIT_INTERNAL, "out of memory");
	}
	return 0;
}

static int parse_type(struct parse *ps, const ynode *n, enum im_ovl_type *t)
{
	static const char *const names[] = {"text", "int", "bool", "path"};
	for (int i = 0; i < 4; i++)
		if (n && n->kind == IM_YAML_SCALAR && !strcmp(n->text, names[i])) {
			*t = (enum im_ovl_type)i;
			return 0;
		}
	return bad(ps, n, "options[].type", "text, int, bool or path");
}

static int check_value(const struct im_overlay *o, const struct im_ovl_option *opt, const char *v,
		       struct im_error *err);

static int parse_options(struct parse *ps, const ynode *root)
{
	static const char *const known[] = {"name",    "type",	      "required",
					    "default", "description", NULL};
	const ynode *l = map_get(root, "options");
	if (!l)
		return 0;
	if (l->kind != IM_YAML_SEQ)
		return bad(ps, l, "options", "a list");
	if (!(ps->o->opts = calloc(l->n + 1, sizeof(*ps->o->opts))))
		return im_fail(ps->err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < l->n; i++) {
		const ynode *m = l->items[i];
		struct im_ovl_option *opt = &ps->o->opts[ps->o->n_opts++];
		char *req = NULL;
		if (m->kind != IM_YAML_MAP)
			return bad(ps, m, "options[]", "a mapping");
		if (only_keys(ps, m, "options[]", known) ||
		    get_str(ps, m, "name", true, &opt->name) ||
		    parse_type(ps, map_get(m, "type"), &opt->type) ||
		    get_str(ps, m, "default", false, &opt->def) ||
		    get_str(ps, m, "description", false, &opt->description) ||
		    get_str(ps, m, "required", false, &req))
			return free(req), -1;
		opt->required = req && !strcmp(req, "true");
		if (req && strcmp(req, "true") && strcmp(req, "false"))
			return free(req), bad(ps, map_get(m, "required"), "options[].required",
					      "true or false");
		free(req);
		for (size_t j = 0; j + 1 < ps->o->n_opts; j++)
			if (!strcmp(ps->o->opts[j].name, opt->name))
				return bad(ps, map_get(m, "name"), "options[].name",
					   "a name not declared twice");
		/* an int/bool default must be one; a text default may hold {{templates}} */
		if (opt->def && opt->type != IM_OVL_TEXT &&
		    check_value(ps->o, opt, opt->def, ps->err) < 0)
			return -1;
	}
	return 0;
}

/* A list of {KEY_A: .., KEY_B: ..} pairs (files, templates). */
static int parse_pairs(struct parse *ps, const ynode *root, const char *field, const char *ka,
		       const char *kb, struct im_ovl_copy **out, size_t *nout)
{
	const char *const known[] = {ka, kb, NULL};
	const ynode *l = map_get(root, field);
	if (!l)
		return 0;
	if (l->kind != IM_YAML_SEQ)
		return bad(ps, l, field, "a list");
	if (!(*out = calloc(l->n + 1, sizeof(**out))))
		return im_fail(ps->err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < l->n; i++) {
		struct im_ovl_copy *c = &(*out)[(*nout)++];
		if (l->items[i]->kind != IM_YAML_MAP)
			return bad(ps, l->items[i], field, "a list of mappings");
		if (only_keys(ps, l->items[i], field, known) ||
		    get_str(ps, l->items[i], ka, true, &c->from) ||
		    get_str(ps, l->items[i], kb, true, &c->to))
			return -1;
	}
	return 0;
}

static int parse_blobs(struct parse *ps, const ynode *root)
{
	static const char *const known[] = {"from", "offset", NULL};
	const ynode *l = map_get(root, "blobs");
	if (!l)
		return 0;
	if (l->kind != IM_YAML_SEQ)
		return bad(ps, l, "blobs", "a list");
	if (!(ps->o->blobs = calloc(l->n + 1, sizeof(*ps->o->blobs))))
		return im_fail(ps->err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < l->n; i++) {
		struct im_ovl_blob *b = &ps->o->blobs[ps->o->n_blobs++];
		const ynode *m = l->items[i];
		if (m->kind != IM_YAML_MAP)
			return bad(ps, m, "blobs", "a list of mappings");
		if (only_keys(ps, m, "blobs[]", known) || get_str(ps, m, "from", true, &b->from) ||
		    get_size(ps, m, "offset", &b->offset))
			return -1;
		if (!map_get(m, "offset"))
			return bad(ps, m, "blobs[].offset", "a byte offset (required)");
	}
	return 0;
}

static int parse_dtbs(struct parse *ps, const ynode *root)
{
	static const char *const known[] = {"to", "files", NULL};
	const ynode *d = map_get(root, "dtbs");
	if (!d)
		return 0;
	if (d->kind != IM_YAML_MAP)
		return bad(ps, d, "dtbs", "a mapping {to, files}");
	return only_keys(ps, d, "dtbs", known) || get_str(ps, d, "to", false, &ps->o->dtb_to) ||
		       parse_strings(ps, map_get(d, "files"), "dtbs.files", &ps->o->dtbs,
				     &ps->o->n_dtbs)
		   ? -1
		   : 0;
}

static int parse_yaml(struct im_overlay *o, const char *text, size_t len, struct im_error *err)
{
	static const char *const known[] = {
	    "name",    "arch",	"description", "bootloader", "kernelArgs", "partitionTable",
	    "options", "files", "dtbs",	       "templates",  "blobs",	   NULL};
	char origin[600];
	snprintf(origin, sizeof(origin), "%s: %s", o->path, OVERLAY_YAML);
	struct parse ps = {o, origin, err};
	ynode *root = NULL;
	if (im_yaml_parse(text, len, origin, &root, err) < 0)
		return -1;
	int rc = -1;
	if (root->kind != IM_YAML_MAP)
		bad(&ps, root, "the document", "a mapping");
	else if (only_keys(&ps, root, "", known) == 0 && parse_header(&ps, root) == 0 &&
		 parse_table(&ps, root) == 0 &&
		 parse_strings(&ps, map_get(root, "kernelArgs"), "kernelArgs", &o->kernel_args,
			       &o->n_kernel_args) == 0 &&
		 parse_options(&ps, root) == 0 &&
		 parse_pairs(&ps, root, "files", "from", "to", &o->files, &o->n_files) == 0 &&
		 parse_pairs(&ps, root, "templates", "template", "to", &o->templates,
			     &o->n_templates) == 0 &&
		 parse_dtbs(&ps, root) == 0 && parse_blobs(&ps, root) == 0)
		rc = 0;
	im_yaml_free(root);
	return rc;
}

/* ---- loading ---- */

static int read_node(const struct im_node *n, const char *what, char **text, size_t *len,
		     struct im_error *err)
{
	if (n->size > OVERLAY_YAML_MAX)
		return im_fail(err, IM_EXIT_INVALID, "%s: larger than %u bytes", what,
			       OVERLAY_YAML_MAX);
	if (n->src)
		return im_read_file(n->src, what, (uint8_t **)text, len, err);
	if (!(*text = malloc(n->size + 1)))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	memcpy(*text, n->data, n->size);
	*len = n->size;
	return 0;
}

/* A folder of overlays: its `name`/ subfolder holds the one asked for. */
static char *pick_path(const char *path, const char *name)
{
	char *sub = NULL, *yaml = NULL;
	struct stat st;
	if (name && stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    asprintf(&yaml, "%s/%s", path, OVERLAY_YAML) >= 0 && access(yaml, F_OK) < 0 &&
	    asprintf(&sub, "%s/%s", path, name) >= 0 && access(sub, F_OK) < 0) {
		free(sub);
		sub = NULL;
	}
	free(yaml);
	return sub ? sub : strdup(path);
}

int im_overlay_load(const char *path, const char *name, struct im_overlay **out,
		    struct im_error *err)
{
	struct im_overlay *o = calloc(1, sizeof(*o));
	char *text = NULL, what[600];
	size_t len = 0;
	*out = NULL;
	if (!o || !(o->path = pick_path(path, name))) {
		free(o);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	snprintf(what, sizeof(what), "%s: %s", o->path, OVERLAY_YAML);
	int rc = im_content_load(o->path, "board overlay", &o->tree, &o->stage, err);
	const struct im_node *n = rc == 0 ? im_tree_lookup(o->tree, OVERLAY_YAML) : NULL;
	if (rc == 0 && (!n || n->type != IM_NODE_FILE))
		rc = im_fail(err, IM_EXIT_INVALID,
			     "%s: no %s (expected a board overlay: a folder or tarball with "
			     "overlay.yaml)",
			     o->path, OVERLAY_YAML);
	if (rc == 0)
		rc = read_node(n, what, &text, &len, err);
	if (rc == 0)
		rc = parse_yaml(o, text, len, err);
	if (rc == 0 && name && strcmp(name, o->name))
		rc = im_fail(err, IM_EXIT_INVALID,
			     "%s: overlay \"%s\" is not the one asked for (--overlay-name %s)",
			     o->path, o->name, name);
	free(text);
	if (rc < 0) {
		im_overlay_free(o);
		return -1;
	}
	*out = o;
	return 0;
}

static void free_copies(struct im_ovl_copy *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].from);
		free(c[i].to);
	}
	free(c);
}

void im_overlay_free(struct im_overlay *o)
{
	if (!o)
		return;
	free(o->name);
	free(o->arch);
	free(o->description);
	for (size_t i = 0; i < o->n_kernel_args; i++)
		free(o->kernel_args[i]);
	free(o->kernel_args);
	for (size_t i = 0; i < o->n_opts; i++) {
		free(o->opts[i].name);
		free(o->opts[i].description);
		free(o->opts[i].def);
		free(o->opts[i].value);
	}
	free(o->opts);
	free_copies(o->files, o->n_files);
	free_copies(o->templates, o->n_templates);
	free(o->dtb_to);
	for (size_t i = 0; i < o->n_dtbs; i++)
		free(o->dtbs[i]);
	free(o->dtbs);
	for (size_t i = 0; i < o->n_blobs; i++)
		free(o->blobs[i].from);
	free(o->blobs);
	im_tree_free(o->tree);
	im_stage_remove(&o->stage);
	free(o->path);
	free(o);
}

/* ---- options ---- */

struct im_ovl_option *im_overlay_find_option(const struct im_overlay *o, const char *name)
{
	for (size_t i = 0; i < o->n_opts; i++)
		if (!strcmp(o->opts[i].name, name))
			return &o->opts[i];
	return NULL;
}

static int check_value(const struct im_overlay *o, const struct im_ovl_option *opt, const char *v,
		       struct im_error *err)
{
	char *end;
	switch (opt->type) {
	case IM_OVL_INT:
		errno = 0;
		(void)strtoll(v, &end, 10);
		if (!*v || *end || errno)
			return im_fail(err, IM_EXIT_INVALID,
				       "overlay %s: option %s: \"%s\" is not an int (expected a "
				       "decimal integer)",
				       o->name, opt->name, v);
		return 0;
	case IM_OVL_BOOL:
		if (strcmp(v, "true") && strcmp(v, "false"))
			return im_fail(err, IM_EXIT_INVALID,
				       "overlay %s: option %s: \"%s\" is not a bool (expected true "
				       "or false)",
				       o->name, opt->name, v);
		return 0;
	case IM_OVL_PATH:
		if (access(v, R_OK) < 0)
			return im_fail_errno(
			    err, IM_EXIT_MISSING,
			    "%s: overlay %s: option %s (expected a readable file or "
			    "folder)",
			    v, o->name, opt->name);
		return 0;
	default:
		return 0;
	}
}

static void list_options(const struct im_overlay *o, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < o->n_opts && used < n; i++)
		used +=
		    (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", o->opts[i].name);
	if (!o->n_opts)
		snprintf(buf, n, "none");
}

int im_overlay_set_option(struct im_overlay *o, const char *key, const char *value,
			  struct im_error *err)
{
	struct im_ovl_option *opt = im_overlay_find_option(o, key);
	char known[512];
	if (!opt) {
		list_options(o, known, sizeof(known));
		return im_fail(err, IM_EXIT_INVALID,
			       "overlay %s: unknown option \"%s\" (it declares: %s)", o->name, key,
			       known);
	}
	char *v = NULL;
	size_t len;
	if (opt->type == IM_OVL_TEXT && value[0] == '@') {
		if (im_read_file(value + 1, "overlay option file", (uint8_t **)&v, &len, err) < 0)
			return -1;
	} else if (!(v = strdup(value))) {
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	if (check_value(o, opt, v, err) < 0) {
		free(v);
		return -1;
	}
	free(opt->value);
	opt->value = v;
	opt->from_user = true;
	return 0;
}

int im_overlay_check(const struct im_overlay *o, const char *arch, struct im_error *err)
{
	if (strcmp(o->arch, arch))
		return im_fail(err, IM_EXIT_INVALID,
			       "overlay %s (%s) is for %s, not %s (use --arch %s)", o->name,
			       o->path, o->arch, arch, o->arch);
	for (size_t i = 0; i < o->n_opts; i++) {
		const struct im_ovl_option *opt = &o->opts[i];
		if (opt->required && !opt->value)
			return im_fail(
			    err, IM_EXIT_MISSING,
			    "overlay %s: option %s is required (--overlay-option %s=...%s%s)",
			    o->name, opt->name, opt->name, opt->description ? ": " : "",
			    opt->description ? opt->description : "");
	}
	return 0;
}

/* ---- templates ---- */

static char *render(const struct im_overlay *o, const char *text, const char *what, int depth,
		    struct im_error *err);

static char *option_value(const struct im_overlay *o, const char *name, int depth,
			  struct im_error *err)
{
	const struct im_ovl_option *opt = im_overlay_find_option(o, name);
	if (!opt) {
		im_fail(err, IM_EXIT_INVALID, "overlay %s: unknown option \"%s\"", o->name, name);
		return NULL;
	}
	if (opt->value)
		return strdup(opt->value);
	if (!opt->def)
		return strdup("");
	char what[128];
	snprintf(what, sizeof(what), "default of option %s", name);
	return render(o, opt->def, what, depth + 1, err);
}

char *im_overlay_option(const struct im_overlay *o, const char *name, struct im_error *err)
{
	return option_value(o, name, 0, err);
}

static int append(char **buf, size_t *len, const char *s, size_t n)
{
	char *b = realloc(*buf, *len + n + 1);
	if (!b)
		return -1;
	memcpy(b + *len, s, n);
	*len += n;
	b[*len] = 0;
	*buf = b;
	return 0;
}

/* {{ name }} -> the option's value; text values end with a newline when not empty (so
 * that {{configTxt}}{{configTxtAppend}} keeps lines apart). */
static char *render(const struct im_overlay *o, const char *text, const char *what, int depth,
		    struct im_error *err)
{
	char *out = strdup(""), name[64];
	size_t len = 0;
	if (depth > TEMPLATE_MAX_DEPTH) {
		free(out);
		im_fail(err, IM_EXIT_INVALID,
			"overlay %s: %s: option defaults refer to each "
			"other too deeply",
			o->name, what);
		return NULL;
	}
	for (const char *p = text; out && *p;) {
		const char *open = strstr(p, "{{"), *close = open ? strstr(open, "}}") : NULL;
		if (!open || !close) {
			if (append(&out, &len, p, strlen(p)) < 0)
				goto oom;
			break;
		}
		if (append(&out, &len, p, (size_t)(open - p)) < 0)
			goto oom;
		const char *s = open + 2, *e = close;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		snprintf(name, sizeof(name), "%.*s", (int)(e - s), s);
		char *v = option_value(o, name, depth, err);
		if (!v) {
			free(out);
			return NULL;
		}
		const struct im_ovl_option *opt = im_overlay_find_option(o, name);
		size_t vl = strlen(v);
		int rc = append(&out, &len, v, vl);
		if (rc == 0 && opt->type == IM_OVL_TEXT && vl && v[vl - 1] != '\n')
			rc = append(&out, &len, "\n", 1);
		free(v);
		if (rc < 0)
			goto oom;
		p = close + 2;
	}
	if (out)
		return out;
oom:
	free(out);
	im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	return NULL;
}

char *im_overlay_render(const struct im_overlay *o, const char *text, const char *what,
			struct im_error *err)
{
	return render(o, text, what, 0, err);
}
