/* lib/biosboot.c: byte-level checks of the patched MBR and core.img, with synthetic images
 * and with the real GRUB images of the payload (out/install/amd64/grub, after
 * `make payload`; skipped without them); the partition table must survive (sfdisk). */
#include "testutil.h"

#include <endian.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "imager/disk/biosboot.h"
#include "imager/disk/gpt.h"

#define MIB	 (1024ull * 1024)
#define GRUB_DIR IMAGER_SOURCE_DIR "/out/install/amd64/grub"

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint16_t le16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return le16toh(v);
}

static void fill(uint8_t *b, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i * 7);
}

/* A synthetic core.img: `len` bytes with diskboot's blocklist tail in its first sector. */
static uint8_t *fake_core(size_t len)
{
	uint8_t *c = malloc(len);
	fill(c, len, 3);
	memset(c + IM_GRUB_BLOCKLIST - 12, 0, 12 + 10); /* list end + default entry */
	c[IM_GRUB_BLOCKLIST] = 2;
	c[0x1FE] = 0x20;
	c[0x1FF] = 0x08;
	return c;
}

static void check_mbr(const uint8_t *got, const uint8_t *old, const uint8_t *boot, uint64_t lba)
{
	for (size_t i = 0; i < 512; i++) {
		uint8_t want = boot[i];
		if ((i >= IM_GRUB_BPB_START && i < IM_GRUB_BPB_END) ||
		    (i >= IM_GRUB_PART_START && i < IM_GRUB_PART_END))
			want = old[i];
		else if (i >= IM_GRUB_KERNEL_SECTOR && i < IM_GRUB_KERNEL_SECTOR + 8)
			continue;
		else if (i == IM_GRUB_BOOT_DRIVE)
			want = 0xFF;
		else if (i == IM_GRUB_DRIVE_CHECK || i == IM_GRUB_DRIVE_CHECK + 1)
			want = 0x90;
		if (got[i] != want)
			fail_msg("MBR byte 0x%zx: 0x%02x, want 0x%02x", i, got[i], want);
	}
	assert_int_equal(le64(got + IM_GRUB_KERNEL_SECTOR), lba);
}

static void test_patch_mbr(void **state)
{
	(void)state;
	uint8_t mbr[512], old[512], boot[512];
	fill(old, 512, 100);
	fill(boot, 512, 1);
	boot[510] = 0x55;
	boot[511] = 0xAA;
	memcpy(mbr, old, 512);
	struct im_error err = {0};
	assert_int_equal(im_biosboot_patch_mbr(mbr, boot, 512, 0x0123456789ULL, &err), 0);
	check_mbr(mbr, old, boot, 0x0123456789ULL);
	assert_int_equal(mbr[510], 0x55);
	assert_int_equal(mbr[511], 0xAA);

	boot[511] = 0;
	memcpy(mbr, old, 512);
	assert_int_equal(im_biosboot_patch_mbr(mbr, boot, 512, 34, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "boot.img"));
	assert_memory_equal(mbr, old, 512); /* untouched when refused */
	err = (struct im_error){0};
	assert_int_equal(im_biosboot_patch_mbr(mbr, boot, 511, 34, &err), -1);
	assert_non_null(strstr(err.msg, "511 bytes"));
}

