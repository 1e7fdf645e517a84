/* Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) with the
 * project's own writers: `make fuzz-seeds`. Seeds are kept small (trailing zeros are
 * cut: the targets pad their disks and partitions with holes). Tar and OCI seeds are
 * written with libarchive (the project reads them; it writes none of its own yet). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imager/disk/gpt.h"
#include "imager/disk/meta.h"
#include "imager/efi/authenticode.h"
#include "imager/efi/pe.h"
#include "imager/fs/fat.h"
#include "imager/fs/fstree.h"
#include "imager/fs/oci_write.h"
#include "imager/fs/squashfs.h"
#include "imager/install/grubenv.h"
#include "imager/talos/cmdline.h"
#include "imager/talos/profile.h"
#include "imager/talos/schematic.h"
#include "imager/util/sha256.h"

static const char *root;

static void die(const char *what, const struct im_error *err)
{
	fprintf(stderr, "mkseeds: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

/* Write seed `name` of `target`: an optional prefix byte, then data without its trailing
 * zeros (at least one byte kept). */
static void seed(const char *target, const char *name, int prefix, const void *data, size_t len)
{
	char path[4096];
	const uint8_t *d = data;
	while (len > 1 && !d[len - 1])
		len--;
	snprintf(path, sizeof(path), "%s/%s", root, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || (prefix >= 0 && fputc(prefix, f) == EOF) || fwrite(d, 1, len, f) != len ||
	    fclose(f))
		die(path, NULL);
}

static uint8_t *slurp_fd(int fd, size_t *len)
{
	off_t n = lseek(fd, 0, SEEK_END);
	uint8_t *b = malloc((size_t)n + 1);
	if (!b || pread(fd, b, (size_t)n, 0) != n)
		die("read back", NULL);
	*len = (size_t)n;
	return b;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path, NULL);
	uint8_t *b = slurp_fd(fd, len);
	close(fd);
	return b;
}

/* ---- META ---- */

static void meta_seeds(void)
{
	struct im_meta m;
	struct im_error err = {0};
	uint8_t *img = malloc(IM_META_IMAGE_SIZE);
	im_meta_init(&m);
	if (im_meta_set(&m, IM_META_TAG_UPGRADE, "A", 1, &err) ||
	    im_meta_set(&m, IM_META_TAG_NETWORK, "addresses: [10.5.0.2/24]\n", 25, &err) ||
	    im_meta_set(&m, 0xc, "user value", 10, &err) || im_meta_encode_image(&m, img, &err))
		die("meta", &err);
	/* mode 1: the target writes the trailer (digest, end magic) so records are reached */
	seed("fuzz_meta", "records", 1, img, IM_META_COPY_SIZE - 36);
	char *s = im_meta_encode_string(&m, &err);
	if (!s)
		die("meta string", &err);
	seed("fuzz_meta", "string", 2, s, strlen(s));
	free(s);
	uint8_t big[600];
	memset(big, 'x', sizeof(big));
	if (im_meta_set(&m, 0xd, big, sizeof(big), &err) || !(s = im_meta_encode_string(&m, &err)))
		die("meta gzip string", &err);
	seed("fuzz_meta", "string-gzip", 2, s, strlen(s));
	free(s);
	im_meta_free(&m);
	free(img);
}

/* ---- GPT ---- */

