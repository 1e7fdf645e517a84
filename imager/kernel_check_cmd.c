/* `imager kernel-check [KERNEL|CONFIG] [--config FILE] [--arch A] [--profile P] [--json]`:
 * does a kernel have the options of kernel-config/ (base, arch, KSPP hardening, Secure
 * Boot)? The builds run the same check (kernel_check.c). The report format, text and
 * --json, is documented in doc/kernel-config.md; keep the two in step. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "json.h"
#include "kernel_check.h"
#include "plan.h"
#include "imager/talos/profile.h"
#include "imager/talos/kfrags.h"

static void usage(FILE *f)
{
	fputs("usage: imager kernel-check [KERNEL|CONFIG] [flags]\n"
	      "  KERNEL|CONFIG        a kernel image (its embedded IKCONFIG) or a .config file\n"
	      "                       (default: the inputs folder's vmlinuz, else its config)\n"
	      "  --config FILE        the kernel's .config (for kernels without CONFIG_IKCONFIG)\n"
	      "  --arch amd64|arm64   the fragments of this arch (default: the profile's, else\n"
	      "                       the configuration's own, CONFIG_X86_64 / CONFIG_ARM64)\n"
	      "  --profile P          check what P's outputs need: its arch, and\n"
	      "                       secureboot.config only for a Secure Boot profile\n"
	      "                       (default: every fragment, secureboot.config included)\n"
	      "  --inputs DIR         inputs folder (default $IMAGER_INPUTS, then the payload)\n"
	      "  --json               the report as JSON (doc/kernel-config.md)\n"
	      "Exit 0 when every required option holds, 2 when one does not (recommended\n"
	      "options only warn), 5 when the kernel's configuration cannot be found.\n",
	      f);
}

/* Default: the inputs folder's vmlinuz (its embedded configuration), else its config. */
static int load_inputs(const char *arch, const char *inputs_flag, struct im_kconfig *kc,
		       struct kc_source *src, struct im_error *err)
{
	char *dir, *kernel = NULL, *config = NULL;
	int r = -1;
	if (im_plan_find_inputs(arch, inputs_flag, &dir, err) < 0)
		return -1;
	if (asprintf(&kernel, "%s/vmlinuz", dir) < 0 || asprintf(&config, "%s/config", dir) < 0) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	int have_kernel = access(kernel, F_OK) == 0, have_config = access(config, F_OK) == 0;
	if (have_kernel) {
		r = imager_kc_load(kernel, kc, src, err);
		if (r != 1 || !have_config)
			goto out;
		free(src->path);
		src->path = NULL;
	} else if (!have_config) {
		r = im_fail(err, IM_EXIT_MISSING,
			    "%s: no vmlinuz and no config in the inputs folder: give KERNEL or "
			    "--config FILE",
			    dir);
		goto out;
	}
	r = imager_kc_load(config, kc, src, err);
out:
	if (r == 1)
		r = imager_kc_no_config(kernel, src->format, err);
	free(dir);
	free(kernel);
	free(config);
	return r;
}

static void print_text(const struct im_kcheck *c, const struct kc_source *src, const char *arch,
		       const char *profile, const struct im_kfrag *frags, size_t nf)
{
	printf("kernel-check: %s (%s), arch %s, profile %s, fragments", src->path, src->format,
	       arch, profile ? profile : "-");
	for (size_t i = 0; i < nf; i++)
		printf(" %s", frags[i].name);
	printf("\n");
	const struct im_kfrag *cur = NULL;
	for (size_t i = 0; i < c->n; i++) {
		const struct im_kcheck_item *it = &c->v[i];
		char what[160];
		if (it->frag != cur) {
			cur = it->frag;
			printf("%s:\n", cur->name);
		}
		im_kcheck_describe(it, what, sizeof(what));
		printf("  %-11s CONFIG_%s %s: %s\n",
		       it->opt->level == IM_KFRAG_REQUIRED ? "required" : "recommended",
		       it->opt->want.name, what, it->opt->reason);
	}
	printf("kernel-check: %s: %zu required and %zu recommended options missing or wrong, "
	       "%zu checked\n",
	       c->n_required ? "FAIL" : "ok", c->n_required, c->n_recommended, c->n_checked);
}

static void json_key_str(const char *key, const char *v, const char *sep)
{
	printf("\"%s\": ", key);
	if (v)
		imager_json_str(stdout, v, strlen(v));
	else
		fputs("null", stdout);
	fputs(sep, stdout);
}

