/* Kernel command line: ordered multimap and the DESIGN.md §4 build order. */
#include "imager/talos/cmdline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cl_key {
	char *name;
	char **vals; /* NULL entry: bare key */
	size_t n, cap;
	bool user_set; /* a user argument already replaced this key's earlier values */
};

struct im_cmdline {
	struct cl_key *keys;
	size_t n, cap;
};

/* DESIGN.md §4 platform table; arm64 NULL means "same as amd64". */
#define T1S0 "console=tty1 console=ttyS0 net.ifnames=0"

/* clang-format off */
static const struct platform {
	const char *name;
	const char *amd64;
	const char *arm64;
} platforms[] = {
	{"metal", "console=tty0", "console=ttyAMA0 console=tty0"},
	{"aws", T1S0 " nvme_core.io_timeout=4294967295", NULL},
	{"gcp",
	 "console=ttyS0 net.ifnames=0 talos.dashboard.disabled=1 "
	 "sysctl.kernel.kexec_load_disabled=1",
	 NULL},
	{"azure",
	 "console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300 net.ifnames=0 "
	 "talos.dashboard.disabled=1 sysctl.kernel.kexec_load_disabled=1",
	 NULL},
	{"digital-ocean", "console=ttyS0 console=tty0 console=tty1 net.ifnames=0", NULL},
	{"akamai", "console=ttyS0 console=tty0 console=tty1 net.ifnames=0", NULL},
	{"nocloud", T1S0, NULL},
	{"openstack", T1S0, NULL},
	{"hcloud", T1S0, NULL},
	{"exoscale", T1S0, NULL},
	{"oracle", T1S0 " talos.dashboard.disabled=1", NULL},
	{"scaleway", T1S0 " talos.dashboard.disabled=1", NULL},
	{"upcloud", "net.ifnames=0", NULL},
	{"vultr", "net.ifnames=0", NULL},
	{"vmware",
	 "talos.config=guestinfo console=tty0 console=ttyS0 earlyprintk=ttyS0,115200 "
	 "net.ifnames=0",
	 "talos.config=guestinfo console=tty0 console=ttyAMA0 net.ifnames=0"},
};
/* clang-format on */

#define N_PLATFORMS (sizeof(platforms) / sizeof(platforms[0]))

/* Mandatory hardening (KSPP) plus console/printk defaults, DESIGN.md §4. */
static const char hardening_args[] =
    "init_on_alloc=1 init_on_free=1 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on";

/* Keys whose first user value replaces the built-in ones (Talos WithOverwriteArgs). */
static const char *const overwrite_keys[] = {"console", "talos.platform"};

static int oom(struct im_error *err)
{
	return im_fail(err, IM_EXIT_INTERNAL, "kernel command line: out of memory");
}

struct im_cmdline *im_cmdline_new(void)
{
	return calloc(1, sizeof(struct im_cmdline));
}

static void key_clear(struct cl_key *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->vals[i]);
	k->n = 0;
}

void im_cmdline_free(struct im_cmdline *cl)
{
	if (!cl)
		return;
	for (size_t i = 0; i < cl->n; i++) {
		key_clear(&cl->keys[i]);
		free(cl->keys[i].vals);
		free(cl->keys[i].name);
	}
	free(cl->keys);
	free(cl);
}

static struct cl_key *find_key(const struct im_cmdline *cl, const char *name)
{
	for (size_t i = 0; i < cl->n; i++)
		if (strcmp(cl->keys[i].name, name) == 0)
			return &cl->keys[i];
	return NULL;
}

static struct cl_key *add_key(struct im_cmdline *cl, const char *name)
{
	if (cl->n == cl->cap) {
		size_t cap = cl->cap ? cl->cap * 2 : 16;
		struct cl_key *k = realloc(cl->keys, cap * sizeof(*k));
		if (!k)
			return NULL;
		cl->keys = k;
		cl->cap = cap;
	}
	struct cl_key *k = &cl->keys[cl->n];
	memset(k, 0, sizeof(*k));
	k->name = strdup(name);
	if (!k->name)
		return NULL;
	cl->n++;
	return k;
}

/* Remove the key at index i, keeping the order of the others. */
static void drop_key(struct im_cmdline *cl, struct cl_key *k)
{
	size_t i = (size_t)(k - cl->keys);
	key_clear(k);
	free(k->vals);
	free(k->name);
	memmove(&cl->keys[i], &cl->keys[i + 1], (cl->n - i - 1) * sizeof(*k));
	cl->n--;
}

