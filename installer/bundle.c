/* --bundle installer-<arch>.tar: the installer bundle (DESIGN.md §7 "Installer bundle") is
 * unpacked into a staging folder, every blob checked against its digest first (lib/fs/
 * oci_bundle.c), and its /usr/install/<arch>/ used as the assets folder. Nothing touches the
 * disk before this has succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imager/fs/oci_bundle.h"
#include "imager/util/cleanup.h"
#include "installer.h"

int inst_bundle_open(const char *bundle, const char *arch, struct inst_bundle *b,
		     struct im_error *err)
{
	const char *tmp = getenv("TMPDIR");
	char *root = NULL;
	memset(b, 0, sizeof(*b));
	if (asprintf(&b->stage, "%s/installer-bundle.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) {
		b->stage = NULL;
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	if (!mkdtemp(b->stage)) {
		im_fail_errno(err, IM_EXIT_ENV, "%s: cannot create a staging folder", b->stage);
		free(b->stage);
		b->stage = NULL;
		return -1;
	}
	b->cleanup = im_cleanup_add(b->stage, true); /* removed if interrupted */
	if (asprintf(&root, "%s/root", b->stage) < 0 ||
	    asprintf(&b->assets, "%s/usr/install/%s", root, arch) < 0) {
		free(root);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	int rc = im_oci_unpack(bundle, arch, root, err);
	free(root);
	if (rc < 0)
		return -1;
	char *k = NULL;
	if (asprintf(&k, "%s/vmlinuz", b->assets) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	rc = access(k, R_OK);
	free(k);
	if (rc < 0)
		return im_fail(
		    err, IM_EXIT_INVALID,
		    "%s: no /usr/install/%s/vmlinuz (expected an installer bundle for %s)", bundle,
		    arch, arch);
	return 0;
}

void inst_bundle_close(struct inst_bundle *b)
{
	im_rmtree(b->stage);
	im_cleanup_forget(b->cleanup);
	free(b->stage);
	free(b->assets);
	memset(b, 0, sizeof(*b));
}
