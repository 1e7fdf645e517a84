/* The profile (DESIGN.md §3) in the Talos imager schema: load, merge, set, finalize,
 * dump. One table per YAML mapping describes its keys; loading, CLI overrides, the dump
 * and freeing all walk the same tables, so a field is declared exactly once.
 *
 * Merging is "apply onto": the base profile is applied to an empty profile, then the
 * user's YAML onto the result, then the CLI settings; applying a scalar replaces, a
 * list appends, a mapping applies key by key. */
#include "imager/profile.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "imager/cmdline.h"

/* ---- schema description -------------------------------------------------------- */

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

struct actx;

struct list_desc {
	const struct schema *elem;
	size_t size;
	enum shorthand sh; /* what a bare scalar item means */
	const char *what;  /* e.g. "KEY=VALUE" for messages */
	/* Extra check of a completed element; node is the item. */
	int (*check)(struct actx *a, const void *elem, const struct im_yaml_node *n);
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

/* ---- enums --------------------------------------------------------------------- */

static const char *const arch_names[] = {NULL, "amd64", "arm64"};
static const char *const kind_names[] = {NULL,	   "iso",	"image", "installer",
					 "kernel", "initramfs", "uki",	 "cmdline"};
static const char *const fmt_names[] = {NULL, "raw", ".xz", ".zst", ".gz", ".tar.gz"};
static const char *const disk_names[] = {NULL, "raw", "qcow2", "vhd", "ova"};
/* Talos writes its zero value as "none": it means "pick the default". */
static const char *const boot_names[] = {"none", "grub", "sd-boot", "dual-boot"};
static const char *const enroll_names[] = {NULL, "if-safe", "manual", "force", "off"};

static const struct enum_desc arch_enum = {arch_names, ARRAY_LEN(arch_names), false};
static const struct enum_desc kind_enum = {kind_names, ARRAY_LEN(kind_names), false};
static const struct enum_desc fmt_enum = {fmt_names, ARRAY_LEN(fmt_names), true};
static const struct enum_desc disk_enum = {disk_names, ARRAY_LEN(disk_names), false};
static const struct enum_desc boot_enum = {boot_names, ARRAY_LEN(boot_names), false};
static const struct enum_desc enroll_enum = {enroll_names, ARRAY_LEN(enroll_names), false};

static const char *enum_name(const struct enum_desc *d, int v)
{
	return v > 0 && (size_t)v < d->n ? d->names[v] : "";
}

const char *im_prof_arch_name(enum im_prof_arch v)
{
	return enum_name(&arch_enum, v);
}
const char *im_prof_kind_name(enum im_prof_kind v)
{
	return enum_name(&kind_enum, v);
}
const char *im_prof_out_format_name(enum im_prof_out_format v)
{
	return enum_name(&fmt_enum, v);
}
const char *im_prof_disk_format_name(enum im_prof_disk_format v)
{
	return enum_name(&disk_enum, v);
}
const char *im_prof_bootloader_name(enum im_prof_bootloader v)
{
	return enum_name(&boot_enum, v);
}
const char *im_prof_enroll_name(enum im_prof_enroll v)
{
	return enum_name(&enroll_enum, v);
}

/* "a, b, c" into buf. */
static const char *enum_allowed(const struct enum_desc *d, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 1; i < d->n && used < size; i++)
		used += snprintf(buf + used, size - used, "%s%s", i > 1 ? ", " : "", d->names[i]);
	return buf;
}

static int enum_parse(const struct enum_desc *d, const char *s)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->names[i] && !strcmp(d->names[i], s))
			return (int)i;
	if (d->dot_optional && s[0] != '.')
		for (size_t i = 1; i < d->n; i++)
			if (d->names[i][0] == '.' && !strcmp(d->names[i] + 1, s))
				return (int)i;
	return -1;
}

/* ---- the tables ---------------------------------------------------------------- */

static int check_extension(struct actx *a, const void *elem, const struct im_yaml_node *n);

static const uint32_t sector_sizes[] = {512, 4096};
static const struct u32_desc sector_desc = {512, 4096, sector_sizes, ARRAY_LEN(sector_sizes)};
static const struct u32_desc meta_key_desc = {1, 255, NULL, 0};

static const char kms_reason[] =
    "cloud KMS signing is not supported; give key and certificate files (keyPath, certPath)";

static const struct field file_f[] = {
    {"path", T_STR, 0, offsetof(struct im_prof_file, path), NULL},
};
static const struct schema file_s = SCHEMA(file_f);

#define CPATH offsetof(struct im_prof_container, path)
static const struct field container_f[] = {
    {"path", T_STR, 0, CPATH, NULL},
    {"imageRef", T_STR, 0, offsetof(struct im_prof_container, image_ref), NULL},
    {"tarballPath", T_STR, FL_ALIAS, CPATH, NULL},
    {"ociPath", T_STR, FL_ALIAS, CPATH, NULL},
    {"forceInsecure", T_IGNORE, 0, 0, NULL}, /* nothing is pulled */
};
static const struct schema container_s = SCHEMA(container_f);

static const struct field meta_f[] = {
    {"key", T_U32, FL_HEX | FL_ALWAYS, offsetof(struct im_prof_meta, key), &meta_key_desc},
    {"value", T_STR, FL_ALWAYS, offsetof(struct im_prof_meta, value), NULL},
};
static const struct schema meta_s = SCHEMA(meta_f);