/* val NULL: bare key. */
static int key_push(struct cl_key *k, const char *val)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 4;
		char **v = realloc(k->vals, cap * sizeof(*v));
		if (!v)
			return -1;
		k->vals = v;
		k->cap = cap;
	}
	char *copy = NULL;
	if (val && !(copy = strdup(val)))
		return -1;
	k->vals[k->n++] = copy;
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Split "key=value" in place: returns the value (NULL for a bare key). */
static char *split_arg(char *tok)
{
	char *eq = strchr(tok, '=');
	if (!eq)
		return NULL;
	*eq = '\0';
	return eq + 1;
}

static int check_token(const char *tok, bool allow_neg, struct im_error *err)
{
	for (const unsigned char *p = (const unsigned char *)tok; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return im_fail(err, IM_EXIT_INVALID,
				       "kernel argument \"%s\": control characters are not allowed",
				       tok);
	const char *key = tok;
	if (*key == '-') {
		if (!allow_neg)
			return im_fail(err, IM_EXIT_INVALID,
				       "kernel argument \"%s\": expected key or key=value "
				       "(a leading '-' only removes, in extra kernel args)",
				       tok);
		key++;
	}
	if (*key == '\0' || *key == '=')
		return im_fail(err, IM_EXIT_INVALID,
			       "kernel argument \"%s\": expected %skey or %skey=value", tok,
			       allow_neg ? "[-]" : "", allow_neg ? "[-]" : "");
	return 0;
}

static int append_one(struct im_cmdline *cl, char *tok, struct im_error *err)
{
	if (check_token(tok, false, err))
		return -1;
	char *val = split_arg(tok);
	struct cl_key *k = find_key(cl, tok);
	if (!k && !(k = add_key(cl, tok)))
		return oom(err);
	return key_push(k, val) ? oom(err) : 0;
}

static bool is_overwrite_key(const char *key)
{
	for (size_t i = 0; i < sizeof(overwrite_keys) / sizeof(overwrite_keys[0]); i++)
		if (strcmp(key, overwrite_keys[i]) == 0)
			return true;
	return false;
}

/* "-key" or "-key=value" (the '-' already stripped). */
static void negate(struct im_cmdline *cl, char *key)
{
	char *val = split_arg(key);
	struct cl_key *k = find_key(cl, key);
	if (!k)
		return;
	if (!val) {
		drop_key(cl, k);
		return;
	}
	size_t out = 0;
	for (size_t i = 0; i < k->n; i++) {
		if (k->vals[i] && strcmp(k->vals[i], val) == 0)
			free(k->vals[i]);
		else
			k->vals[out++] = k->vals[i];
	}
	k->n = out;
	if (k->n == 0)
		drop_key(cl, k);
}

static int user_one(struct im_cmdline *cl, char *tok, struct im_error *err)
{
	if (check_token(tok, true, err))
		return -1;
	if (tok[0] == '-') {
		negate(cl, tok + 1);
		return 0;
	}
	char *val = split_arg(tok);
	struct cl_key *k = find_key(cl, tok);
	if (!k && !(k = add_key(cl, tok)))
		return oom(err);
	if (is_overwrite_key(tok) && !k->user_set) {
		key_clear(k);
		k->user_set = true;
	}
	return key_push(k, val) ? oom(err) : 0;
}

/* Call fn on each whitespace-separated token of args (a writable copy). */
static int for_each_token(struct im_cmdline *cl, const char *args,
			  int (*fn)(struct im_cmdline *, char *, struct im_error *),
			  struct im_error *err)
{
	if (!args)
		return im_fail(err, IM_EXIT_INTERNAL, "kernel command line: NULL argument");
	char *copy = strdup(args);
	if (!copy)
		return oom(err);
	int rc = 0;
	char *p = copy;
	while (rc == 0 && *p) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		char *end = p;
		while (*end && !is_space(*end))
			end++;
		char saved = *end;
		*end = '\0';
		rc = fn(cl, p, err);
		p = saved ? end + 1 : end;
	}
	free(copy);
	return rc;
}

int im_cmdline_append(struct im_cmdline *cl, const char *args, struct im_error *err)
{
	return for_each_token(cl, args, append_one, err);
}

int im_cmdline_apply_user(struct im_cmdline *cl, const char *arg, struct im_error *err)
{
	if (arg && !*arg)
		return im_fail(err, IM_EXIT_INVALID,
			       "kernel argument \"\": expected [-]key or [-]key=value");
	return for_each_token(cl, arg, user_one, err);
}

bool im_cmdline_remove(struct im_cmdline *cl, const char *key)
{
	struct cl_key *k = find_key(cl, key);
	if (!k)
		return false;
	drop_key(cl, k);
	return true;
}

size_t im_cmdline_count(const struct im_cmdline *cl, const char *key)
{
	const struct cl_key *k = find_key(cl, key);
	return k ? k->n : 0;
}

const char *im_cmdline_get(const struct im_cmdline *cl, const char *key, size_t idx)
{
	const struct cl_key *k = find_key(cl, key);
	if (!k || idx >= k->n)
		return NULL;
	return k->vals[idx] ? k->vals[idx] : "";
}