static void gpt_seed(const char *name, uint32_t ss)
{
	struct im_gpt_part p[] = {{.name = "EFI", .type = "esp", .size_bytes = 1 << 20},
				  {.name = "BIOS",
				   .type = "bios",
				   .size_bytes = 1 << 20,
				   .attrs = IM_GPT_ATTR_LEGACY_BOOT},
				  {.name = "BOOT-A", .type = "linux", .size_bytes = 2 << 20},
				  {.name = "META", .type = "linux", .size_bytes = 1 << 20},
				  {.name = "EPHEMERAL", .type = "linux"}};
	struct im_gpt_layout l = {.disk_size = 8 << 20, .sector_size = ss, .parts = p, .n = 5};
	struct im_error err = {0};
	int fd = memfd_create("gpt", 0);
	if (fd < 0 || im_gpt_write(fd, "seed", &l, NULL, &err))
		die("gpt", &err);
	size_t len;
	uint8_t *b = slurp_fd(fd, &len);
	size_t head = ss * 2 + 128 * 128; /* MBR, header, the entry array */
	int flags = (ss == 4096 ? 3 : 0) << 1;
	seed("fuzz_gpt", name, flags, b, head);
	char fixed[64];
	snprintf(fixed, sizeof(fixed), "%s-crc", name);
	seed("fuzz_gpt", fixed, flags | 1, b, head);
	free(b);
	close(fd);
}

/* ---- FAT (the ESP the installer edits) ---- */

static void fat_seed(const char *name, uint64_t size, uint32_t cluster, int grub)
{
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);
	uint8_t env[IM_GRUBENV_SIZE];
	const char *kv[] = {IM_GRUBENV_SAVED_ENTRY, "A", NULL};
	static const char uki[3000] = "MZ";
	if (im_grubenv_new_block(env, sizeof(env), kv, &err) ||
	    im_tree_add_file_mem(t, "loader/loader.conf", "timeout 3\ndefault Talos-*-A.efi\n", 33,
				 0644, &err) ||
	    im_tree_add_file_mem(t, "EFI/Linux/Talos-v1.0.0-A.efi", uki, sizeof(uki), 0644, &err) ||
	    im_tree_add_file_mem(t, "EFI/BOOT/BOOTX64.EFI", uki, 700, 0644, &err) ||
	    (grub && im_tree_add_file_mem(t, "grub/grubenv", env, sizeof(env), 0644, &err)) ||
	    im_tree_add_file_mem(t, "a rather long file name.txt", "long", 4, 0644, &err))
		die("fat tree", &err);
	struct im_fat_opts o = {.size_bytes = size, .cluster_size = cluster, .label = "EFI"};
	int fd = memfd_create("fat", 0);
	if (fd < 0 || ftruncate(fd, (off_t)size) || im_fat_write(fd, 0, &o, t, &err))
		die("fat", &err);
	size_t len;
	uint8_t *b = slurp_fd(fd, &len);
	seed("fuzz_fat", name, -1, b, len);
	free(b);
	close(fd);
	im_tree_free(t);
}

/* ---- grubenv, cmdline, profiles, overlays, extensions: text ---- */

/* Schematics: one as a user writes it, and its canonical form (what the ID hashes). */
static void schematic_seeds(void)
{
	static const char user[] =
	    "overlay:\n  name: rpi_generic\n  image: siderolabs/sbc-raspberrypi\n  options:\n"
	    "    configTxtAppend: \"dtoverlay=x\"\n    n: {a: [1, 0x10, true, ~, 1.5, "
	    "2024-01-02]}\ncustomization:\n  extraKernelArgs: [noapic, \"yes\", '- x']\n"
	    "  meta:\n    - key: 0xa\n      value: |\n        hostname: a\n  systemExtensions:\n"
	    "    officialExtensions: [siderolabs/gvisor]\n  secureboot: "
	    "{includeWellKnownCertificates: on}\n  bootloader: sd-boot\n";
	struct im_error err = {0};
	struct im_schematic *s;
	char *canon;
	size_t len;
	seed("fuzz_schematic", "user", -1, user, sizeof(user) - 1);
	if (im_schematic_parse(user, sizeof(user) - 1, "seed", &s, &err) < 0 ||
	    im_schematic_marshal(s, &canon, &len, &err) < 0)
		die("schematic", &err);
	seed("fuzz_schematic", "canonical", -1, canon, len);
	free(canon);
	im_schematic_free(s);
	static const char empty[] = "customization: {}\n";
	seed("fuzz_schematic", "empty", -1, empty, sizeof(empty) - 1);
}

