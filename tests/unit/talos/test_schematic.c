/* Unit tests for lib/talos/schematic.c and schematic_yaml.c: Image Factory schematic IDs.
 *
 * The IDs come from Image Factory's own tests (siderolabs/image-factory
 * pkg/schematic/schematic_test.go). The canonical texts were checked against
 * gopkg.in/yaml.v3 v3.0.1 (Debian golang-gopkg-yaml.v3-dev, the version Image Factory
 * uses): yaml.Marshal of the same Go structs printed the same bytes. */
#include "testutil.h"

#include "imager/talos/profile.h"
#include "imager/talos/schematic.h"

#define EMPTY_ID "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
#define ARGS_ID	 "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c"
#define META_ID	 "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f"
#define OVL_ID	 "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9"
#define SB_ID	 "fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6"

static struct im_schematic *parse_ok(const char *text)
{
	struct im_error err = {0};
	struct im_schematic *s = NULL;
	int rc = im_schematic_parse(text, strlen(text), "t.yaml", &s, &err);
	if (rc)
		print_error("%s\n", err.msg);
	assert_int_equal(rc, 0);
	assert_non_null(s);
	return s;
}

static void expect_id(const char *text, const char *want)
{
	struct im_error err = {0};
	struct im_schematic *s = parse_ok(text);
	char hex[65];
	assert_int_equal(im_schematic_id(s, hex, &err), 0);
	if (strcmp(hex, want))
		print_error("schematic:\n%s\nid %s, want %s\n", text, hex, want);
	assert_string_equal(hex, want);
	im_schematic_free(s);
}

static void expect_canonical(const char *text, const char *want)
{
	struct im_error err = {0};
	struct im_schematic *s = parse_ok(text);
	char *got;
	size_t len;
	assert_int_equal(im_schematic_marshal(s, &got, &len, &err), 0);
	assert_int_equal(strlen(got), len);
	if (strcmp(got, want))
		print_error("schematic:\n%s\ngot:\n%s\nwant:\n%s\n", text, got, want);
	assert_string_equal(got, want);
	free(got);
	im_schematic_free(s);
}

static void expect_error(const char *text, int code, const char *want)
{
	struct im_error err = {0};
	struct im_schematic *s = NULL;
	assert_int_equal(im_schematic_parse(text, strlen(text), "t.yaml", &s, &err), -1);
	assert_null(s);
	if (!strstr(err.msg, want))
		print_error("got: %s\nwant: %s\n", err.msg, want);
	assert_non_null(strstr(err.msg, want));
	assert_int_equal(err.code, code);
}

/* The two IDs of the issue, and Image Factory's other known ones. */
static void test_known_ids(void **state)
{
	(void)state;
	expect_id("customization: {}\n", EMPTY_ID);
	expect_id("{}", EMPTY_ID);
	expect_id("customization: {\"extraKernelArgs\": []}", EMPTY_ID);
	expect_id("customization:\n  extraKernelArgs: [noapic, nolapic]\n", ARGS_ID);
	expect_id("{\"customization\": {\"extraKernelArgs\": [\"noapic\", \"nolapic\"], "
		  "\"systemExtensions\": {}}}",
		  ARGS_ID);
	expect_id("{\"customization\": {\"meta\": [{\"key\": 10, \"value\": \"foo\"}], "
		  "\"extraKernelArgs\": [], \"systemExtensions\": {}}}",
		  META_ID);
	expect_id("{\"overlay\": {\"name\": \"rpi_generic\", \"image\": "
		  "\"siderolabs/sbc-raspberrypi\"}}",
		  OVL_ID);
	expect_id("{\"overlay\": {\"name\": \"rpi_generic\", \"image\": "
		  "\"siderolabs/sbc-raspberrypi\"},\"customization\":{}}",
		  OVL_ID);
	expect_id("{\"customization\":{\"secureboot\": {\"includeWellKnownCertificates\": "
		  "true}}}",
		  SB_ID);
	/* false is the zero value: omitted, as if not given */
	expect_id("customization: {secureboot: {includeWellKnownCertificates: false}}", EMPTY_ID);
	expect_id("customization: {secureboot: {includeWellKnownCertificates: yes}}", SB_ID);
}

/* The ID depends on the content only: key order, indentation, flow or block style,
 * quoting, comments and 0xa vs 10 do not change it. */
