/* GPT on image files and block devices via libfdisk; label-derived GUIDs. See gpt.h.
 *
 * The partitions are placed here (plan()), so that refusals name the partition and the
 * numbers; libfdisk then writes exactly that layout (explicit partno, start and size, no
 * re-alignment) and the result is read back from libfdisk and compared with the plan. */
#include "imager/disk/gpt.h"
#include "imager/disk/blkpg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include <libfdisk/libfdisk.h>
#include "imager/util/sha256.h"

#define ENTRY_SIZE  128 /* UEFI 2.10 §5.3.2 SizeOfPartitionEntry used by everyone */
#define MAX_ENTRIES 4096
#define GPT_SIG	    "EFI PART" /* UEFI 2.10 §5.3.2 Table 5.5 Signature */

/* ---- GUIDs ------------------------------------------------------------------------- */

void im_uuid_v8_sha256(const uint8_t ns[16], const void *name, size_t len, uint8_t out[16])
{
	struct im_sha256 c;
	uint8_t md[32];
	im_sha256_init(&c);
	im_sha256_update(&c, ns, 16);
	im_sha256_update(&c, name, len);
	im_sha256_final(&c, md);
	memcpy(out, md, 16);
	out[6] = (uint8_t)((out[6] & 0x0f) | 0x80); /* RFC 9562 §5.8: ver = 0b1000 */
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 9562 §4.1: var = 0b10 */
}

void im_guid_from_label(const char *label, uint8_t out[16])
{
	static const uint8_t nil[16];
	im_uuid_v8_sha256(nil, label, strlen(label), out);
}

void im_guid_to_string(const uint8_t u[16], char out[IM_GUID_STR_LEN + 1])
{
	static const char hex[] = "0123456789ABCDEF";
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 15];
	}
	*p = '\0';
}

void im_guid_label_string(const char *label, char out[IM_GUID_STR_LEN + 1])
{
	uint8_t u[16];
	im_guid_from_label(label, u);
	im_guid_to_string(u, out);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int im_guid_parse(const char *s, uint8_t out[16])
{
	if (!s || strlen(s) != IM_GUID_STR_LEN)
		return -1;
	int k = 0;
	for (int i = 0; i < IM_GUID_STR_LEN;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -1;
			continue;
		}
		int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[k++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

/* UEFI 2.10 Appendix A: Data1 (4 bytes), Data2, Data3 (2 bytes each) are little-endian,
 * Data4 (8 bytes) is a byte array; RFC 9562 stores all fields big-endian. */
void im_guid_to_gpt(const uint8_t in[16], uint8_t out[16])
{
	static const uint8_t map[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
	uint8_t t[16];
	for (int i = 0; i < 16; i++)
		t[i] = in[map[i]];
	memcpy(out, t, 16);
}

/* ---- planning ---------------------------------------------------------------------- */

struct geom {
	uint32_t ss;	      /* bytes per sector */
	uint64_t total;	      /* sectors */
	unsigned entries;     /* entry array length */
	uint64_t array_secs;  /* sectors of one entry array */
	uint64_t first, last; /* usable LBAs (UEFI 2.10 §5.3.2 FirstUsableLBA/LastUsableLBA) */
	uint64_t align;	      /* sectors */
};

static int check_sector_size(uint32_t ss, struct im_error *err)
{
	if (ss != 512 && ss != 1024 && ss != 2048 && ss != 4096)
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: sector size %" PRIu32 " is not supported: expected 512, "
			       "1024, 2048 or 4096",
			       ss);
	return 0;
}

static int make_geom(const struct im_gpt_layout *l, uint64_t disk_size, uint32_t ss, struct geom *g,
		     struct im_error *err)
{
	if (check_sector_size(ss, err))
		return -1;
	unsigned e = l->max_entries ? l->max_entries : IM_GPT_ENTRIES;
	uint64_t align = l->align ? l->align : IM_GPT_ALIGN;
	if (disk_size % ss)
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: disk size %" PRIu64 " is not a multiple of the %" PRIu32
			       "-byte sector size",
			       disk_size, ss);
	if (e < 1 || e > MAX_ENTRIES || (uint64_t)e * ENTRY_SIZE % ss)
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: %u partition entries: expected 1..%d entries filling whole "
			       "%" PRIu32 "-byte sectors (a multiple of %" PRIu32 ")",
			       e, MAX_ENTRIES, ss, ss / ENTRY_SIZE);
	if (align % ss)
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: alignment %" PRIu64 " is not a multiple of the %" PRIu32
			       "-byte sector size",
			       align, ss);
	*g = (struct geom){.ss = ss, .total = disk_size / ss, .entries = e, .align = align / ss};
	g->array_secs = (uint64_t)e * ENTRY_SIZE / ss;
	/* LBA 0 pMBR, LBA 1 header, entries; at the end: entries, then the backup header. */
	g->first = 2 + g->array_secs;
	if (g->total < 2 * g->first + 1)
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: a %" PRIu64 "-byte disk is too small for a partition table "
			       "with %u entries (needs more than %" PRIu64 " bytes)",
			       disk_size, e, (2 * g->first) * ss);
	g->last = g->total - 2 - g->array_secs;
	return 0;
}

