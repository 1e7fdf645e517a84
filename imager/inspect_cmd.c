/* `imager inspect FILE [--json]`: what a UKI / EFI binary holds — sections (name, VA,
 * size, sha256), .osrel, .cmdline, .uname, the Authenticode signer. The kind is told
 * from the file's bytes: disk images, ISOs, installer bundles, initramfs, squashfs and
 * VM formats go to inspect_disk.c / inspect_iso.c / inspect_bundle.c /
 * inspect_initramfs.c / inspect_ext.c / inspect_vm.c; other kinds exit 3. */
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "inspect.h"
#include "json.h"
#include "imager/efi/authenticode.h"
#include "imager/efi/pcr.h"
#include "imager/efi/pe.h"
#include "imager/util/readfile.h"

static void hex(char *out, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* The signer's subject from the PKCS#7 in the certificate table, or NULL. */
static char *signer_subject(const uint8_t *buf, size_t len)
{
	struct im_error err = {0};
	size_t unsigned_len, off, sig_len;
	if (im_authenticode_locate(buf, len, "", &unsigned_len, &off, &sig_len, &err) != 0 ||
	    sig_len <= 8)
		return NULL;
	/* WIN_CERTIFICATE: dwLength, wRevision, wCertificateType, then the DER (PE/COFF §4.7) */
	const unsigned char *p = buf + off + 8;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)(sig_len - 8));
	if (!p7)
		return NULL;
	char *s = NULL;
	STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);
	if (signers && sk_X509_num(signers) > 0)
		s = X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers, 0)), NULL, 0);
	sk_X509_free(signers);
	PKCS7_free(p7);
	return s;
}

static void print_text(FILE *f, const struct im_pe *pe, const char *name, int json)
{
	char *t = im_pe_section_text(pe, name);
	if (!t)
		return;
	if (json) {
		fprintf(f, ",\n  \"%s\": ", name + 1);
		imager_json_str(f, t, strlen(t));
	} else {
		fprintf(f, "%s:\n%s\n", name, t);
	}
	free(t);
}

static void print_sections(FILE *f, const struct im_pe *pe, int json)
{
	if (!json)
		fprintf(f, "%-9s %10s %10s  %s\n", "section", "va", "size", "sha256");
	else
		fputs("  \"sections\": [", f);
	for (size_t i = 0; i < pe->n_sections; i++) {
		const struct im_pe_section *s = &pe->sections[i];
		char h[65] = "";
		uint8_t md[32];
		size_t n = s->vsize < s->file_size ? s->vsize : s->file_size;
		if (s->file_off + (uint64_t)n <= pe->len &&
		    EVP_Digest(pe->buf + s->file_off, n, md, NULL, EVP_sha256(), NULL))
			hex(h, md, 32);
		if (json)
			fprintf(f,
				"%s\n    {\"name\": \"%s\", \"va\": %u, \"size\": %u, \"sha256\": "
				"\"%s\"}",
				i ? "," : "", s->name, s->vaddr, s->vsize, h);
		else
			fprintf(f, "%-9s 0x%08x %10u  %s\n", s->name, s->vaddr, s->vsize, h);
	}
	if (json)
		fputs("\n  ]", f);
}

/* PCR 11 per bank: "stub" as systemd-stub leaves it (what an initrd without systemd-pcrphase,
 * like the reference init, reads; tests/e2e/83-tpm-pcr11.sh), then after each boot phase
 * (what the .pcrsig policy is signed for). Sections are measured as loaded: VirtualSize
 * bytes. */