static void test_order_and_indent_invariance(void **state)
{
	(void)state;
	expect_id("# a comment\ncustomization:\n        extraKernelArgs:\n"
		  "          - \"noapic\"\n          - 'nolapic'\n",
		  ARGS_ID);
	expect_id("customization:\n  meta:\n  - value: foo\n    key: 0xa\n  extraKernelArgs: []\n",
		  META_ID);
	expect_id("customization:\n meta:\n  -   key: 10\n      value: \"foo\"\n", META_ID);
	expect_id("overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_generic\n",
		  OVL_ID);
	expect_id("customization: {}\noverlay:\n  name: rpi_generic\n"
		  "  image: 'siderolabs/sbc-raspberrypi'\n",
		  OVL_ID);
	const char *a = "customization:\n  extraKernelArgs: [a, b]\n  meta: [{key: 12, value: "
			"x}]\n  bootloader: sd-boot\noverlay: {name: n, image: i, options: "
			"{b: 1, a: 2}}\n";
	const char *b = "overlay:\n      options:\n          a: 2\n          b: 1\n      image: "
			"i\n      name: n\ncustomization:\n   bootloader: sd-boot\n   meta:\n   - "
			"value: x\n     key: 0xc\n   extraKernelArgs:\n   - a\n   - b\n";
	char ha[65], hb[65];
	struct im_error err = {0};
	struct im_schematic *sa = parse_ok(a), *sb = parse_ok(b);
	assert_int_equal(im_schematic_id(sa, ha, &err), 0);
	assert_int_equal(im_schematic_id(sb, hb, &err), 0);
	assert_string_equal(ha, hb);
	assert_string_not_equal(ha, EMPTY_ID);
	im_schematic_free(sa);
	im_schematic_free(sb);
}

/* The canonical text: Image Factory's field order, 4-space indent, lists indented under
 * their key, mappings in lists aligned after "- ", empty fields left out. */
static void test_canonical_layout(void **state)
{
	(void)state;
	expect_canonical("{}", "customization: {}\n");
	expect_canonical(
	    "customization: {extraKernelArgs: [noapic, nolapic]}",
	    "customization:\n    extraKernelArgs:\n        - noapic\n        - nolapic\n");
	expect_canonical("customization: {meta: [{key: 0xa, value: foo}, {key: 12}]}",
			 "customization:\n    meta:\n        - key: 10\n          value: foo\n"
			 "        - key: 12\n          value: \"\"\n");
	expect_canonical("overlay: {name: rpi_generic}",
			 "overlay:\n    image: \"\"\n    name: rpi_generic\ncustomization: {}\n");
	expect_canonical("customization: {bootloader: grub, secureboot: "
			 "{includeWellKnownCertificates: true}, systemExtensions: "
			 "{officialExtensions: [siderolabs/gvisor]}, extraKernelArgs: [a]}",
			 "customization:\n    extraKernelArgs:\n        - a\n"
			 "    systemExtensions:\n        officialExtensions:\n"
			 "            - siderolabs/gvisor\n    secureboot:\n"
			 "        includeWellKnownCertificates: true\n    bootloader: grub\n");
	expect_canonical("customization: {bootloader: none}", "customization: {}\n");
	/* overlay options: any YAML, keys sorted (digits compared as numbers), scalars
	 * resolved as yaml.v3 does into `any` */
	expect_canonical("overlay:\n  image: i\n  name: n\n  options:\n    b10: x\n    b9: y\n"
			 "    a: {z: 1, y: [1, two, {k: v}], x: {}}\n    c: []\n    d: ~\n"
			 "    e: 0x10\n    f: 1.5\n    g: true\n    h: '7'\n    i: 1e6\n",
			 "overlay:\n    image: i\n    name: \"n\"\n    options:\n"
			 "        a:\n            x: {}\n            \"y\":\n                - 1\n"
			 "                - two\n                - k: v\n            z: 1\n"
			 "        b9: \"y\"\n        b10: x\n        c: []\n        d: null\n"
			 "        e: 16\n        f: 1.5\n        g: true\n        h: \"7\"\n"
			 "        i: 1e+06\n"
			 "customization: {}\n");
}

/* How yaml.v3 writes strings: plain when it reads back as the same string, double quotes
 * when it would read as something else (numbers, booleans, null, YAML 1.1 booleans),
 * single quotes when only the characters forbid plain, literal blocks for several lines. */