static const char *type_guid(const char *type)
{
	if (!type)
		return NULL;
	if (!strcasecmp(type, "esp"))
		return IM_GPT_TYPE_ESP;
	if (!strcasecmp(type, "bios"))
		return IM_GPT_TYPE_BIOS;
	if (!strcasecmp(type, "linux"))
		return IM_GPT_TYPE_LINUX;
	return type;
}

/* Normalise a GUID text to upper case; -1 if malformed. */
static int norm_guid(const char *s, char out[IM_GUID_STR_LEN + 1])
{
	uint8_t u[16];
	if (im_guid_parse(s, u))
		return -1;
	im_guid_to_string(u, out);
	return 0;
}

static int check_name(const struct im_gpt_layout *l, size_t i, struct im_error *err)
{
	const char *name = l->parts[i].name;
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > IM_GPT_NAME_MAX)
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: partition %zu name \"%s\": expected 1..%d characters", i + 1,
			       name ? name : "", IM_GPT_NAME_MAX);
	for (size_t k = 0; k < len; k++)
		if (name[k] < 0x20 || name[k] > 0x7e)
			return im_fail(err, IM_EXIT_INVALID,
				       "GPT: partition %zu name \"%s\": expected printable ASCII",
				       i + 1, name);
	for (size_t j = 0; j < i; j++)
		if (!strcmp(l->parts[j].name, name))
			return im_fail(err, IM_EXIT_INVALID,
				       "GPT: partition name \"%s\" is used twice (partitions %zu "
				       "and %zu)",
				       name, j + 1, i + 1);
	return 0;
}

static int describe(const struct im_gpt_layout *l, size_t i, const char *label,
		    struct im_gpt_entry *e, struct im_error *err)
{
	const struct im_gpt_part *p = &l->parts[i];
	if (check_name(l, i, err))
		return -1;
	e->partno = (unsigned)i + 1;
	snprintf(e->name, sizeof(e->name), "%s", p->name);
	if (norm_guid(type_guid(p->type), e->type))
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: partition %s: unknown type \"%s\": expected esp, bios, linux "
			       "or a GUID xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
			       p->name, p->type ? p->type : "");
	if (p->guid) {
		if (norm_guid(p->guid, e->guid))
			return im_fail(err, IM_EXIT_INVALID,
				       "GPT: partition %s: GUID \"%s\" is not of the form "
				       "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
				       p->name, p->guid);
	} else {
		char buf[512];
		if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", label, p->name) >= sizeof(buf))
			return im_fail(err, IM_EXIT_INVALID,
				       "GPT: disk label \"%.40s...\" is "
				       "too long: expected at most 400 bytes",
				       label);
		im_guid_label_string(buf, e->guid);
	}
	e->attrs = p->attrs;
	return 0;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Bytes a disk needs to hold sectors [0, end_lba) plus the backup GPT. */
static uint64_t disk_needed(const struct geom *g, uint64_t end_lba)
{
	return (end_lba + g->array_secs + 1) * g->ss;
}