static void text_seeds(void)
{
	struct im_error err = {0};
	uint8_t env[IM_GRUBENV_SIZE];
	const char *kv[] = {
	    IM_GRUBENV_SAVED_ENTRY, "A", IM_GRUBENV_NEXT_ENTRY, "B", "x", "a\\b\nc", NULL};
	if (im_grubenv_new_block(env, sizeof(env), kv, &err))
		die("grubenv", &err);
	seed("fuzz_grubenv", "ab", -1, env, sizeof(env));
	seed("fuzz_grubenv", "ab-full", -1, env, sizeof(env)); /* '#' fill: not trimmed */

	struct im_cmdline_params cp = {.platform = "metal", .arch = "amd64"};
	struct im_cmdline *cl = im_cmdline_build(&cp, &err);
	if (!cl)
		die("cmdline", &err);
	char *line = im_cmdline_render(cl), *text;
	if (asprintf(&text, "%s\nconsole=ttyS0\n-slab_nomerge\n-console=tty0\nk=v=w x\n", line) < 0)
		die("cmdline text", NULL);
	seed("fuzz_cmdline", "metal", -1, text, strlen(text));
	free(text);
	free(line);
	im_cmdline_free(cl);

	const char *const *names = im_profile_list_builtin();
	for (size_t i = 0; names[i]; i++) {
		if (strcmp(names[i], "metal") && strcmp(names[i], "secureboot-iso") &&
		    strcmp(names[i], "installer") && strcmp(names[i], "aws"))
			continue;
		const char *y = im_profile_builtin_yaml(names[i]);
		seed("fuzz_profile", names[i], -1, y, strlen(y));
	}
	static const char user[] =
	    "baseProfileName: metal\narch: arm64\ncustomization:\n  extraKernelArgs: [-console, "
	    "console=ttyAMA0]\n  metaContents:\n    - {key: 0xa, value: \"x: 1\"}\noutput:\n  "
	    "kind: image\n  outFormat: .zst\n  imageOptions: {diskSize: 2GiB, bootloader: "
	    "dual-boot, sectorSize: 4096}\noverlay: {name: rpi_generic, options: {configTxt: "
	    "a}}\n";
	seed("fuzz_profile", "user", -1, user, sizeof(user) - 1);
	schematic_seeds();

	static const char *const overlays[] = {"pine64", "rock64", "rockpi4", "rockpro64",
					       "rpi_generic"};
	for (size_t i = 0; i < sizeof(overlays) / sizeof(*overlays); i++) {
		char p[256];
		size_t len;
		snprintf(p, sizeof(p), "overlays/%s/overlay.yaml", overlays[i]);
		uint8_t *b = slurp(p, &len);
		seed("fuzz_overlay", overlays[i], -1, b, len);
		free(b);
	}
	size_t len;
	uint8_t *b = slurp("extensions/hello-world/manifest.yaml", &len);
	seed("fuzz_extension", "hello-world", -1, b, len);
	free(b);
	static const char ext[] =
	    "version: v1alpha1\nmetadata:\n  name: gvisor\n  version: "
	    "20231214.0-v1.7.0\n  author: a\n  description: d\n  "
	    "compatibility:\n    talos:\n      version: \">= v1.7.0, < v2\"\n";
	seed("fuzz_extension", "constraint", -1, ext, sizeof(ext) - 1);
}

/* ---- content: tar (plain, gzip, zstd), squashfs, OCI layout tar ---- */

struct member {
	const char *path;
	const char *data; /* NULL: a folder; "->x": a symlink to x */
};

