/* Installer bundles (lib/fs/oci_bundle.c, tarstream.c): what `installer install --bundle`
 * and `imager --base-installer-image` unpack before anything is written. The input is the
 * archive (a memfd, by its /proc path); it is unpacked for amd64 into a private folder. */
#include "fuzz.h"

#include "imager/fs/oci_bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], dest[600];
	int fd = fz_memfd(data, size, 0);
	struct im_error err = {0};
	fz_fd_path(fd, path, sizeof(path));
	snprintf(dest, sizeof(dest), "%s/unpacked", fz_dir());
	im_oci_unpack(path, "amd64", dest, &err);
	im_rmtree(dest);
	close(fd);
	return 0;
}