static const struct list_desc meta_list = {&meta_s, sizeof(struct im_prof_meta), SH_KV,
					   "{key, value} or KEY=VALUE", NULL};
static const struct list_desc ext_list = {&container_s, sizeof(struct im_prof_container), SH_FIRST,
					  "{path} or a path", check_extension};

#define SB(m) offsetof(struct im_prof_secureboot, m)
static const struct field sb_signer_f[] = {
    {"keyPath", T_STR, FL_ALIAS, SB(key_path), NULL},
    {"certPath", T_STR, FL_ALIAS, SB(cert_path), NULL},
    {"azureVaultURL", T_UNSUP, 0, 0, kms_reason},
    {"azureCertificateID", T_UNSUP, 0, 0, kms_reason},
    {"awsKMSKeyID", T_UNSUP, 0, 0, kms_reason},
    {"awsRegion", T_UNSUP, 0, 0, kms_reason},
    {"awsCertPath", T_UNSUP, 0, 0, kms_reason},
};
static const struct schema sb_signer_s = SCHEMA(sb_signer_f);

static const struct field pcr_signer_f[] = {
    {"keyPath", T_STR, FL_ALIAS, SB(pcr_key_path), NULL},
    {"azureVaultURL", T_UNSUP, 0, 0, kms_reason},
    {"azureKeyID", T_UNSUP, 0, 0, kms_reason},
    {"azureKeyVersion", T_UNSUP, 0, 0, kms_reason},
    {"awsKMSKeyID", T_UNSUP, 0, 0, kms_reason},
    {"awsRegion", T_UNSUP, 0, 0, kms_reason},
};
static const struct schema pcr_signer_s = SCHEMA(pcr_signer_f);

/* DESIGN's flat names first, then Talos's current and v1.5 spellings. */
static const struct field sb_f[] = {
    {"keyPath", T_STR, 0, SB(key_path), NULL},
    {"certPath", T_STR, 0, SB(cert_path), NULL},
    {"pcrKeyPath", T_STR, 0, SB(pcr_key_path), NULL},
    {"pkPath", T_STR, 0, SB(pk_path), NULL},
    {"kekPath", T_STR, 0, SB(kek_path), NULL},
    {"dbPath", T_STR, 0, SB(db_path), NULL},
    {"secureBootSigner", T_MAP, FL_ALIAS, 0, &sb_signer_s},
    {"pcrSigner", T_MAP, FL_ALIAS, 0, &pcr_signer_s},
    {"platformKeyPath", T_STR, FL_ALIAS, SB(pk_path), NULL},
    {"keyExchangeKeyPath", T_STR, FL_ALIAS, SB(kek_path), NULL},
    {"signatureKeyPath", T_STR, FL_ALIAS, SB(db_path), NULL},
    {"signingKeyPath", T_STR, FL_ALIAS, SB(key_path), NULL},
    {"signingCertPath", T_STR, FL_ALIAS, SB(cert_path), NULL},
    {"pcrSigningKeyPath", T_STR, FL_ALIAS, SB(pcr_key_path), NULL},
    {"pcrPublicKeyPath", T_IGNORE, 0, 0, NULL}, /* derived from the PCR key */
};
static const struct schema sb_s = SCHEMA(sb_f);

static const struct field official_f[] = {
    {"officialExtensions", T_UNSUP, 0, 0,
     "official extensions come from Image Factory; list extension paths in "
     "input.systemExtensions"},
};
static const struct schema official_s = SCHEMA(official_f);

static const struct field cust_f[] = {
    {"extraKernelArgs", T_STRLIST, 0, P(customization.extra_kernel_args), NULL},
    {"metaContents", T_LIST, 0, P(customization.meta_contents), &meta_list},
    {"systemExtensions", T_MAP, FL_ALIAS, 0, &official_s},
};

#define FILE_IN(key, m)                                                                            \
	{                                                                                          \
		key, T_MAP, FL_SHORT, P(input.m), &file_s                                          \
	}
static const struct field input_f[] = {
    FILE_IN("kernel", kernel),
    FILE_IN("initramfs", initramfs),
    FILE_IN("sdStub", sd_stub),
    FILE_IN("sdBoot", sd_boot),
    FILE_IN("grub", grub),
    FILE_IN("dtb", dtb),
    FILE_IN("uBoot", u_boot),
    FILE_IN("rpiFirmware", rpi_firmware),
    {"baseInstaller", T_MAP, FL_SHORT, P(input.base_installer), &container_s},
    {"overlayInstaller", T_MAP, FL_SHORT, P(input.overlay_installer), &container_s},
    {"systemExtensions", T_LIST, 0, P(input.system_extensions), &ext_list},
    {"secureboot", T_MAP, 0, P(input.secureboot), &sb_s},
};

static const struct field overlay_f[] = {
    {"name", T_STR, 0, P(overlay.name), NULL},
    {"image", T_MAP, FL_SHORT, P(overlay.image), &container_s},
    {"path", T_STR, FL_ALIAS, P(overlay.image.path), NULL}, /* DESIGN §3 spelling */
    {"options", T_KVLIST, 0, P(overlay.options), NULL},
};

static const struct field imgopt_f[] = {
    {"diskSize", T_SIZE, 0, P(output.image_options.disk_size), NULL},
    {"diskFormat", T_ENUM, 0, P(output.image_options.disk_format), &disk_enum},
    {"diskFormatOptions", T_STR, 0, P(output.image_options.disk_format_options), NULL},
    {"bootloader", T_ENUM, 0, P(output.image_options.bootloader), &boot_enum},
    {"sectorSize", T_U32, 0, P(output.image_options.sector_size), &sector_desc},
};

