/* Build records (record.h). */
#include "record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/efi/authenticode.h"
#include "imager/util/outfile.h"
#include "json.h"

static void to_hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Feed `n` zero bytes: a hole of a sparse file (a 100 GiB raw disk is mostly holes) is
 * hashed without reading it; SHA-256 itself still has to run over every byte. */
static int hash_zeros(EVP_MD_CTX *c, uint64_t n)
{
	static const uint8_t zero[1 << 16];
	for (; n > 0; n -= n < sizeof(zero) ? n : sizeof(zero))
		if (!EVP_DigestUpdate(c, zero, n < sizeof(zero) ? (size_t)n : sizeof(zero)))
			return -1;
	return 0;
}

/* Hash [off, end) of fd by reading it (a data extent). */
static int hash_read(EVP_MD_CTX *c, int fd, uint64_t off, uint64_t end, const char *path,
		     const char *what, struct im_error *err)
{
	uint8_t buf[1 << 16];
	while (off < end) {
		size_t want = end - off < sizeof(buf) ? (size_t)(end - off) : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return im_fail_errno(err, IM_EXIT_IO, "%s (%s): read", path, what);
		if (!EVP_DigestUpdate(c, buf, (size_t)n))
			return -1;
		off += (uint64_t)n;
	}
	return 0;
}

int im_sha256_file_hex(const char *path, const char *what, char hex[65], struct im_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return im_fail_errno(err, im_exit_for_input_errno(errno), "%s (%s)", path, what);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t md[32];
	struct stat st;
	int rc = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) ? 0 : -1;
	if (rc == 0 && fstat(fd, &st) < 0)
		rc = im_fail_errno(err, IM_EXIT_IO, "%s (%s)", path, what);
	uint64_t size = rc == 0 ? (uint64_t)st.st_size : 0, off = 0;
	/* data extents read, holes fed as zeros (SEEK_DATA/SEEK_HOLE; a file system without
	 * them reports all data) */
	while (rc == 0 && off < size) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA);
		uint64_t data = d < 0 ? size : (uint64_t)d;
		if (data > off)
			rc = hash_zeros(c, data - off);
		if (rc == 0 && data < size) {
			off_t h = lseek(fd, (off_t)data, SEEK_HOLE);
			uint64_t hole = h < 0 ? size : (uint64_t)h;
			rc = hash_read(c, fd, data, hole, path, what, err);
			data = hole;
		}
		off = data;
	}
	unsigned int len = 0;
	if (rc == 0 && !EVP_DigestFinal_ex(c, md, &len))
		rc = -1;
	if (rc < 0 && !err->code)
		im_fail(err, IM_EXIT_INTERNAL, "%s: sha256 failed", path);
	if (rc == 0)
		to_hex(md, 32, hex);
	EVP_MD_CTX_free(c);
	close(fd);
	return rc;
}

static int fail_rec(struct im_record *rec)
{
	rec->failed = 1;
	return -1;
}

static const char *inside(const char *dir, const char *path)
{
	size_t n = dir ? strlen(dir) : 0;
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return n && !strncmp(path, dir, n) && path[n] == '/' ? path + n + 1 : NULL;
}

/* Inside the inputs folder: "inputs/<rel>" (the same record for any inputs folder). */
static char *uri_of(const struct im_record *rec, const char *path)
{
	const char *rel;
	char *s = NULL;
	if ((rel = inside(rec->inputs, path)))
		return asprintf(&s, "inputs/%s", rel) < 0 ? NULL : s;
	if ((rel = inside(rec->keys, path)))
		return asprintf(&s, "secureboot-keys/%s", rel) < 0 ? NULL : s;
	return strdup(path);
}

static int add_dep(struct im_record *rec, const char *name, char *uri, const char *path,
		   const char *hex, const char *package)
{
	for (size_t i = 0; i < rec->n; i++)
		if (!strcmp(rec->v[i].uri, uri)) { /* the same file used twice */
			free(uri);
			return 0;
		}
	if (rec->n == rec->cap) {
		size_t cap = rec->cap ? 2 * rec->cap : 16;
		struct im_rec_dep *v = realloc(rec->v, cap * sizeof(*v));
		if (!v) {
			free(uri);
			im_fail(&rec->err, IM_EXIT_INTERNAL, "out of memory");
			return fail_rec(rec);
		}
		rec->v = v;
		rec->cap = cap;
	}
	struct im_rec_dep *d = &rec->v[rec->n++];
	memset(d, 0, sizeof(*d));
	d->name = strdup(name);
	d->uri = uri;
	d->path = path ? strdup(path) : NULL;
	d->package = package ? strdup(package) : NULL;
	snprintf(d->hex, sizeof(d->hex), "%s", hex);
	return 0;
}

