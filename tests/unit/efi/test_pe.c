/* lib/pe.c: UKI-like images built from Debian's systemd-stub 252 (out/install/<arch>/),
 * judged by binutils (objdump -h/-p, objcopy -O binary) and by re-parsing; kernel releases of
 * the payload's kernels against out/install/<arch>/kernel.release. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "imager/efi/pe.h"

#define EPOCH 1700000000

struct payload {
	const char *name;
	const char *data;
};

/* Small dummy payloads; .linux is not a kernel, systemd-stub is never run here. */
static const struct payload payloads[] = {
    {".osrel", "NAME=Talos\nID=talos\nVERSION_ID=v1.0.0\n"},
    {".cmdline", "console=ttyS0 talos.platform=metal"},
    {".uname", "6.1.0-56-amd64"},
    {".linux", "MZ-not-really-a-kernel-but-long-enough-to-span-lines"},
    {".initrd", "070701-initrd-bytes"},
    {".pcrsig", "{\"sha256\":[]}"},
    {".pcrpkey", "-----BEGIN PUBLIC KEY-----\n"},
};
#define N_PAYLOADS (sizeof(payloads) / sizeof(payloads[0]))

static const char *objdump_for(const char *arch)
{
	return strcmp(arch, "arm64") ? "objdump" : "aarch64-linux-gnu-objdump";
}

static const char *objcopy_for(const char *arch)
{
	return strcmp(arch, "arm64") ? "objcopy" : "aarch64-linux-gnu-objcopy";
}

static void add_payloads(struct im_pe *pe, size_t n)
{
	struct im_error err = {0};
	for (size_t i = 0; i < n; i++)
		assert_int_equal(im_pe_add_section(pe, payloads[i].name, payloads[i].data,
						   strlen(payloads[i].data), IM_SCN_DATA_RO, &err),
				 0);
}

static void write_file(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* objdump -h: the section names in order, VMAs strictly increasing, sizes of the added
 * sections = payload lengths. */
static void check_objdump_sections(const char *arch, const char *file, const struct im_pe *pe)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "%s -h '%s'", objdump_for(arch), file);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char line[512], name[64];
	unsigned idx;
	unsigned long long size, vma, lma, off;
	size_t n = 0;
	unsigned long long last_vma = 0;
	while (fgets(line, sizeof(line), p)) {
		if (sscanf(line, " %u %63s %llx %llx %llx %llx", &idx, name, &size, &vma, &lma,
			   &off) != 6)
			continue;
		assert_true(n < pe->n_sections);
		const struct im_pe_section *s = &pe->sections[n];
		assert_string_equal(name, s->name);
		assert_true(n == 0 || vma > last_vma);
		assert_int_equal(off, s->file_off);
		if (s->added)
			assert_int_equal(size, s->data_len);
		last_vma = vma;
		n++;
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(n, pe->n_sections);
}

/* objdump -p: the recomputed header fields as binutils reads them. */
static void check_objdump_headers(const char *arch, const char *file, const struct im_pe *pe)
{
	assert_int_equal(
	    tu_sh("%s -p '%s' | grep -q '^CheckSum[[:space:]]*0*$'", objdump_for(arch), file), 0);
	assert_int_equal(tu_sh("%s -p '%s' | grep -qi '^SizeOfImage[[:space:]]*0*%x$'",
			       objdump_for(arch), file, pe->size_of_image),
			 0);
	assert_int_equal(tu_sh("%s -p '%s' | grep -qi '^SizeOfHeaders[[:space:]]*0*%x$'",
			       objdump_for(arch), file, pe->size_of_headers),
			 0);
	assert_int_equal(tu_sh("TZ=UTC %s -p '%s' | grep -q '^Time/Date.*Nov 14 22:13:20 2023'",
			       objdump_for(arch), file),
			 0);
}