static const struct field isoopt_f[] = {
    {"sdBootEnrollKeys", T_ENUM, 0, P(output.iso_options.sd_boot_enroll_keys), &enroll_enum},
    {"bootloader", T_ENUM, 0, P(output.iso_options.bootloader), &boot_enum},
};

static const struct schema cust_s = SCHEMA(cust_f), input_s = SCHEMA(input_f),
			   overlay_s = SCHEMA(overlay_f), imgopt_s = SCHEMA(imgopt_f),
			   isoopt_s = SCHEMA(isoopt_f);

static const struct field output_f[] = {
    {"kind", T_ENUM, 0, P(output.kind), &kind_enum},
    {"outFormat", T_ENUM, 0, P(output.out_format), &fmt_enum},
    {"imageOptions", T_MAP, 0, 0, &imgopt_s},
    {"isoOptions", T_MAP, 0, 0, &isoopt_s},
};
static const struct schema output_s = SCHEMA(output_f);

/* Sections of struct im_profile use offsets from the profile itself (off 0). */
static const struct field root_f[] = {
    {"baseProfileName", T_STR, FL_NODUMP, P(base_profile_name), NULL},
    {"arch", T_ENUM, 0, P(arch), &arch_enum},
    {"platform", T_STR, 0, P(platform), NULL},
    {"secureboot", T_BOOL, FL_ALWAYS, P(secureboot), NULL},
    {"name", T_STR, 0, P(name), NULL},
    {"version", T_STR, 0, P(version), NULL},
    {"board", T_UNSUP, 0, 0,
     "board is Talos's legacy SBC option; use overlay.name (e.g. rpi_generic)"},
    {"customization", T_MAP, 0, 0, &cust_s},
    {"input", T_MAP, 0, 0, &input_s},
    {"overlay", T_MAP, 0, 0, &overlay_s},
    {"output", T_MAP, 0, 0, &output_s},
};
static const struct schema root_s = SCHEMA(root_f);

/* ---- raw storage access ---------------------------------------------------------- */

static void *at(const void *base, size_t off)
{
	return (char *)base + off;
}

/* Lists are {T *v; size_t n;}; accessed via memcpy so no struct type is punned. */
static void list_get(const void *p, void **v, size_t *n)
{
	memcpy(v, p, sizeof(*v));
	memcpy(n, (const char *)p + offsetof(struct im_prof_str_list, n), sizeof(*n));
}

static void list_put(void *p, void *v, size_t n)
{
	memcpy(p, &v, sizeof(v));
	memcpy((char *)p + offsetof(struct im_prof_str_list, n), &n, sizeof(n));
}

static int get_int(const void *p)
{
	int v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static void put_int(void *p, int v)
{
	memcpy(p, &v, sizeof(v));
}

static void free_fields(const struct schema *s, void *base)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct field *f = &s->f[i];
		void *p = at(base, f->off);
		void *v;
		size_t n;
		if (f->flags & FL_ALIAS)
			continue;
		switch (f->type) {
		case T_STR:
			free(*(char **)p);
			*(char **)p = NULL;
			break;
		case T_MAP:
			free_fields(f->aux, p);
			break;
		case T_STRLIST:
		case T_LIST:
		case T_KVLIST:
			list_get(p, &v, &n);
			for (size_t j = 0; j < n; j++) {
				if (f->type == T_STRLIST) {
					free(((char **)v)[j]);
				} else if (f->type == T_KVLIST) {
					free(((struct im_prof_kv *)v)[j].key);
					free(((struct im_prof_kv *)v)[j].value);
				} else {
					const struct list_desc *ld = f->aux;
					free_fields(ld->elem, at(v, j * ld->size));
				}
			}
			free(v);
			list_put(p, NULL, 0);
			break;
		default:
			break;
		}
	}
}

struct im_profile *im_profile_new(void)
{
	return calloc(1, sizeof(struct im_profile));
}

void im_profile_free(struct im_profile *p)
{
	if (!p)
		return;
	free_fields(&root_s, p);
	free(p->origin);
	free(p);
}

/* ---- applying a YAML tree -------------------------------------------------------- */

struct actx {
	const char *origin; /* NULL: values come from the command line (no position) */
	struct im_error *err;
	char path[512]; /* dotted path of the mapping being applied */
};

