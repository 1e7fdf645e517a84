/* Unit tests for lib/profile.c and lib/profile_yaml.c: the profile (DESIGN.md §3). */
#include "testutil.h"

#include "imager/talos/profile.h"

#ifndef IMAGER_SOURCE_DIR
#define IMAGER_SOURCE_DIR "."
#endif

#define FIX "tests/unit/fixtures/profile/"
#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)

static struct im_profile *load_ok(const char *path)
{
	struct im_error err = {0};
	struct im_profile *p = NULL;
	int rc = im_profile_load_file(path, &p, &err);
	if (rc)
		print_error("%s: %s\n", path, err.msg);
	assert_int_equal(rc, 0);
	return p;
}

static void finalize_ok(struct im_profile *p)
{
	struct im_error err = {0};
	int rc = im_profile_finalize(p, &err);
	if (rc)
		print_error("finalize: %s\n", err.msg);
	assert_int_equal(rc, 0);
}

/* Load `text`, expect failure with `code` and a message starting with `prefix`
 * (and containing `also` when not NULL). */
static void expect_load_error(const char *text, int code, const char *prefix, const char *also)
{
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load_string(text, "t.yaml", &p, &err), -1);
	assert_null(p);
	if (strncmp(err.msg, prefix, strlen(prefix)) || (also && !strstr(err.msg, also)))
		print_error("got: %s\nwant prefix: %s\n", err.msg, prefix);
	assert_int_equal(err.code, code);
	assert_true(!strncmp(err.msg, prefix, strlen(prefix)));
	if (also)
		assert_non_null(strstr(err.msg, also));
}

static void expect_finalize_error(const char *text, const char *needle)
{
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load_string(text, "t.yaml", &p, &err), 0);
	assert_int_equal(im_profile_finalize(p, &err), -1);
	if (!strstr(err.msg, needle))
		print_error("got: %s\nwant: %s\n", err.msg, needle);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, needle));
	im_profile_free(p);
}

static char *dump_str(const struct im_profile *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(im_profile_dump(p, f), 0);
	fclose(f);
	return buf;
}

/* dump -> load -> finalize -> dump gives the same text. */
static void assert_round_trip(const struct im_profile *p)
{
	struct im_error err = {0};
	struct im_profile *q = NULL;
	char *a = dump_str(p);
	if (im_profile_load_string(a, "dump", &q, &err))
		print_error("reload: %s\n---\n%s", err.msg, a);
	assert_non_null(q);
	finalize_ok(q);
	char *b = dump_str(q);
	if (strcmp(a, b))
		print_error("first:\n%s\nsecond:\n%s", a, b);
	assert_string_equal(a, b);
	free(a);
	free(b);
	im_profile_free(q);
}

static void test_builtins_sorted_and_complete(void **state)
{
	(void)state;
	static const char *const want[] = {"iso",	"secureboot-iso",
					   "metal",	"secureboot-metal",
					   "metal-uki", "secureboot-metal-uki",
					   "installer", "secureboot-installer",
					   "aws",	"gcp",
					   "azure",	"digital-ocean",
					   "nocloud",	"openstack",
					   "vmware",	"hcloud",
					   "oracle",	"exoscale",
					   "scaleway",	"vultr",
					   "upcloud",	"akamai"};
	const char *const *names = im_profile_list_builtin();
	size_t n = 0;
	for (; names[n]; n++) {
		assert_string_equal(names[n], im_profile_builtins[n].name);
		if (n)
			assert_true(strcmp(names[n - 1], names[n]) < 0);
	}
	assert_int_equal(n, im_profile_n_builtins);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		assert_non_null(im_profile_builtin_yaml(want[i]));
	assert_null(im_profile_builtin_yaml("nope"));
}

/* Every built-in loads, validates for both arches and survives a dump round trip. */
static void test_builtins_load(void **state)
{
	(void)state;
	for (const char *const *n = im_profile_list_builtin(); *n; n++) {
		for (int a = 0; a < 2; a++) {
			struct im_error err = {0};
			struct im_profile *p = NULL;
			if (im_profile_load_builtin(*n, &p, &err))
				print_error("%s: %s\n", *n, err.msg);
			assert_non_null(p);
			assert_null(p->base_profile_name);
			assert_int_equal(im_profile_set(p, "arch", a ? "arm64" : "amd64", &err), 0);
			finalize_ok(p);
			assert_non_null(p->platform);
			assert_int_not_equal(p->output.kind, IM_PROF_KIND_UNSET);
			assert_int_equal(p->secureboot, !strncmp(*n, "secureboot-", 11));
			if (strncmp(*n, "secureboot-", 11) && strcmp(*n, "metal") &&
			    strncmp(*n, "metal-", 6) && strcmp(*n, "iso") &&
			    strcmp(*n, "installer"))
				assert_string_equal(p->platform, *n);
			else
				assert_string_equal(p->platform, "metal");
			assert_round_trip(p);
			im_profile_free(p);
		}
	}
}