static int place(const struct geom *g, const struct im_gpt_part *p, bool last, uint64_t *cursor,
		 struct im_gpt_entry *e, struct im_error *err)
{
	uint64_t ss = g->ss, s, n;
	if (p->start_bytes % ss || p->size_bytes % ss)
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: partition %s: start %" PRIu64 " and size %" PRIu64
			       " must be multiples of the %" PRIu64 "-byte sector size",
			       p->name, p->start_bytes, p->size_bytes, ss);
	if (p->start_bytes) {
		s = p->start_bytes / ss;
		if (s < g->first)
			return im_fail(err, IM_EXIT_INVALID,
				       "GPT: partition %s starts at byte %" PRIu64 ", before the "
				       "first usable byte %" PRIu64,
				       p->name, p->start_bytes, g->first * ss);
		if (s < *cursor)
			return im_fail(err, IM_EXIT_INVALID,
				       "GPT: partition %s starts at byte %" PRIu64 ", inside the "
				       "previous partition (which ends at byte %" PRIu64 ")",
				       p->name, p->start_bytes, *cursor * ss);
	} else {
		s = align_up(*cursor, g->align);
	}
	if (p->size_bytes) {
		n = p->size_bytes / ss;
	} else if (!last) {
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: partition %s: size 0 (the rest of the disk) is only allowed "
			       "for the last partition",
			       p->name);
	} else {
		uint64_t end = (g->last + 1) / g->align * g->align;
		n = end > s ? end - s : 0;
		if (!n)
			return im_fail(err, IM_EXIT_INVALID,
				       "GPT: partition %s (the rest of the disk) does not fit: it "
				       "would start at byte %" PRIu64 " and the %" PRIu64 "-byte "
				       "disk needs at least %" PRIu64 " bytes for it",
				       p->name, s * ss, g->total * ss,
				       disk_needed(g, s + g->align));
	}
	if (s > g->last || n > g->last - s + 1) {
		uint64_t need = n > UINT64_MAX / ss - s - g->array_secs - 1 ? UINT64_MAX
									    : disk_needed(g, s + n);
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: partition %s (%" PRIu64 " bytes at byte %" PRIu64 ") does not "
			       "fit the %" PRIu64 "-byte disk: expected a disk of at least %" PRIu64
			       " bytes",
			       p->name, n * ss, s * ss, g->total * ss, need);
	}
	e->start = s * ss;
	e->size = n * ss;
	*cursor = s + n;
	return 0;
}

static int plan(const struct im_gpt_layout *l, uint64_t disk_size, uint32_t ss,
		struct im_gpt_disk *out, struct im_error *err)
{
	struct geom g = {0};
	memset(out, 0, sizeof(*out));
	if (make_geom(l, disk_size, ss, &g, err))
		return -1;
	if (l->n > g.entries)
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: %zu partitions do not fit a table of %u entries", l->n,
			       g.entries);
	const char *label = l->disk_label ? l->disk_label : IM_GPT_DISK_LABEL;
	*out = (struct im_gpt_disk){.sector_size = ss,
				    .disk_size = disk_size,
				    .max_entries = g.entries,
				    .first_usable = g.first,
				    .last_usable = g.last};
	if (!l->disk_guid)
		im_guid_label_string(label, out->guid);
	else if (norm_guid(l->disk_guid, out->guid))
		return im_fail(err, IM_EXIT_INVALID,
			       "GPT: disk GUID \"%s\" is not of the form "
			       "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
			       l->disk_guid);
	out->parts = calloc(l->n ? l->n : 1, sizeof(*out->parts));
	if (!out->parts)
		return im_fail(err, IM_EXIT_INTERNAL, "GPT: out of memory");
	uint64_t cursor = g.first;
	for (size_t i = 0; i < l->n; i++) {
		struct im_gpt_entry *e = &out->parts[i];
		if (describe(l, i, label, e, err) ||
		    place(&g, &l->parts[i], i + 1 == l->n, &cursor, e, err)) {
			im_gpt_disk_free(out);
			return -1;
		}
		out->n++;
	}
	return 0;
}

int im_gpt_plan(const struct im_gpt_layout *l, struct im_gpt_disk *out, struct im_error *err)
{
	return plan(l, l->disk_size, l->sector_size ? l->sector_size : 512, out, err);
}

uint64_t im_gpt_min_disk_size(const struct im_gpt_layout *l)
{
	uint32_t ss = l->sector_size ? l->sector_size : 512;
	uint64_t align = l->align ? l->align : IM_GPT_ALIGN;
	uint64_t entries = l->max_entries ? l->max_entries : IM_GPT_ENTRIES;
	if (check_sector_size(ss, NULL) || align % ss || entries * ENTRY_SIZE % ss)
		return 0;
	uint64_t array = entries * ENTRY_SIZE, end = (2 * ss + array);
	for (size_t i = 0; i < l->n; i++) {
		const struct im_gpt_part *p = &l->parts[i];
		uint64_t s = p->start_bytes ? p->start_bytes : align_up(end, align);
		if (s < end)
			return 0;
		end = s + (p->size_bytes ? p->size_bytes : align);
	}
	/* the rest-of-disk partition is rounded down to the alignment: keep it whole */
	if (l->n && !l->parts[l->n - 1].size_bytes)
		return align_up(end, align) + array + ss;
	return end + array + ss;
}

void im_gpt_disk_free(struct im_gpt_disk *d)
{
	if (!d)
		return;
	free(d->parts);
	d->parts = NULL;
	d->n = 0;
}

const struct im_gpt_entry *im_gpt_find(const struct im_gpt_disk *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->parts[i].name, name))
			return &d->parts[i];
	return NULL;
}