/* doc/kernel-config.md §JSON: fixed key order, one option per line. */
static void print_json(const struct im_kcheck *c, const struct kc_source *src, const char *arch,
		       const char *profile, int secureboot, const struct im_kfrag *frags, size_t nf)
{
	printf("{\n  \"version\": 1,\n  ");
	json_key_str("source", src->path, ",\n  ");
	json_key_str("sourceKind", src->from_kernel ? "kernel" : "config", ",\n  ");
	json_key_str("format", src->format, ",\n  ");
	json_key_str("arch", arch, ",\n  ");
	json_key_str("profile", profile, ",\n  ");
	printf("\"secureboot\": %s,\n  \"fragments\": [", secureboot ? "true" : "false");
	for (size_t i = 0; i < nf; i++) {
		printf(i ? ", " : "");
		imager_json_str(stdout, frags[i].name, strlen(frags[i].name));
	}
	printf("],\n  \"ok\": %s,\n  \"checked\": %zu,\n  \"required\": %zu,\n"
	       "  \"recommended\": %zu,\n  \"options\": [",
	       c->n_required ? "false" : "true", c->n_checked, c->n_required, c->n_recommended);
	for (size_t i = 0; i < c->n; i++) {
		const struct im_kcheck_item *it = &c->v[i];
		char name[128];
		snprintf(name, sizeof(name), "CONFIG_%s", it->opt->want.name);
		printf("%s\n    {", i ? "," : "");
		json_key_str("fragment", it->frag->name, ", ");
		json_key_str("option", name, ", ");
		json_key_str("level",
			     it->opt->level == IM_KFRAG_REQUIRED ? "required" : "recommended",
			     ", ");
		json_key_str("state", im_kcheck_state(it), ", ");
		json_key_str("want", it->opt->want.value, ", ");
		json_key_str("have", it->have, ", ");
		json_key_str("reason", it->opt->reason, "}");
	}
	printf("%s]\n}\n", c->n ? "\n  " : "");
}

struct kc_args {
	const char *target, *config, *arch, *profile, *inputs;
	int json;
};

static const struct option opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"arch", required_argument, NULL, 'a'},
    {"profile", required_argument, NULL, 'p'},
    {"inputs", required_argument, NULL, 'i'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* 1: --help; 0: parsed; -1: bad flag or argument (reported). */
static int parse_args(int argc, char **argv, struct kc_args *a)
{
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->config = optarg;
			break;
		case 'a':
			a->arch = optarg;
			break;
		case 'p':
			a->profile = optarg;
			break;
		case 'i':
			a->inputs = optarg;
			break;
		case 'j':
			a->json = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			imager_bad_flag("kernel-check", argv);
			return -1;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "imager: kernel-check: expected one KERNEL or CONFIG, got %d\n",
			argc - optind);
		return -1;
	}
	a->target = optind < argc ? argv[optind] : NULL;
	return 0;
}

/* --profile: arch and secureboot from the profile; --arch wins over the profile's arch.
 * *arch stays NULL when neither names one (the configuration then says). */
static int resolve_profile(struct kc_args *a, const char **arch, int *secureboot,
			   struct im_error *err)
{
	*arch = a->arch;
	*secureboot = 1;
	if (!a->profile)
		return 0;
	struct im_profile *p = NULL;
	if (im_profile_load(a->profile, &p, err) < 0)
		return -1;
	if (!a->arch)
		*arch =
		    im_prof_arch_name(p->arch == IM_PROF_ARCH_UNSET ? IM_PROF_ARCH_AMD64 : p->arch);
	*secureboot = p->secureboot;
	im_profile_free(p);
	return 0;
}

int imager_cmd_kernel_check(int argc, char **argv)
{
	struct kc_args a = {0};
	struct im_error err = {0};
	struct im_kconfig kc = {0};
	struct kc_source src = {0};
	struct im_kfrag *frags = NULL;
	struct im_kcheck c = {0};
	size_t nf = 0;
	const char *arch;
	int secureboot, r = parse_args(argc, argv, &a);
	if (r != 0)
		return r > 0 ? 0 : IM_EXIT_INVALID;
	if (resolve_profile(&a, &arch, &secureboot, &err) < 0)
		goto fail;
	const char *path = a.config ? a.config : a.target;
	r = path ? imager_kc_load(path, &kc, &src, &err)
		 : load_inputs(arch ? arch : "amd64", a.inputs, &kc, &src, &err);
	if (r == 1)
		imager_kc_no_config(path, src.format, &err);
	if (r != 0)
		goto fail;
	/* Without --arch/--profile the configuration's own arch picks the fragments. */
	if (!arch)
		arch = imager_kc_arch(&kc) ? imager_kc_arch(&kc) : "amd64";
	else if (imager_kc_check_arch(&kc, &src, arch, a.arch ? "--arch" : "--profile", &err) < 0)
		goto fail;
	if (im_kfrags_for(arch, secureboot, &frags, &nf, &err) < 0 ||
	    im_kcheck_run(&kc, frags, nf, &c, &err) < 0)
		goto fail;
	if (a.json)
		print_json(&c, &src, arch, a.profile, secureboot, frags, nf);
	else
		print_text(&c, &src, arch, a.profile, frags, nf);
	r = c.n_required ? IM_EXIT_INVALID : 0;
	if (r)
		fprintf(stderr,
			"imager: kernel-check: %s: %zu required kernel options missing or wrong "
			"(listed on stdout)\n",
			src.path, c.n_required);
	goto out;
fail:
	r = imager_report(&err);
out:
	im_kcheck_free(&c);
	im_kfrags_free(frags, nf);
	im_kconfig_free(&kc);
	free(src.path);
	return r;
}
