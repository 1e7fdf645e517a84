/* META (Talos ADV) partition images and INSTALLER_META_BASE64 strings: the decoders
 * `installer status/meta`, `imager meta decode` and the init use (lib/disk/meta.c).
 * Input: byte 0 selects what to do with the rest (bit 0: write copy 1's trailer, end magic
 * and SHA-256, so the records behind it are reached; bit 1: also decode the rest as a string). */
#include "fuzz.h"

#include "imager/disk/meta.h"
#include "imager/util/sha256.h"

static void fix_digest(uint8_t *c)
{
	uint8_t sum[32];
	struct im_sha256 s;
	static const uint8_t magic2[4] = {0xa5, 0xb4, 0xc3, 0xd2}; /* BE IM_META_MAGIC2 */
	memcpy(c + IM_META_COPY_SIZE - 4, magic2, 4);
	memset(c + IM_META_COPY_SIZE - 36, 0, 32);
	im_sha256_init(&s);
	im_sha256_update(&s, c, IM_META_COPY_SIZE);
	im_sha256_final(&s, sum);
	memcpy(c + IM_META_COPY_SIZE - 36, sum, 32);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++, size--;
	size_t len = 2 * IM_META_COPY_SIZE;
	uint8_t *img = calloc(1, IM_META_IMAGE_SIZE); /* what im_meta_encode_image fills */
	if (!img)
		abort();
	memcpy(img, data, size < len ? size : len);
	if (mode & 1)
		fix_digest(img);
	struct im_meta m;
	struct im_error err = {0};
	im_meta_init(&m);
	if (im_meta_decode_image(img, len, "fuzz", &m, &err) == 0) {
		/* what `installer meta` does next: re-encode the values it read */
		char *s = im_meta_encode_string(&m, &err);
		free(s);
		memset(&err, 0, sizeof(err));
		if (im_meta_encode_image(&m, img, &err) < 0)
			abort(); /* a decoded META always fits again */
	}
	im_meta_free(&m);
	free(img);
	if (mode & 2) {
		char *s = fz_strndup(data, size);
		memset(&err, 0, sizeof(err));
		im_meta_init(&m);
		im_meta_decode_string(s, &m, &err);
		im_meta_free(&m);
		free(s);
	}
	return 0;
}