const struct im_gpt_entry *im_gpt_find_type(const struct im_gpt_disk *d, const char *type)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcasecmp(d->parts[i].type, type))
			return &d->parts[i];
	return NULL;
}

/* ---- libfdisk ---------------------------------------------------------------------- */

/* The last warning libfdisk printed (through its "ask" callback), for error messages. */
struct fdisk_msgs {
	char last[256];
};

static int ask_cb(struct fdisk_context *cxt, struct fdisk_ask *ask, void *data)
{
	(void)cxt;
	struct fdisk_msgs *m = data;
	int t = fdisk_ask_get_type(ask);
	if (t == FDISK_ASKTYPE_WARN || t == FDISK_ASKTYPE_WARNX) {
		const char *s = fdisk_ask_print_get_mesg(ask);
		snprintf(m->last, sizeof(m->last), "%s", s ? s : "");
		return 0;
	}
	if (t == FDISK_ASKTYPE_INFO)
		return 0;
	return -EINVAL; /* never answer dialogs: every value is given explicitly */
}

static struct fdisk_context *new_cxt(int fd, const char *what, uint32_t user_ss, bool ro,
				     struct fdisk_msgs *m, struct im_error *err)
{
	struct fdisk_context *cxt = fdisk_new_context();
	if (!cxt) {
		im_fail(err, IM_EXIT_INTERNAL, "GPT: out of memory");
		return NULL;
	}
	fdisk_set_ask(cxt, ask_cb, m);
	fdisk_enable_listonly(cxt, ro);
	/* A reader only wants GPT: the other labels are not probed. libfdisk 2.38's DOS
	 * reader leaks a sector buffer on a hostile extended-partition chain (read_pte's
	 * error path, fixed upstream in util-linux PR 4428; found by fuzz_gpt), and a disk
	 * the installer reads is GPT (with a protective or hybrid MBR) or nothing. */
	static const char *const others[] = {"dos", "sun", "sgi", "bsd"};
	for (size_t i = 0; ro && i < sizeof(others) / sizeof(others[0]); i++)
		fdisk_label_set_disabled(fdisk_get_label(cxt, others[i]), 1);
	/* A regular file has no logical sector size: tell libfdisk (before assigning). */
	if (user_ss)
		fdisk_save_user_sector_size(cxt, user_ss, user_ss);
	int rc = fdisk_assign_device_by_fd(cxt, fd, what, ro);
	if (rc) {
		im_fail(err, IM_EXIT_IO, "%s: libfdisk cannot use it: %s", what, strerror(-rc));
		fdisk_unref_context(cxt);
		return NULL;
	}
	return cxt;
}

static int lf_fail(struct im_error *err, const char *what, const char *op, int rc,
		   const struct fdisk_msgs *m)
{
	return im_fail(err, IM_EXIT_INTERNAL, "%s: libfdisk %s failed: %s%s%s", what, op,
		       strerror(rc < 0 ? -rc : rc), m->last[0] ? ": " : "", m->last);
}

static uint64_t label_u64(struct fdisk_context *cxt, int id)
{
	uint64_t v = 0;
	struct fdisk_labelitem *li = fdisk_new_labelitem();
	if (li && fdisk_get_disklabel_item(cxt, id, li) == 0)
		fdisk_labelitem_get_data_u64(li, &v);
	fdisk_unref_labelitem(li);
	return v;
}