struct image_want {
	const char *name;
	enum im_prof_out_format fmt;
	enum im_prof_disk_format disk;
	uint64_t size;
};

/* DESIGN §4 table. */
static void test_builtin_image_values(void **state)
{
	(void)state;
	static const struct image_want want[] = {
	    {"metal", IM_PROF_FMT_ZST, IM_PROF_DISK_RAW, 1246 * MIB},
	    {"secureboot-metal", IM_PROF_FMT_ZST, IM_PROF_DISK_RAW, 1246 * MIB},
	    {"aws", IM_PROF_FMT_ZST, IM_PROF_DISK_RAW, 8 * GIB},
	    {"gcp", IM_PROF_FMT_TAR_GZ, IM_PROF_DISK_RAW, 8 * GIB},
	    {"azure", IM_PROF_FMT_ZST, IM_PROF_DISK_VHD, 8 * GIB},
	    {"digital-ocean", IM_PROF_FMT_GZ, IM_PROF_DISK_RAW, 8 * GIB},
	    {"akamai", IM_PROF_FMT_GZ, IM_PROF_DISK_RAW, 1246 * MIB},
	    {"nocloud", IM_PROF_FMT_ZST, IM_PROF_DISK_RAW, 1246 * MIB},
	    {"openstack", IM_PROF_FMT_ZST, IM_PROF_DISK_RAW, 1246 * MIB},
	    {"hcloud", IM_PROF_FMT_ZST, IM_PROF_DISK_RAW, 1246 * MIB},
	    {"exoscale", IM_PROF_FMT_ZST, IM_PROF_DISK_QCOW2, 10 * GIB},
	    {"oracle", IM_PROF_FMT_ZST, IM_PROF_DISK_QCOW2, 8 * GIB},
	    {"scaleway", IM_PROF_FMT_ZST, IM_PROF_DISK_RAW, 1246 * MIB},
	    {"upcloud", IM_PROF_FMT_ZST, IM_PROF_DISK_RAW, 8 * GIB},
	    {"vultr", IM_PROF_FMT_ZST, IM_PROF_DISK_RAW, 8 * GIB},
	    {"vmware", IM_PROF_FMT_RAW, IM_PROF_DISK_OVA, 8 * GIB},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct im_error err = {0};
		struct im_profile *p = NULL;
		assert_int_equal(im_profile_load(want[i].name, &p, &err), 0);
		finalize_ok(p);
		assert_int_equal(p->output.kind, IM_PROF_KIND_IMAGE);
		assert_int_equal(p->output.out_format, want[i].fmt);
		assert_int_equal(p->output.image_options.disk_format, want[i].disk);
		assert_int_equal(p->output.image_options.disk_size, want[i].size);
		assert_int_equal(p->output.image_options.sector_size, 512);
		assert_int_equal(p->output.image_options.bootloader,
				 p->secureboot ? IM_PROF_BOOT_SDBOOT : IM_PROF_BOOT_DUAL);
		im_profile_free(p);
	}
}

