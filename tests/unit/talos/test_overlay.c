/* lib/overlay.c and lib/overlay_assets.c: overlay.yaml parsing and its errors, typed
 * options, templates (defaults that use other options), and resolving files, DTBs and
 * blobs against an inputs folder. */
#include "testutil.h"

#include "imager/talos/overlay.h"

static const char *good_yaml =
    "name: board-x\n"
    "arch: arm64\n"
    "kernelArgs: [console=ttyS2]\n"
    "partitionTable: {type: hybrid, entries: 56, firstPartition: 16MiB}\n"
    "options:\n"
    "  - {name: fw, type: path}\n"
    "  - {name: mem, type: int, default: \"32\"}\n"
    "  - {name: on, type: bool, default: \"true\"}\n"
    "  - name: cfg\n"
    "    type: text\n"
    "    default: |\n"
    "      mem={{ mem }}\n"
    "  - {name: extra, type: text}\n"
    "files:\n"
    "  - {from: input:u-boot/b/u-boot.bin, to: u-boot.bin}\n"
    "  - {from: overlay:files, to: /}\n"
    "  - {from: option:fw, to: fw/}\n"
    "dtbs: {to: dtb/v, files: [v/b-*.dtb]}\n"
    "templates: [{template: cfg.in, to: cfg.txt}]\n"
    "blobs: [{from: input:u-boot/b/spl.bin, offset: 8KiB}]\n";

static char *make_overlay(const char *name, const char *yaml)
{
	char *d = tu_path(name);
	assert_int_equal(tu_sh("mkdir -p '%s/files/sub'", d), 0);
	char *p;
	assert_true(asprintf(&p, "%s/overlay.yaml", d) > 0);
	tu_write_file(p, yaml, strlen(yaml));
	free(p);
	assert_int_equal(
	    tu_sh("printf '{{cfg}}{{extra}}' > '%s/cfg.in' && echo a > '%s/files/sub/a'", d, d), 0);
	return d;
}

static struct im_overlay *load_ok(const char *dir)
{
	struct im_overlay *o = NULL;
	struct im_error err = {0};
	int rc = im_overlay_load(dir, NULL, &o, &err);
	if (rc)
		fail_msg("%s", err.msg);
	return o;
}

static void expect_load_error(const char *yaml, const char *msg)
{
	char *d = make_overlay("bad", yaml);
	struct im_overlay *o = NULL;
	struct im_error err = {0};
	err = (struct im_error){0};
	assert_int_equal(im_overlay_load(d, NULL, &o, &err), -1);
	assert_null(o);
	if (!strstr(err.msg, msg))
		fail_msg("got \"%s\", want \"%s\"", err.msg, msg);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	free(d);
}