static void copy_str(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "");
	for (char *p = dst; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

static int collect_entry(struct fdisk_context *cxt, struct fdisk_partition *pa, uint64_t ss,
			 struct im_gpt_entry *e)
{
	memset(e, 0, sizeof(*e));
	size_t partno = fdisk_partition_get_partno(pa);
	e->partno = (unsigned)partno + 1;
	snprintf(e->name, sizeof(e->name), "%s", fdisk_partition_get_name(pa) ?: "");
	struct fdisk_parttype *t = fdisk_partition_get_type(pa);
	copy_str(e->type, sizeof(e->type), t ? fdisk_parttype_get_string(t) : NULL);
	copy_str(e->guid, sizeof(e->guid), fdisk_partition_get_uuid(pa));
	e->start = (uint64_t)fdisk_partition_get_start(pa) * ss;
	e->size = (uint64_t)fdisk_partition_get_size(pa) * ss;
	return fdisk_gpt_get_partition_attrs(cxt, partno, &e->attrs);
}

/* Fill `d` from the label libfdisk holds. */
static int collect(struct fdisk_context *cxt, const char *what, struct im_gpt_disk *d,
		   struct im_error *err)
{
	memset(d, 0, sizeof(*d));
	uint64_t ss = fdisk_get_sector_size(cxt);
	d->sector_size = (uint32_t)ss;
	d->disk_size = (uint64_t)fdisk_get_nsectors(cxt) * ss;
	d->max_entries = (unsigned)fdisk_get_npartitions(cxt);
	d->first_usable = label_u64(cxt, GPT_LABELITEM_FIRSTLBA);
	d->last_usable = label_u64(cxt, GPT_LABELITEM_LASTLBA);
	char *id = NULL;
	if (fdisk_get_disklabel_id(cxt, &id) == 0)
		copy_str(d->guid, sizeof(d->guid), id);
	free(id);

	struct fdisk_table *tb = NULL;
	struct fdisk_iter *it = fdisk_new_iter(FDISK_ITER_FORWARD);
	int rc = it ? fdisk_get_partitions(cxt, &tb) : -ENOMEM;
	size_t n = rc ? 0 : fdisk_table_get_nents(tb);
	d->parts = calloc(n ? n : 1, sizeof(*d->parts));
	if (!d->parts)
		rc = -ENOMEM;
	struct fdisk_partition *pa;
	while (!rc && d->n < n && fdisk_table_next_partition(tb, it, &pa) == 0)
		rc = collect_entry(cxt, pa, ss, &d->parts[d->n++]);
	fdisk_free_iter(it);
	fdisk_unref_table(tb);
	if (rc) {
		im_gpt_disk_free(d);
		return im_fail(err, IM_EXIT_INTERNAL, "%s: cannot list the GPT partitions: %s",
			       what, strerror(-rc));
	}
	return 0;
}

static int add_part(struct fdisk_context *cxt, const struct im_gpt_entry *e, uint64_t ss,
		    const char *what, const struct fdisk_msgs *m, struct im_error *err)
{
	struct fdisk_label *lb = fdisk_get_label(cxt, NULL);
	struct fdisk_parttype *t =
	    fdisk_label_advparse_parttype(lb, e->type, FDISK_PARTTYPE_PARSE_DATA);
	struct fdisk_partition *pa = fdisk_new_partition();
	int rc = t && pa ? 0 : -ENOMEM;
	if (!rc)
		rc = fdisk_partition_set_partno(pa, e->partno - 1);
	if (!rc)
		rc = fdisk_partition_set_start(pa, e->start / ss);
	if (!rc)
		rc = fdisk_partition_set_size(pa, e->size / ss);
	if (!rc)
		rc = fdisk_partition_size_explicit(pa, 1); /* no re-alignment of the end */
	if (!rc)
		rc = fdisk_partition_set_name(pa, e->name);
	if (!rc)
		rc = fdisk_partition_set_type(pa, t);
	if (!rc)
		rc = fdisk_partition_set_uuid(pa, e->guid);
	if (!rc)
		rc = fdisk_add_partition(cxt, pa, NULL);
	if (!rc && e->attrs)
		rc = fdisk_gpt_set_partition_attrs(cxt, e->partno - 1, e->attrs);
	fdisk_unref_partition(pa);
	fdisk_unref_parttype(t);
	if (rc) {
		char op[160];
		snprintf(op, sizeof(op), "adding partition %s", e->name);
		return lf_fail(err, what, op, rc, m);
	}
	return 0;
}

/* The table libfdisk holds must be the plan, byte for byte in what we chose. */
static int same_as_plan(const struct im_gpt_disk *got, const struct im_gpt_disk *want,
			const char *what, struct im_error *err)
{
	bool ok = got->n == want->n && !strcmp(got->guid, want->guid) &&
		  got->first_usable == want->first_usable &&
		  got->last_usable == want->last_usable && got->max_entries == want->max_entries;
	for (size_t i = 0; ok && i < got->n; i++) {
		const struct im_gpt_entry *a = &got->parts[i], *b = &want->parts[i];
		ok = a->partno == b->partno && !strcmp(a->name, b->name) &&
		     !strcmp(a->type, b->type) && !strcmp(a->guid, b->guid) &&
		     a->start == b->start && a->size == b->size && a->attrs == b->attrs;
	}
	if (!ok)
		return im_fail(err, IM_EXIT_INTERNAL,
			       "%s: libfdisk did not create the planned partition table", what);
	return 0;
}

static int write_label(struct fdisk_context *cxt, const struct im_gpt_disk *p, const char *what,
		       struct fdisk_msgs *m, struct im_error *err)
{
	int rc = fdisk_create_disklabel(cxt, "gpt");
	if (rc)
		return lf_fail(err, what, "creating the GPT", rc, m);
	/* libfdisk puts FirstUsableLBA at its 1 MiB grain, or not, depending on whether the
	 * device held a label before. Resizing the (still empty) entry array makes it compute
	 * the UEFI minimum, 2 + the array's sectors (UEFI 2.10 §5.3.2, as sgdisk does), so
	 * the header is the same whatever was there, and partitions may start anywhere. */
	rc = fdisk_gpt_set_npartitions(cxt, p->max_entries + 1);
	if (!rc)
		rc = fdisk_gpt_set_npartitions(cxt, p->max_entries);
	if (rc)
		return lf_fail(err, what, "setting the entry count", rc, m);
	if ((rc = fdisk_set_disklabel_id_from_string(cxt, p->guid)))
		return lf_fail(err, what, "setting the disk GUID", rc, m);
	for (size_t i = 0; i < p->n; i++)
		if (add_part(cxt, &p->parts[i], p->sector_size, what, m, err))
			return -1;
	struct im_gpt_disk got;
	if (collect(cxt, what, &got, err))
		return -1;
	rc = same_as_plan(&got, p, what, err);
	im_gpt_disk_free(&got);
	if (rc)
		return -1;
	if ((rc = fdisk_write_disklabel(cxt)))
		return im_fail(err, IM_EXIT_IO, "%s: writing the GPT failed: %s%s%s", what,
			       strerror(-rc), m->last[0] ? ": " : "", m->last);
	return 0;
}

/* Resolve the disk size and sector size of the target. */
static int target_size(int fd, const char *what, const struct im_gpt_layout *l, bool *blk,
		       uint64_t *size, uint32_t *ss, struct im_error *err)
{
	struct stat st;
	if (fstat(fd, &st))
		return im_fail_errno(err, IM_EXIT_IO, "%s: cannot stat", what);
	*blk = S_ISBLK(st.st_mode);
	*ss = l->sector_size ? l->sector_size : 512;
	if (*blk) {
		int dev_ss = 0;
		uint64_t bytes = 0;
		if (ioctl(fd, BLKSSZGET, &dev_ss) || ioctl(fd, BLKGETSIZE64, &bytes))
			return im_fail_errno(err, IM_EXIT_IO, "%s: cannot read the device size",
					     what);
		if (l->sector_size && l->sector_size != (uint32_t)dev_ss)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: the device has %d-byte sectors, not %" PRIu32, what,
				       dev_ss, l->sector_size);
		if (l->disk_size && l->disk_size != bytes)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: the device has %" PRIu64 " bytes, not %" PRIu64, what,
				       bytes, l->disk_size);
		*ss = (uint32_t)dev_ss;
		*size = bytes;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: expected a regular file or a block device", what);
	*size = l->disk_size ? l->disk_size : (uint64_t)st.st_size;
	if ((uint64_t)st.st_size > *size)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: the file has %lld bytes, more than the disk size %" PRIu64,
			       what, (long long)st.st_size, *size);
	return 0;
}