static void print_pcr11(FILE *f, const struct im_pe *pe, int json)
{
	struct im_pcr_section secs[16];
	size_t n = 0;
	for (size_t i = 0; i < pe->n_sections && n < 16; i++) {
		const struct im_pe_section *s = &pe->sections[i];
		if (im_pcr_stub_measures(s->name) && s->vsize <= s->file_size &&
		    s->file_off + (uint64_t)s->vsize <= pe->len)
			secs[n++] = (struct im_pcr_section){
			    .name = s->name, .data = pe->buf + s->file_off, .len = s->vsize};
	}
	if (!n || !im_pe_find(pe, ".linux"))
		return;
	/* the TPM's banks (TPM_ALG_ID order); sha1 too: TPMs and swtpm still allocate it */
	const EVP_MD *banks[] = {EVP_sha1(), EVP_sha256(), EVP_sha384(), EVP_sha512()};
	fputs(json ? ",\n  \"pcr11\": {" : "predicted PCR 11:\n", f);
	for (size_t b = 0; b < sizeof(banks) / sizeof(banks[0]); b++) {
		uint8_t ph[1 + IM_PCR_NPHASES][EVP_MAX_MD_SIZE];
		struct im_error err = {0};
		if (im_pcr11_after_stub(secs, n, banks[b], ph[0], &err) < 0 ||
		    im_pcr11_predict(secs, n, banks[b], ph + 1, &err) < 0)
			continue;
		const char *bank = EVP_MD_get0_name(banks[b]);
		size_t md = (size_t)EVP_MD_get_size(banks[b]);
		if (json)
			fprintf(f, "%s\n    \"%s\": {", b ? "," : "", bank);
		for (size_t p = 0; p <= IM_PCR_NPHASES; p++) {
			const char *phase = p ? im_pcr_phase_paths[p - 1] : "stub";
			char h[2 * EVP_MAX_MD_SIZE + 1];
			hex(h, ph[p], md);
			if (json)
				fprintf(f, "%s\"%s\": \"%s\"", p ? ", " : "", phase, h);
			else
				fprintf(f, "  %s %s: %s\n", bank, phase, h);
		}
		if (json)
			fputs("}", f);
	}
	if (json)
		fputs("\n  }", f);
}

/* The kind of a file from its first bytes (fd at any position), or NULL (then it must be a
 * PE image). */
static const char *other_kind(int fd)
{
	static uint8_t b[0x8006];
	ssize_t got = pread(fd, b, sizeof b, 0);
	size_t n = got > 0 ? (size_t)got : 0;
	static const struct {
		size_t off;
		const char *magic;
		size_t len;
		const char *kind;
	} k[] = {
	    {0, "\x28\xb5\x2f\xfd", 4, "zstd-compressed file"},
	    {0,
	     "\xfd"
	     "7zXZ\0",
	     6, "xz-compressed file"},
	    {0, "\x1f\x8b", 2, "gzip-compressed file"},
	    {0, "QFI\xfb", 4, "qcow2 disk image"},
	    {0, "KDMV", 4, "vmdk disk image"},
	    {0, "conectix", 8, "VHD disk image"},
	    {0, "hsqs", 4, "squashfs (extension)"},
	    {0, "07070", 5, "cpio archive (initramfs)"},
	    {257, "ustar", 5, "tar archive (installer bundle)"},
	    {0x8001, "CD001", 5, "ISO 9660 image"},
	    {512, "EFI PART", 8, "GPT disk image"},
	    {4096, "EFI PART", 8, "GPT disk image"},
	};
	for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
		if (n >= k[i].off + k[i].len && !memcmp(b + k[i].off, k[i].magic, k[i].len)) {
			/* a fixed VHD is the raw disk + a footer; an OVA a tar, the .ovf first */
			if (!strcmp(k[i].kind, "GPT disk image") && inspect_is_vhd(fd))
				return "VHD disk image";
			if (k[i].off == 257 && inspect_is_ova(fd))
				return "OVA (tar)";
			return k[i].kind;
		}
	return NULL;
}

/* A kind other than PE: disk images (compressed ones through a sparse temporary file) and
 * ISOs are inspected; the others exit 3. */
static int inspect_other(const char *path, int fd, const char *kind, int json)
{
	struct im_error err = {0};
	int tmp = -1;
	if (strstr(kind, "-compressed") && inspect_compressed_cpio(fd))
		kind = "cpio archive (initramfs)";
	else if (strstr(kind, "-compressed")) {
		if ((tmp = imager_inspect_decompress(path, &err)) < 0)
			return imager_report(&err);
		const char *inner = other_kind(tmp);
		if (inner && !strcmp(inner, "cpio archive (initramfs)")) {
			close(tmp);
			return imager_inspect_initramfs(path, json, &err) < 0 ? imager_report(&err)
									      : 0;
		}
		if (!inner || !(strstr(inner, "disk image") || !strcmp(inner, "ISO 9660 image"))) {
			close(tmp);
			im_fail(&err, IM_EXIT_UNSUPPORTED,
				"inspect: %s: a %s holding %s; only disk images, VM disks and "
				"initramfs are inspected inside compressed files",
				path, kind, inner ? inner : "no known kind");
			return imager_report(&err);
		}
		fd = tmp;
		kind = inner;
	}
	int rc;
	if (!strcmp(kind, "GPT disk image"))
		rc = imager_inspect_disk(path, fd, json, &err);
	else if (!strcmp(kind, "ISO 9660 image"))
		rc = imager_inspect_iso(path, fd, json, &err);
	else if (!strcmp(kind, "qcow2 disk image"))
		rc = imager_inspect_qcow2(path, fd, json, &err);
	else if (!strcmp(kind, "VHD disk image"))
		rc = imager_inspect_vhd(path, fd, json, &err);
	else if (!strcmp(kind, "vmdk disk image"))
		rc = imager_inspect_vmdk(path, fd, json, &err);
	else if (!strcmp(kind, "OVA (tar)"))
		rc = imager_inspect_ova(path, fd, json, &err);
	else if (!strcmp(kind, "squashfs (extension)"))
		rc = imager_inspect_squashfs(path, json, &err);
	else if (!strcmp(kind, "cpio archive (initramfs)"))
		rc = imager_inspect_initramfs(path, json, &err);
	else if (!strcmp(kind, "tar archive (installer bundle)"))
		rc = imager_inspect_bundle(path, fd, json, &err);
	else
		rc = im_fail(&err, IM_EXIT_UNSUPPORTED,
			     "inspect: %s: a %s; inspected are UKI / EFI binaries, raw or "
			     "compressed (.zst, .xz, .gz) disk images, ISOs, installer bundles, "
			     "initramfs, squashfs images and VM formats",
			     path, kind);
	if (tmp >= 0)
		close(tmp);
	return rc < 0 ? imager_report(&err) : 0;
}

