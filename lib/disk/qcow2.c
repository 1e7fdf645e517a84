/* qcow2 v3 writer (include/imager/disk/qcow2.h). Host layout, in clusters:
 *   0 header | refcount table | refcount blocks | L1 table | L2 tables | data clusters
 * Every host cluster is used once (refcount 1), so L1 and L2 entries carry the COPIED
 * flag (bit 63), and the refcount blocks say 1 for clusters [0, total). Sizes of the
 * refcount structures depend on the total, which depends on them: iterate to the fixed
 * point (two rounds at most in practice). */
#include "imager/disk/qcow2.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COPIED (1ull << 63)

struct layout {
	unsigned cb;  /* cluster bits */
	uint64_t c;   /* cluster size */
	uint64_t *cl; /* allocated guest clusters, ascending */
	size_t ncl;   /* their count */
	uint64_t l1_size, l1c, nl2, rt, rb, total;
};

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

int im_qcow2_parse_options(const char *opts, unsigned *cluster_bits, struct im_error *err)
{
	*cluster_bits = IM_QCOW2_DEFAULT_CLUSTER_BITS;
	if (!opts || !*opts)
		return 0;
	char *copy = strdup(opts), *save = NULL;
	if (!copy)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int rc = 0;
	for (char *o = strtok_r(copy, ",", &save); o && rc == 0; o = strtok_r(NULL, ",", &save)) {
		if (strncmp(o, "cluster_size=", 13)) {
			rc = im_fail(err, IM_EXIT_INVALID,
				     "diskFormatOptions: \"%s\" is not a qcow2 option (known: "
				     "cluster_size=SIZE)",
				     o);
			break;
		}
		char *end;
		unsigned long long v = strtoull(o + 13, &end, 10);
		if (!strcasecmp(end, "k"))
			v <<= 10;
		else if (!strcasecmp(end, "m"))
			v <<= 20;
		else if (*end)
			v = 0;
		if (v < 512 || v > (2u << 20) || (v & (v - 1))) {
			rc = im_fail(err, IM_EXIT_INVALID,
				     "diskFormatOptions: cluster_size \"%s\": expected a power of "
				     "two from 512 to 2M",
				     o + 13);
			break;
		}
		*cluster_bits = (unsigned)__builtin_ctzll(v);
	}
	free(copy);
	return rc;
}

/* The guest clusters any extent touches, each once. */
static int allocated_clusters(const struct im_extents *x, struct layout *l, struct im_error *err)
{
	size_t cap = 0;
	for (size_t i = 0; i < x->n; i++)
		cap += (size_t)(((x->v[i].off + x->v[i].len - 1) >> l->cb) -
				(x->v[i].off >> l->cb) + 1);
	if (!(l->cl = malloc((cap ? cap : 1) * sizeof(*l->cl))))
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	for (size_t i = 0; i < x->n; i++)
		for (uint64_t c = x->v[i].off >> l->cb;
		     c <= (x->v[i].off + x->v[i].len - 1) >> l->cb; c++)
			if (!l->ncl || l->cl[l->ncl - 1] != c)
				l->cl[l->ncl++] = c;
	return 0;
}

static void plan(const struct im_extents *x, struct layout *l)
{
	uint64_t l2e = l->c / 8; /* entries per L2 table */
	l->l1_size = ceil_div(x->size, l->c * l2e);
	l->l1c = ceil_div(l->l1_size * 8, l->c);
	if (!l->l1c)
		l->l1c = 1;
	l->nl2 = 0;
	for (size_t i = 0; i < l->ncl; i++)
		if (i == 0 || l->cl[i] / l2e != l->cl[i - 1] / l2e)
			l->nl2++;
	uint64_t fixed = 1 + l->l1c + l->nl2 + l->ncl;
	l->rt = l->rb = 1;
	for (;;) {
		uint64_t total = fixed + l->rt + l->rb;
		uint64_t rb = ceil_div(total, l->c / 2), rt = ceil_div(rb * 8, l->c);
		if (rb == l->rb && rt == l->rt) {
			l->total = total;
			return;
		}
		l->rb = rb;
		l->rt = rt;
	}
}