int im_gpt_write(int fd, const char *what, const struct im_gpt_layout *l, struct im_gpt_disk *out,
		 struct im_error *err)
{
	bool blk = false;
	uint64_t size = 0;
	uint32_t ss = 0;
	struct im_gpt_disk p;
	if (out)
		memset(out, 0, sizeof(*out));
	if (target_size(fd, what, l, &blk, &size, &ss, err) || plan(l, size, ss, &p, err))
		return -1;
	struct stat st;
	if (!blk && !fstat(fd, &st) && (uint64_t)st.st_size < size && ftruncate(fd, (off_t)size)) {
		im_gpt_disk_free(&p);
		return im_fail_errno(err, IM_EXIT_IO, "%s: cannot extend to %" PRIu64 " bytes",
				     what, size);
	}
	struct fdisk_msgs m = {0};
	struct fdisk_context *cxt = new_cxt(fd, what, blk ? 0 : ss, false, &m, err);
	int rc = cxt ? 0 : -1;
	if (!rc &&
	    (fdisk_get_sector_size(cxt) != ss || (uint64_t)fdisk_get_nsectors(cxt) * ss != size))
		rc = im_fail(err, IM_EXIT_INTERNAL,
			     "%s: libfdisk sees %lu-byte sectors and %ju of them, expected %" PRIu32
			     " and %" PRIu64,
			     what, fdisk_get_sector_size(cxt), (uintmax_t)fdisk_get_nsectors(cxt),
			     ss, size / ss);
	if (!rc) {
		/* Old whole-disk signatures (an ISO9660, a superfloppy FAT) libblkid reports
		 * as collisions are wiped, so that the disk reads as GPT only. */
		fdisk_enable_wipe(cxt, 1);
		/* The MBR boot code area (bytes 0..439, UEFI 2.10 §5.2.3 Table 5.3) is
		 * not part of the protective MBR; libfdisk zeroes it unless asked. */
		if (l->keep_boot_code)
			fdisk_enable_bootbits_protection(cxt, 1);
		rc = write_label(cxt, &p, what, &m, err);
	}
	if (!rc && blk) {
		if (fsync(fd))
			rc = im_fail_errno(err, IM_EXIT_IO, "%s: fsync failed", what);
		else {
			/* BLKRRPART first; it is refused while a partition is busy and finds
			 * nothing on kernels without a GPT parser: then BLKPG, partition by
			 * partition, as partx -u does. */
			fdisk_reread_partition_table(cxt);
			im_blkpg_sync(fd, what, &p);
		}
	}
	fdisk_unref_context(cxt); /* does not close fd (assigned by fd) */
	if (!rc && out)
		*out = p;
	else
		im_gpt_disk_free(&p);
	return rc;
}