/* objcopy -O binary --only-section: the payload bytes as binutils extracts them. */
static void check_objcopy_payload(const char *arch, const char *dir, const char *file,
				  const char *name, const char *data)
{
	char out[4096];
	snprintf(out, sizeof(out), "%s/extract.bin", dir);
	assert_int_equal(
	    tu_sh("%s -O binary --only-section=%s '%s' '%s'", objcopy_for(arch), name, file, out),
	    0);
	size_t len;
	uint8_t *b = tu_read_file(out, &len);
	assert_non_null(b);
	assert_int_equal(len, strlen(data));
	assert_memory_equal(b, data, len);
	free(b);
}

/* Re-parse the output: same sections, header fields consistent with the spec's rules. */
static void check_reparse(const uint8_t *img, size_t len, const struct im_pe *built)
{
	struct im_pe pe;
	struct im_error err = {0};
	assert_int_equal(im_pe_parse(img, len, "uki", &pe, &err), 0);
	assert_int_equal(pe.n_sections, built->n_sections);
	uint64_t end = 0;
	uint32_t init = 0;
	for (size_t i = 0; i < pe.n_sections; i++) {
		const struct im_pe_section *a = &pe.sections[i], *b = &built->sections[i];
		assert_string_equal(a->name, b->name);
		assert_int_equal(a->vaddr, b->vaddr);
		if (b->added) { /* the stub's own sections keep their (odd) layout */
			assert_int_equal(a->vaddr % pe.section_alignment, 0);
			assert_int_equal(a->file_off % pe.file_alignment, 0);
			assert_int_equal(a->file_size % pe.file_alignment, 0);
			assert_true(a->file_size >= a->vsize);
			assert_memory_equal(img + a->file_off, b->data, b->data_len);
		}
		if (a->vaddr + a->vsize > end)
			end = a->vaddr + a->vsize;
		if (a->characteristics & IM_SCN_CNT_INITIALIZED_DATA)
			init += a->file_size;
	}
	struct im_pe_opt_header64 opt;
	struct im_pe_coff_header coff;
	memcpy(&opt, img + pe.l.opt_off, sizeof(opt));
	memcpy(&coff, img + pe.l.pe_off + 4, sizeof(coff));
	assert_int_equal(opt.size_of_image, (end + opt.section_alignment - 1) &
						~(uint64_t)(opt.section_alignment - 1));
	assert_int_equal(opt.size_of_initialized_data, init);
	assert_int_equal(opt.check_sum, 0);
	assert_int_equal(coff.time_date_stamp, EPOCH);
	assert_int_equal(coff.pointer_to_symbol_table, 0);
	assert_true(opt.size_of_headers >= pe.l.sect_off + 40 * pe.n_sections);
	assert_true(opt.size_of_headers <= pe.sections[0].vaddr);
	im_pe_free(&pe);
}

static void build_uki(const char *arch)
{
	size_t len;
	uint8_t *stub = tu_need_payload(arch, "systemd-stub.efi", &len);
	struct im_pe pe;
	struct im_error err = {0};
	assert_int_equal(im_pe_parse(stub, len, "systemd-stub.efi", &pe, &err), 0);
	assert_string_equal(im_pe_arch(&pe), arch);
	size_t n_stub = pe.n_sections;
	add_payloads(&pe, N_PAYLOADS);
	assert_int_equal(im_pe_set_timestamp(&pe, EPOCH, &err), 0);

	char *dir = tu_tmpdir(), file[4096];
	snprintf(file, sizeof(file), "%s/uki.efi", dir);
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(im_pe_write(&pe, fd, file, &err), 0);
	assert_int_equal(close(fd), 0);

	size_t out_len, file_len;
	uint8_t *out, *written = tu_read_file(file, &file_len);
	assert_int_equal(im_pe_build(&pe, &out, &out_len, &err), 0);
	assert_int_equal(out_len, file_len); /* buffer and fd writers agree byte for byte */
	assert_memory_equal(out, written, out_len);
	assert_int_equal(out_len, im_pe_image_size(&pe));
	/* the stub's own sections are untouched */
	for (size_t i = 0; i < n_stub; i++)
		if (pe.sections[i].file_size)
			assert_memory_equal(out + pe.sections[i].file_off,
					    stub + pe.sections[i].file_off - pe.shift,
					    pe.sections[i].file_size);

	check_objdump_sections(arch, file, &pe);
	check_objdump_headers(arch, file, &pe);
	check_objcopy_payload(arch, dir, file, ".cmdline", payloads[1].data);
	check_objcopy_payload(arch, dir, file, ".initrd", payloads[4].data);
	check_reparse(out, out_len, &pe);

	free(out);
	free(written);
	im_pe_free(&pe);
	free(stub);
	tu_rmtree(dir);
	free(dir);
}