static int afail(struct actx *a, const struct im_yaml_node *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int afail(struct actx *a, const struct im_yaml_node *n, int code, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (a->origin && n && n->line)
		return im_fail(a->err, code, "%s:%u:%u: %s", a->origin, n->line, n->col, msg);
	if (a->origin)
		return im_fail(a->err, code, "%s: %s", a->origin, msg);
	return im_fail(a->err, code, "%s", msg);
}

static size_t path_push(struct actx *a, const char *seg, bool index, size_t i)
{
	size_t len = strlen(a->path);
	if (index)
		snprintf(a->path + len, sizeof(a->path) - len, "[%zu]", i);
	else
		snprintf(a->path + len, sizeof(a->path) - len, "%s%s", len ? "." : "", seg);
	return len;
}

static void path_pop(struct actx *a, size_t len)
{
	a->path[len] = 0;
}

static int oom(struct actx *a)
{
	return im_fail(a->err, IM_EXIT_INTERNAL, "out of memory");
}

/* "expected X, got Y" for the field at a->path. */
static int wrong_type(struct actx *a, const struct im_yaml_node *n, const char *expected)
{
	if (n->kind == IM_YAML_SCALAR)
		return afail(a, n, IM_EXIT_INVALID, "%s: expected %s, got \"%.200s\"", a->path,
			     expected, n->text);
	return afail(a, n, IM_EXIT_INVALID, "%s: expected %s, got %s", a->path, expected,
		     im_yaml_kind_name(n->kind));
}

static int apply_map(struct actx *a, const struct schema *s, void *base,
		     const struct im_yaml_node *n);
static int apply_field(struct actx *a, const struct field *f, void *base,
		       const struct im_yaml_node *n);

static int set_str(struct actx *a, char **dst, const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_SCALAR)
		return wrong_type(a, n, "a string");
	char *s = NULL;
	if (*n->text && !(s = strdup(n->text)))
		return oom(a);
	free(*dst);
	*dst = s; /* "" means "not given" */
	return 0;
}

static int set_bool(struct actx *a, bool *dst, const struct im_yaml_node *n)
{
	static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False",
									       "FALSE"};
	for (size_t i = 0; n->kind == IM_YAML_SCALAR && i < 3; i++) {
		if (!strcmp(n->text, t[i]) || !strcmp(n->text, f[i])) {
			*dst = !strcmp(n->text, t[i]);
			return 0;
		}
	}
	return wrong_type(a, n, "true or false");
}

static int set_enum(struct actx *a, const struct enum_desc *d, void *dst,
		    const struct im_yaml_node *n)
{
	char allowed[300];
	enum_allowed(d, allowed, sizeof(allowed));
	if (n->kind != IM_YAML_SCALAR) {
		char exp[340];
		snprintf(exp, sizeof(exp), "one of %s", allowed);
		return wrong_type(a, n, exp);
	}
	int v = enum_parse(d, n->text);
	if (v < 0)
		return afail(a, n, IM_EXIT_INVALID, "%s: invalid value \"%.200s\" (allowed: %s)",
			     a->path, n->text, allowed);
	put_int(dst, v);
	return 0;
}

static int set_size(struct actx *a, uint64_t *dst, const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_SCALAR || im_profile_parse_size(n->text, dst))
		return wrong_type(a, n, "a size in bytes (e.g. 8589934592, 8GiB or 1246MiB)");
	return 0;
}

/* Decimal or 0x hex, as YAML ints are written in Talos profiles. */
static int parse_u64(const char *s, uint64_t *out)
{
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!isxdigit((unsigned char)s[0]))
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int set_u32(struct actx *a, const struct u32_desc *d, uint32_t *dst,
		   const struct im_yaml_node *n)
{
	uint64_t v;
	if (n->kind != IM_YAML_SCALAR || parse_u64(n->text, &v))
		return wrong_type(a, n, "an integer");
	if (d->allowed) {
		char allowed[100] = "";
		size_t used = 0;
		for (size_t i = 0; i < d->n_allowed; i++) {
			if (v == d->allowed[i]) {
				*dst = (uint32_t)v;
				return 0;
			}
			used += snprintf(allowed + used, sizeof(allowed) - used, "%s%u",
					 i ? ", " : "", d->allowed[i]);
		}
		return afail(a, n, IM_EXIT_INVALID, "%s: invalid value %s (allowed: %s)", a->path,
			     n->text, allowed);
	}
	if (v < d->min || v > d->max)
		return afail(a, n, IM_EXIT_INVALID, "%s: %s is out of range %u..%u", a->path,
			     n->text, d->min, d->max);
	*dst = (uint32_t)v;
	return 0;
}

/* Grow a {v, n} list by one zeroed element; returns it or NULL. */
static void *list_add(void *lp, size_t size)
{
	void *v;
	size_t n;
	list_get(lp, &v, &n);
	void *nv = realloc(v, (n + 1) * size);
	if (!nv)
		return NULL;
	memset(at(nv, n * size), 0, size);
	list_put(lp, nv, n + 1);
	return at(nv, n * size);
}

static void list_drop_last(void *lp)
{
	void *v;
	size_t n;
	list_get(lp, &v, &n);
	list_put(lp, v, n - 1);
}

static int apply_strlist(struct actx *a, void *lp, const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_SEQ)
		return wrong_type(a, n, "a list of strings");
	for (size_t i = 0; i < n->n; i++) {
		const struct im_yaml_node *it = n->items[i];
		if (it->kind != IM_YAML_SCALAR || !*it->text) {
			size_t mark = path_push(a, NULL, true, i);
			int rc = wrong_type(a, it, "a non-empty string");
			path_pop(a, mark);
			return rc;
		}
		char *s = strdup(it->text);
		char **slot = s ? list_add(lp, sizeof(char *)) : NULL;
		if (!slot) {
			free(s);
			return oom(a);
		}
		*slot = s;
	}
	return 0;
}

/* apply_field with the field's key added to the path for messages. */
static int apply_sub(struct actx *a, const struct field *f, void *base,
		     const struct im_yaml_node *n)
{
	size_t mark = path_push(a, f->key, false, 0);
	int rc = apply_field(a, f, base, n);
	path_pop(a, mark);
	return rc;
}

