/* `installer meta get|set|delete|list`: the META partition of an installed disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "installer.h"

static void usage(FILE *f)
{
	fputs("usage: installer meta [--disk PATH] get KEY | set KEY VALUE|@FILE | delete KEY | "
	      "list\n"
	      "  KEY: 0x01..0xff or 1..255. get prints the raw value; list prints 0xK=<bytes>.\n",
	      f);
}

static int op(int fd, const char *what, int argc, char **argv, struct im_error *err)
{
	struct im_meta m;
	unsigned key = 0;
	int rc = -1, write = 0;
	const char *verb = argv[0];
	int want = !strcmp(verb, "set") ? 3 : !strcmp(verb, "list") ? 1 : 2;
	if (strcmp(verb, "get") && strcmp(verb, "set") && strcmp(verb, "delete") &&
	    strcmp(verb, "list"))
		return im_fail(err, IM_EXIT_INVALID,
			       "meta: unknown operation \"%s\" (get, set, "
			       "delete, list)",
			       verb);
	if (argc != want)
		return im_fail(err, IM_EXIT_INVALID, "meta %s: expected %d argument(s)", verb,
			       want - 1);
	if (want > 1 && im_meta_parse_key(argv[1], strlen(argv[1]), argv[1], &key, err) < 0)
		return -1;
	im_meta_init(&m);
	if (im_install_meta_read(fd, what, &m, err) < 0)
		goto out;
	if (!strcmp(verb, "get")) {
		size_t len;
		const uint8_t *v = im_meta_get(&m, key, &len);
		if (!v) {
			im_fail(err, IM_EXIT_INVALID, "meta: key 0x%x is not set", key);
			goto out;
		}
		fwrite(v, 1, len, stdout);
	} else if (!strcmp(verb, "list")) {
		for (unsigned k = 1; k <= IM_META_KEY_MAX; k++) {
			size_t len;
			const uint8_t *v = im_meta_get(&m, k, &len);
			if (v)
				printf("0x%x=%.*s\n", k, (int)len, (const char *)v);
		}
	} else if (!strcmp(verb, "delete")) {
		write = im_meta_delete(&m, key);
	} else {
		char *arg;
		if (asprintf(&arg, "0x%x=%s", key, argv[2]) < 0) {
			im_fail(err, IM_EXIT_INTERNAL, "out of memory");
			goto out;
		}
		int r = im_meta_set_arg(&m, arg, err);
		free(arg);
		if (r < 0)
			goto out;
		write = 1;
	}
	rc = write ? im_install_meta_write(fd, what, &m, err) : 0;
	if (rc == 0 && write && fsync(fd) < 0)
		rc = im_fail_errno(err, IM_EXIT_IO, "%s: sync", what);
out:
	im_meta_free(&m);
	return rc;
}

int cmd_meta(int argc, char **argv)
{
	struct im_error err = {0};
	const char *disk = NULL;
	int fd = -1;
	char *what = NULL;
	int64_t epoch;
	int parsed = inst_parse_disk_flag(argc, argv, "meta", usage, &disk, &err);
	if (parsed != 0)
		return parsed > 0 ? 0 : inst_report(&err);
	int ro = optind < argc && (!strcmp(argv[optind], "get") || !strcmp(argv[optind], "list"));
	if (optind >= argc)
		im_fail(&err, IM_EXIT_INVALID, "meta: expected get, set, delete or list");
	else if (inst_setup(&epoch, &err) == 0 && inst_open_disk(disk, ro, &fd, &what, &err) == 0 &&
		 op(fd, what, argc - optind, argv + optind, &err) == 0) {
		close(fd);
		free(what);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	free(what);
	return inst_report(&err);
}