static size_t write_tar(const struct member *m, size_t n, int filter, uint8_t *out, size_t cap)
{
	struct archive *a = archive_write_new();
	size_t used = 0;
	archive_write_set_format_pax_restricted(a);
	if (filter)
		archive_write_add_filter(a, filter);
	if (archive_write_open_memory(a, out, cap, &used) != ARCHIVE_OK)
		die(archive_error_string(a), NULL);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].path);
		archive_entry_set_mtime(e, 0, 0);
		if (!m[i].data) {
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0755);
		} else if (!strncmp(m[i].data, "->", 2)) {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, m[i].data + 2);
		} else {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_size(e, (la_int64_t)strlen(m[i].data));
		}
		archive_write_header(a, e);
		if (m[i].data && strncmp(m[i].data, "->", 2))
			archive_write_data(a, m[i].data, strlen(m[i].data));
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
	uint8_t md[32];
	struct im_sha256 s;
	im_sha256_init(&s);
	im_sha256_update(&s, d, n);
	im_sha256_final(&s, md);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void content_seeds(void)
{
	static const struct member ext[] = {
	    {"manifest.yaml", "version: v1alpha1\nmetadata: {name: x, version: 1}\n"},
	    {"rootfs", NULL},
	    {"rootfs/usr/lib/firmware/a.bin", "fw"},
	    {"rootfs/usr/bin", NULL},
	    {"rootfs/usr/bin/sh", "->busybox"},
	};
	size_t cap = 1 << 20, n;
	uint8_t *buf = malloc(cap), *layer = malloc(cap);
	n = write_tar(ext, 5, 0, buf, cap);
	seed("fuzz_content", "ext.tar", -1, buf, n);
	n = write_tar(ext, 5, ARCHIVE_FILTER_GZIP, buf, cap);
	seed("fuzz_content", "ext.tar.gz", -1, buf, n);
	n = write_tar(ext, 5, ARCHIVE_FILTER_ZSTD, buf, cap);
	seed("fuzz_content", "ext.tar.zst", -1, buf, n);
	n = write_tar(ext, 5, ARCHIVE_FILTER_XZ, buf, cap);
	seed("fuzz_content", "ext.tar.xz", -1, buf, n);

	/* OCI layout: one layer with a whiteout and an opaque folder */
	static const struct member lay[] = {{"manifest.yaml", "version: v1alpha1\n"},
					    {"rootfs/a/.wh..wh..opq", ""},
					    {"rootfs/.wh.gone", ""},
					    {"rootfs/a/b", "b"}};
	size_t ln = write_tar(lay, 4, 0, layer, cap);
	char ldig[65], mdig[65], ipath[128], mpath[128];
	sha256_hex(layer, ln, ldig);
	char manifest[1024], index[1024];
	snprintf(
	    manifest, sizeof(manifest),
	    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	    "\"digest\":\"sha256:%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
	    "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\",\"size\":%zu}]}",
	    ldig, ln, ldig, ln);
	sha256_hex(manifest, strlen(manifest), mdig);
	snprintf(index, sizeof(index),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
		 "\"application/"
		 "vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"size\":%zu}]}",
		 mdig, strlen(manifest));
	snprintf(ipath, sizeof(ipath), "blobs/sha256/%s", ldig);
	snprintf(mpath, sizeof(mpath), "blobs/sha256/%s", mdig);
	layer[ln] = 0;
	struct member oci[] = {{"oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"},
			       {"index.json", index},
			       {"blobs", NULL},
			       {"blobs/sha256", NULL},
			       {mpath, manifest},
			       {ipath, (const char *)layer}};
	/* the layer holds NUL bytes: write it with its length, not strlen */
	struct archive *a = archive_write_new();
	size_t used = 0;
	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, buf, cap, &used);
	for (size_t i = 0; i < 6; i++) {
		struct archive_entry *e = archive_entry_new();
		size_t len = i == 5 ? ln : oci[i].data ? strlen(oci[i].data) : 0;
		archive_entry_set_pathname(e, oci[i].path);
		archive_entry_set_filetype(e, oci[i].data ? AE_IFREG : AE_IFDIR);
		archive_entry_set_perm(e, oci[i].data ? 0644 : 0755);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_write_header(a, e);
		if (len)
			archive_write_data(a, oci[i].data, len);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	seed("fuzz_content", "oci.tar", -1, buf, used);

	/* squashfs from our writer */
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);
	if (im_tree_add_file_mem(t, "manifest.yaml", "version: v1alpha1\n", 18, 0644, &err) ||
	    im_tree_add_file_mem(t, "rootfs/usr/lib/x", "xx", 2, 0755, &err) ||
	    im_tree_add_symlink(t, "rootfs/usr/lib/y", "x", &err) ||
	    im_tree_add_dir(t, "rootfs/empty", 0700, &err))
		die("squashfs tree", &err);
	char path[] = "/tmp/imager-seed.XXXXXX";
	int fd = mkstemp(path);
	struct im_squashfs_opts so = {.level = 1, .block_size = 4096};
	if (fd < 0 || im_squashfs_write(t, path, &so, &err))
		die("squashfs", &err);
	uint8_t *b = slurp(path, &n);
	seed("fuzz_content", "ext.sqsh", -1, b, n);
	free(b);
	unlink(path);
	close(fd);
	im_tree_free(t);
	free(buf);
	free(layer);
}

