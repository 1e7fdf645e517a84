/* `imager meta encode|decode`: META values as an INSTALLER_META_BASE64 string or a META
 * partition image, and back (DESIGN.md §3, §7). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "imager/disk/meta.h"

static const char usage_text[] =
    "usage: imager meta encode [--image FILE] KEY=VALUE...\n"
    "       imager meta decode FILE|STRING\n"
    "\n"
    "KEY is a META tag 1..255, decimal or 0x hex (0xa network config, 0xb download code,\n"
    "0xc-0xe user, 0xf UUID override, 0x10 machine token); VALUE is text, or @FILE for\n"
    "the contents of FILE.\n"
    "\n"
    "encode prints the INSTALLER_META_BASE64 value for talos.environment= (base64 of\n"
    "\"0xK=V;0xK=V\", gzip'd when over 256 bytes); with --image it writes a 1 MiB META\n"
    "partition image (Talos ADV) to FILE instead.\n"
    "decode reads a META image FILE, or an INSTALLER_META_BASE64 STRING, and prints one\n"
    "0xKEY=VALUE line per key (values are printed as they are).\n";

static int usage_error(const char *msg)
{
	fprintf(stderr, "imager: meta: %s (see imager meta --help)\n", msg);
	return IM_EXIT_INVALID;
}

static const struct option meta_opts[] = {
    {"image", required_argument, NULL, 'i'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int flush_stdout(void)
{
	struct im_error err = {0};
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	im_fail_errno(&err, IM_EXIT_IO, "standard output: write");
	return imager_report(&err);
}

static int encode(int argc, char **argv, const char *image)
{
	struct im_error err = {0};
	struct im_meta m;
	im_meta_init(&m);
	int rc = 0;
	for (int i = 0; i < argc && rc == 0; i++)
		rc = im_meta_set_arg(&m, argv[i], &err);
	if (rc == 0 && image) {
		rc = im_meta_write_file(image, &m, &err);
	} else if (rc == 0) {
		char *s = im_meta_encode_string(&m, &err);
		if (s)
			printf("%s\n", s);
		rc = s ? 0 : -1;
		free(s);
	}
	im_meta_free(&m);
	if (rc)
		return imager_report(&err);
	return flush_stdout();
}

static void print_values(const struct im_meta *m)
{
	for (unsigned key = 1; key <= IM_META_KEY_MAX; key++) {
		size_t len;
		const uint8_t *v = im_meta_get(m, key, &len);
		if (!v)
			continue;
		printf("0x%x=", key);
		fwrite(v, 1, len, stdout);
		putchar('\n');
	}
}

/* Base64 never contains '.', and our strings never start with '/': such an argument
 * that is not a file was meant as a file. */
static bool looks_like_path(const char *arg)
{
	return strchr(arg, '.') || arg[0] == '/';
}

static int decode(const char *arg)
{
	struct im_error err = {0};
	struct im_meta m;
	struct stat st;
	int rc;
	im_meta_init(&m);
	if (stat(arg, &st) == 0) {
		rc = im_meta_read_file(arg, &m, &err);
	} else if (looks_like_path(arg)) {
		rc = im_fail_errno(&err, im_exit_for_input_errno(errno), "%s: META image", arg);
	} else {
		rc = im_meta_decode_string(arg, &m, &err);
	}
	if (rc == 0)
		print_values(&m);
	im_meta_free(&m);
	if (rc)
		return imager_report(&err);
	return flush_stdout();
}

int imager_cmd_meta(int argc, char **argv)
{
	const char *image = NULL;
	int c;
	optind = 0; /* 0: full getopt reset (glibc), argv changes between scans */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", meta_opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		}
		return usage_error("unknown option before encode|decode");
	}
	if (optind >= argc)
		return usage_error("expected encode or decode");
	const char *sub = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", meta_opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'i':
			image = optarg;
			break;
		default:
			fprintf(stderr, "imager: meta %s: unknown or incomplete option \"%s\"\n",
				sub, argv[optind - 1]);
			return IM_EXIT_INVALID;
		}
	}
	if (strcmp(sub, "encode") == 0)
		return encode(argc - optind, argv + optind, image);
	if (strcmp(sub, "decode") != 0)
		return usage_error("expected encode or decode");
	if (image)
		return usage_error("--image is only for encode");
	if (argc - optind != 1)
		return usage_error("decode takes one FILE or STRING");
	return decode(argv[optind]);
}
