/* `imager sign --key K --cert C IN OUT`: Authenticode-sign an EFI binary in-process (what
 * sbsign does), reproducibly: no signing time, so the same input and key give the same
 * bytes. Used for systemd-boot; UKIs are signed as they are built. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "imager/efi/authenticode.h"
#include "imager/util/outfile.h"
#include "imager/util/readfile.h"

static int sign(const char *keyp, const char *certp, const char *in, const char *out,
		struct im_error *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	uint8_t *buf = NULL, *signed_buf = NULL;
	size_t len = 0, signed_len = 0;
	int rc = -1;
	if (im_load_key_pem(keyp, &key, err) == 0 && im_load_cert_pem(certp, &cert, err) == 0 &&
	    im_read_file(in, "EFI binary to sign", &buf, &len, err) == 0 &&
	    im_authenticode_sign(buf, len, in, key, cert, NULL, &signed_buf, &signed_len, err) == 0)
		rc = im_output_buffer(out, signed_buf, signed_len, err);
	EVP_PKEY_free(key);
	X509_free(cert);
	free(buf);
	free(signed_buf);
	return rc;
}

int imager_cmd_sign(int argc, char **argv)
{
	static const struct option o[] = {{"key", required_argument, NULL, 'k'},
					  {"cert", required_argument, NULL, 'c'},
					  {"help", no_argument, NULL, 'h'},
					  {NULL, 0, NULL, 0}};
	const char *key = NULL, *cert = NULL;
	struct im_error err = {0};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:c:h", o, NULL)) != -1) {
		if (c == 'k')
			key = optarg;
		else if (c == 'c')
			cert = optarg;
		else if (c == 'h') {
			puts("usage: imager sign --key KEY.pem --cert CERT.pem IN.efi OUT.efi");
			return 0;
		} else
			return imager_bad_flag("sign", argv);
	}
	if (!key || !cert || argc - optind != 2) {
		im_fail(&err, IM_EXIT_INVALID,
			"sign: expected --key KEY.pem --cert CERT.pem IN.efi OUT.efi");
		return imager_report(&err);
	}
	return sign(key, cert, argv[optind], argv[optind + 1], &err) < 0 ? imager_report(&err) : 0;
}
