/* `imager inspect` of a GPT disk image: partitions, the A/B slots as the installer reads
 * them (bootloader, committed / trial / previous, each slot's state, name, version, UKI
 * and command line), and the META values decoded. Compressed images (.zst, .xz, .gz) are
 * decompressed into a sparse temporary file first. Nothing is written to the image. */
#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inspect.h"
#include "json.h"
#include "imager/disk/gpt.h"
#include "imager/disk/meta.h"
#include "imager/install/install.h"
#include "imager/util/base64.h"
#include "imager/util/error.h"

#define COLUMNS 80

void inspect_wrap(FILE *f, int indent, const char *key, const char *value)
{
	int col = fprintf(f, "%*s%s:", indent, "", key);
	size_t len = strlen(value);
	if (col + 1 + (int)len <= COLUMNS) {
		fprintf(f, " %s\n", value);
		return;
	}
	/* break at spaces where there are some, else every (80 - indent - 2) bytes */
	int width = COLUMNS - indent - 2;
	const char *p = value;
	fputc('\n', f);
	while (*p) {
		size_t n = strlen(p);
		if ((int)n > width) {
			n = (size_t)width;
			for (size_t i = n; i > (size_t)width / 2; i--)
				if (p[i] == ' ') {
					n = i;
					break;
				}
		}
		fprintf(f, "%*s%.*s\n", indent + 2, "", (int)n, p);
		p += n;
		while (*p == ' ')
			p++;
	}
}

void inspect_human(uint64_t n, char out[16])
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	if (n < 1024) {
		snprintf(out, 16, "%u B", (unsigned)n);
		return;
	}
	double v = (double)n / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof unit / sizeof unit[0]) {
		v /= 1024;
		u++;
	}
	snprintf(out, 16, "%.1f %s", v, unit[u]);
}

/* Well-known GPT partition types (UEFI 2.10 §5.3.3 table 5-7; Linux filesystem data and
 * the BIOS boot partition from the Discoverable Partitions Specification / GRUB). */