static void test_canonical_scalars(void **state)
{
	(void)state;
	expect_canonical(
	    "customization:\n  extraKernelArgs:\n    - 'true'\n    - \"yes\"\n    - 123\n"
	    "    - '0x1f'\n    - ''\n    - ~\n    - '- x'\n    - 'a: b'\n    - 'x #y'\n"
	    "    - 'a#b'\n    - '#c'\n    - ' lead'\n    - 'tab\there'\n    - 'it''s'\n"
	    "    - '{x}'\n    - 'a,b'\n    - '1:20'\n    - '2024-01-02'\n    - 'é'\n"
	    "    - console=ttyS0,115200n8\n    - '@x'\n    - '-x'\n    - 'a\"b'\n",
	    "customization:\n    extraKernelArgs:\n        - \"true\"\n        - \"yes\"\n"
	    "        - \"123\"\n        - \"0x1f\"\n        - \"\"\n"
	    "        - '- x'\n        - 'a: b'\n        - 'x #y'\n        - a#b\n"
	    "        - '#c'\n        - ' lead'\n        - \"tab\\there\"\n        - it's\n"
	    "        - '{x}'\n        - a,b\n        - \"1:20\"\n        - \"2024-01-02\"\n"
	    "        - é\n        - console=ttyS0,115200n8\n        - '@x'\n        - -x\n"
	    "        - a\"b\n");
	expect_canonical("customization:\n  meta:\n    - key: 10\n      value: |\n"
			 "        a: b\n\n        c\n    - key: 11\n      value: \"x\\ny\"\n"
			 "    - key: 12\n      value: \"x\\n\\n\"\n",
			 "customization:\n    meta:\n        - key: 10\n          value: |\n"
			 "            a: b\n\n            c\n        - key: 11\n"
			 "          value: |-\n            x\n            y\n"
			 "        - key: 12\n          value: |+\n            x\n\n");
}

/* go-yaml v3 behaviours the ID depends on, each checked against yaml.v3 v3.0.1: null
 * items of typed lists dropped, 09 read as the float 9 into a uint8, plain timestamps in
 * options written back as time.Time (RFC 3339), multi-line keys as "? key", go-yaml's
 * leading-BOM escaping, tabs (no plain, no single quotes, literal allowed). */
static void test_yaml_v3_quirks(void **state)
{
	(void)state;
	expect_canonical("customization: {extraKernelArgs: [a, ~, null, b], meta: [~, {key: 09, "
			 "value: x}]}",
			 "customization:\n    extraKernelArgs:\n        - a\n        - b\n"
			 "    meta:\n        - key: 9\n          value: x\n");
	expect_canonical("overlay: {name: x, options: {d: 2024-1-2, t: "
			 "\"2024-01-02t1:2:3.50+01:00\", s: 2024-02-30, u: "
			 "2024-01-02t1:2:3.50+01:00}}",
			 "overlay:\n    image: \"\"\n    name: x\n    options:\n"
			 "        d: 2024-01-02T00:00:00Z\n        s: 2024-02-30\n"
			 "        t: \"2024-01-02t1:2:3.50+01:00\"\n"
			 "        u: 2024-01-02T01:02:03.5+01:00\ncustomization: {}\n");
	expect_canonical("overlay: {name: x, options: {\"a\\u2028b\": 1, \"c\\u0085d\": [1]}}",
			 "overlay:\n    image: \"\"\n    name: x\n    options:\n"
			 "        ? 'a\u2028            b'\n        : 1\n"
			 "        ? \"c\\Nd\"\n        :   - 1\ncustomization: {}\n");
	expect_canonical("customization: {extraKernelArgs: [\"\\ufeffab\", \"x\\ty\", "
			 "\"l1\\n\\tl2\"]}",
			 "customization:\n    extraKernelArgs:\n        - \"\\uFEFF\\x61\\x62\"\n"
			 "        - \"x\\ty\"\n        - |-\n          l1\n          \tl2\n");
	expect_error("overlay:\n  options:\n    base: &b {a: 1}\n    c:\n      <<: *b\n",
		     IM_EXIT_UNSUPPORTED, "t.yaml:5:7: merge keys (<<) are not supported");
}

