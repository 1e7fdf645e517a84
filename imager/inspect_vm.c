/* `imager inspect` of the VM formats the imager writes (lib/disk/qcow2.c, vhd.c, vmdk.c,
 * ova.c): their headers only, the guest disk is not read.
 *  - qcow2: the header of QEMU's docs/interop/qcow2.txt (big-endian): version, virtual
 *    size, cluster size, backing file, encryption, L1 size, snapshots, refcount width,
 *    compression type (v3 header_length > 104);
 *  - VHD: the footer of the VHD specification v1.0 (§"Hard Disk Footer Format", the last
 *    512 bytes; dynamic disks also carry a copy at 0 and a "Dynamic Disk Header");
 *  - VMDK: the hosted sparse extent header (VMware "Virtual Disk Format 5.0", little-
 *    endian "KDMV") and its embedded descriptor (createType, adapter, hardware version);
 *  - OVA: the tar (DSP0243 §5.3: the .ovf first) with its members, a few OVF values and
 *    the VMDK header of its disk. */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect.h"
#include "json.h"
#include "imager/util/error.h"

#define VHD_EPOCH 946684800 /* 2000-01-01T00:00:00Z, the VHD timestamp's origin */

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void jstr(FILE *f, const char *s)
{
	if (s)
		imager_json_str(f, s, strlen(s));
	else
		fputs("null", f);
}

static uint64_t file_size(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void head(FILE *f, const char *path, const char *kind, uint64_t size, int json)
{
	char h[16];
	if (json) {
		fputs("{\n  \"file\": ", f);
		jstr(f, path);
		fprintf(f, ",\n  \"kind\": \"%s\",\n  \"size\": %llu", kind,
			(unsigned long long)size);
		return;
	}
	inspect_wrap(f, 0, "file", path);
	inspect_human(size, h);
	fprintf(f, "kind: %s (%s)\n", kind, h);
}

static void num(FILE *f, int json, const char *key, const char *label, uint64_t v)
{
	char h[16];
	inspect_human(v, h);
	if (json)
		fprintf(f, ",\n  \"%s\": %llu", key, (unsigned long long)v);
	else
		fprintf(f, "%s: %s (%llu bytes)\n", label, h, (unsigned long long)v);
}

static void str(FILE *f, int json, const char *key, const char *label, const char *v)
{
	if (json) {
		fprintf(f, ",\n  \"%s\": ", key);
		jstr(f, v);
	} else {
		inspect_wrap(f, 0, label, v ? v : "(none)");
	}
}

/* ---- qcow2 -------------------------------------------------------------------------- */

int imager_inspect_qcow2(const char *path, int fd, int json, struct im_error *err)
{
	uint8_t h[112] = {0}, name[1024];
	ssize_t got = pread(fd, h, sizeof h, 0);
	if (got < 72 || memcmp(h, "QFI\xfb", 4))
		return im_fail(err, IM_EXIT_INVALID,
			       "inspect: %s: a qcow2 header cut short (%zd "
			       "bytes)",
			       path, got);
	uint32_t version = (uint32_t)be(h + 4, 4), bits = (uint32_t)be(h + 20, 4);
	if (version < 2 || version > 3 || bits < 9 || bits > 21)
		return im_fail(err, IM_EXIT_INVALID,
			       "inspect: %s: qcow2 version %u, cluster_bits %u: expected version 2 "
			       "or 3 and 9..21 (qcow2.txt)",
			       path, version, bits);
	uint64_t boff = be(h + 8, 8), blen = be(h + 16, 4);
	char *backing = NULL;
	if (boff && blen && blen < sizeof name &&
	    pread(fd, name, blen, (off_t)boff) == (ssize_t)blen)
		backing = strndup((const char *)name, blen);
	/* v3: header_length at 100; a compression type byte at 104 when it is over 104 */
	uint32_t hlen = version == 3 ? (uint32_t)be(h + 100, 4) : 72;
	const char *comp = version == 3 && hlen > 104 && h[104] == 1 ? "zstd" : "zlib";
	head(stdout, path, "qcow2", file_size(fd), json);
	num(stdout, json, "virtualSize", "virtual size", be(h + 24, 8));
	num(stdout, json, "clusterSize", "cluster size", 1ull << bits);
	if (json)
		fprintf(stdout,
			",\n  \"version\": %u,\n  \"encryption\": %u,\n  \"l1Size\": %u,\n  "
			"\"snapshots\": %u,\n  \"refcountBits\": %u,\n  \"incompatibleFeatures\": "
			"%llu",
			version, (unsigned)be(h + 32, 4), (unsigned)be(h + 36, 4),
			(unsigned)be(h + 60, 4), version == 3 ? 1u << be(h + 96, 4) : 16u,
			version == 3 ? (unsigned long long)be(h + 72, 8) : 0ull);
	else
		printf("version: %u, %u snapshot(s), %s compression, encryption %u\n", version,
		       (unsigned)be(h + 60, 4), comp, (unsigned)be(h + 32, 4));
	if (json)
		str(stdout, 1, "compression", "", comp);
	str(stdout, json, "backingFile", "backing file", backing);
	if (json)
		fputs("\n}\n", stdout);
	free(backing);
	return 0;
}

/* ---- VHD ---------------------------------------------------------------------------- */

/* The footer's checksum: one's complement of the byte sum without the field (§footer). */
static int vhd_sum_ok(const uint8_t *p, size_t n, size_t field)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += i >= field && i < field + 4 ? 0 : p[i];
	return ~sum == (uint32_t)be(p + field, 4);
}