static void test_uki_amd64(void **state)
{
	(void)state;
	build_uki("amd64");
}

static void test_uki_arm64(void **state)
{
	(void)state;
	build_uki("arm64");
}

/* Same inputs, same bytes. */
static void test_reproducible(void **state)
{
	(void)state;
	size_t len;
	uint8_t *stub = tu_need_payload("amd64", "systemd-stub.efi", &len), *a, *b;
	size_t la, lb;
	struct im_error err = {0};
	for (int round = 0; round < 2; round++) {
		struct im_pe pe;
		assert_int_equal(im_pe_parse(stub, len, "stub", &pe, &err), 0);
		add_payloads(&pe, 5);
		assert_int_equal(im_pe_build(&pe, round ? &b : &a, round ? &lb : &la, &err), 0);
		im_pe_free(&pe);
	}
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
	free(stub);
}

/* More sections than the amd64 stub's header area holds (it has room for 7): the stub's raw
 * data moves back by FileAlignment and binutils still reads everything. */
static void test_header_growth(void **state)
{
	(void)state;
	size_t len;
	uint8_t *stub = tu_need_payload("amd64", "systemd-stub.efi", &len);
	struct im_pe pe;
	struct im_error err = {0};
	assert_int_equal(im_pe_parse(stub, len, "stub", &pe, &err), 0);
	uint32_t soh = pe.size_of_headers;
	add_payloads(&pe, N_PAYLOADS);
	assert_int_equal(pe.shift, 0);
	assert_int_equal(im_pe_add_section(&pe, ".splash", "BM", 2, IM_SCN_DATA_RO, &err), 0);
	assert_int_equal(
	    im_pe_add_section(&pe, ".dtb", "\xd0\x0d\xfe\xed", 4, IM_SCN_DATA_RO, &err), 0);
	assert_true(pe.shift > 0);
	assert_int_equal(pe.size_of_headers, soh + pe.shift);

	char *dir = tu_tmpdir(), file[4096];
	snprintf(file, sizeof(file), "%s/grown.efi", dir);
	uint8_t *out;
	size_t out_len;
	assert_int_equal(im_pe_build(&pe, &out, &out_len, &err), 0);
	write_file(file, out, out_len);
	check_objdump_sections("amd64", file, &pe);
	char *orig = tu_payload_path("amd64", "systemd-stub.efi");
	assert_int_equal(tu_sh("cd '%s' && objcopy -O binary --only-section=.sbat '%s' a && "
			       "objcopy -O binary --only-section=.sbat '%s' b && cmp -s a b",
			       dir, orig, file),
			 0);
	free(orig);
	check_objcopy_payload("amd64", dir, file, ".dtb", "\xd0\x0d\xfe\xed");
	pe.timestamp = EPOCH;
	free(out);
	assert_int_equal(im_pe_build(&pe, &out, &out_len, &err), 0);
	check_reparse(out, out_len, &pe);
	free(out);
	im_pe_free(&pe);
	free(stub);
	tu_rmtree(dir);
	free(dir);
}

