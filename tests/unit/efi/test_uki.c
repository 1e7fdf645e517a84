/* Unit tests for lib/uki.c: os-release text, assembly from the payload's stub, kernel and
 * initramfs (objdump lists the sections), and the refusals. */
#include "testutil.h"

#include <sys/stat.h>

#include "imager/util/outfile.h"
#include "imager/efi/uki.h"

static void test_osrel(void **state)
{
	(void)state;
	char *o = im_uki_osrel("My OS", "v1.2.3");
	assert_string_equal(o, "NAME=\"My OS\"\nID=my-os\nVERSION_ID=v1.2.3\n"
			       "PRETTY_NAME=\"My OS (v1.2.3)\"\n");
	free(o);
}

/* im_uki_assemble with the payload's files of stub_arch, checked against `arch`. */
static int assemble(struct im_uki *u, const char *stub_arch, const char *arch, const char *kernel,
		    const char *cmdline, struct im_error *err)
{
	char *stub = tu_payload_path(stub_arch, "systemd-stub.efi");
	char *k = kernel ? strdup(kernel) : tu_payload_path(stub_arch, "vmlinuz");
	char *i = tu_payload_path(stub_arch, "initramfs.xz");
	int rc = im_uki_assemble(u, arch, stub, k, i, cmdline, "Talos", "v1.0.0", 1700000000, err);
	free(stub);
	free(k);
	free(i);
	return rc;
}

static void test_assemble(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_uki u;
	assert_int_equal(assemble(&u, "amd64", "amd64", NULL, "console=ttyS0", &err), 0);
	assert_non_null(u.uname);
	assert_non_null(im_pe_find(&u.pe, ".linux"));
	uint8_t *buf;
	size_t len;
	assert_int_equal(im_pe_build(&u.pe, &buf, &len, &err), 0);
	char *d = tu_tmpdir();
	char p[512];
	snprintf(p, sizeof(p), "%s/u.efi", d);
	assert_int_equal(im_output_buffer(p, buf, len, &err), 0);
	/* objdump lists the sections in UAPI.5 order after the stub's */
	assert_int_equal(tu_sh("objdump -h %s | awk '$2 ~ /^\\./ { print $2 }' | tail -n 5 | "
			       "tr '\\n' ' ' | grep -qx '.osrel .cmdline .uname .linux .initrd '",
			       p),
			 0);
	assert_int_equal(tu_sh("objcopy -O binary --only-section=.cmdline %s /dev/stdout | "
			       "grep -qx console=ttyS0",
			       p),
			 0);
	free(buf);
	im_uki_free(&u);
	tu_rmtree(d);
	free(d);
}

static void test_refusals(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_uki u;
	assert_int_equal(assemble(&u, "amd64", "arm64", NULL, "x", &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "systemd-stub built for amd64, expected arm64"));
	im_uki_free(&u);
	struct im_error e2 = {0};
	assert_int_equal(assemble(&u, "amd64", "amd64", "/nonexistent/vmlinuz", "x", &e2), -1);
	assert_int_equal(e2.code, IM_EXIT_MISSING);
	assert_non_null(strstr(e2.msg, "/nonexistent/vmlinuz"));
	im_uki_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_osrel),
	    cmocka_unit_test(test_assemble),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