/* Is fd a VHD: "conectix" in its last 512 bytes (fixed) or at 0 (dynamic)? */
int inspect_is_vhd(int fd)
{
	uint8_t c[8];
	uint64_t n = file_size(fd);
	return (pread(fd, c, 8, 0) == 8 && !memcmp(c, "conectix", 8)) ||
	       (n >= 512 && pread(fd, c, 8, (off_t)(n - 512)) == 8 && !memcmp(c, "conectix", 8));
}

int imager_inspect_vhd(const char *path, int fd, int json, struct im_error *err)
{
	uint8_t f[512], d[1024];
	uint64_t n = file_size(fd);
	/* the footer is the last 512 bytes; old writers made it 511 (spec, §footer) */
	if (n < 512 || pread(fd, f, 512, (off_t)(n - 512)) != 512 || memcmp(f, "conectix", 8))
		if (pread(fd, f, 512, 0) != 512 || memcmp(f, "conectix", 8))
			return im_fail(err, IM_EXIT_INVALID,
				       "inspect: %s: no VHD footer (\"conectix\") at the end",
				       path);
	static const char *const types[] = {"none", "reserved", "fixed", "dynamic", "differencing"};
	uint32_t type = (uint32_t)be(f + 60, 4);
	char creator[5] = {0}, host[5] = {0}, id[33];
	memcpy(creator, f + 28, 4);
	memcpy(host, f + 36, 4);
	for (int i = 0; i < 16; i++)
		sprintf(id + 2 * i, "%02x", f[68 + i]);
	int has_dyn = type >= 3 && pread(fd, d, 1024, (off_t)be(f + 16, 8)) == 1024 &&
		      !memcmp(d, "cxsparse", 8);
	if (type >= 3 && !has_dyn)
		return im_fail(err, IM_EXIT_INVALID,
			       "inspect: %s: a dynamic VHD without its dynamic disk header at %llu",
			       path, (unsigned long long)be(f + 16, 8));
	head(stdout, path, "vhd", n, json);
	str(stdout, json, "type", "type", type < 5 ? types[type] : "unknown");
	num(stdout, json, "virtualSize", "virtual size", be(f + 48, 8));
	if (json) {
		fprintf(stdout,
			",\n  \"originalSize\": %llu,\n  \"geometry\": {\"cylinders\": %u, "
			"\"heads\": %u, \"sectors\": %u},\n  \"timestamp\": %llu",
			(unsigned long long)be(f + 40, 8), (unsigned)be(f + 56, 2), f[58], f[59],
			(unsigned long long)(be(f + 24, 4) + VHD_EPOCH));
		fprintf(stdout, ",\n  \"checksumOk\": %s",
			vhd_sum_ok(f, 512, 64) ? "true" : "false");
		fprintf(stdout, ",\n  \"blockSize\": ");
		if (has_dyn)
			fprintf(stdout, "%u,\n  \"maxTableEntries\": %u", (unsigned)be(d + 32, 4),
				(unsigned)be(d + 28, 4));
		else
			fputs("null,\n  \"maxTableEntries\": null", stdout);
	} else {
		printf("geometry: %u/%u/%u (C/H/S), footer checksum %s\n", (unsigned)be(f + 56, 2),
		       f[58], f[59], vhd_sum_ok(f, 512, 64) ? "ok" : "bad");
		if (has_dyn)
			num(stdout, 0, "", "block size", be(d + 32, 4));
	}
	char ver[24];
	snprintf(ver, sizeof ver, "%u.%u", (unsigned)be(f + 32, 2), (unsigned)be(f + 34, 2));
	if (json) {
		str(stdout, 1, "creator", "", creator);
		str(stdout, 1, "creatorVersion", "", ver);
		str(stdout, 1, "creatorHost", "", host);
		str(stdout, 1, "uniqueId", "", id);
		fputs("\n}\n", stdout);
	} else {
		printf("creator: \"%s\" %s on \"%s\"\nunique id: %s\n", creator, ver, host, id);
	}
	return 0;
}

