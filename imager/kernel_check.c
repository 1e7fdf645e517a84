/* The kernel configuration check shared by `imager kernel-check` (kernel_check_cmd.c) and
 * the builds (im_plan_check_kernel, called by plan.c before anything is written). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel_check.h"
#include "plan.h"
#include "imager/talos/kfrags.h"
#include "imager/talos/kimage.h"

int imager_kc_no_config(const char *path, const char *format, struct im_error *err)
{
	return im_fail(err, IM_EXIT_MISSING,
		       "%s: kernel image (%s) has no embedded configuration (built without "
		       "CONFIG_IKCONFIG): pass its .config with --config FILE",
		       path, format);
}

int imager_kc_load(const char *path, struct im_kconfig *kc, struct kc_source *src,
		   struct im_error *err)
{
	src->path = strdup(path);
	if (!src->path)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int r = im_kconfig_load(path, kc, &src->format, err);
	src->from_kernel = r >= 0 && strstr(src->format, ".config") == NULL;
	return r;
}

const char *imager_kc_arch(const struct im_kconfig *kc)
{
	const char *x = im_kconfig_get(kc, "X86_64"), *a = im_kconfig_get(kc, "ARM64");
	if (x && !strcmp(x, "y"))
		return "amd64";
	if (a && !strcmp(a, "y"))
		return "arm64";
	return NULL;
}

int imager_kc_check_arch(const struct im_kconfig *kc, const struct kc_source *src, const char *arch,
			 const char *flag, struct im_error *err)
{
	const char *have = imager_kc_arch(kc);
	if (!have || !strcmp(have, arch))
		return 0;
	return im_fail(err, IM_EXIT_INVALID, "%s: the configuration of an %s kernel, not %s (%s)",
		       src->path, have, arch, flag);
}

/* Kinds that ship the kernel (the others never boot it). */
static int ships_kernel(enum im_prof_kind k)
{
	return k == IM_PROF_KIND_KERNEL || k == IM_PROF_KIND_UKI || k == IM_PROF_KIND_ISO ||
	       k == IM_PROF_KIND_IMAGE || k == IM_PROF_KIND_INSTALLER;
}

/* The kernel's configuration when it is known: the inputs folder's config for the inputs
 * folder's own kernel (the payload's kernels have no IKCONFIG), else the one embedded in
 * the kernel. 1: unknown (nothing to check). */
static int build_config(const struct im_plan *pl, struct im_kconfig *kc, struct kc_source *src,
			struct im_error *err)
{
	char *config = NULL;
	if (!pl->p->input.kernel.path) {
		if (asprintf(&config, "%s/config", pl->inputs) < 0)
			return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		if (access(config, F_OK) == 0) {
			int r = imager_kc_load(config, kc, src, err);
			free(config);
			return r;
		}
		free(config);
	}
	return imager_kc_load(pl->kernel, kc, src, err);
}

/* One line per failing required option: "CONFIG_X is missing, needs y or m (base.config:
 * reason)"; `sep` joins several into one line. */
static void describe_required(FILE *f, const struct im_kcheck *c, const char *prefix,
			      const char *sep)
{
	int first = 1;
	for (size_t i = 0; i < c->n; i++) {
		const struct im_kcheck_item *it = &c->v[i];
		char what[160];
		if (it->opt->level != IM_KFRAG_REQUIRED)
			continue;
		im_kcheck_describe(it, what, sizeof(what));
		fprintf(f, "%s%sCONFIG_%s %s (%s: %s)", first ? "" : sep, prefix,
			it->opt->want.name, what, it->frag->name, it->opt->reason);
		first = 0;
	}
}

int im_plan_check_kernel(const struct im_plan *pl, int strict, struct im_error *err)
{
	struct im_kconfig kc = {0};
	struct kc_source src = {0};
	struct im_kfrag *frags = NULL;
	struct im_kcheck c = {0};
	size_t nf = 0;
	struct im_error e = {0};
	int rc = 0;
	if (!ships_kernel(pl->p->output.kind))
		return 0;
	int r = build_config(pl, &kc, &src, &e);
	if (r == 0 && imager_kc_check_arch(&kc, &src, pl->arch, "the profile's arch", &e) < 0)
		r = -1;
	if (r == 0 && im_kfrags_for(pl->arch, pl->p->secureboot, &frags, &nf, &e) == 0 &&
	    im_kcheck_run(&kc, frags, nf, &c, &e) == 0 && c.n_required) {
		if (strict) {
			char *line = NULL;
			size_t len = 0;
			FILE *m = open_memstream(&line, &len);
			fprintf(m,
				"--strict-kernel: %s lacks %zu required kernel options: ", src.path,
				c.n_required);
			describe_required(m, &c, "", "; ");
			fclose(m);
			rc = im_fail(err, IM_EXIT_INVALID, "%s", line ? line : "out of memory");
			free(line);
		} else {
			char prefix[512];
			snprintf(prefix, sizeof(prefix), "imager: warning: kernel %s: ", src.path);
			describe_required(stderr, &c, prefix, "\n");
			fputc('\n', stderr);
		}
	} else if (e.code && strict) {
		rc = im_fail(err, e.code, "--strict-kernel: %s", e.msg);
	} else if (e.code) {
		fprintf(stderr, "imager: warning: kernel check skipped: %s\n", e.msg);
	}
	im_kcheck_free(&c);
	im_kfrags_free(frags, nf);
	im_kconfig_free(&kc);
	free(src.path);
	return rc;
}
