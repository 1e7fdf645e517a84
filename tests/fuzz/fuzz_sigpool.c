/* The signature pool of keyless verification (lib/efi/sigpool.c): `imager verify` reads a
 * downloaded artifact — raw, compressed, tar with compressed members — and parses DER,
 * base64, PEM and EFI_VARIABLE_AUTHENTICATION_2 lookalikes wherever they appear. */
#include "fuzz.h"

#include "imager/efi/sigpool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct im_sigpool *p = im_sigpool_new();
	if (!p)
		abort();
	im_sigpool_scan_buf(p, data, size);
	/* the file path: libarchive's tar / raw reader and the decompressors */
	int fd = fz_memfd(data, size, 0);
	char path[64];
	fz_fd_path(fd, path, sizeof(path));
	struct im_error err = {0};
	im_sigpool_scan_file(p, path, &err);
	close(fd);
	size_t certs, keys;
	im_sigpool_count(p, &certs, &keys);
	uint8_t fp[32] = {0};
	im_sigpool_cert(p, fp);
	im_sigpool_pubkey(p, fp);
	im_sigpool_free(p);
	return 0;
}