/* A bare scalar list item: its first field, or KEY=VALUE into the first two. */
static int apply_shorthand(struct actx *a, const struct list_desc *ld, void *elem,
			   const struct im_yaml_node *n)
{
	const struct field *f = ld->elem->f;
	if (ld->sh == SH_FIRST)
		return apply_sub(a, &f[0], elem, n);
	const char *eq = strchr(n->text, '=');
	if (ld->sh != SH_KV || !eq || eq == n->text)
		return wrong_type(a, n, ld->what);
	char *k = strndup(n->text, eq - n->text);
	if (!k)
		return oom(a);
	struct im_yaml_node kn = *n, vn = *n;
	kn.text = k;
	vn.text = (char *)eq + 1;
	int rc = apply_sub(a, &f[0], elem, &kn);
	if (!rc)
		rc = apply_sub(a, &f[1], elem, &vn);
	free(k);
	return rc;
}

static int apply_list_item(struct actx *a, const struct list_desc *ld, void *lp,
			   const struct im_yaml_node *it)
{
	void *elem = list_add(lp, ld->size);
	if (!elem)
		return oom(a);
	int rc;
	if (it->kind == IM_YAML_MAP)
		rc = apply_map(a, ld->elem, elem, it);
	else if (it->kind == IM_YAML_SCALAR && ld->sh != SH_NONE)
		rc = apply_shorthand(a, ld, elem, it);
	else
		rc = wrong_type(a, it, ld->what);
	if (!rc && ld->check)
		rc = ld->check(a, elem, it);
	if (rc) {
		free_fields(ld->elem, elem);
		list_drop_last(lp);
	}
	return rc;
}

static int apply_list(struct actx *a, const struct list_desc *ld, void *lp,
		      const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_SEQ)
		return wrong_type(a, n, "a list");
	for (size_t i = 0; i < n->n; i++) {
		size_t mark = path_push(a, NULL, true, i);
		int rc = apply_list_item(a, ld, lp, n->items[i]);
		path_pop(a, mark);
		if (rc)
			return rc;
	}
	return 0;
}

static int kv_set(struct actx *a, void *lp, const char *key, const char *value)
{
	struct im_prof_kv *v;
	size_t n;
	list_get(lp, (void **)&v, &n);
	char *val = strdup(value);
	if (!val)
		return oom(a);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].key, key)) { /* maps merge: the later value wins */
			free(v[i].value);
			v[i].value = val;
			return 0;
		}
	}
	struct im_prof_kv *slot = list_add(lp, sizeof(*slot));
	if (!slot || !(slot->key = strdup(key))) {
		if (slot)
			list_drop_last(lp);
		free(val);
		return oom(a);
	}
	slot->value = val;
	return 0;
}

static int apply_kvlist(struct actx *a, void *lp, const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_MAP)
		return wrong_type(a, n, "a mapping of option names to values");
	for (size_t i = 0; i < n->n; i++) {
		const struct im_yaml_node *k = n->items[2 * i], *v = n->items[2 * i + 1];
		if (v->kind == IM_YAML_SEQ || v->kind == IM_YAML_MAP) {
			size_t mark = path_push(a, k->text, false, 0);
			int rc = wrong_type(a, v, "a scalar");
			path_pop(a, mark);
			return rc;
		}
		if (kv_set(a, lp, k->text, v->kind == IM_YAML_SCALAR ? v->text : ""))
			return -1;
	}
	return 0;
}

static bool is_empty_collection(const struct im_yaml_node *n)
{
	return (n->kind == IM_YAML_SEQ || n->kind == IM_YAML_MAP) && n->n == 0;
}

/* n is the value for field f (a->path already names it). */
static int apply_field(struct actx *a, const struct field *f, void *base,
		       const struct im_yaml_node *n)
{
	void *p = at(base, f->off);
	if (n->kind == IM_YAML_NULL)
		return 0; /* "key:" with nothing: leaves the value as it was */
	switch (f->type) {
	case T_STR:
		return set_str(a, p, n);
	case T_BOOL:
		return set_bool(a, p, n);
	case T_ENUM:
		return set_enum(a, f->aux, p, n);
	case T_SIZE:
		return set_size(a, p, n);
	case T_U32:
		return set_u32(a, f->aux, p, n);
	case T_MAP:
		if (n->kind == IM_YAML_SCALAR && (f->flags & FL_SHORT))
			return apply_field(a, &((const struct schema *)f->aux)->f[0], p, n);
		return apply_map(a, f->aux, p, n);
	case T_STRLIST:
		return apply_strlist(a, p, n);
	case T_LIST:
		return apply_list(a, f->aux, p, n);
	case T_KVLIST:
		return apply_kvlist(a, p, n);
	case T_IGNORE:
		return 0;
	case T_UNSUP:
		if (is_empty_collection(n))
			return 0;
		return afail(a, n, IM_EXIT_UNSUPPORTED, "%s: not supported: %s", a->path,
			     (const char *)f->aux);
	}
	return im_fail(a->err, IM_EXIT_INTERNAL, "bad profile schema");
}

static const struct field *find_field(const struct schema *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->f[i].key, key))
			return &s->f[i];
	return NULL;
}

static int unknown_key(struct actx *a, const struct schema *s, const struct im_yaml_node *k)
{
	char known[600];
	size_t used = 0;
	known[0] = 0;
	for (size_t i = 0; i < s->n && used < sizeof(known); i++)
		used += snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "",
				 s->f[i].key);
	if (!a->path[0])
		return afail(a, k, IM_EXIT_INVALID,
			     "unknown key \"%.100s\" at top level (known: %s)", k->text, known);
	return afail(a, k, IM_EXIT_INVALID, "unknown key \"%.100s\" in %s (known: %s)", k->text,
		     a->path, known);
}