static int add_file(struct im_record *rec, const char *name, const char *path)
{
	char hex[65];
	if (im_sha256_file_hex(path, name, hex, &rec->err) < 0)
		return fail_rec(rec);
	char *uri = uri_of(rec, path);
	if (!uri) {
		im_fail(&rec->err, IM_EXIT_INTERNAL, "out of memory");
		return fail_rec(rec);
	}
	return add_dep(rec, name, uri, path, hex, NULL);
}

/* Byte order, not the locale's collation: the record must not depend on LANG. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int add_tree(struct im_record *rec, const char *name, const char *dir, int depth)
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, by_name), rc = 0;
	if (n < 0) {
		im_fail_errno(&rec->err, IM_EXIT_MISSING, "%s (%s)", dir, name);
		return fail_rec(rec);
	}
	for (int i = 0; i < n; i++) {
		char *p = NULL;
		struct stat st;
		const char *e = ents[i]->d_name;
		if (rc == 0 && strcmp(e, ".") && strcmp(e, "..") &&
		    asprintf(&p, "%s/%s", dir, e) > 0 && stat(p, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < 64)
				rc = add_tree(rec, name, p, depth + 1);
			else if (S_ISREG(st.st_mode))
				rc = add_file(rec, name, p);
		}
		free(p);
		free(ents[i]);
	}
	free(ents);
	return rc;
}

void im_record_input(struct im_record *rec, const char *name, const char *path)
{
	struct stat st;
	if (!rec || rec->failed || !path || stat(path, &st) < 0)
		return; /* a missing input fails the build where it is read */
	if (S_ISDIR(st.st_mode))
		add_tree(rec, name, path, 0);
	else
		add_file(rec, name, path);
}

void im_record_digest(struct im_record *rec, const char *name, const char *uri, const char *hex,
		      const char *package)
{
	char *u = rec && !rec->failed ? strdup(uri) : NULL;
	if (u)
		add_dep(rec, name, u, NULL, hex, package);
}

/* pkgs/payload.sh writes out/cache/payload.manifest beside out/install/<arch>. */
void im_record_manifest(struct im_record *rec, const char *arch)
{
	char *path = NULL, line[512];
	if (!rec || !rec->inputs ||
	    asprintf(&path, "%s/out/install/%s", IMAGER_SOURCE_DIR, arch) < 0)
		return;
	int same = !strcmp(path, rec->inputs);
	free(path);
	if (!same || asprintf(&path, "%s/out/cache/payload.manifest", IMAGER_SOURCE_DIR) < 0)
		return;
	FILE *f = fopen(path, "r");
	free(path);
	while (f && fgets(line, sizeof(line), f)) {
		char pkg[128], ver[128], a[32], hex[65], uri[400], entry[300];
		if (sscanf(line, "%127s %127s %31s %64s", pkg, ver, a, hex) != 4 || strcmp(a, arch))
			continue;
		snprintf(uri, sizeof(uri), "pkg:deb/debian/%s@%s?arch=%s", pkg, ver, a);
		snprintf(entry, sizeof(entry), "%s %s %s", pkg, ver, a);
		im_record_digest(rec, "payload package", uri, hex, entry);
	}
	if (f)
		fclose(f);
}

void im_record_secureboot(struct im_record *rec, const char *cert, const char *pcr_key)
{
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	unsigned char *der = NULL;
	uint8_t md[32];
	char hex[65];
	if (!rec || rec->failed)
		return;
	im_record_input(rec, "UKI signing certificate", cert);
	if (im_load_cert_pem(cert, &x, &rec->err) < 0 ||
	    im_load_key_pem(pcr_key, &k, &rec->err) < 0) {
		fail_rec(rec);
		goto out;
	}
	int n = i2d_X509(x, &der);
	if (n > 0 && EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL)) {
		to_hex(md, 32, hex);
		im_record_digest(rec, "UKI signing certificate fingerprint (sha256 of DER)",
				 "urn:imager:secureboot:uki-certificate", hex, NULL);
	}
	OPENSSL_free(der);
	der = NULL;
	n = i2d_PUBKEY(k, &der); /* the public half only: the private key is never recorded */
	if (n > 0 && EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL)) {
		to_hex(md, 32, hex);
		im_record_digest(rec,
				 "PCR public key fingerprint (sha256 of DER SubjectPublicKeyInfo)",
				 "urn:imager:secureboot:pcr-public-key", hex, NULL);
	}
