/* imager profiles: list the built-in profiles, or print one as effective YAML. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "imager/util/error.h"
#include "imager/install/install.h"
#include "imager/talos/profile.h"

static void usage(FILE *f)
{
	fputs("usage: imager profiles [--arch amd64|arm64] [--names] [NAME]\n"
	      "Without NAME, print one built-in profile per line:\n"
	      "  NAME KIND PLATFORM ARCH SECUREBOOT OUTPUT\n"
	      "(--names: the names only). With NAME, print that profile as YAML with the\n"
	      "defaults filled in, as the build uses it. Built-in profiles take their arch\n"
	      "from --arch (default amd64).\n",
	      f);
}

/* "8GiB", "1246MiB" or plain bytes. */
static void fmt_size(char *buf, size_t size, uint64_t v)
{
	static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
	for (int i = 0; i < 4; i++) {
		uint64_t u = 1ull << (10 * (4 - i));
		if (v && v % u == 0) {
			snprintf(buf, size, "%llu%s", (unsigned long long)(v / u), units[i]);
			return;
		}
	}
	snprintf(buf, size, "%llu", (unsigned long long)v);
}

static int load(const char *name, const char *arch, struct im_profile **out, struct im_error *err)
{
	struct im_profile *p = NULL;
	if (im_profile_load_builtin(name, &p, err) ||
	    (arch && im_profile_set(p, "arch", arch, err)) || im_profile_finalize(p, err)) {
		im_profile_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

static void print_line(const struct im_profile *p, const char *name)
{
	char what[80];
	const char *fmt = im_prof_out_format_name(p->output.out_format);
	if (p->output.kind == IM_PROF_KIND_IMAGE) {
		char sz[32];
		/* the size the image really has: a disk picked from this line must hold it */
		enum im_bootloader bl = p->output.image_options.bootloader == IM_PROF_BOOT_SDBOOT
					    ? IM_BOOT_SDBOOT
					    : IM_BOOT_GRUB;
		fmt_size(sz, sizeof(sz),
			 im_install_image_size(p->output.image_options.disk_size, bl));
		snprintf(what, sizeof(what), "%s %s %s",
			 im_prof_disk_format_name(p->output.image_options.disk_format), fmt, sz);
	} else {
		snprintf(what, sizeof(what), "%s", fmt);
	}
	printf("%-22s %-10s %-14s %-6s %-3s %s\n", name, im_prof_kind_name(p->output.kind),
	       p->platform, im_prof_arch_name(p->arch), p->secureboot ? "yes" : "no", what);
}

static int list(const char *arch, bool names_only)
{
	for (const char *const *n = im_profile_list_builtin(); *n; n++) {
		struct im_error err = {0};
		struct im_profile *p = NULL;
		if (names_only) {
			puts(*n);
			continue;
		}
		if (load(*n, arch, &p, &err))
			return imager_report(&err);
		print_line(p, *n);
		im_profile_free(p);
	}
	return fflush(stdout) ? IM_EXIT_IO : IM_EXIT_OK;
}

static int show(const char *name, const char *arch)
{
	struct im_error err = {0};
	struct im_profile *p = NULL;
	if (load(name, arch, &p, &err))
		return imager_report(&err);
	int rc = im_profile_dump(p, stdout);
	im_profile_free(p);
	return rc ? IM_EXIT_IO : IM_EXIT_OK;
}

int imager_cmd_profiles(int argc, char **argv)
{
	const char *arch = NULL, *name = NULL;
	bool names_only = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return IM_EXIT_OK;
		} else if (!strcmp(argv[i], "--names")) {
			names_only = true;
		} else if (!strcmp(argv[i], "--arch") && i + 1 < argc) {
			arch = argv[++i];
		} else if (!strncmp(argv[i], "--arch=", 7)) {
			arch = argv[i] + 7;
		} else if (argv[i][0] == '-' || name) {
			fprintf(stderr, "imager: profiles: unexpected argument \"%s\"\n", argv[i]);
			usage(stderr);
			return IM_EXIT_INVALID;
		} else {
			name = argv[i];
		}
	}
	return name ? show(name, arch) : list(arch, names_only);
}