/* ---- PE: a minimal PE32+ EFI application by hand, then a UKI from our PE writer ---- */

static size_t tiny_pe(uint8_t *b, size_t cap)
{
	memset(b, 0, cap);
	struct im_pe_dos_header *dos = (void *)b;
	dos->e_magic = 0x5a4d;
	dos->e_lfanew = 0x40;
	memcpy(b + 0x40, "PE\0\0", 4);
	struct im_pe_coff_header *c = (void *)(b + 0x44);
	c->machine = IM_PE_MACHINE_AMD64;
	c->number_of_sections = 1;
	c->size_of_optional_header = sizeof(struct im_pe_opt_header64) + 16 * 8;
	c->characteristics = 0x0206;
	struct im_pe_opt_header64 *o = (void *)(b + 0x58);
	o->magic = IM_PE32PLUS_MAGIC;
	o->size_of_code = 0x200;
	o->address_of_entry_point = 0x1000;
	o->base_of_code = 0x1000;
	o->section_alignment = 0x1000;
	o->file_alignment = 0x200;
	o->size_of_image = 0x2000;
	o->size_of_headers = 0x400;
	o->subsystem = 10;
	o->number_of_rva_and_sizes = 16;
	struct im_pe_section_header *s =
	    (void *)(b + 0x58 + sizeof(struct im_pe_opt_header64) + 16 * 8);
	memcpy(s->name, ".text", 5);
	s->virtual_size = 0x10;
	s->virtual_address = 0x1000;
	s->size_of_raw_data = 0x200;
	s->pointer_to_raw_data = 0x400;
	s->characteristics = IM_SCN_CNT_CODE | IM_SCN_MEM_EXECUTE | IM_SCN_MEM_READ;
	b[0x400] = 0xc3; /* ret */
	return 0x600;
}