static void test_builtin_other_kinds(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load_builtin("secureboot-iso", &p, &err), 0);
	finalize_ok(p);
	assert_int_equal(p->output.kind, IM_PROF_KIND_ISO);
	assert_int_equal(p->output.iso_options.sd_boot_enroll_keys, IM_PROF_ENROLL_IF_SAFE);
	assert_int_equal(p->output.iso_options.bootloader, IM_PROF_BOOT_SDBOOT);
	assert_int_equal(p->arch, IM_PROF_ARCH_AMD64);
	assert_string_equal(p->name, "Talos");
	assert_string_equal(p->version, IM_PROFILE_DEFAULT_VER);
	im_profile_free(p);

	assert_int_equal(im_profile_load("iso", &p, &err), 0);
	finalize_ok(p);
	assert_int_equal(p->output.iso_options.bootloader, IM_PROF_BOOT_DUAL);
	im_profile_free(p);

	assert_int_equal(im_profile_load("metal-uki", &p, &err), 0);
	finalize_ok(p);
	assert_int_equal(p->output.kind, IM_PROF_KIND_UKI);
	assert_false(p->secureboot);
	im_profile_free(p);

	assert_int_equal(im_profile_load("secureboot-installer", &p, &err), 0);
	finalize_ok(p);
	assert_int_equal(p->output.kind, IM_PROF_KIND_INSTALLER);
	assert_int_equal(p->output.out_format, IM_PROF_FMT_RAW);
	assert_true(p->secureboot);
	im_profile_free(p);

	assert_int_equal(im_profile_load_builtin("nope", &p, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_non_null(strstr(err.msg, "unknown built-in profile \"nope\""));
}

/* Scalars replace, lists append, maps merge. */
static void test_merge_semantics(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_profile *p = load_ok(FIX "merge_base.yaml");
	assert_int_equal(im_profile_apply_file(p, FIX "merge_over.yaml", &err), 0);
	assert_string_equal(p->platform, "nocloud");
	assert_string_equal(p->name, "Base");
	const struct im_prof_str_list *ka = &p->customization.extra_kernel_args;
	assert_int_equal(ka->n, 3);
	assert_string_equal(ka->v[0], "a=1");
	assert_string_equal(ka->v[1], "b");
	assert_string_equal(ka->v[2], "c");
	assert_int_equal(p->customization.meta_contents.n, 3);
	assert_string_equal(p->overlay.name, "rpi_generic");
	const struct im_prof_kv_list *o = &p->overlay.options;
	assert_int_equal(o->n, 3);
	assert_string_equal(o->v[0].key, "configTxt");
	assert_string_equal(o->v[0].value, "over");
	assert_string_equal(o->v[1].key, "keep");
	assert_string_equal(o->v[1].value, "1");
	assert_string_equal(o->v[2].key, "added");
	assert_string_equal(o->v[2].value, "x");
	assert_int_equal(p->output.kind, IM_PROF_KIND_IMAGE);
	assert_int_equal(p->output.image_options.disk_size, 4 * GIB);
	assert_int_equal(p->output.image_options.disk_format, IM_PROF_DISK_QCOW2);

	/* CLI settings merge the same way. */
	assert_int_equal(im_profile_set(p, "customization.extraKernelArgs", "d", &err), 0);
	assert_int_equal(im_profile_set(p, "customization.metaContents", "0xc=cli", &err), 0);
	assert_int_equal(im_profile_set(p, "overlay.options", "keep=2", &err), 0);
	assert_int_equal(im_profile_set(p, "platform", "hcloud", &err), 0);
	assert_int_equal(ka->n, 4);
	assert_string_equal(ka->v[3], "d");
	assert_string_equal(o->v[1].value, "2");

	/* finalize: a later META entry replaces an earlier one with the same key. */
	finalize_ok(p);
	const struct im_prof_meta_list *m = &p->customization.meta_contents;
	assert_int_equal(m->n, 2);
	assert_int_equal(m->v[0].key, 0xa);
	assert_string_equal(m->v[0].value, "over-net");
	assert_int_equal(m->v[1].key, 0xc);
	assert_string_equal(m->v[1].value, "cli");
	assert_string_equal(p->platform, "hcloud");
	assert_round_trip(p);
	im_profile_free(p);
}

static void test_base_profile_name(void **state)
{
	(void)state;
	struct im_profile *p = load_ok(FIX "with_base.yaml");
	assert_string_equal(p->base_profile_name, "secureboot-metal");
	assert_string_equal(p->origin, FIX "with_base.yaml");
	finalize_ok(p);
	assert_string_equal(p->platform, "metal");
	assert_true(p->secureboot);
	assert_int_equal(p->arch, IM_PROF_ARCH_ARM64);
	assert_int_equal(p->output.kind, IM_PROF_KIND_IMAGE);
	assert_int_equal(p->output.out_format, IM_PROF_FMT_ZST);
	assert_int_equal(p->output.image_options.disk_format, IM_PROF_DISK_RAW);
	assert_int_equal(p->output.image_options.disk_size, 2 * GIB);
	assert_int_equal(p->output.image_options.bootloader, IM_PROF_BOOT_SDBOOT);
	assert_int_equal(p->customization.extra_kernel_args.n, 1);
	/* The dump is self-contained: no baseProfileName, so reloading adds nothing twice. */
	char *d = dump_str(p);
	assert_null(strstr(d, "baseProfileName"));
	free(d);
	assert_round_trip(p);
	im_profile_free(p);

	expect_load_error("baseProfileName: nope\n", IM_EXIT_INVALID,
			  "t.yaml:1:18: baseProfileName: "
			  "unknown built-in profile \"nope\"",
			  "metal");
	expect_load_error("baseProfileName: [metal]\n", IM_EXIT_INVALID,
			  "t.yaml:1:18: baseProfileName: expected", NULL);
}

static void test_unknown_key_position(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load_file(FIX "unknown_key.yaml", &p, &err), -1);
	assert_null(p);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	const char *want = FIX "unknown_key.yaml:7:5: unknown key \"diskFromat\" in "
			       "output.imageOptions (known: diskSize, diskFormat,";
	if (strncmp(err.msg, want, strlen(want)))
		print_error("got: %s\n", err.msg);
	assert_true(!strncmp(err.msg, want, strlen(want)));

	expect_load_error("platform: metal\nfoo: 1\n", IM_EXIT_INVALID,
			  "t.yaml:2:1: unknown key \"foo\" at top level (known: ", NULL);
	expect_load_error("input:\n  systemExtensions:\n    - path: /a\n    - {pth: /b}\n",
			  IM_EXIT_INVALID,
			  "t.yaml:4:8: unknown key \"pth\" in input.systemExtensions[1]", NULL);
	expect_load_error("input:\n  secureboot:\n    pcrSigner: {keyPat: x}\n", IM_EXIT_INVALID,
			  "t.yaml:3:17: unknown key \"keyPat\" in input.secureboot.pcrSigner",
			  NULL);
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_load_error("platform: [aws]\n", IM_EXIT_INVALID,
			  "t.yaml:1:11: platform: expected a string, got a list", NULL);
	expect_load_error("secureboot: yes\n", IM_EXIT_INVALID,
			  "t.yaml:1:13: secureboot: expected true or false, got \"yes\"", NULL);
	expect_load_error("secureboot: 1\n", IM_EXIT_INVALID,
			  "t.yaml:1:13: secureboot: expected true or false", NULL);
	expect_load_error("output:\n  imageOptions:\n    sectorSize: abc\n", IM_EXIT_INVALID,
			  "t.yaml:3:17: output.imageOptions.sectorSize: expected an integer, got "
			  "\"abc\"",
			  NULL);
	expect_load_error("output:\n  imageOptions:\n    sectorSize: 1024\n", IM_EXIT_INVALID,
			  "t.yaml:3:17: output.imageOptions.sectorSize: invalid value 1024 "
			  "(allowed: 512, 4096)",
			  NULL);
	expect_load_error("output:\n  imageOptions:\n    diskSize: 1.5GiB\n", IM_EXIT_INVALID,
			  "t.yaml:3:15: output.imageOptions.diskSize: expected a size", NULL);
	expect_load_error("output: image\n", IM_EXIT_INVALID,
			  "t.yaml:1:9: output: expected a mapping, got \"image\"", NULL);
	expect_load_error("customization:\n  extraKernelArgs: console=ttyS0\n", IM_EXIT_INVALID,
			  "t.yaml:2:20: customization.extraKernelArgs: expected a list", NULL);
	expect_load_error("customization:\n  extraKernelArgs: [a, [b]]\n", IM_EXIT_INVALID,
			  "t.yaml:2:24: customization.extraKernelArgs[1]: expected a non-empty "
			  "string, got a list",
			  NULL);
	expect_load_error(
	    "customization:\n  metaContents: [{key: 0, value: x}]\n", IM_EXIT_INVALID,
	    "t.yaml:2:24: customization.metaContents[0].key: 0 is out of range 1..255", NULL);
	expect_load_error("customization:\n  metaContents: [novalue]\n", IM_EXIT_INVALID,
			  "t.yaml:2:18: customization.metaContents[0]: expected {key, value} or "
			  "KEY=VALUE",
			  NULL);
	expect_load_error("overlay:\n  options: {a: [1]}\n", IM_EXIT_INVALID,
			  "t.yaml:2:16: overlay.options.a: expected a scalar, got a list", NULL);
	expect_load_error("- a\n- b\n", IM_EXIT_INVALID,
			  "t.yaml:1:1: a profile must be a mapping, not a list", NULL);
}

