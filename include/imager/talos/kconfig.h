/* Kernel configurations (.config files) and the fragments of kernel-config/, and the
 * check of one against the others (imager kernel-check, and the builds' warnings).
 *
 * Value rules of a fragment option (doc/kernel-config.md):
 *   =y             the kernel must have it built in;
 *   =m             built in or a module (the initramfs must carry the module);
 *   is not set/=n  off: "# CONFIG_X is not set", =n, or absent from the .config;
 *   anything else  the .config's value must be the same string (numbers, "strings").
 * An absent option counts as off (Kconfig drops options whose dependencies are off). */
#ifndef IMAGER_TALOS_KCONFIG_H
#define IMAGER_TALOS_KCONFIG_H

#include <stddef.h>

#include "imager/util/error.h"

/* One .config: option names without the CONFIG_ prefix, sorted, unique (the last
 * assignment wins, as in Kconfig). value is "y", "m", "n" (for "is not set") or the text
 * after '=' as written (quotes kept). */
struct im_kconfig_entry {
	char *name;
	char *value;
};
struct im_kconfig {
	struct im_kconfig_entry *v;
	size_t n;
};

/* Parse .config text; `what` names the source in errors ("out/install/amd64/config").
 * Lines other than CONFIG_X=V, "# CONFIG_X is not set", comments and blank lines are
 * invalid (IM_EXIT_INVALID naming the line). A text without any option is invalid too. */
int im_kconfig_parse(const char *text, size_t len, const char *what, struct im_kconfig *kc,
		     struct im_error *err);
/* The value of option `name` (without CONFIG_), NULL when absent. */
const char *im_kconfig_get(const struct im_kconfig *kc, const char *name);
void im_kconfig_free(struct im_kconfig *kc);

/* Whether a .config value (`have`, NULL when absent) satisfies a fragment value. */
int im_kconfig_satisfies(const char *want, const char *have);

enum im_kfrag_level {
	IM_KFRAG_REQUIRED = 0,
	IM_KFRAG_RECOMMENDED = 1,
};

struct im_kfrag_want {
	char *name;  /* without CONFIG_ */
	char *value; /* "y", "m", "n" or a literal */
};

/* One option of a fragment: the wanted value, alternatives ("# @or CONFIG_Y=v" lines right
 * below it, e.g. an option's new name), the reason (the comment line right above it). */
struct im_kfrag_opt {
	struct im_kfrag_want want;
	struct im_kfrag_want *alt;
	size_t n_alt;
	char *reason;
	enum im_kfrag_level level;
	unsigned line;
};

struct im_kfrag {
	char *name; /* "base.config" */
	struct im_kfrag_opt *v;
	size_t n;
};

/* Parse a fragment: Kconfig assignments, "# @required" / "# @recommended" section lines
 * (the default is required), "# @or CONFIG_X=V" alternatives. Every option needs its
 * reason comment; an option twice in one fragment is an error. */
int im_kfrag_parse(const char *text, size_t len, const char *name, struct im_kfrag *f,
		   struct im_error *err);
void im_kfrag_free(struct im_kfrag *f);

/* One option that does not hold. */
struct im_kcheck_item {
	const struct im_kfrag *frag;
	const struct im_kfrag_opt *opt;
	const char *have; /* the .config's value of opt->want.name, NULL when absent */
};

struct im_kcheck {
	struct im_kcheck_item *v; /* in fragment order, then option order */
	size_t n;
	size_t n_required;    /* items of level required */
	size_t n_recommended; /* items of level recommended */
	size_t n_checked;     /* options looked at */
};

/* Check `kc` against the fragments, in their order. Only fails for memory. */
int im_kcheck_run(const struct im_kconfig *kc, const struct im_kfrag *frags, size_t n_frags,
		  struct im_kcheck *out, struct im_error *err);
void im_kcheck_free(struct im_kcheck *c);

/* What is wrong, for people: "is m, needs y (built in)", "is missing, needs y or m",
 * "is y, needs off", "is 4096, needs 65536". */
void im_kcheck_describe(const struct im_kcheck_item *it, char *buf, size_t size);
/* The same as one word for machines: "missing" (absent or off) or "wrong". */
const char *im_kcheck_state(const struct im_kcheck_item *it);
/* What would satisfy the option: "y", "y or m", "off", or the literal. */
const char *im_kcheck_wanted(const char *want);

#endif