static void test_unknown_fields(void **state)
{
	(void)state;
	expect_error("customization:\n  extraKernelArg: [x]\n", IM_EXIT_INVALID,
		     "t.yaml:2:3: unknown field \"extraKernelArg\" in customization");
	expect_error("customisation: {}\n", IM_EXIT_INVALID,
		     "t.yaml:1:1: unknown field \"customisation\" in the schematic");
	expect_error("overlay:\n  name: x\n  path: /y\n", IM_EXIT_INVALID,
		     "t.yaml:3:3: unknown field \"path\" in overlay");
	expect_error("customization:\n  meta:\n    - key: 1\n      val: x\n", IM_EXIT_INVALID,
		     "t.yaml:4:7: unknown field \"val\" in customization.meta[]");
	expect_error("customization:\n  secureboot: {enroll: 1}\n", IM_EXIT_INVALID,
		     "t.yaml:2:16: unknown field \"enroll\" in customization.secureboot");
	expect_error("customization: {systemExtensions: {official: []}}", IM_EXIT_INVALID,
		     "t.yaml:1:36: unknown field \"official\"");
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_error("", IM_EXIT_INVALID, "t.yaml: empty schematic");
	expect_error("[]", IM_EXIT_INVALID, "t.yaml:1:1: schematic: expected a mapping");
	expect_error("customization: {meta: [{key: 256, value: x}]}", IM_EXIT_INVALID,
		     "t.yaml:1:30: customization.meta.key: expected an integer 0..255");
	expect_error("customization: {meta: [{key: '10', value: x}]}", IM_EXIT_INVALID,
		     "customization.meta.key: expected an integer");
	expect_error("customization: {extraKernelArgs: noapic}", IM_EXIT_INVALID,
		     "t.yaml:1:34: customization.extraKernelArgs: expected a list of strings");
	expect_error("customization: {extraKernelArgs: [[a]]}", IM_EXIT_INVALID,
		     "customization.extraKernelArgs: expected a string");
	expect_error("customization: {bootloader: lilo}", IM_EXIT_INVALID,
		     "customization.bootloader: expected dual-boot, sd-boot, grub or none");
	expect_error("customization: {secureboot: {includeWellKnownCertificates: maybe}}",
		     IM_EXIT_INVALID, "includeWellKnownCertificates: expected true or false");
	expect_error("customization: {a: 1, a: 2}", IM_EXIT_INVALID, "t.yaml:1:");
	expect_error("customization: [\n", IM_EXIT_INVALID, "t.yaml:");
}

static void test_apply(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_profile *p = NULL;
	assert_int_equal(im_profile_load_builtin("metal", &p, &err), 0);
	struct im_schematic *s =
	    parse_ok("customization:\n  extraKernelArgs: [noapic, console=ttyS1]\n"
		     "  meta: [{key: 0xc, value: hello}]\n  bootloader: sd-boot\n"
		     "overlay: {name: rpi_generic, image: ghcr.io/x, options: {configTxtAppend: "
		     "dtoverlay=x, n: 3}}\n");
	assert_int_equal(im_schematic_apply(s, p, &err), 0);
	im_schematic_free(s);
	struct im_prof_str_list *ka = &p->customization.extra_kernel_args;
	assert_true(ka->n >= 2);
	assert_string_equal(ka->v[ka->n - 2], "noapic");
	assert_string_equal(ka->v[ka->n - 1], "console=ttyS1");
	struct im_prof_meta_list *m = &p->customization.meta_contents;
	assert_int_equal(m->n, 1);
	assert_int_equal(m->v[0].key, 0xc);
	assert_string_equal(m->v[0].value, "hello");
	assert_int_equal(p->output.image_options.bootloader, IM_PROF_BOOT_SDBOOT);
	assert_string_equal(p->overlay.name, "rpi_generic");
	assert_int_equal(p->overlay.options.n, 2);
	assert_string_equal(p->overlay.options.v[0].key, "configTxtAppend");
	assert_string_equal(p->overlay.options.v[0].value, "dtoverlay=x");
	assert_string_equal(p->overlay.options.v[1].value, "3");

	/* what cannot be done here is refused, not ignored */
	s = parse_ok("customization: {systemExtensions: {officialExtensions: [siderolabs/x]}}");
	assert_int_equal(im_schematic_apply(s, p, &err), -1);
	assert_int_equal(err.code, IM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "officialExtensions"));
	im_schematic_free(s);
	memset(&err, 0, sizeof(err));
	s = parse_ok("overlay: {name: n, options: {a: {b: c}}}");
	assert_int_equal(im_schematic_apply(s, p, &err), -1);
	assert_int_equal(err.code, IM_EXIT_UNSUPPORTED);
	im_schematic_free(s);
	im_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_ids),
	    cmocka_unit_test(test_order_and_indent_invariance),
	    cmocka_unit_test(test_canonical_layout),
	    cmocka_unit_test(test_canonical_scalars),
	    cmocka_unit_test(test_yaml_v3_quirks),
	    cmocka_unit_test(test_unknown_fields),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