/* ---- VMDK --------------------------------------------------------------------------- */

struct vmdk {
	uint32_t version, compression;
	uint64_t capacity, grain; /* bytes */
	char create_type[64], adapter[64], hw[16];
};

/* `key = "value"` on a line of the descriptor (VMDK 5.0 §"The Descriptor File"). */
static void desc_value(const char *d, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	out[0] = 0;
	for (const char *p = d; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl))
			continue;
		const char *q = p + kl;
		while (*q == ' ' || *q == '=')
			q++;
		if (*q++ != '"')
			continue;
		size_t n = strcspn(q, "\"\n");
		snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), q);
		return;
	}
}

/* The sparse extent header at b (n bytes, the descriptor inside them when it is). */
static int vmdk_parse(const uint8_t *b, size_t n, struct vmdk *v)
{
	if (n < 512 || memcmp(b, "KDMV", 4))
		return -1;
	*v = (struct vmdk){.version = (uint32_t)le(b + 4, 4),
			   .capacity = le(b + 12, 8) * 512,
			   .grain = le(b + 20, 8) * 512,
			   .compression = (uint32_t)le(b + 77, 2)};
	uint64_t off = le(b + 28, 8) * 512, len = le(b + 36, 8) * 512;
	if (off && len && off < n) {
		size_t m = (size_t)(off + len <= n ? len : n - off);
		char *d = strndup((const char *)b + off, m);
		if (d) {
			desc_value(d, "createType", v->create_type, sizeof v->create_type);
			desc_value(d, "ddb.adapterType", v->adapter, sizeof v->adapter);
			desc_value(d, "ddb.virtualHWVersion", v->hw, sizeof v->hw);
			free(d);
		}
	}
	return 0;
}

static void vmdk_print(FILE *f, const struct vmdk *v, int json, const char *sep)
{
	const char *comp = v->compression == 1 ? "deflate" : v->compression ? "unknown" : "none";
	char h1[16], h2[16];
	if (json) {
		fprintf(f, "%s\"version\": %u%s\"virtualSize\": %llu%s\"grainSize\": %llu", sep,
			v->version, sep, (unsigned long long)v->capacity, sep,
			(unsigned long long)v->grain);
		fprintf(f, "%s\"compression\": \"%s\"%s\"createType\": ", sep, comp, sep);
		jstr(f, *v->create_type ? v->create_type : NULL);
		fprintf(f, "%s\"adapterType\": ", sep);
		jstr(f, *v->adapter ? v->adapter : NULL);
		fprintf(f, "%s\"hwVersion\": ", sep);
		jstr(f, *v->hw ? v->hw : NULL);
		return;
	}
	inspect_human(v->capacity, h1);
	inspect_human(v->grain, h2);
	fprintf(f, "%svirtual size: %s (%llu bytes)\n", sep, h1, (unsigned long long)v->capacity);
	fprintf(f, "%svmdk version %u, %s grains, %s, create type %.30s\n", sep, v->version, h2,
		comp, *v->create_type ? v->create_type : "?");
	fprintf(f, "%sadapter: %.30s, virtual hardware version %.10s\n", sep,
		*v->adapter ? v->adapter : "?", *v->hw ? v->hw : "?");
}

int imager_inspect_vmdk(const char *path, int fd, int json, struct im_error *err)
{
	uint8_t *b = malloc(65536);
	struct vmdk v;
	ssize_t got = b ? pread(fd, b, 65536, 0) : -1;
	if (got < 0 || vmdk_parse(b, (size_t)got, &v) < 0) {
		free(b);
		return im_fail(err, IM_EXIT_INVALID,
			       "inspect: %s: a VMDK sparse extent header cut short", path);
	}
	free(b);
	head(stdout, path, "vmdk", file_size(fd), json);
	vmdk_print(stdout, &v, json, json ? ",\n  " : "");
	if (json)
		fputs("\n}\n", stdout);
	return 0;
}

/* ---- OVA ---------------------------------------------------------------------------- */

/* Does the tar at fd start with a .ovf member (DSP0243 §5.3: the descriptor first)? */
int inspect_is_ova(int fd)
{
	char name[101] = {0};
	if (pread(fd, name, 100, 0) != 100)
		return 0;
	size_t n = strlen(name);
	return n > 4 && !strcmp(name + n - 4, ".ovf");
}