char *im_cmdline_render(const struct im_cmdline *cl)
{
	size_t len = 1;
	for (size_t i = 0; i < cl->n; i++)
		for (size_t j = 0; j < cl->keys[i].n; j++) {
			const char *v = cl->keys[i].vals[j];
			len += strlen(cl->keys[i].name) + (v ? strlen(v) + 1 : 0) + 1;
		}
	char *out = malloc(len), *p = out;
	if (!out)
		return NULL;
	*p = '\0';
	for (size_t i = 0; i < cl->n; i++)
		for (size_t j = 0; j < cl->keys[i].n; j++) {
			const char *v = cl->keys[i].vals[j];
			p += sprintf(p, "%s%s%s%s", p == out ? "" : " ", cl->keys[i].name,
				     v ? "=" : "", v ? v : "");
		}
	return out;
}

/* Same order as platforms[] (checked by the unit test). */
static const char *const platform_names[] = {
    "metal",  "aws",	  "gcp",    "azure",	"digital-ocean", "akamai", "nocloud", "openstack",
    "hcloud", "exoscale", "oracle", "scaleway", "upcloud",	 "vultr",  "vmware",  NULL,
};
_Static_assert(sizeof(platform_names) / sizeof(platform_names[0]) == N_PLATFORMS + 1,
	       "platform_names must list every platform");

const char *const *im_cmdline_platforms(void)
{
	return platform_names;
}

static const struct platform *find_platform(const char *name)
{
	for (size_t i = 0; name && i < N_PLATFORMS; i++)
		if (strcmp(platforms[i].name, name) == 0)
			return &platforms[i];
	return NULL;
}

bool im_cmdline_platform_valid(const char *platform)
{
	return find_platform(platform) != NULL;
}

static bool arch_valid(const char *arch)
{
	return !arch || strcmp(arch, "amd64") == 0 || strcmp(arch, "arm64") == 0;
}

const char *im_cmdline_platform_args(const char *platform, const char *arch)
{
	const struct platform *pl = find_platform(platform);
	if (!pl || !arch_valid(arch))
		return NULL;
	if (arch && strcmp(arch, "arm64") == 0 && pl->arm64)
		return pl->arm64;
	return pl->amd64;
}

static int fail_platform(const char *name, struct im_error *err)
{
	char list[512] = "";
	size_t off = 0;
	for (size_t i = 0; i < N_PLATFORMS && off < sizeof(list); i++)
		off += snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
				platforms[i].name);
	return im_fail(err, IM_EXIT_INVALID, "unknown platform \"%s\": expected one of %s",
		       name ? name : "", list);
}

static int check_params(const struct im_cmdline_params *p, struct im_error *err)
{
	if (!find_platform(p->platform))
		return fail_platform(p->platform, err);
	if (!arch_valid(p->arch))
		return im_fail(err, IM_EXIT_INVALID, "unknown arch \"%s\": expected amd64 or arm64",
			       p->arch);
	return 0;
}

static int append_fmt(struct im_cmdline *cl, struct im_error *err, const char *fmt, const char *arg)
{
	char *s;
	if (asprintf(&s, fmt, arg) < 0)
		return oom(err);
	int rc = im_cmdline_append(cl, s, err);
	free(s);
	return rc;
}

static int build_into(struct im_cmdline *cl, const struct im_cmdline_params *p,
		      struct im_error *err)
{
	if (append_fmt(cl, err, "talos.platform=%s", p->platform) ||
	    im_cmdline_append(cl, im_cmdline_platform_args(p->platform, p->arch), err))
		return -1;
	for (size_t i = 0; i < p->n_overlay_args; i++)
		if (im_cmdline_append(cl, p->overlay_args[i], err))
			return -1;
	if (im_cmdline_append(cl, hardening_args, err))
		return -1;
	if (p->secureboot && im_cmdline_append(cl, "lockdown=confidentiality", err))
		return -1;
	if (p->meta_base64 && *p->meta_base64 &&
	    append_fmt(cl, err, "talos.environment=INSTALLER_META_BASE64=%s", p->meta_base64))
		return -1;
	for (size_t i = 0; i < p->n_user_args; i++)
		if (im_cmdline_apply_user(cl, p->user_args[i], err))
			return -1;
	return 0;
}

struct im_cmdline *im_cmdline_build(const struct im_cmdline_params *p, struct im_error *err)
{
	if (check_params(p, err))
		return NULL;
	struct im_cmdline *cl = im_cmdline_new();
	if (!cl) {
		oom(err);
		return NULL;
	}
	if (build_into(cl, p, err)) {
		im_cmdline_free(cl);
		return NULL;
	}
	return cl;
}