static void test_bad_enums(void **state)
{
	(void)state;
	expect_load_error("output:\n  kind: isoo\n", IM_EXIT_INVALID,
			  "t.yaml:2:9: output.kind: invalid value \"isoo\" (allowed: iso, image, "
			  "installer, kernel, initramfs, uki, cmdline)",
			  NULL);
	expect_load_error("arch: x86_64\n", IM_EXIT_INVALID,
			  "t.yaml:1:7: arch: invalid value \"x86_64\" (allowed: amd64, arm64)",
			  NULL);
	expect_load_error("output: {outFormat: .bz2}\n", IM_EXIT_INVALID,
			  "t.yaml:1:21: output.outFormat: invalid value \".bz2\" (allowed: raw, "
			  ".xz, .zst, .gz, .tar.gz)",
			  NULL);
	expect_load_error("output: {imageOptions: {diskFormat: vmdk}}\n", IM_EXIT_INVALID,
			  "t.yaml:1:37: output.imageOptions.diskFormat: invalid value \"vmdk\" "
			  "(allowed: raw, qcow2, vhd, ova, vhd-dynamic)",
			  NULL);
	expect_load_error("output: {imageOptions: {bootloader: lilo}}\n", IM_EXIT_INVALID,
			  "t.yaml:1:37: output.imageOptions.bootloader: invalid value \"lilo\" "
			  "(allowed: grub, sd-boot, dual-boot)",
			  NULL);
	expect_load_error("output: {isoOptions: {sdBootEnrollKeys: always}}\n", IM_EXIT_INVALID,
			  "t.yaml:1:41: output.isoOptions.sdBootEnrollKeys: invalid value "
			  "\"always\" (allowed: if-safe, manual, force, off)",
			  NULL);
	/* Platforms are those of the kernel command line table (DESIGN §4). */
	expect_finalize_error("platform: aws2\noutput: {kind: iso}\n",
			      "t.yaml: platform: invalid value \"aws2\" (allowed: metal, aws,");

	struct im_error err = {0};
	struct im_profile *p = im_profile_new();
	assert_int_equal(im_profile_set(p, "arch", "riscv64", &err), -1);
	assert_string_equal(err.msg, "arch: invalid value \"riscv64\" (allowed: amd64, arm64)");
	im_profile_free(p);
}