/* An attribute of the first element that has it: `attr="value"` in the OVF XML. */
static void xml_attr(const char *x, const char *attr, char *out, size_t cap)
{
	char key[64];
	snprintf(key, sizeof key, " %s=\"", attr);
	const char *p = x ? strstr(x, key) : NULL;
	out[0] = 0;
	if (p) {
		p += strlen(key);
		size_t n = strcspn(p, "\"");
		snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
	}
}

struct ova {
	char *names[16];
	uint64_t sizes[16];
	size_t n;
	char *ovf;
	struct vmdk v;
	int has_vmdk;
	size_t vmdk; /* its member index */
};

static int ova_read(struct ova *o, const char *path, int fd, struct im_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int rc;
	archive_read_support_format_tar(a);
	if ((rc = archive_read_open_fd(a, fd, 65536)) == ARCHIVE_OK)
		while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK && o->n < 16) {
			const char *name = archive_entry_pathname(e);
			size_t len = strlen(name);
			o->names[o->n] = strdup(name);
			o->sizes[o->n++] = (uint64_t)archive_entry_size(e);
			int ovf = len > 4 && !strcmp(name + len - 4, ".ovf");
			int vmdk = len > 5 && !strcmp(name + len - 5, ".vmdk");
			if (!ovf && !(vmdk && !o->has_vmdk))
				continue;
			char *b = calloc(1, 1 << 20);
			size_t got = 0;
			la_ssize_t r = 1;
			while (b && got < (1 << 20) - 1 &&
			       (r = archive_read_data(a, b + got, (1 << 20) - 1 - got)) > 0)
				got += (size_t)r;
			if (vmdk && b && vmdk_parse((uint8_t *)b, got, &o->v) == 0) {
				o->has_vmdk = 1;
				o->vmdk = o->n - 1;
			}
			if (ovf && !o->ovf)
				o->ovf = b;
			else
				free(b);
		}
	if (rc != ARCHIVE_EOF && rc != ARCHIVE_OK)
		im_fail(err, IM_EXIT_INVALID, "inspect: %s: not a readable OVA (tar): %s", path,
			archive_error_string(a) ?: "out of memory");
	archive_read_free(a);
	return rc == ARCHIVE_EOF || rc == ARCHIVE_OK ? 0 : -1;
}

int imager_inspect_ova(const char *path, int fd, int json, struct im_error *err)
{
	struct ova o = {0};
	int rc = ova_read(&o, path, fd, err);
	if (!rc && (!o.has_vmdk || !o.ovf))
		rc =
		    im_fail(err, IM_EXIT_INVALID,
			    "inspect: %s: an OVA without its .ovf descriptor or a VMDK disk", path);
	if (!rc) {
		char sys[128], cap[32], unit[64], os[64];
		xml_attr(strstr(o.ovf, "<VirtualSystem "), "ovf:id", sys, sizeof sys);
		xml_attr(o.ovf, "ovf:capacity", cap, sizeof cap);
		xml_attr(o.ovf, "ovf:capacityAllocationUnits", unit, sizeof unit);
		xml_attr(o.ovf, "vmw:osType", os, sizeof os);
		head(stdout, path, "ova", file_size(fd), json);
		if (json) {
			fputs(",\n  \"members\": [", stdout);
			for (size_t i = 0; i < o.n; i++) {
				fputs(i ? ", {\"name\": " : "{\"name\": ", stdout);
				jstr(stdout, o.names[i]);
				printf(", \"size\": %llu}", (unsigned long long)o.sizes[i]);
			}
			fputs("],\n  \"ovf\": {\"virtualSystem\": ", stdout);
			jstr(stdout, *sys ? sys : NULL);
			int digits = *cap && strspn(cap, "0123456789") == strlen(cap);
			printf(", \"capacity\": %s, \"capacityUnits\": ", digits ? cap : "null");
			jstr(stdout, *unit ? unit : NULL);
			fputs(", \"osType\": ", stdout);
			jstr(stdout, *os ? os : NULL);
			fputs("},\n  \"vmdk\": {\"member\": ", stdout);
			jstr(stdout, o.names[o.vmdk]);
			vmdk_print(stdout, &o.v, 1, ", ");
			fputs("}\n}\n", stdout);
		} else {
			printf("members: %zu\n", o.n);
			for (size_t i = 0; i < o.n; i++) {
				char h[16];
				inspect_human(o.sizes[i], h);
				printf("  %-60.60s %12s\n", o.names[i], h);
			}
			printf("virtual system: %.40s, guest %.30s\n", *sys ? sys : "?",
			       *os ? os : "?");
			printf("disk: %s\n", o.names[o.vmdk]);
			vmdk_print(stdout, &o.v, 0, "  ");
		}
	}
	for (size_t i = 0; i < o.n; i++)
		free(o.names[i]);
	free(o.ovf);
	return rc;
}