/* qcow2.txt §"Header": the v3 fields; header extensions end at the zero padding. */
static int write_header(const struct im_extents *x, const struct layout *l, uint8_t *buf,
			struct im_sink *out, struct im_error *err)
{
	memset(buf, 0, l->c);
	memcpy(buf, "QFI\xfb", 4);
	be32(buf + 4, 3);
	be32(buf + 20, l->cb);
	be64(buf + 24, x->size);
	be32(buf + 36, (uint32_t)l->l1_size);
	be64(buf + 40, (1 + l->rt + l->rb) * l->c); /* L1 */
	be64(buf + 48, l->c);			    /* refcount table */
	be32(buf + 56, (uint32_t)l->rt);
	be32(buf + 96, 4);    /* refcount_order: 16-bit refcounts */
	be32(buf + 100, 104); /* header_length */
	return im_sink_write(out, buf, l->c, err);
}

static int write_refcounts(const struct layout *l, uint8_t *buf, struct im_sink *out,
			   struct im_error *err)
{
	uint64_t per = l->c / 8, i = 0;
	for (uint64_t k = 0; k < l->rt; k++) {
		memset(buf, 0, l->c);
		for (uint64_t j = 0; j < per && i < l->rb; j++, i++)
			be64(buf + 8 * j, (1 + l->rt + i) * l->c);
		if (im_sink_write(out, buf, l->c, err) < 0)
			return -1;
	}
	uint64_t used = 0;
	for (uint64_t k = 0; k < l->rb; k++) {
		memset(buf, 0, l->c);
		for (uint64_t j = 0; j < l->c / 2 && used < l->total; j++, used++)
			be16(buf + 2 * j, 1);
		if (im_sink_write(out, buf, l->c, err) < 0)
			return -1;
	}
	return 0;
}

/* L1, then one L2 table per L1 entry that maps any data cluster. */
static int write_tables(const struct layout *l, uint8_t *buf, struct im_sink *out,
			struct im_error *err)
{
	uint64_t l2e = l->c / 8, l2_base = 1 + l->rt + l->rb + l->l1c;
	uint64_t data_base = l2_base + l->nl2, k = 0;
	size_t i = 0;
	for (uint64_t c = 0; c < l->l1c; c++) {
		memset(buf, 0, l->c);
		for (uint64_t j = 0; j < l2e && c * l2e + j < l->l1_size; j++) {
			uint64_t e = c * l2e + j;
			if (i < l->ncl && l->cl[i] / l2e == e) {
				be64(buf + 8 * j, (l2_base + k++) * l->c | COPIED);
				while (i < l->ncl && l->cl[i] / l2e == e)
					i++;
			}
		}
		if (im_sink_write(out, buf, l->c, err) < 0)
			return -1;
	}
	for (i = 0; i < l->ncl;) {
		uint64_t e = l->cl[i] / l2e;
		memset(buf, 0, l->c);
		for (; i < l->ncl && l->cl[i] / l2e == e; i++)
			be64(buf + 8 * (l->cl[i] % l2e), (data_base + i) * l->c | COPIED);
		if (im_sink_write(out, buf, l->c, err) < 0)
			return -1;
	}
	return 0;
}

static int write_data(int fd, const struct layout *l, uint8_t *buf, struct im_sink *out,
		      struct im_progress *pr, struct im_error *err)
{
	for (size_t i = 0; i < l->ncl; i++) {
		if (im_extents_pread(fd, buf, l->c, l->cl[i] * l->c, err) < 0 ||
		    im_sink_write(out, buf, l->c, err) < 0)
			return -1;
		if (pr)
			im_progress_add(pr, l->c);
	}
	return 0;
}

int im_qcow2_write(const struct im_extents *x, int fd, unsigned cluster_bits, struct im_sink *out,
		   struct im_progress *pr, struct im_error *err)
{
	struct layout l = {.cb = cluster_bits ? cluster_bits : IM_QCOW2_DEFAULT_CLUSTER_BITS};
	l.c = 1ull << l.cb;
	uint8_t *buf = malloc(l.c);
	int rc =
	    buf ? allocated_clusters(x, &l, err) : im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (rc == 0) {
		plan(x, &l);
		rc = write_header(x, &l, buf, out, err);
	}
	if (rc == 0)
		rc = write_refcounts(&l, buf, out, err);
	if (rc == 0)
		rc = write_tables(&l, buf, out, err);
	if (rc == 0)
		rc = write_data(fd, &l, buf, out, pr, err);
	free(l.cl);
	free(buf);
	return rc;
}
