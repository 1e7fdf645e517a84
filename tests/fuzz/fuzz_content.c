/* Archive inputs of system extensions, board overlays and (soon) installer bundles
 * (lib/fs/content.c, oci.c): a tar in any of the compressions we read, a squashfs image
 * or an OCI image layout tar, detected by content as im_content_load does for a file.
 * The input is the file (a memfd, by its /proc path). */
#include "fuzz.h"

#include "imager/fs/content.h"

static int count(struct im_node *n, void *ctx)
{
	(void)n;
	(*(size_t *)ctx)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fz_memfd(data, size, 0);
	fz_fd_path(fd, path, sizeof(path));
	struct im_tree *t = NULL;
	struct im_stage st = {0};
	struct im_error err = {0};
	if (im_content_load(path, "fuzz input", &t, &st, &err) == 0) {
		size_t n = 0;
		im_tree_walk(t, count, &n);
	}
	im_tree_free(t);
	im_stage_remove(&st);
	close(fd);
	return 0;
}