static int apply_map(struct actx *a, const struct schema *s, void *base,
		     const struct im_yaml_node *n)
{
	if (n->kind != IM_YAML_MAP)
		return wrong_type(a, n, "a mapping");
	for (size_t i = 0; i < n->n; i++) {
		const struct im_yaml_node *k = n->items[2 * i];
		const struct field *f = find_field(s, k->text);
		if (!f)
			return unknown_key(a, s, k);
		size_t mark = path_push(a, f->key, false, 0);
		int rc = apply_field(a, f, base, n->items[2 * i + 1]);
		path_pop(a, mark);
		if (rc)
			return rc;
	}
	return 0;
}

static int check_extension(struct actx *a, const void *elem, const struct im_yaml_node *n)
{
	const struct im_prof_container *c = elem;
	if (c->path)
		return 0;
	if (c->image_ref)
		return afail(a, n, IM_EXIT_UNSUPPORTED,
			     "%s: imageRef %.200s: pulling from a registry is not supported; give "
			     "path, tarballPath or ociPath",
			     a->path, c->image_ref);
	return afail(a, n, IM_EXIT_INVALID, "%s: path is required", a->path);
}

/* ---- applying a whole document ----------------------------------------------------- */

/* The schema half of loading; lib/profile_yaml.c reads text and follows
 * baseProfileName before calling this. */
int im_profile_apply_tree(struct im_profile *p, const struct im_yaml_node *root, const char *origin,
			  struct im_error *err)
{
	struct actx a = {.origin = origin, .err = err};
	if (root->kind == IM_YAML_NULL)
		return 0;
	if (root->kind != IM_YAML_MAP)
		return afail(&a, root, IM_EXIT_INVALID, "a profile must be a mapping, not %s",
			     im_yaml_kind_name(root->kind));
	const struct im_yaml_node *out = NULL;
	for (size_t i = 0; i < root->n && !out; i++)
		if (!strcmp(root->items[2 * i]->text, "output"))
			out = root->items[2 * i + 1];
	for (size_t i = 0; out && out->kind == IM_YAML_MAP && i < out->n; i++)
		if (!strcmp(out->items[2 * i]->text, "outFormat"))
			p->output.out_format_builtin = !strncmp(origin, "profiles/", 9);
	return apply_map(&a, &root_s, p, root);
}

/* ---- CLI overrides ------------------------------------------------------------- */

static const struct field *resolve(const char *path, void **base, struct actx *a)
{
	const struct schema *s = &root_s;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL, *seg = strtok_r(buf, ".", &save);
	const struct field *f = NULL;
	while (seg) {
		if (f) { /* descend into the previous segment */
			if (f->type != T_MAP)
				return NULL;
			*base = at(*base, f->off);
			s = f->aux;
			path_push(a, f->key, false, 0);
		}
		if (!(f = find_field(s, seg)))
			return NULL;
		seg = strtok_r(NULL, ".", &save);
	}
	return f;
}

int im_profile_set(struct im_profile *p, const char *path, const char *value, struct im_error *err)
{
	struct actx a = {.origin = NULL, .err = err};
	void *base = p;
	const struct field *f = resolve(path, &base, &a);
	if (!f)
		return im_fail(err, IM_EXIT_INVALID, "unknown profile field \"%.200s\"", path);
	path_push(&a, f->key, false, 0);
	struct im_yaml_node sv = {.kind = IM_YAML_SCALAR, .plain = true, .text = (char *)value};
	struct im_yaml_node *items[2] = {&sv, NULL};
	struct im_yaml_node wrap = {.kind = IM_YAML_SEQ, .n = 1, .items = items};
	if (f->type == T_MAP && !(f->flags & FL_SHORT))
		return afail(&a, NULL, IM_EXIT_INVALID, "%s is a section; set one of its fields",
			     a.path);
	if (f->type == T_STRLIST || f->type == T_LIST)
		return apply_field(&a, f, base, &wrap);
	if (f->type == T_KVLIST) {
		const char *eq = strchr(value, '=');
		if (!eq || eq == value)
			return wrong_type(&a, &sv, "KEY=VALUE");
		char *k = strndup(value, eq - value);
		if (!k)
			return oom(&a);
		int rc = kv_set(&a, at(base, f->off), k, eq + 1);
		free(k);
		return rc;
	}
	return apply_field(&a, f, base, &sv);
}

/* ---- defaults and validation ------------------------------------------------------ */

static int set_default(char **dst, const char *v, struct im_error *err)
{
	if (!*dst && !(*dst = strdup(v)))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	return 0;
}

/* name and version end up in file names (UKI, ISO volume id): no '/', no controls. */
static int check_word(const char *o, const char *field, const char *v, bool spaces,
		      struct im_error *err)
{
	for (const unsigned char *c = (const unsigned char *)v; *c; c++)
		if (*c < 0x20 || *c == 0x7f || *c == '/' || (*c == ' ' && !spaces))
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: %s: \"%.100s\" must not contain '/'%s or control "
				       "characters",
				       o, field, v, spaces ? "" : ", spaces");
	return 0;
}