int imager_cmd_inspect(int argc, char **argv)
{
	static const struct option o[] = {
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", o, NULL)) != -1) {
		if (c == 'j')
			json = 1;
		else if (c == 'h') {
			puts(
			    "usage: imager inspect [--json] FILE\n"
			    "  UKI / EFI binary: sections, .osrel, .cmdline, .uname, signer,\n"
			    "    predicted PCR 11.\n"
			    "  disk image (raw, .zst, .xz, .gz): partitions, bootloader, A/B "
			    "slots\n"
			    "    (state, version, UKI, command line), META values.\n"
			    "  ISO: volume id, El Torito entries, partitions, files, bootloader,\n"
			    "    command line, META values.\n"
			    "  installer bundle (OCI layout tar, or --tar-to-stdout's tar of it):\n"
			    "    index, manifest, config, layers, /usr/install assets, record.\n"
			    "  initramfs (plain, xz, zstd or gzip newc cpio, concatenated): "
			    "archives,\n"
			    "    members (path, mode, size), the appended extensions.\n"
			    "  Other kinds (qcow2, VHD, OVA, extension) are recognised by their\n"
			    "  bytes and exit 3 (not yet).\n"
			    "  --json: the same as one JSON object (doc/inspect-json.md).");
			return 0;
		} else
			return imager_bad_flag("inspect", argv);
	}
	struct im_error err = {0};
	if (argc - optind != 1) {
		im_fail(&err, IM_EXIT_INVALID,
			"inspect: expected one file (see imager inspect --help)");
		return imager_report(&err);
	}
	const char *path = argv[optind];
	uint8_t *buf;
	size_t len;
	struct im_pe pe = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	const char *kind = fd >= 0 ? other_kind(fd) : NULL;
	if (kind) {
		int rc = inspect_other(path, fd, kind, json);
		close(fd);
		return rc;
	}
	if (fd >= 0)
		close(fd);
	if (im_read_file(path, "file to inspect", &buf, &len, &err) < 0)
		return imager_report(&err);
	if (im_pe_parse(buf, len, path, &pe, &err) < 0) {
		free(buf);
		return imager_report(&err);
	}
	char *signer = signer_subject(buf, len);
	if (json) {
		fputs("{\n  \"file\": ", stdout);
		imager_json_str(stdout, path, strlen(path));
		fprintf(stdout, ",\n  \"arch\": \"%s\",\n",
			im_pe_arch(&pe) ? im_pe_arch(&pe) : "unknown");
	} else {
		printf("file: %s\narch: %s\n", path, im_pe_arch(&pe) ? im_pe_arch(&pe) : "unknown");
	}
	print_sections(stdout, &pe, json);
	for (const char *const *n = (const char *const[]){".osrel", ".cmdline", ".uname", NULL}; *n;
	     n++)
		print_text(stdout, &pe, *n, json);
	print_pcr11(stdout, &pe, json);
	if (json) {
		fputs(",\n  \"signer\": ", stdout);
		if (signer)
			imager_json_str(stdout, signer, strlen(signer));
		else
			fputs("null", stdout);
		fputs("\n}\n", stdout);
	} else {
		printf("signer: %s\n", signer ? signer : "(unsigned)");
	}
	OPENSSL_free(signer);
	im_pe_free(&pe);
	free(buf);
	return 0;
}