static void test_unsupported(void **state)
{
	(void)state;
	expect_load_error(
	    "input:\n  systemExtensions:\n    - imageRef: ghcr.io/x/y:1\n", IM_EXIT_UNSUPPORTED,
	    "t.yaml:3:7: input.systemExtensions[0]: imageRef ghcr.io/x/y:1: pulling", NULL);
	expect_load_error("input:\n  secureboot:\n    secureBootSigner:\n      awsKMSKeyID: k\n",
			  IM_EXIT_UNSUPPORTED,
			  "t.yaml:4:20: input.secureboot.secureBootSigner.awsKMSKeyID: not "
			  "supported: cloud KMS",
			  NULL);
	expect_load_error("board: rpi_generic\n", IM_EXIT_UNSUPPORTED,
			  "t.yaml:1:8: board: not supported", "overlay.name");
	expect_load_error("customization:\n  systemExtensions:\n    officialExtensions: [a/b]\n",
			  IM_EXIT_UNSUPPORTED,
			  "t.yaml:3:25: customization.systemExtensions.officialExtensions: not "
			  "supported",
			  NULL);
}

static void test_yaml_errors(void **state)
{
	(void)state;
	expect_load_error("platform: metal\n  arch: amd64\n", IM_EXIT_INVALID,
			  "t.yaml:2:7: YAML syntax error: ", NULL);
	expect_load_error("platform: metal\nplatform: aws\n", IM_EXIT_INVALID,
			  "t.yaml:2:1: duplicate key \"platform\" (first at line 1)", NULL);
	expect_load_error("a: 1\n---\nb: 2\n", IM_EXIT_INVALID,
			  "t.yaml:3:1: only one YAML document expected", NULL);
	expect_load_error("x: &a [*a]\n", IM_EXIT_INVALID, "t.yaml:", "recursive alias");
	/* Deep flow nesting is refused from the events, before libyaml's quadratic load. */
	static char deep[200010];
	memcpy(deep, "x: ", 3);
	memset(deep + 3, '[', 200000);
	expect_load_error(deep, IM_EXIT_INVALID, "t.yaml:1:", "nesting too deep (more than 64");
	/* Aliases are fine otherwise. */
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load_string("platform: &p aws\nname: *p\n", NULL, &p, &err), 0);
	assert_string_equal(p->name, "aws");
	im_profile_free(p);
	/* Empty profile: loads, then finalize asks for the kind. */
	assert_int_equal(im_profile_load_string("# nothing\n", "e.yaml", &p, &err), 0);
	assert_int_equal(im_profile_finalize(p, &err), -1);
	assert_non_null(strstr(err.msg, "e.yaml: output.kind is required (allowed: iso, image,"));
	im_profile_free(p);
}