/* ---- reading ----------------------------------------------------------------------- */

static uint32_t detect_sector_size(int fd)
{
	static const uint32_t sizes[] = {512, 1024, 2048, 4096};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char sig[8];
		if (pread(fd, sig, sizeof(sig), sizes[i]) == (ssize_t)sizeof(sig) &&
		    !memcmp(sig, GPT_SIG, sizeof(sig)))
			return sizes[i];
	}
	return 0;
}

/* Header fields (UEFI 2.10 §5.3.2 Table 5.5): NumberOfPartitionEntries at +80,
 * SizeOfPartitionEntry at +84 (a power of two from 128). libfdisk allocates the array these claim
 * before it checks anything else (a fuzzed header asked for 128 TiB): refuse arrays larger than the
 * disk or IM_GPT_ARRAY_MAX, for the primary header (LBA 1) and the backup (last LBA). */
#define IM_GPT_ARRAY_MAX (4u << 20)

static int check_array_size(int fd, const char *what, uint32_t ss, uint64_t disk,
			    struct im_error *err)
{
	uint64_t lbas[2] = {1, disk / ss ? disk / ss - 1 : 0};
	for (int i = 0; i < 2; i++) {
		uint8_t h[92];
		if (pread(fd, h, sizeof(h), (off_t)(lbas[i] * ss)) != (ssize_t)sizeof(h) ||
		    memcmp(h, GPT_SIG, 8))
			continue;
		uint32_t n = (uint32_t)h[80] | (uint32_t)h[81] << 8 | (uint32_t)h[82] << 16 |
			     (uint32_t)h[83] << 24;
		uint32_t es = (uint32_t)h[84] | (uint32_t)h[85] << 8 | (uint32_t)h[86] << 16 |
			      (uint32_t)h[87] << 24;
		uint64_t bytes = (uint64_t)n * es;
		/* SizeOfPartitionEntry "must be 128 x 2^n" (UEFI 2.10 §5.3.2); libfdisk 2.38
		 * reads 128-byte entries out of smaller ones (a fuzzed header with 1 crashed
		 * it) */
		if (es < 128 || (es & (es - 1)))
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: GPT header at LBA %" PRIu64 " has %" PRIu32
				       "-byte partition entries: expected 128 x 2^n bytes",
				       what, lbas[i], es);
		if (bytes > IM_GPT_ARRAY_MAX || bytes > disk)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: GPT header at LBA %" PRIu64 " claims %" PRIu32
				       " entries of %" PRIu32 " bytes (%" PRIu64
				       " bytes), more than the disk or %u bytes",
				       what, lbas[i], n, es, bytes, IM_GPT_ARRAY_MAX);
	}
	return 0;
}

/* UEFI 2.10 §5.3.3: every partition lies in FirstUsableLBA..LastUsableLBA; and in the disk
 * itself (a truncated image, or a table crafted to reach past it). */