static void pe_seeds(void)
{
	uint8_t stub[0x600];
	size_t n = tiny_pe(stub, sizeof(stub));
	seed("fuzz_pe", "stub.efi", -1, stub, sizeof(stub));
	struct im_pe pe;
	struct im_error err = {0};
	static const char osrel[] = "NAME=\"Talos\"\nVERSION_ID=v1.0.0\n";
	static const char cmd[] = "console=ttyS0 talos.platform=metal";
	uint8_t kernel[0x600] = {0};
	memcpy(kernel + 0x202, "HdrS", 4);
	kernel[0x206] = 0x0f, kernel[0x207] = 0x02, kernel[0x20f] = 0x03;
	memcpy(kernel + 0x500, "6.1.0-28-amd64 (x)", 18);
	if (im_pe_parse(stub, n, "stub", &pe, &err) ||
	    im_pe_add_section(&pe, ".osrel", osrel, sizeof(osrel) - 1, IM_SCN_DATA_RO, &err) ||
	    im_pe_add_section(&pe, ".cmdline", cmd, sizeof(cmd) - 1, IM_SCN_DATA_RO, &err) ||
	    im_pe_add_section(&pe, ".linux", kernel, sizeof(kernel), IM_SCN_DATA_RO, &err) ||
	    im_pe_add_section(&pe, ".initrd", "initrd", 6, IM_SCN_DATA_RO, &err))
		die("pe", &err);
	uint8_t *uki;
	size_t len;
	if (im_pe_build(&pe, &uki, &len, &err))
		die("pe build", &err);
	seed("fuzz_pe", "uki.efi", -1, uki, len);
	seed("fuzz_pe", "kernel", -1, kernel, sizeof(kernel));

	/* signed: a throwaway RSA key and self-signed certificate */
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *cert = X509_new();
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	ASN1_TIME_set(X509_getm_notBefore(cert), 0);
	ASN1_TIME_set(X509_getm_notAfter(cert), 0x7fffffff);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
				   (const unsigned char *)"seed", -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	X509_set_pubkey(cert, key);
	X509_sign(cert, key, EVP_sha256());
	uint8_t *sig;
	size_t slen;
	if (im_authenticode_sign(uki, len, "uki", key, cert, NULL, &sig, &slen, &err))
		die("sign", &err);
	seed("fuzz_pe", "uki-signed.efi", -1, sig, slen);
	seed("fuzz_sigpool", "uki-signed.efi", -1, sig, slen);
	free(sig);
	X509_free(cert);
	EVP_PKEY_free(key);
	free(uki);
	im_pe_free(&pe);
}

/* An installer bundle as imager writes it (oci_write.h): two layers, the second with a
 * whiteout. Written whole: its end-of-archive blocks are zeros that seed() would cut. */
static void bundle_seeds(void)
{
	struct im_error err = {0};
	struct im_tree *l1 = im_tree_new(1700000000), *l2 = im_tree_new(1700000000);
	char path[4200], dir[4096];
	if (im_tree_add_file_mem(l1, "usr/bin/installer", "#!x\n", 4, 0755, &err) < 0 ||
	    im_tree_add_symlink(l1, "lib64/ld.so", "/lib/ld.so", &err) < 0 ||
	    im_tree_add_file_mem(l2, "usr/install/amd64/vmlinuz", "MZ", 2, 0644, &err) < 0 ||
	    im_tree_add_file_mem(l2, "usr/install/amd64/cmdline", "a=b\n", 4, 0644, &err) < 0 ||
	    im_tree_add_file_mem(l2, "lib64/.wh.ld.so", "", 0, 0644, &err) < 0)
		die("bundle tree", &err);
	struct im_tree *layers[2] = {l1, l2};
	struct im_oci_image img = {.arch = "amd64",
				   .created = 1700000000,
				   .entrypoint = "/usr/bin/installer",
				   .layers = layers,
				   .n_layers = 2};
	snprintf(dir, sizeof(dir), "%s/fuzz_bundle", root);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/installer-amd64.tar", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || im_oci_write(fd, path, dir, &img, &err) < 0 || close(fd) < 0)
		die(path, &err);
	im_tree_free(l1);
	im_tree_free(l2);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds CORPUS_DIR (run from the source tree)\n");
		return 2;
	}
	root = argv[1];
	mkdir(root, 0755);
	meta_seeds();
	gpt_seed("disk-512", 512);
	gpt_seed("disk-4096", 4096);
	fat_seed("esp-fat16-sdboot", 2600 << 10, 512, 0);
	fat_seed("esp-fat16-grub", 4200 << 10, 1024, 1);
	text_seeds();
	content_seeds();
	pe_seeds();
	bundle_seeds();
	return 0;
}