static int check_platform(const char *o, const char *platform, struct im_error *err)
{
	if (im_cmdline_platform_valid(platform))
		return 0;
	char buf[400];
	size_t used = 0;
	buf[0] = 0;
	const char *const *pl = im_cmdline_platforms();
	for (size_t i = 0; pl[i] && used < sizeof(buf); i++)
		used += snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? ", " : "", pl[i]);
	return im_fail(err, IM_EXIT_INVALID, "%s: platform: invalid value \"%.100s\" (allowed: %s)",
		       o, platform, buf);
}

/* Talos rules: Secure Boot only boots sd-boot; arm64 has no BIOS, so no dual-boot. */
static int pick_bootloader(const struct im_profile *p, enum im_prof_bootloader *bl,
			   const char *field, struct im_error *err)
{
	const char *o = p->origin;
	bool arm64 = p->arch == IM_PROF_ARCH_ARM64;
	if (*bl == IM_PROF_BOOT_UNSET)
		*bl = p->secureboot || arm64 ? IM_PROF_BOOT_SDBOOT : IM_PROF_BOOT_DUAL;
	else if (p->secureboot && *bl != IM_PROF_BOOT_SDBOOT)
		return im_fail(err, IM_EXIT_INVALID, "%s: %s: secureboot needs sd-boot, not %s", o,
			       field, im_prof_bootloader_name(*bl));
	else if (arm64 && *bl == IM_PROF_BOOT_DUAL)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: %s: dual-boot (GRUB for BIOS) is amd64 only; use sd-boot or "
			       "grub on arm64",
			       o, field);
	return 0;
}

static int finalize_image(struct im_profile *p, struct im_error *err)
{
	const char *o = p->origin;
	typeof(p->output.image_options) *io = &p->output.image_options;
	if (!io->disk_size)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: output.imageOptions.diskSize is required for output kind image",
			       o);
	if (!io->disk_format)
		io->disk_format = IM_PROF_DISK_RAW;
	if (!io->sector_size)
		io->sector_size = 512;
	if (io->disk_size % io->sector_size)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: output.imageOptions.diskSize %llu is not a multiple of the "
			       "sector size %u",
			       o, (unsigned long long)io->disk_size, io->sector_size);
	return pick_bootloader(p, &io->bootloader, "output.imageOptions.bootloader", err);
}

/* Later META entries replace earlier ones with the same key (lists append on merge). */
static int finalize_meta(struct im_profile *p, struct im_error *err)
{
	struct im_prof_meta_list *m = &p->customization.meta_contents;
	size_t w = 0;
	for (size_t i = 0; i < m->n; i++) {
		bool later = false;
		for (size_t j = i + 1; j < m->n && !later; j++)
			later = m->v[j].key == m->v[i].key;
		if (later) {
			free(m->v[i].value);
			continue;
		}
		m->v[w++] = m->v[i];
	}
	m->n = w;
	for (size_t i = 0; i < m->n; i++)
		if (set_default(&m->v[i].value, "", err))
			return -1;
	return 0;
}

static int finalize_strings(struct im_profile *p, struct im_error *err)
{
	if (set_default(&p->platform, "metal", err) ||
	    set_default(&p->name, IM_PROFILE_DEFAULT_NAME, err) ||
	    set_default(&p->version, IM_PROFILE_DEFAULT_VER, err))
		return -1;
	if (check_platform(p->origin, p->platform, err) ||
	    check_word(p->origin, "name", p->name, true, err) ||
	    check_word(p->origin, "version", p->version, false, err))
		return -1;
	return 0;
}

static int finalize_kind(struct im_profile *p, struct im_error *err)
{
	const char *o = p->origin;
	char allowed[200];
	switch (p->output.kind) {
	case IM_PROF_KIND_UNSET:
		return im_fail(err, IM_EXIT_INVALID, "%s: output.kind is required (allowed: %s)", o,
			       enum_allowed(&kind_enum, allowed, sizeof(allowed)));
	case IM_PROF_KIND_IMAGE:
		return finalize_image(p, err);
	case IM_PROF_KIND_ISO:
		if (!p->output.iso_options.sd_boot_enroll_keys)
			p->output.iso_options.sd_boot_enroll_keys = IM_PROF_ENROLL_IF_SAFE;
		return pick_bootloader(p, &p->output.iso_options.bootloader,
				       "output.isoOptions.bootloader", err);
	case IM_PROF_KIND_KERNEL:
	case IM_PROF_KIND_INITRAMFS:
		if (p->secureboot) /* as Talos: nothing to sign in a bare kernel/initramfs */
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: secureboot is not supported for output kind %s", o,
				       im_prof_kind_name(p->output.kind));
		return 0;
	default:
		return 0;
	}
}

int im_profile_finalize(struct im_profile *p, struct im_error *err)
{
	if (set_default(&p->origin, "profile", err))
		return -1;
	if (!p->arch)
		p->arch = IM_PROF_ARCH_AMD64;
	if (!p->output.out_format)
		p->output.out_format = IM_PROF_FMT_RAW;
	if (finalize_strings(p, err) || finalize_kind(p, err) || finalize_meta(p, err))
		return -1;
	if (p->overlay.options.n && !p->overlay.name && !p->overlay.image.path)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: overlay.options given without overlay.name or overlay.image",
			       p->origin);
	return 0;
}

/* ---- sizes --------------------------------------------------------------------- */