static int check_entries(const struct im_gpt_disk *d, const char *what, struct im_error *err)
{
	uint64_t ss = d->sector_size, lo = d->first_usable * ss, hi = (d->last_usable + 1) * ss;
	for (size_t i = 0; i < d->n; i++) {
		const struct im_gpt_entry *e = &d->parts[i];
		uint64_t end = e->start + e->size;
		if (end < e->start || end > d->disk_size)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: GPT partition %u (%s) ends at byte %llu, past the end "
				       "of the disk (%llu bytes)",
				       what, e->partno, e->name[0] ? e->name : "no name",
				       (unsigned long long)end, (unsigned long long)d->disk_size);
		if (e->start < lo || end > hi)
			return im_fail(
			    err, IM_EXIT_INVALID,
			    "%s: GPT partition %u (%s) at bytes %llu..%llu is outside the "
			    "table's usable area %llu..%llu (disk %llu bytes)",
			    what, e->partno, e->name[0] ? e->name : "no name",
			    (unsigned long long)e->start, (unsigned long long)end,
			    (unsigned long long)lo, (unsigned long long)hi,
			    (unsigned long long)d->disk_size);
	}
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct im_gpt_entry *x = *(const struct im_gpt_entry *const *)a;
	const struct im_gpt_entry *y = *(const struct im_gpt_entry *const *)b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* UEFI 2.10 §5.3.3: partitions must not overlap (a verb writing one would write the other:
 * an upgrade of slot B into the committed slot A). Sorted by start, each must begin at or
 * after the furthest end so far. Called after check_entries (no end wraps). */
static int check_overlap(const struct im_gpt_disk *d, const char *what, struct im_error *err)
{
	if (d->n < 2)
		return 0;
	const struct im_gpt_entry **v = malloc(d->n * sizeof(*v));
	if (!v)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory", what);
	for (size_t i = 0; i < d->n; i++)
		v[i] = &d->parts[i];
	qsort(v, d->n, sizeof(*v), by_start);
	const struct im_gpt_entry *far = v[0];
	int rc = 0;
	for (size_t i = 1; i < d->n && !rc; i++) {
		if (v[i]->start < far->start + far->size)
			rc = im_fail(err, IM_EXIT_INVALID,
				     "%s: GPT partitions %u (%s) and %u (%s) overlap (bytes "
				     "%llu..%llu and %llu..%llu)",
				     what, far->partno, far->name[0] ? far->name : "no name",
				     v[i]->partno, v[i]->name[0] ? v[i]->name : "no name",
				     (unsigned long long)far->start,
				     (unsigned long long)(far->start + far->size),
				     (unsigned long long)v[i]->start,
				     (unsigned long long)(v[i]->start + v[i]->size));
		else if (v[i]->start + v[i]->size > far->start + far->size)
			far = v[i];
	}
	free(v);
	return rc;
}

int im_gpt_read(int fd, const char *what, uint32_t sector_size, struct im_gpt_disk *out,
		struct im_error *err)
{
	struct stat st;
	memset(out, 0, sizeof(*out));
	if (fstat(fd, &st))
		return im_fail_errno(err, IM_EXIT_IO, "%s: cannot stat", what);
	uint32_t ss = 0;
	if (S_ISREG(st.st_mode)) {
		ss = sector_size ? sector_size : detect_sector_size(fd);
		if (!ss)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: no GPT: expected an \"EFI PART\" header at byte 512, "
				       "1024, 2048 or 4096",
				       what);
		if (check_sector_size(ss, err))
			return -1;
	} else if (!S_ISBLK(st.st_mode)) {
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: expected a regular file or a block device", what);
	}
	uint64_t disk = (uint64_t)st.st_size;
	int dev_ss = 0;
	if (S_ISBLK(st.st_mode) &&
	    (ioctl(fd, BLKSSZGET, &dev_ss) || ioctl(fd, BLKGETSIZE64, &disk) || dev_ss <= 0))
		return im_fail_errno(err, IM_EXIT_IO, "%s: cannot read the device size", what);
	if (check_array_size(fd, what, ss ? ss : (uint32_t)dev_ss, disk, err))
		return -1;
	struct fdisk_msgs m = {0};
	struct fdisk_context *cxt = new_cxt(fd, what, ss, true, &m, err);
	if (!cxt)
		return -1;
	int rc = 0;
	if (!fdisk_is_labeltype(cxt, FDISK_DISKLABEL_GPT))
		rc = im_fail(err, IM_EXIT_INVALID,
			     "%s: no valid GPT found (%" PRIu32 "-byte sectors)%s%s", what,
			     (uint32_t)fdisk_get_sector_size(cxt), m.last[0] ? ": " : "", m.last);
	else
		rc = collect(cxt, what, out, err);
	fdisk_unref_context(cxt);
	if (rc == 0 && (rc = check_entries(out, what, err)) == 0 &&
	    (rc = check_overlap(out, what, err)) == 0)
		out->primary_bad = !im_gpt_primary_ok(fd, out->sector_size);
	else if (rc)
		im_gpt_disk_free(out);
	return rc;
}

int im_gpt_read_path(const char *path, uint32_t sector_size, struct im_gpt_disk *out,
		     struct im_error *err)
{
	memset(out, 0, sizeof(*out));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s: cannot open", path);
	int rc = im_gpt_read(fd, path, sector_size, out, err);
	close(fd);
	return rc;
}