static void test_finalize_rules(void **state)
{
	(void)state;
	expect_finalize_error("secureboot: true\noutput: {kind: image, imageOptions: "
			      "{diskSize: 1GiB, bootloader: grub}}\n",
			      "t.yaml: output.imageOptions.bootloader: secureboot needs sd-boot, "
			      "not grub");
	expect_finalize_error(
	    "arch: arm64\noutput: {kind: iso, isoOptions: {bootloader: "
	    "dual-boot}}\n",
	    "output.isoOptions.bootloader: dual-boot (GRUB for BIOS) is amd64 only");
	expect_finalize_error("output: {kind: image}\n",
			      "output.imageOptions.diskSize is required for output kind image");
	expect_finalize_error("output: {kind: image, imageOptions: {diskSize: 1000, "
			      "sectorSize: 512}}\n",
			      "diskSize 1000 is not a multiple of the sector size 512");
	expect_finalize_error("secureboot: true\noutput: {kind: kernel}\n",
			      "secureboot is not supported for output kind kernel");
	expect_finalize_error("overlay: {options: {a: b}}\noutput: {kind: iso}\n",
			      "overlay.options given without overlay.name or overlay.image");
	expect_finalize_error("version: v1 beta\noutput: {kind: iso}\n",
			      "version: \"v1 beta\" must not contain '/', spaces or control");
	/* arm64 default bootloader is sd-boot; "none" is Talos's "default". */
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load_string("arch: arm64\noutput: {kind: image, imageOptions: "
						"{diskSize: 1GiB, bootloader: none}}\n",
						NULL, &p, &err),
			 0);
	finalize_ok(p);
	assert_int_equal(p->output.image_options.bootloader, IM_PROF_BOOT_SDBOOT);
	assert_string_equal(p->platform, "metal");
	im_profile_free(p);
}

static void test_disk_size_parsing(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
	    {"0", 0},
	    {"1306525696", 1306525696},
	    {"0x400", 1024},
	    {"512B", 512},
	    {"8GiB", 8 * GIB},
	    {"8 GiB", 8 * GIB},
	    {"8G", 8 * GIB},
	    {"8Gi", 8 * GIB},
	    {"1246MiB", 1246 * MIB},
	    {"1246M", 1246 * MIB},
	    {"4KiB", 4096},
	    {"4K", 4096},
	    {"1KB", 1000},
	    {"1kB", 1000},
	    {"2MB", 2000000},
	    {"10GB", 10000000000ull},
	    {"1TiB", 1024 * GIB},
	    {"2TB", 2000000000000ull},
	    {"18446744073709551615", UINT64_MAX},
	};
	static const char *const bad[] = {"",
					  "GiB",
					  "8gib",
					  "1.5GiB",
					  "-1",
					  "8 ",
					  "8  GiB",
					  "8GiBs",
					  "18446744073709551616",
					  "16777216TiB",
					  " 8",
					  "0x",
					  "0xZZ",
					  "8 x"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 1;
		assert_int_equal(im_profile_parse_size(ok[i].s, &v), 0);
		assert_int_equal(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v;
		if (!im_profile_parse_size(bad[i], &v))
			print_error("accepted \"%s\"\n", bad[i]);
		assert_int_equal(im_profile_parse_size(bad[i], &v), -1);
	}
	struct im_error err = {0};
	struct im_profile *p = im_profile_new();
	assert_int_equal(im_profile_set(p, "output.imageOptions.diskSize", "4GiB", &err), 0);
	assert_int_equal(p->output.image_options.disk_size, 4 * GIB);
	assert_int_equal(im_profile_set(p, "output.imageOptions.diskSize", "4 gigs", &err), -1);
	assert_true(!strncmp(err.msg, "output.imageOptions.diskSize: expected a size", 45));
	im_profile_free(p);
}

