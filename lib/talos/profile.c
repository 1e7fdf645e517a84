/* The profile (DESIGN.md §3) in the Talos imager schema: defaults and validation
 * (finalize), sizes, and the dump of the effective profile. The tables are in
 * profile_schema.c, applying values in profile_apply.c, loading in profile_load.c. */
#include "profile_schema.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "imager/install/install.h"
#include "imager/talos/cmdline.h"

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
	/* The image is diskSize plus the two boot slots (GRUB layouts, DESIGN §7), written
	 * as a file: the sum must neither wrap nor exceed off_t. */
	if (io->disk_size > (uint64_t)INT64_MAX - 2 * IM_INSTALL_BOOT_SIZE)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: output.imageOptions.diskSize %llu is too large (at most %llu: "
			       "the image adds two %llu-byte boot slots and must stay under 2^63 "
			       "bytes)",
			       o, (unsigned long long)io->disk_size,
			       (unsigned long long)(INT64_MAX - 2 * IM_INSTALL_BOOT_SIZE),
			       (unsigned long long)IM_INSTALL_BOOT_SIZE);
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
			       im_prof_enum_allowed(&im_prof_kind_enum, allowed, sizeof(allowed)));
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

/* Decimal or 0x hex, as YAML ints are written in Talos profiles. */
int im_prof_parse_u64(const char *s, uint64_t *out)
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
		return im_prof_parse_u64(s, out);
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
		im_yaml_put_scalar(d->f, im_prof_enum_name(f->aux, get_int(p)));
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
	dump_fields(&d, &im_prof_root_s, p, 0);
	return fflush(f) || ferror(f) ? -1 : 0;
}