int im_profile_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *sfx;
		uint64_t mul;
	} units[] = {
	    {"", 1},
	    {"B", 1},
	    {"K", 1ull << 10},
	    {"KiB", 1ull << 10},
	    {"Ki", 1ull << 10},
	    {"KB", 1000ull},
	    {"kB", 1000ull},
	    {"M", 1ull << 20},
	    {"MiB", 1ull << 20},
	    {"Mi", 1ull << 20},
	    {"MB", 1000000ull},
	    {"G", 1ull << 30},
	    {"GiB", 1ull << 30},
	    {"Gi", 1ull << 30},
	    {"GB", 1000000000ull},
	    {"T", 1ull << 40},
	    {"TiB", 1ull << 40},
	    {"Ti", 1ull << 40},
	    {"TB", 1000000000000ull},
	};
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return parse_u64(s, out);
	const char *p = s;
	uint64_t v = 0;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++)
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
			return -1;
	if (*p == ' ')
		p++;
	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		if (strcmp(p, units[i].sfx))
			continue;
		if (*p == 0 && p > s && p[-1] == ' ')
			return -1; /* a trailing space */
		return __builtin_mul_overflow(v, units[i].mul, out) ? -1 : 0;
	}
	return -1;
}

/* ---- dump ---------------------------------------------------------------------- */

static bool field_empty(const struct field *f, const void *base);

static bool map_empty(const struct schema *s, const void *base)
{
	for (size_t i = 0; i < s->n; i++)
		if (!field_empty(&s->f[i], base))
			return false;
	return true;
}

static bool field_empty(const struct field *f, const void *base)
{
	const void *p = at(base, f->off);
	void *v;
	size_t n;
	if (f->flags & (FL_ALIAS | FL_NODUMP))
		return true;
	if (f->flags & FL_ALWAYS)
		return false;
	switch (f->type) {
	case T_STR:
		return !*(char *const *)p;
	case T_BOOL:
		return !*(const bool *)p;
	case T_ENUM:
		return get_int(p) == 0;
	case T_SIZE:
		return !*(const uint64_t *)p;
	case T_U32:
		return !*(const uint32_t *)p;
	case T_MAP:
		return map_empty(f->aux, p);
	case T_STRLIST:
	case T_LIST:
	case T_KVLIST:
		list_get(p, &v, &n);
		return n == 0;
	default:
		return true;
	}
}

struct dumper {
	FILE *f;
	bool inline_next; /* the next key goes right after a "- " */
};

static void key_line(struct dumper *d, int indent, const char *key)
{
	if (d->inline_next)
		d->inline_next = false;
	else
		fprintf(d->f, "%*s", indent, "");
	im_yaml_put_scalar(d->f, key);
	fputc(':', d->f);
}

static void dump_fields(struct dumper *d, const struct schema *s, const void *base, int indent);

static void dump_list(struct dumper *d, const struct field *f, const void *p, int indent)
{
	void *v;
	size_t n;
	list_get(p, &v, &n);
	for (size_t j = 0; j < n; j++) {
		fprintf(d->f, "%*s- ", indent + 2, "");
		if (f->type == T_STRLIST) {
			im_yaml_put_scalar(d->f, ((char **)v)[j]);
			fputc('\n', d->f);
			continue;
		}
		const struct list_desc *ld = f->aux;
		d->inline_next = true;
		dump_fields(d, ld->elem, at(v, j * ld->size), indent + 4);
		if (d->inline_next) { /* nothing printed */
			fputs("{}\n", d->f);
			d->inline_next = false;
		}
	}
}

static void dump_scalar_field(struct dumper *d, const struct field *f, const void *p)
{
	fputc(' ', d->f);
	switch (f->type) {
	case T_STR:
		im_yaml_put_scalar(d->f, *(char *const *)p ? *(char *const *)p : "");
		break;
	case T_BOOL:
		fputs(*(const bool *)p ? "true" : "false", d->f);
		break;
	case T_ENUM:
		im_yaml_put_scalar(d->f, enum_name(f->aux, get_int(p)));
		break;
	case T_SIZE:
		fprintf(d->f, "%llu", (unsigned long long)*(const uint64_t *)p);
		break;
	case T_U32:
		fprintf(d->f, (f->flags & FL_HEX) ? "0x%x" : "%u", *(const uint32_t *)p);
		break;
	default:
		break;
	}
	fputc('\n', d->f);
}

static void dump_fields(struct dumper *d, const struct schema *s, const void *base, int indent)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct field *f = &s->f[i];
		const void *p = at(base, f->off);
		if (field_empty(f, base))
			continue;
		key_line(d, indent, f->key);
		if (f->type == T_MAP) {
			fputc('\n', d->f);
			dump_fields(d, f->aux, p, indent + 2);
		} else if (f->type == T_STRLIST || f->type == T_LIST) {
			fputc('\n', d->f);
			dump_list(d, f, p, indent);
		} else if (f->type == T_KVLIST) {
			const struct im_prof_kv_list *kv = p;
			fputc('\n', d->f);
			for (size_t j = 0; j < kv->n; j++) {
				key_line(d, indent + 2, kv->v[j].key);
				fputc(' ', d->f);
				im_yaml_put_scalar(d->f, kv->v[j].value);
				fputc('\n', d->f);
			}
		} else {
			dump_scalar_field(d, f, p);
		}
	}
}

int im_profile_dump(const struct im_profile *p, FILE *f)
{
	struct dumper d = {.f = f};
	dump_fields(&d, &root_s, p, 0);
	return fflush(f) || ferror(f) ? -1 : 0;
}