static void check_talos(const struct im_profile *p)
{
	assert_int_equal(p->arch, IM_PROF_ARCH_ARM64);
	assert_true(p->secureboot);
	assert_string_equal(p->version, "1.15.0");
	assert_string_equal(p->input.kernel.path, "/usr/install/arm64/vmlinuz");
	assert_string_equal(p->input.sd_boot.path, "/usr/install/arm64/systemd-boot.efi");
	assert_null(p->input.base_installer.path);
	assert_string_equal(p->input.base_installer.image_ref,
			    "ghcr.io/siderolabs/installer-base:1.15.0");
	const struct im_prof_secureboot *sb = &p->input.secureboot;
	assert_string_equal(sb->key_path, "/secureboot/uki-signing-key.pem");
	assert_string_equal(sb->cert_path, "/secureboot/uki-signing-cert.pem");
	assert_string_equal(sb->pcr_key_path, "/secureboot/pcr-signing-key.pem");
	assert_string_equal(sb->pk_path, "/secureboot/PK.auth");
	assert_string_equal(sb->kek_path, "/secureboot/KEK.auth");
	assert_string_equal(sb->db_path, "/secureboot/db.auth");
	assert_int_equal(p->input.system_extensions.n, 2);
	assert_string_equal(p->input.system_extensions.v[0].path, "/ext/gvisor.tar");
	assert_string_equal(p->input.system_extensions.v[1].path, "/ext/iscsi-tools.oci");
	assert_int_equal(p->customization.meta_contents.n, 1);
	assert_int_equal(p->customization.meta_contents.v[0].key, 0xa);
	assert_string_equal(p->customization.meta_contents.v[0].value, "addresses: []\n");
	assert_string_equal(p->overlay.name, "rpi_generic");
	assert_string_equal(p->overlay.image.image_ref,
			    "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0");
	assert_string_equal(p->overlay.options.v[0].value, "dtoverlay=vc4-kms-v3d");
	assert_int_equal(p->output.out_format, IM_PROF_FMT_XZ);
	assert_int_equal(p->output.image_options.disk_size, 1306525696);
	assert_int_equal(p->output.image_options.bootloader, IM_PROF_BOOT_SDBOOT);
}

static void test_talos_profile(void **state)
{
	(void)state;
	struct im_profile *p = load_ok(FIX "talos.yaml");
	check_talos(p);
	finalize_ok(p);
	check_talos(p);
	assert_round_trip(p);
	im_profile_free(p);
}

static void test_design_profile(void **state)
{
	(void)state;
	struct im_profile *p = load_ok(FIX "design.yaml");
	finalize_ok(p);
	assert_string_equal(p->name, "My OS");
	assert_string_equal(p->customization.extra_kernel_args.v[0], "-console");
	assert_string_equal(p->customization.extra_kernel_args.v[2], "quote\"d");
	assert_int_equal(p->customization.meta_contents.v[1].key, 0xc);
	assert_string_equal(p->customization.meta_contents.v[1].value, "user value");
	assert_string_equal(p->input.initramfs.path, "/in/initramfs.xz");
	assert_string_equal(p->input.grub.path, "/in/grub");
	assert_string_equal(p->input.system_extensions.v[1].path, "/ext/b.tar.zst");
	assert_string_equal(p->input.secureboot.db_path, "/k/db.auth");
	assert_string_equal(p->overlay.image.path, "/overlays/pine64");
	assert_int_equal(p->overlay.options.n, 3);
	assert_string_equal(p->overlay.options.v[2].key, "c d");
	assert_string_equal(p->overlay.options.v[2].value, "");
	assert_int_equal(p->output.out_format, IM_PROF_FMT_ZST);
	assert_int_equal(p->output.image_options.disk_size, 1246 * MIB);
	assert_int_equal(p->output.image_options.disk_format, IM_PROF_DISK_OVA);
	assert_int_equal(p->output.image_options.sector_size, 4096);
	assert_int_equal(p->output.image_options.bootloader, IM_PROF_BOOT_GRUB);
	assert_string_equal(p->output.image_options.disk_format_options,
			    "subformat=streamOptimized");
	assert_round_trip(p);
	im_profile_free(p);
}

/* "-" reads stdin; load_string is the same path with a chosen origin. */
static void test_stdin_and_string(void **state)
{
	(void)state;
	assert_non_null(freopen(FIX "with_base.yaml", "r", stdin));
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load("-", &p, &err), 0);
	assert_string_equal(p->origin, "<stdin>");
	assert_string_equal(p->base_profile_name, "secureboot-metal");
	im_profile_free(p);

	assert_int_equal(im_profile_load_string("output:\n  kind: cmdline\n", "<stdin>", &p, &err),
			 0);
	finalize_ok(p);
	assert_int_equal(p->output.kind, IM_PROF_KIND_CMDLINE);
	im_profile_free(p);

	assert_int_equal(im_profile_load_string("output:\n  kind: nope\n", "<stdin>", &p, &err),
			 -1);
	assert_true(!strncmp(err.msg, "<stdin>:2:9: output.kind: invalid value", 39));
}