static void expect_parse_error(const uint8_t *b, size_t len, const char *needle)
{
	struct im_pe pe;
	struct im_error err = {0};
	assert_int_equal(im_pe_parse(b, len, "stub.efi", &pe, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "stub.efi"));
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_bad_images(void **state)
{
	(void)state;
	uint8_t junk[512] = "not a PE image";
	expect_parse_error(junk, 10, "64-byte DOS header");
	expect_parse_error(junk, sizeof(junk), "\"MZ\"");

	size_t len;
	uint8_t *stub = tu_need_payload("amd64", "systemd-stub.efi", &len);
	expect_parse_error(stub, 0x200, "section");   /* truncated before the table's end */
	expect_parse_error(stub, 0x1000, "raw data"); /* sections beyond the end */
	uint8_t *copy = malloc(len);
	memcpy(copy, stub, len);
	uint32_t lfanew;
	memcpy(&lfanew, copy + 0x3c, 4);
	copy[lfanew + 24] = 0x0b, copy[lfanew + 25] = 0x01; /* PE32 magic */
	expect_parse_error(copy, len, "0x20b (PE32+)");
	memcpy(copy, stub, len);
	copy[lfanew] = 'X';
	expect_parse_error(copy, len, "PE signature");
	free(copy);
	free(stub);
}

static void test_bad_sections(void **state)
{
	(void)state;
	size_t len;
	uint8_t *stub = tu_need_payload("arm64", "systemd-stub.efi", &len);
	struct im_pe pe;
	struct im_error err = {0};
	assert_int_equal(im_pe_parse(stub, len, "stub.efi", &pe, &err), 0);
	assert_int_equal(im_pe_add_section(&pe, ".toolongname", "x", 1, IM_SCN_DATA_RO, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "1 to 8"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_pe_add_section(&pe, ".text", "x", 1, IM_SCN_DATA_RO, &err), -1);
	assert_non_null(strstr(err.msg, "clashes"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_pe_add_section(&pe, ".linux", "x", 1, IM_SCN_DATA_RO, &err), 0);
	assert_int_equal(im_pe_add_section(&pe, ".linux", "y", 1, IM_SCN_DATA_RO, &err), -1);
	assert_non_null(strstr(err.msg, "clashes"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_pe_set_timestamp(&pe, 1LL << 32, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "SOURCE_DATE_EPOCH"));
	/* an empty section gets no raw data but its own RVA */
	assert_int_equal(im_pe_add_section(&pe, ".empty", "", 0, IM_SCN_DATA_RO, &err), 0);
	const struct im_pe_section *e = im_pe_find(&pe, ".empty"), *l = im_pe_find(&pe, ".linux");
	assert_non_null(e);
	assert_int_equal(e->file_size, 0);
	assert_true(e->vaddr > l->vaddr);
	assert_null(im_pe_find(&pe, ".nothere"));
	im_pe_free(&pe);
	free(stub);
}

/* The header area cannot grow into the first section's RVA. */
static void test_no_header_room(void **state)
{
	(void)state;
	size_t len;
	uint8_t *stub = tu_need_payload("arm64", "systemd-stub.efi", &len);
	struct im_pe pe;
	struct im_error err = {0};
	assert_int_equal(im_pe_parse(stub, len, "stub.efi", &pe, &err), 0);
	/* arm64: headers end at 0x1000 = the first RVA; the table starts at 0xf8 and has room
	 * for (0x1000 - 0xf8) / 40 = 96 entries: systemd-stub's limit comes first. */
	char name[9];
	int rc = 0;
	for (int i = 0; rc == 0 && i < 200; i++) {
		snprintf(name, sizeof(name), ".s%03d", i);
		rc = im_pe_add_section(&pe, name, "x", 1, IM_SCN_DATA_RO, &err);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_int_equal(pe.n_sections, IM_PE_MAX_SECTIONS);
	assert_non_null(strstr(err.msg, "at most 96"));
	im_pe_free(&pe);

	/* amd64 with its first RVA lowered to the header size: no room to grow. */
	free(stub);
	stub = tu_need_payload("amd64", "systemd-stub.efi", &len);
	uint8_t *copy = malloc(len);
	memcpy(copy, stub, len);
	struct im_pe_layout l;
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_pe_locate(copy, len, "stub.efi", &l, &err), 0);
	uint32_t va = 0x400;
	memcpy(copy + l.sect_off + 12, &va, 4); /* .text VirtualAddress */
	assert_int_equal(im_pe_parse(copy, len, "stub.efi", &pe, &err), 0);
	add_payloads(&pe, N_PAYLOADS);
	assert_int_equal(im_pe_add_section(&pe, ".extra", "x", 1, IM_SCN_DATA_RO, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "stub.efi: no room for 16 section headers"));
	im_pe_free(&pe);
	free(copy);
	free(stub);
}

/* GNU ld stored a PE checksum in Debian's amd64 EFI binaries: ours must agree. */
static void test_checksum(void **state)
{
	(void)state;
	const char *files[] = {"systemd-stub.efi", "systemd-boot.efi"};
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		uint8_t *b = tu_need_payload("amd64", files[i], &len);
		struct im_pe_layout l;
		struct im_error err = {0};
		assert_int_equal(im_pe_locate(b, len, files[i], &l, &err), 0);
		uint32_t stored;
		memcpy(&stored, b + l.checksum_off, 4);
		assert_int_not_equal(stored, 0);
		assert_int_equal(im_pe_checksum(b, len, l.checksum_off), stored);
		free(b);
	}
}

static void check_release(const char *arch)
{
	size_t len, rlen;
	uint8_t *k = tu_need_payload(arch, "vmlinuz", &len),
		*rel = tu_need_payload(arch, "kernel.release", &rlen);
	while (rlen && (rel[rlen - 1] == '\n' || rel[rlen - 1] == ' '))
		rlen--;
	char *out = NULL;
	struct im_error err = {0};
	assert_int_equal(im_kernel_uname(k, len, &out, &err), 0);
	assert_int_equal(strlen(out), rlen);
	assert_memory_equal(out, rel, rlen);
	free(out);
	free(k);
	free(rel);
}

static void test_uname_amd64(void **state)
{
	(void)state;
	check_release("amd64"); /* bzImage: the setup header's kernel_version */
}

static void test_uname_arm64(void **state)
{
	(void)state;
	check_release("arm64"); /* an uncompressed Image: "Linux version " in it */
}

static void test_uname_synthetic(void **state)
{
	(void)state;
	uint8_t b[0x1000] = {0};
	char *out = NULL;
	struct im_error err = {0};
	assert_int_equal(im_kernel_uname(b, sizeof(b), &out, &err), 1);
	assert_null(out);
	/* x86 setup header: "HdrS", version 2.0f, kernel_version -> 0x300 + 0x200 */
	memcpy(b + 0x202, "HdrS", 4);
	b[0x206] = 0x0f, b[0x207] = 0x02;
	b[0x20e] = 0x00, b[0x20f] = 0x03;
	memcpy(b + 0x500, "6.6.6-talos (builder@host) #1 SMP", 33);
	assert_int_equal(im_kernel_uname(b, sizeof(b), &out, &err), 0);
	assert_string_equal(out, "6.6.6-talos");
	free(out);
	/* kernel_version beyond the end: not found (and no read past the buffer) */
	assert_int_equal(im_kernel_uname(b, 0x400, &out, &err), 1);
	/* banner only; a non-release "Linux version " first */
	memset(b, 0, sizeof(b));
	memcpy(b + 100, "Linux version %s", 16);
	memcpy(b + 200, "Linux version 6.1.0-56-arm64 (debian)", 37);
	assert_int_equal(im_kernel_uname(b, sizeof(b), &out, &err), 0);
	assert_string_equal(out, "6.1.0-56-arm64");
	free(out);
	/* banner cut at the buffer's end still yields the word */
	assert_int_equal(im_kernel_uname(b, 200 + 20, &out, &err), 0);
	assert_string_equal(out, "6.1.0-");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uki_amd64),	   cmocka_unit_test(test_uki_arm64),
	    cmocka_unit_test(test_reproducible),   cmocka_unit_test(test_header_growth),
	    cmocka_unit_test(test_bad_images),	   cmocka_unit_test(test_bad_sections),
	    cmocka_unit_test(test_no_header_room), cmocka_unit_test(test_uname_amd64),
	    cmocka_unit_test(test_uname_arm64),	   cmocka_unit_test(test_uname_synthetic),
	    cmocka_unit_test(test_checksum),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