static void test_patch_core(void **state)
{
	(void)state;
	struct im_error err = {0};
	size_t len = 227447; /* 445 sectors, the last one partial */
	uint8_t *c = fake_core(len), *orig = malloc(len);
	memcpy(orig, c, len);
	assert_int_equal(im_biosboot_patch_core(c, len, 2048, &err), 0);
	assert_int_equal(le64(c + 0x1F4), 2049);
	assert_int_equal(le16(c + 0x1FC), 444);
	assert_int_equal(le16(c + 0x1FE), 0x0820);
	assert_memory_equal(c, orig, 0x1F4);
	assert_memory_equal(c + 0x200, orig + 0x200, len - 0x200);

	c[0x1FE] = 0; /* not diskboot.img */
	assert_int_equal(im_biosboot_patch_core(c, len, 2048, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "core.img"));
	err = (struct im_error){0};
	assert_int_equal(im_biosboot_patch_core(c, 100, 2048, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	free(c);
	free(orig);
}

/* A metal-like disk written by gpt.c; returns the fd (open) and the table. */
static int make_disk(const char *img, uint32_t ss, struct im_gpt_disk *d)
{
	static const struct im_gpt_part parts[] = {
	    {.name = "EFI", .type = "esp", .size_bytes = 100 * MIB},
	    {.name = "BIOS", .type = "bios", .size_bytes = 1 * MIB},
	    {.name = "BOOT-A", .type = "linux", .size_bytes = 10 * MIB},
	};
	struct im_gpt_layout l = {.sector_size = ss, .parts = parts, .n = 3};
	l.disk_size = im_gpt_min_disk_size(&l);
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	struct im_error err = {0};
	if (im_gpt_write(fd, img, &l, d, &err))
		fail_msg("%s", err.msg);
	return fd;
}

static void test_real_grub(void **state)
{
	(void)state;
	size_t blen, clen;
	uint8_t *boot = tu_read_file(GRUB_DIR "/boot.img", &blen),
		*core = tu_read_file(GRUB_DIR "/core.img", &clen);
	if (!boot || !core) {
		free(boot);
		free(core);
		skip(); /* needs `make payload` */
	}
	char img[4096], out[4096];
	snprintf(img, sizeof(img), "%s/disk.img", tu_dir);
	snprintf(out, sizeof(out), "%s/sfdisk.out", tu_dir);
	struct im_gpt_disk d;
	int fd = make_disk(img, 512, &d);
	uint8_t pmbr[512], mbr[512];
	assert_int_equal(pread(fd, pmbr, 512, 0), 512);
	struct im_error err = {0};
	if (im_biosboot_install_gpt(fd, img, &d, GRUB_DIR, &err))
		fail_msg("%s", err.msg);
	const struct im_gpt_entry *bios = im_gpt_find(&d, "BIOS");
	uint64_t lba = bios->start / 512, sectors = (clen + 511) / 512;

	assert_int_equal(pread(fd, mbr, 512, 0), 512);
	check_mbr(mbr, pmbr, boot, lba);
	assert_int_equal(mbr[0x1C2], 0xEE); /* the protective MBR record survived */

	uint8_t *got = malloc(sectors * 512);
	assert_int_equal(pread(fd, got, sectors * 512, (off_t)bios->start),
			 (ssize_t)(sectors * 512));
	assert_int_equal(le64(got + 0x1F4), lba + 1);
	assert_int_equal(le16(got + 0x1FC), sectors - 1);
	assert_int_equal(le16(got + 0x1FE), 0x0820);
	assert_memory_equal(got, core, 0x1F4);
	assert_memory_equal(got + 0x1FE, core + 0x1FE, clen - 0x1FE);
	for (size_t i = clen; i < sectors * 512; i++)
		assert_int_equal(got[i], 0);
	close(fd);
	assert_int_equal(tu_sh("sfdisk --verify '%s' > '%s' 2>&1 && grep -q 'No errors detected' "
			       "'%s'",
			       img, out, out),
			 0);

	/* installing again changes nothing */
	assert_int_equal(tu_sh("cp '%s' '%s.1'", img, img), 0);
	fd = open(img, O_RDWR);
	assert_int_equal(im_biosboot_install_gpt(fd, img, &d, GRUB_DIR, &err), 0);
	close(fd);
	assert_int_equal(tu_sh("cmp '%s' '%s.1'", img, img), 0);

	/* a 4Kn disk is refused before anything is written */
	snprintf(img, sizeof(img), "%s/disk4k.img", tu_dir);
	struct im_gpt_disk d4;
	fd = make_disk(img, 4096, &d4);
	assert_int_equal(pread(fd, pmbr, 512, 0), 512);
	assert_int_equal(im_biosboot_install_gpt(fd, img, &d4, GRUB_DIR, &err), -1);
	assert_int_equal(err.code, IM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "4096-byte sectors"));
	assert_int_equal(pread(fd, mbr, 512, 0), 512);
	assert_memory_equal(mbr, pmbr, 512);
	close(fd);
	im_gpt_disk_free(&d4);
	im_gpt_disk_free(&d);
	free(got);
	free(boot);
	free(core);
}

static void test_errors(void **state)
{
	(void)state;
	char img[4096];
	snprintf(img, sizeof(img), "%s/err.img", tu_dir);
	struct im_gpt_disk d;
	int fd = make_disk(img, 512, &d);
	uint8_t boot[512] = {0}, pmbr[512], mbr[512];
	boot[510] = 0x55;
	boot[511] = 0xAA;
	assert_int_equal(pread(fd, pmbr, 512, 0), 512);
	const struct im_gpt_entry *bios = im_gpt_find(&d, "BIOS");
	struct im_error err = {0};

	/* core.img larger than the 1 MiB partition */
	size_t big = MIB + 1;
	uint8_t *core = fake_core(big);
	assert_int_equal(im_biosboot_install(fd, img, 512, bios->start / 512, bios->size, boot, 512,
					     core, big, &err),
			 -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "1048577 bytes"));
	assert_non_null(strstr(err.msg, "1048576-byte BIOS boot partition"));

	/* not a core.img, not a boot.img */
	err = (struct im_error){0};
	core[0x1FE] = 0;
	assert_int_equal(im_biosboot_install(fd, img, 512, bios->start / 512, bios->size, boot, 512,
					     core, 4096, &err),
			 -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "core.img"));
	err = (struct im_error){0};
	boot[511] = 0;
	assert_int_equal(im_biosboot_install(fd, img, 512, bios->start / 512, bios->size, boot, 512,
					     core, 4096, &err),
			 -1);
	assert_non_null(strstr(err.msg, "boot.img"));
	assert_int_equal(pread(fd, mbr, 512, 0), 512);
	assert_memory_equal(mbr, pmbr, 512);

	/* no BIOS boot partition; missing GRUB images */
	err = (struct im_error){0};
	struct im_gpt_disk nob = d;
	nob.n = 1; /* EFI only */
	assert_int_equal(im_biosboot_install_gpt(fd, img, &nob, GRUB_DIR, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "no BIOS boot partition"));
	err = (struct im_error){0};
	assert_int_equal(im_biosboot_install_gpt(fd, img, &d, "/nonexistent/grub", &err), -1);
	assert_int_equal(err.code, IM_EXIT_MISSING);
	assert_non_null(strstr(err.msg, "/nonexistent/grub/boot.img"));
	close(fd);
	im_gpt_disk_free(&d);
	free(core);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patch_mbr),
	    cmocka_unit_test(test_patch_core),
	    cmocka_unit_test(test_real_grub),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