static void test_load_dispatch(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load("no-such-profile", &p, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_non_null(strstr(err.msg, "neither a built-in profile"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_profile_load(FIX "missing.yaml", &p, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_non_null(strstr(err.msg, "cannot open profile " FIX "missing.yaml"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_profile_load("tests/unit/fixtures/profile", &p, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING); /* a folder: EISDIR */
	assert_null(p);
}

static void test_set_paths(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load("metal", &p, &err), 0);
	assert_int_equal(im_profile_set(p, "output.kind", "iso", &err), 0);
	assert_int_equal(im_profile_set(p, "input.systemExtensions", "/ext/one", &err), 0);
	assert_int_equal(im_profile_set(p, "overlay.name", "rpi_generic", &err), 0);
	assert_int_equal(im_profile_set(p, "overlay.image", "/ov/rpi", &err), 0);
	assert_int_equal(im_profile_set(p, "input.baseInstaller", "/inst.tar", &err), 0);
	assert_int_equal(im_profile_set(p, "input.secureboot.secureBootSigner.keyPath", "/k", &err),
			 0);
	assert_int_equal(im_profile_set(p, "secureboot", "true", &err), 0);
	assert_int_equal(p->output.kind, IM_PROF_KIND_ISO);
	assert_string_equal(p->input.system_extensions.v[0].path, "/ext/one");
	assert_string_equal(p->overlay.image.path, "/ov/rpi");
	assert_string_equal(p->input.base_installer.path, "/inst.tar");
	assert_string_equal(p->input.secureboot.key_path, "/k");
	assert_true(p->secureboot);

	assert_int_equal(im_profile_set(p, "output.nope", "x", &err), -1);
	assert_string_equal(err.msg, "unknown profile field \"output.nope\"");
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_profile_set(p, "output", "x", &err), -1);
	assert_string_equal(err.msg, "output is a section; set one of its fields");
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_profile_set(p, "overlay.options", "novalue", &err), -1);
	assert_string_equal(err.msg, "overlay.options: expected KEY=VALUE, got \"novalue\"");
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_profile_set(p, "customization.metaContents", "0x100=x", &err), -1);
	assert_true(
	    !strncmp(err.msg, "customization.metaContents[0].key: 0x100 is out of range", 56));
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_profile_set(p, "secureboot", "maybe", &err), -1);
	assert_string_equal(err.msg, "secureboot: expected true or false, got \"maybe\"");
	finalize_ok(p);
	assert_round_trip(p);
	im_profile_free(p);
}

static void test_dump_text(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load("gcp", &p, &err), 0);
	assert_int_equal(im_profile_set(p, "customization.metaContents", "0xa=x: \"y\"", &err), 0);
	assert_int_equal(im_profile_set(p, "customization.extraKernelArgs", "-console", &err), 0);
	finalize_ok(p);
	char *d = dump_str(p);
	const char *want = "arch: amd64\n"
			   "platform: gcp\n"
			   "secureboot: false\n"
			   "name: Talos\n"
			   "version: v1.0.0\n"
			   "customization:\n"
			   "  extraKernelArgs:\n"
			   "    - \"-console\"\n"
			   "  metaContents:\n"
			   "    - key: 0xa\n"
			   "      value: \"x: \\\"y\\\"\"\n"
			   "output:\n"
			   "  kind: image\n"
			   "  outFormat: .tar.gz\n"
			   "  imageOptions:\n"
			   "    diskSize: 8589934592\n"
			   "    diskFormat: raw\n"
			   "    bootloader: dual-boot\n"
			   "    sectorSize: 512\n";
	assert_string_equal(d, want);
	free(d);
	im_profile_free(p);
}

int main(void)
{
	/* Fixture paths are relative to the source tree. */
	if (chdir(IMAGER_SOURCE_DIR))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_builtins_sorted_and_complete),
	    cmocka_unit_test(test_builtins_load),
	    cmocka_unit_test(test_builtin_image_values),
	    cmocka_unit_test(test_builtin_other_kinds),
	    cmocka_unit_test(test_merge_semantics),
	    cmocka_unit_test(test_base_profile_name),
	    cmocka_unit_test(test_unknown_key_position),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_bad_enums),
	    cmocka_unit_test(test_unsupported),
	    cmocka_unit_test(test_yaml_errors),
	    cmocka_unit_test(test_finalize_rules),
	    cmocka_unit_test(test_disk_size_parsing),
	    cmocka_unit_test(test_talos_profile),
	    cmocka_unit_test(test_design_profile),
	    cmocka_unit_test(test_stdin_and_string),
	    cmocka_unit_test(test_load_dispatch),
	    cmocka_unit_test(test_set_paths),
	    cmocka_unit_test(test_dump_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