static const char *type_name(const char *guid)
{
	static const struct {
		const char *guid, *name;
	} t[] = {
	    {"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI system"},
	    {"21686148-6449-6E6F-744E-656564454649", "BIOS boot"},
	    {"0FC63DAF-8483-4772-8E79-3D69D8477DE4", "Linux filesystem"},
	    {"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "basic data"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (!strcmp(guid, t[i].guid))
			return t[i].name;
	return guid;
}

void inspect_partitions(FILE *f, const struct im_gpt_disk *d, int json)
{
	if (json) {
		fputs(",\n  \"partitions\": [", f);
		for (size_t i = 0; i < d->n; i++) {
			const struct im_gpt_entry *e = &d->parts[i];
			fprintf(f, "%s\n    {\"number\": %u, \"name\": ", i ? "," : "", e->partno);
			imager_json_str(f, e->name, strlen(e->name));
			fprintf(f,
				", \"type\": \"%s\", \"guid\": \"%s\", \"start\": %llu, "
				"\"size\": %llu, \"attributes\": %llu}",
				e->type, e->guid, (unsigned long long)e->start,
				(unsigned long long)e->size, (unsigned long long)e->attrs);
		}
		fputs(d->n ? "\n  ]" : "]", f);
		return;
	}
	fprintf(f, "partitions: %zu (disk GUID %s)\n", d->n, d->guid);
	for (size_t i = 0; i < d->n; i++) {
		const struct im_gpt_entry *e = &d->parts[i];
		fprintf(f, "  %2u %-10.36s start %12llu size %12llu  %.20s\n", e->partno, e->name,
			(unsigned long long)e->start, (unsigned long long)e->size,
			type_name(e->type));
	}
}

/* META values are text in Talos; bytes that are not UTF-8 (or hold control characters
 * other than tab and newline) are shown as base64 instead. */
static int is_text(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		size_t k;
		if (c < 0x80) {
			if (c < 0x20 && c != '\n' && c != '\t')
				return 0;
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			k = 1;
		else if ((c & 0xf0) == 0xe0)
			k = 2;
		else if ((c & 0xf8) == 0xf0)
			k = 3;
		else
			return 0;
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

void inspect_meta(FILE *f, const struct im_meta *m, int json)
{
	int first = 1;
	if (json)
		fputs(",\n  \"meta\": [", f);
	else
		fprintf(f, "META: %zu value%s\n", im_meta_count(m),
			im_meta_count(m) == 1 ? "" : "s");
	for (unsigned k = 1; k <= IM_META_KEY_MAX; k++) {
		if (!m->v[k].set)
			continue;
		const uint8_t *d = m->v[k].data;
		size_t n = m->v[k].len;
		int text = is_text(d, n);
		char *b = text ? NULL : im_base64_encode(d, n);
		char key[8];
		snprintf(key, sizeof key, "0x%02x", k);
		if (json) {
			fprintf(f, "%s\n    {\"key\": \"%s\", ", first ? "" : ",", key);
			fputs(text ? "\"value\": " : "\"base64\": ", f);
			if (text)
				imager_json_str(f, (const char *)d, n);
			else
				imager_json_str(f, b ? b : "", b ? strlen(b) : 0);
			fputs("}", f);
		} else if (text && !memchr(d, '\n', n)) {
			inspect_wrap(f, 2, key, (const char *)d);
		} else if (text) {
			fprintf(f, "  %s: (%zu bytes of text, %s)\n", key, n, "--json shows them");
		} else {
			char k2[32];
			snprintf(k2, sizeof k2, "%s (base64)", key);
			inspect_wrap(f, 2, k2, b ? b : "");
		}
		free(b);
		first = 0;
	}
	if (json)
		fputs(first ? "]" : "\n  ]", f);
}

int inspect_cmdline_meta(const char *cmdline, struct im_meta *m, struct im_error *err)
{
	static const char key[] = "talos.environment=INSTALLER_META_BASE64=";
	im_meta_init(m);
	for (const char *p = cmdline; p && *p;) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n > sizeof key - 1 && !strncmp(p, key, sizeof key - 1)) {
			char *v = strndup(p + sizeof key - 1, n - (sizeof key - 1));
			int rc = v ? im_meta_decode_string(v, m, err)
				   : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
			free(v);
			if (rc < 0)
				return -1;
		}
		p += n;
	}
	return 0;
}

static void json_char(FILE *f, const char *key, char c)
{
	if (c)
		fprintf(f, ",\n  \"%s\": \"%c\"", key, c);
	else
		fprintf(f, ",\n  \"%s\": null", key);
}

static void print_slots(FILE *f, const struct im_status *st, int json)
{
	if (!json) {
		printf("bootloader: %s\ncommitted: %c\ntrial: %c\nprevious: %c\n",
		       im_bootloader_name(st->bootloader), st->committed ? st->committed : '-',
		       st->trial ? st->trial : '-', st->previous ? st->previous : '-');
		for (int i = 0; i < 2; i++) {
			const struct im_slot_info *s = &st->slot[i];
			fprintf(f, "slot %c: %s", s->slot, im_slot_state_name(s->state));
			if (s->state != IM_SLOT_EMPTY)
				fprintf(f, " %.24s %.24s", s->name, s->version);
			if (s->tries_left >= 0)
				fprintf(f, " (%d tries left)", s->tries_left);
			fputc('\n', f);
			if (s->uki[0])
				inspect_wrap(f, 2, "uki", s->uki);
			if (s->cmdline)
				inspect_wrap(f, 2, "cmdline", s->cmdline);
		}
		return;
	}
	fprintf(f, ",\n  \"bootloader\": \"%s\"", im_bootloader_name(st->bootloader));
	json_char(f, "committed", st->committed);
	json_char(f, "trial", st->trial);
	json_char(f, "previous", st->previous);
	fputs(",\n  \"slots\": [", f);
	for (int i = 0; i < 2; i++) {
		const struct im_slot_info *s = &st->slot[i];
		fprintf(f, "%s\n    {\"slot\": \"%c\", \"state\": \"%s\", \"name\": ", i ? "," : "",
			s->slot, im_slot_state_name(s->state));
		imager_json_str(f, s->name, strlen(s->name));
		fputs(", \"version\": ", f);
		imager_json_str(f, s->version, strlen(s->version));
		fputs(", \"uki\": ", f);
		if (s->uki[0])
			imager_json_str(f, s->uki, strlen(s->uki));
		else
			fputs("null", f);
		fprintf(f, ", \"triesLeft\": %d, \"cmdline\": ", s->tries_left);
		if (s->cmdline)
			imager_json_str(f, s->cmdline, strlen(s->cmdline));
		else
			fputs("null", f);
		fputs("}", f);
	}
	fputs("\n  ]", f);
}

int imager_inspect_disk(const char *path, int fd, int json, struct im_error *err)
{
	struct im_gpt_disk d = {0};
	struct im_status st;
	struct im_meta m;
	im_meta_init(&m);
	if (im_gpt_read(fd, path, 0, &d, err) < 0)
		return -1;
	/* a GPT that is not our A/B layout still shows its partitions */
	struct im_error e2 = {0};
	int have_slots = im_status(fd, path, &st, &e2) == 0;
	int have_meta = im_install_meta_read(fd, path, &m, &e2) == 0;
	if (json) {
		fputs("{\n  \"file\": ", stdout);
		imager_json_str(stdout, path, strlen(path));
		fprintf(stdout, ",\n  \"kind\": \"disk\",\n  \"sectorSize\": %u,\n  \"size\": %llu",
			d.sector_size, (unsigned long long)d.disk_size);
		fprintf(stdout, ",\n  \"guid\": \"%s\"", d.guid);
	} else {
		inspect_wrap(stdout, 0, "file", path);
		printf("kind: GPT disk image, %llu bytes, %u-byte sectors\n",
		       (unsigned long long)d.disk_size, d.sector_size);
	}
	inspect_partitions(stdout, &d, json);
	if (have_slots)
		print_slots(stdout, &st, json);
	else if (json)
		fputs(",\n  \"bootloader\": null, \"slots\": []", stdout);
	else
		inspect_wrap(stdout, 0, "slots", "none (not an A/B layout)");
	if (have_meta)
		inspect_meta(stdout, &m, json);
	else if (json)
		fputs(",\n  \"meta\": null", stdout);
	else
		puts("META: none");
	if (json)
		fputs("\n}\n", stdout);
	if (have_slots)
		im_status_free(&st);
	if (have_meta)
		im_meta_free(&m);
	im_gpt_disk_free(&d);
	return 0;
}

/* libarchive's raw format with every filter: one stream of the decompressed bytes. */
int imager_inspect_decompress(const char *path, struct im_error *err)
{
	const char *tmp = getenv("TMPDIR");
	int out = open(tmp && *tmp ? tmp : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (out < 0)
		return im_fail_errno(err, IM_EXIT_ENV, "%s: a temporary file to decompress into",
				     tmp && *tmp ? tmp : "/tmp");
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	/* the built-in decompressors only: filter_all would run external programs (lrzip, ...) */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_raw(a);
	int rc = -1;
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		im_fail(err, IM_EXIT_INVALID, "%s: %s (expected a compressed disk image)", path,
			archive_error_string(a));
		goto done;
	}
	static __thread char buf[1 << 16];
	off_t at = 0;
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, sizeof buf);
		if (n < 0) {
			im_fail(err, IM_EXIT_INVALID, "%s: %s", path, archive_error_string(a));
			goto done;
		}
		if (n == 0)
			break;
		static const char zeros[1 << 16];
		if (memcmp(buf, zeros, (size_t)n) && pwrite(out, buf, (size_t)n, at) != n) {
			im_fail_errno(err, IM_EXIT_ENV, "%s: decompressing into $TMPDIR", path);
			goto done;
		}
		at += n;
	}
	if (ftruncate(out, at) < 0) {
		im_fail_errno(err, IM_EXIT_ENV, "%s: decompressing into $TMPDIR", path);
		goto done;
	}
	rc = 0;
done:
	archive_read_free(a);
	if (rc < 0) {
		close(out);
		return -1;
	}
	return out;
}
