/* lib/disk/ova.c: the members come in the order OVF requires (.ovf, .vmdk, .mf), the
 * manifest's SHA256 lines match the members, xmllint accepts the descriptor, which names
 * the vmdk's real size, the disk's capacity and the guest Talos declares; the vmdk
 * inside reads as the raw disk. */
#include "sparse_fixture.h"

#include "imager/disk/ova.h"

static int write_ova(const struct im_extents *x, int fd, struct im_sink *s, void *arg,
		     struct im_error *err)
{
	return im_ova_write(x, fd, "vmware-amd64", "amd64", 1700000000, arg, s, NULL, err);
}

static void test_ova(void **state)
{
	(void)state;
	struct im_extents x;
	int fd;
	char *raw = sf_make("o.raw", &fd, &x);
	char *o = sf_write("o.ova", &x, fd, write_ova, tu_dir);
	char *d = tu_path("o");
	assert_int_equal(tu_sh("tar -tf '%s' | tr '\\n' ' ' | grep -qx 'vmware-amd64.ovf "
			       "vmware-amd64.vmdk vmware-amd64.mf '",
			       o),
			 0);
	assert_int_equal(tu_sh("mkdir '%s' && tar -xf '%s' -C '%s'", d, o, d), 0);
	assert_int_equal(tu_sh("cd '%s' && sed 's/^SHA256(\\(.*\\))= \\(.*\\)$/\\2  \\1/' "
			       "vmware-amd64.mf | sha256sum -c --status && [ $(wc -l < "
			       "vmware-amd64.mf) = 2 ]",
			       d),
			 0);
	assert_int_equal(tu_sh("xmllint --noout '%s/vmware-amd64.ovf'", d), 0);
	assert_int_equal(tu_sh("grep -q 'ovf:size=\"'$(stat -c %%s '%s/vmware-amd64.vmdk')'\"' "
			       "'%s/vmware-amd64.ovf'",
			       d, d),
			 0);
	assert_int_equal(tu_sh("grep -q 'ovf:capacity=\"%llu\"' '%s/vmware-amd64.ovf' && grep -q "
			       "'vmw:osType=\"otherLinux64Guest\"' '%s/vmware-amd64.ovf'",
			       (unsigned long long)SF_SIZE, d, d),
			 0);
	assert_int_equal(
	    tu_sh("qemu-img compare -q -f raw -F vmdk '%s' '%s/vmware-amd64.vmdk'", raw, d), 0);
	/* nothing staged is left next to the output */
	assert_int_equal(tu_sh("! ls -a '%s' | grep -q '^\\.vmdk'", tu_dir), 0);
	free(d);
	free(o);
	free(raw);
	close(fd);
	im_extents_free(&x);
}

static void test_descriptor(void **state)
{
	(void)state;
	char *a = im_ova_descriptor("vmware-arm64", "arm64", 1 << 30, 1 << 20, 4096);
	assert_non_null(a);
	assert_non_null(strstr(a, "vmw:key=\"firmware\" vmw:value=\"efi\""));
	assert_non_null(strstr(a, "<rasd:VirtualQuantity>2</rasd:VirtualQuantity>"));
	assert_non_null(strstr(a, "<rasd:VirtualQuantity>2048</rasd:VirtualQuantity>"));
	assert_non_null(strstr(a, "ovf:populatedSize=\"1048576\""));
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ova),
	    cmocka_unit_test(test_descriptor),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