out:
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
}

void im_record_free(struct im_record *rec)
{
	for (size_t i = 0; rec && i < rec->n; i++) {
		free(rec->v[i].name);
		free(rec->v[i].uri);
		free(rec->v[i].path);
		free(rec->v[i].package);
	}
	if (rec)
		free(rec->v);
}

static int by_uri(const void *a, const void *b)
{
	return strcmp(((const struct im_rec_dep *)a)->uri, ((const struct im_rec_dep *)b)->uri);
}

static void jstr(FILE *f, const char *s)
{
	imager_json_str(f, s, strlen(s));
}

static void write_deps(FILE *f, struct im_record *rec)
{
	if (rec->n)
		qsort(rec->v, rec->n, sizeof(*rec->v), by_uri);
	fputs("      \"resolvedDependencies\": [", f);
	for (size_t i = 0; i < rec->n; i++) {
		const struct im_rec_dep *d = &rec->v[i];
		fputs(i ? ",\n        {\"name\": " : "\n        {\"name\": ", f);
		jstr(f, d->name);
		fputs(", \"uri\": ", f);
		jstr(f, d->uri);
		fprintf(f, ", \"digest\": {\"sha256\": \"%s\"}", d->hex);
		if (d->package) {
			fputs(", \"annotations\": {\"payloadManifest\": ", f);
			jstr(f, d->package);
			fputc('}', f);
		}
		fputc('}', f);
	}
	fputs(rec->n ? "\n      ]\n" : "]\n", f);
}

static void write_json(FILE *f, struct im_record *rec, const struct im_record_build *b,
		       const char *name, const char *hex, long long size)
{
	fputs("{\n  \"_type\": \"https://in-toto.io/Statement/v1\",\n  \"subject\": [\n"
	      "    {\"name\": ",
	      f);
	jstr(f, name);
	fprintf(f, ", \"digest\": {\"sha256\": \"%s\"}, \"annotations\": {\"size\": %lld}}\n  ],\n",
		hex, size);
	fputs("  \"predicateType\": \"https://slsa.dev/provenance/v1\",\n  \"predicate\": {\n"
	      "    \"buildDefinition\": {\n      \"buildType\": \"" IMAGER_BUILD_TYPE "\",\n"
	      "      \"externalParameters\": {\n        \"profile\": ",
	      f);
	jstr(f, b->profile);
	fprintf(f,
		",\n        \"sourceDateEpoch\": %lld,\n        \"secureBootKeysFolder\": %s,\n"
		"        \"strictKernel\": %s\n      },\n",
		(long long)b->epoch, b->keys_dir ? "true" : "false",
		b->strict_kernel ? "true" : "false");
	write_deps(f, rec);
	fputs("    },\n    \"runDetails\": {\n      \"builder\": {\"id\": \"" IMAGER_BUILDER_ID
	      "\", \"version\": {\"imager\": \"" IMAGER_VERSION_STR "\"}},\n"
	      "      \"metadata\": {}\n    }\n  }\n}\n",
	      f);
}

int im_record_write(struct im_record *rec, const struct im_record_build *b, struct im_error *err)
{
	if (rec->failed) {
		*err = rec->err;
		return -1;
	}
	char hex[65], *dst = NULL, *buf = NULL;
	size_t len = 0;
	struct stat st;
	const char *slash = strrchr(b->output, '/');
	if (im_sha256_file_hex(b->output, "output", hex, err) < 0)
		return -1;
	if (stat(b->output, &st) < 0)
		return im_fail_errno(err, IM_EXIT_IO, "%s", b->output);
	if (asprintf(&dst, "%s.build.json", b->output) < 0)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		free(dst);
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	}
	write_json(f, rec, b, slash ? slash + 1 : b->output, hex, (long long)st.st_size);
	fclose(f);
	int rc = im_output_buffer(dst, buf, len, err);
	free(buf);
	free(dst);
	return rc;
}
