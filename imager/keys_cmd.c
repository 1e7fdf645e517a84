/* imager keys: generate Secure Boot keys, certificates and enrollment files (lib/keys.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "imager/util/epoch.h"
#include "imager/util/error.h"
#include "imager/efi/keys.h"

int imager_cmd_keys(int argc, char **argv);

static void keys_usage(FILE *f)
{
	fputs("usage: imager keys --output DIR [--common-name NAME] [--force]\n"
	      "Generate Secure Boot key material into DIR (created if missing):\n"
	      "  " IM_KEYS_UKI_KEY ", " IM_KEYS_UKI_CERT ", " IM_KEYS_UKI_CERT_DER
	      "   UKI signing (RSA-4096)\n"
	      "  " IM_KEYS_PCR_KEY "   PCR 11 policy signing (RSA-2048)\n"
	      "  " IM_KEYS_PK_KEY ", " IM_KEYS_PK_CERT ", " IM_KEYS_KEK_KEY ", " IM_KEYS_KEK_CERT
	      "\n"
	      "  " IM_KEYS_PK_AUTH ", " IM_KEYS_KEK_AUTH ", " IM_KEYS_DB_AUTH
	      "   enrollment for systemd-boot's loader/keys/auto/\n"
	      "      (PK self-signed, KEK signed by PK, db = the UKI certificate, signed by KEK)\n"
	      "Private keys get mode 0600. Certificates start at SOURCE_DATE_EPOCH, which also\n"
	      "stamps the .auth files.\n"
	      "  -o, --output DIR        folder to write (required)\n"
	      "  -n, --common-name NAME  certificate common name (default \"" IM_KEYS_DEFAULT_CN
	      "\")\n"
	      "  -f, --force             overwrite existing files\n"
	      "  -h, --help              show this help\n",
	      f);
}

static int keys_bad_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "imager: keys: %s%s%s (see imager keys --help)\n", msg, arg ? " " : "",
		arg ? arg : "");
	return IM_EXIT_INVALID;
}

int imager_cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"common-name", required_argument, NULL, 'n'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *cn = IM_KEYS_DEFAULT_CN;
	int force = 0, c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:n:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			dir = optarg;
			break;
		case 'n':
			cn = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			keys_usage(stdout);
			return 0;
		case ':':
			return keys_bad_usage("missing value for", argv[optind - 1]);
		default:
			return keys_bad_usage("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return keys_bad_usage("unexpected argument", argv[optind]);
	if (!dir || !*dir)
		return keys_bad_usage("--output DIR is required", NULL);

	struct im_error err = {0};
	struct im_keyset ks;
	int64_t epoch;
	if (im_source_date_epoch(&epoch, &err) < 0 ||
	    (!force && im_keys_refuse_existing(dir, &err) < 0) ||
	    im_keys_generate(cn, epoch, &ks, &err) < 0)
		return imager_report(&err);
	int rc = im_keys_write(dir, &ks, epoch, force, &err);
	im_keyset_free(&ks);
	if (rc < 0)
		return imager_report(&err);
	for (size_t i = 0; im_keys_files[i]; i++)
		printf("%s/%s\n", dir, im_keys_files[i]);
	return 0;
}