static void test_parse(void **state)
{
	(void)state;
	char *d = make_overlay("good", good_yaml);
	struct im_overlay *o = load_ok(d);
	assert_string_equal(o->name, "board-x");
	assert_int_equal(o->bootloader, IM_BOOT_GRUB);
	assert_int_equal(o->table, IM_OVL_HYBRID);
	assert_int_equal(o->gpt_entries, 56);
	assert_int_equal(o->first_partition, 16u << 20);
	assert_int_equal(o->n_kernel_args, 1);
	assert_int_equal(o->n_opts, 5);
	assert_int_equal(o->n_files, 3);
	assert_int_equal(o->n_blobs, 1);
	assert_int_equal(o->blobs[0].offset, 8192);
	im_overlay_free(o);
	free(d);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_load_error("name: x\narch: arm64\ncolour: red\n", "colour: unknown field");
	expect_load_error("arch: arm64\n", "name: expected a value (required)");
	expect_load_error("name: X!\narch: arm64\n", "name: expected 1..63 characters");
	expect_load_error("name: x\narch: riscv64\n", "arch: expected amd64 or arm64");
	expect_load_error("name: x\narch: arm64\nbootloader: lilo\n", "expected grub or sd-boot");
	expect_load_error("name: x\narch: arm64\npartitionTable: {type: apm}\n",
			  "partitionTable.type: expected gpt or hybrid");
	expect_load_error("name: x\narch: arm64\npartitionTable: {entries: 500}\n", "4..128");
	expect_load_error("name: x\narch: arm64\noptions: [{name: a, type: float}]\n",
			  "text, int, bool or path");
	expect_load_error("name: x\narch: arm64\noptions: [{name: a, type: int, default: x}]\n",
			  "\"x\" is not an int");
	expect_load_error(
	    "name: x\narch: arm64\noptions: [{name: a, type: int}, {name: a, type: int}]\n",
	    "a name not declared twice");
	expect_load_error("name: x\narch: arm64\nblobs: [{from: input:x}]\n", "offset");
	/* not an overlay at all */
	struct im_overlay *o = NULL;
	struct im_error err = {0};
	err = (struct im_error){0};
	assert_int_equal(im_overlay_load(tu_dir, NULL, &o, &err), -1);
	assert_non_null(strstr(err.msg, "no overlay.yaml"));
	err = (struct im_error){0};
	assert_int_equal(im_overlay_load("/nonexistent/ovl", NULL, &o, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
}

static void test_name_lookup(void **state)
{
	(void)state;
	char *d = make_overlay("board-x", good_yaml);
	struct im_overlay *o = NULL;
	struct im_error err = {0};
	/* a folder of overlays: <dir>/<name> */
	assert_int_equal(im_overlay_load(tu_dir, "board-x", &o, &err), 0);
	im_overlay_free(o);
	err = (struct im_error){0};
	assert_int_equal(im_overlay_load(d, "other", &o, &err), -1);
	assert_non_null(strstr(err.msg, "is not the one asked for"));
	free(d);
}

static void test_options_and_templates(void **state)
{
	(void)state;
	char *d = make_overlay("opts", good_yaml);
	struct im_overlay *o = load_ok(d);
	struct im_error err = {0};
	char *v = im_overlay_option(o, "cfg", &err);
	assert_string_equal(v, "mem=32\n");
	free(v);
	assert_int_equal(im_overlay_set_option(o, "mem", "64", &err), 0);
	assert_int_equal(im_overlay_set_option(o, "extra", "x=1", &err), 0);
	char *r = im_overlay_render(o, "{{cfg}}{{extra}}", "t", &err);
	assert_string_equal(r, "mem=64\nx=1\n");
	free(r);
	err = (struct im_error){0};
	assert_int_equal(im_overlay_set_option(o, "mem", "lots", &err), -1);
	assert_non_null(strstr(err.msg, "option mem: \"lots\" is not an int"));
	err = (struct im_error){0};
	assert_int_equal(im_overlay_set_option(o, "on", "yes", &err), -1);
	assert_non_null(strstr(err.msg, "is not a bool"));
	err = (struct im_error){0};
	assert_int_equal(im_overlay_set_option(o, "fw", "/nonexistent", &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	err = (struct im_error){0};
	assert_int_equal(im_overlay_set_option(o, "nope", "1", &err), -1);
	assert_non_null(
	    strstr(err.msg, "unknown option \"nope\" (it declares: fw, mem, on, cfg, extra)"));
	err = (struct im_error){0};
	assert_null(im_overlay_render(o, "{{ missing }}", "t", &err));
	/* @file for text */
	char *f = tu_path("extra.txt");
	tu_write_file(f, "from file\n", 10);
	char arg[4200];
	snprintf(arg, sizeof(arg), "@%s", f);
	assert_int_equal(im_overlay_set_option(o, "cfg", arg, &err), 0);
	r = im_overlay_render(o, "{{cfg}}", "t", &err);
	assert_string_equal(r, "from file\n");
	free(r);
	err = (struct im_error){0};
	assert_int_equal(im_overlay_check(o, "amd64", &err), -1);
	assert_non_null(strstr(err.msg, "is for arm64, not amd64"));
	assert_int_equal(im_overlay_check(o, "arm64", &err), 0);
	free(f);
	im_overlay_free(o);
	free(d);
}

static void test_required(void **state)
{
	(void)state;
	char *d = make_overlay("req", "name: r\narch: arm64\noptions: [{name: fw, type: path, "
				      "required: true, description: the firmware}]\n");
	struct im_overlay *o = load_ok(d);
	struct im_error err = {0};
	err = (struct im_error){0};
	assert_int_equal(im_overlay_check(o, "arm64", &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_non_null(strstr(err.msg, "option fw is required"));
	im_overlay_free(o);
	free(d);
}

static void test_resolve(void **state)
{
	(void)state;
	char *d = make_overlay("res", good_yaml);
	char *in = tu_path("inputs"), *fw = tu_path("fwdir");
	assert_int_equal(
	    tu_sh("mkdir -p '%s/u-boot/b' '%s/dtb/v' '%s/x' && echo u > '%s/u-boot/b/u-boot.bin'"
		  " && printf spl > '%s/u-boot/b/spl.bin' && echo 2 > '%s/dtb/v/b-2.dtb'"
		  " && echo 1 > '%s/dtb/v/b-1.dtb' && echo o > '%s/dtb/v/other.dtb'"
		  " && echo f > '%s/x/start.elf'",
		  in, in, fw, in, in, in, in, in, fw),
	    0);
	struct im_overlay *o = load_ok(d);
	struct im_error err = {0};
	assert_int_equal(im_overlay_set_option(o, "fw", fw, &err), 0);
	struct im_overlay_assets a;
	if (im_overlay_resolve(o, in, &a, &err))
		fail_msg("%s", err.msg);
	const char *want[] = {"u-boot.bin",    "sub/a",		"fw/x/start.elf",
			      "dtb/v/b-1.dtb", "dtb/v/b-2.dtb", "cfg.txt"};
	assert_int_equal(a.n_files, 6);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(a.files[i].path, want[i]);
	assert_memory_equal(a.files[5].data, "mem=32\n", 7);
	assert_int_equal(a.n_blobs, 1);
	assert_int_equal(a.blobs[0].len, 3);
	assert_int_equal(a.blobs[0].offset, 8192);
	struct im_install_board b;
	im_overlay_board(o, &a, &b);
	assert_true(b.hybrid_mbr);
	assert_int_equal(b.gpt_entries, 56);
	im_overlay_assets_free(&a);
	/* a DTB pattern that matches nothing, a missing input */
	free(o->dtbs[0]);
	o->dtbs[0] = strdup("v/zz-*.dtb");
	err = (struct im_error){0};
	assert_int_equal(im_overlay_resolve(o, in, &a, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_non_null(strstr(err.msg, "no such device tree"));
	err = (struct im_error){0};
	assert_int_equal(im_overlay_resolve(o, "/nonexistent", &a, &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	im_overlay_free(o);
	free(d);
	free(in);
	free(fw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),	cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_name_lookup), cmocka_unit_test(test_options_and_templates),
	    cmocka_unit_test(test_required),	cmocka_unit_test(test_resolve),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
