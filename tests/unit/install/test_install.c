/* lib/install*.c: install into sparse image files (grub, sd-boot, dual-boot; 512 and 4096-byte
 * sectors) judged by independent tools (sfdisk --verify, fsck.fat -n, mtools, grub-editenv),
 * the A/B transitions read back, and interrupted upgrades (the fault hook). Needs the payload
 * (out/install/amd64, `make payload`); skipped without it. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "imager/fs/fat.h"
#include "imager/fs/fstree.h"
#include "imager/disk/gpt.h"
#include "imager/install/grubenv.h"
#include "imager/install/install.h"

#define PAYLOAD IMAGER_SOURCE_DIR "/out/install/amd64"

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = tu_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(dir);
	free(dir);
	return 0;
}

static int have_payload(void)
{
	return access(PAYLOAD "/vmlinuz", R_OK) == 0 && access(PAYLOAD "/grub/core.img", R_OK) == 0;
}

static void quiet(const char *msg, void *ctx)
{
	(void)msg;
	(void)ctx;
}

static struct im_install_assets assets(const char *version, const char *cmdline)
{
	return (struct im_install_assets){.arch = "amd64",
					  .name = "Talos",
					  .version = version,
					  .kernel = PAYLOAD "/vmlinuz",
					  .initramfs = PAYLOAD "/initramfs.xz",
					  .cmdline = cmdline,
					  .grub_dir = PAYLOAD "/grub",
					  .sdboot_efi = PAYLOAD "/systemd-boot.efi",
					  .sdstub_efi = PAYLOAD "/systemd-stub.efi"};
}

static char *path(const char *name)
{
	char *p;
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static void install(const char *img, enum im_bootloader bl, uint32_t ss)
{
	struct im_meta m;
	im_meta_init(&m);
	struct im_error err = {0};
	assert_int_equal(im_meta_set(&m, 0xc, "hello", 5, &err), 0);
	struct im_install_opts o = {.bootloader = bl,
				    .sector_size = ss,
				    .image_mode = 1,
				    .meta = &m,
				    .epoch = 1700000000,
				    .warn = quiet};
	struct im_install_assets a = assets("v1.0.0", "console=ttyS0 panic=1");
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (im_install(fd, img, &o, &a, &err) < 0)
		fail_msg("install: %s", err.msg);
	close(fd);
	im_meta_free(&m);
}

/* Copy partition `name` of img to <dir>/<name>.part; returns that path. */
static char *extract(const char *img, const char *name)
{
	struct im_gpt_disk d;
	struct im_error err = {0};
	assert_int_equal(im_gpt_read_path(img, 0, &d, &err), 0);
	const struct im_gpt_entry *p = im_gpt_find(&d, name);
	assert_non_null(p);
	char *out;
	assert_true(asprintf(&out, "%s/%s.part", dir, name) > 0);
	assert_int_equal(tu_sh("dd if=%s of=%s bs=64K iflag=skip_bytes,count_bytes skip=%llu "
			       "count=%llu conv=sparse status=none",
			       img, out, (unsigned long long)p->start, (unsigned long long)p->size),
			 0);
	im_gpt_disk_free(&d);
	return out;
}

static void fsck(const char *img, const char *part)
{
	char *p = extract(img, part);
	if (tu_sh("fsck.fat -n %s >%s/fsck.out 2>&1", p, dir) != 0) {
		tu_sh("cat %s/fsck.out >&2", dir);
		fail_msg("fsck.fat -n %s (%s) failed", part, img);
	}
	free(p);
}

/* sfdisk reads files with 512-byte sectors: a 4Kn image is judged through a read-only loop
 * device with 4096-byte sectors when one can be set up (root), else by fdisk -b. */
static void sfdisk_verify(const char *img, uint32_t ss)
{
	if (ss == 512) {
		assert_int_equal(tu_sh("sfdisk --verify %s >/dev/null", img), 0);
		return;
	}
	int rc = tu_sh("L=$(losetup -f --show -r --sector-size %u %s 2>/dev/null) || exit 77; "
		       "sfdisk --verify $L >/dev/null; r=$?; losetup -d $L; exit $r",
		       ss, img);
	if (rc != 77) {
		assert_int_equal(rc, 0);
		return;
	}
	/* no loop device: fdisk can be told the sector size of a file; it must read a GPT
	 * from it without a complaint about either copy */
	assert_int_equal(tu_sh("fdisk -b %u -l %s >%s/fdisk.out 2>&1 && "
			       "grep -q 'Disklabel type: gpt' %s/fdisk.out && "
			       "! grep -Eqi 'corrupt|mismatch|invalid' %s/fdisk.out",
			       ss, img, dir, dir, dir),
			 0);
}

static int has_part(const char *img, const char *name)
{
	struct im_gpt_disk d;
	struct im_error err = {0};
	assert_int_equal(im_gpt_read_path(img, 0, &d, &err), 0);
	int r = im_gpt_find(&d, name) != NULL;
	im_gpt_disk_free(&d);
	return r;
}

static struct im_status status(const char *img)
{
	struct im_status st;
	struct im_error err = {0};
	int fd = open(img, O_RDONLY);
	if (im_status(fd, img, &st, &err) < 0)
		fail_msg("status: %s", err.msg);
	close(fd);
	return st;
}

/* ---- layouts ---- */

static void check_layout(enum im_bootloader bl, uint32_t ss)
{
	char *img = path("disk.img");
	install(img, bl, ss);
	sfdisk_verify(img, ss);
	int grub = bl & IM_BOOT_GRUB, sd = bl & IM_BOOT_SDBOOT;
	assert_int_equal(has_part(img, "BIOS"), grub && ss == 512);
	assert_int_equal(has_part(img, "BOOT-A"), !!grub);
	assert_int_equal(has_part(img, "STATE"), 0);
	fsck(img, "EFI");
	char *esp = extract(img, "EFI");
	if (grub) {
		fsck(img, "BOOT-A");
		fsck(img, "BOOT-B");
		char *b = extract(img, "BOOT-A");
		assert_int_equal(tu_sh("mtype -i %s ::/boot.cfg | grep -q 'linux /vmlinuz "
				       "console=ttyS0 panic=1 imager.slot=A'",
				       b),
				 0);
		assert_int_equal(tu_sh("mdir -b -i %s ::/ | grep -q initramfs.xz", b), 0);
		free(b);
		assert_int_equal(tu_sh("mcopy -o -i %s ::/grub/grubenv %s/env && grub-editenv "
				       "%s/env list | grep -qx saved_entry=A",
				       esp, dir, dir),
				 0);
		assert_int_equal(tu_sh("mtype -i %s ::/grub/grub.cfg > %s/g.cfg && "
				       "grub-script-check %s/g.cfg",
				       esp, dir, dir),
				 0);
	}
	if (sd) {
		assert_int_equal(
		    tu_sh("mdir -b -i %s ::/EFI/Linux | grep -q Talos-v1.0.0-A.efi", esp), 0);
		assert_int_equal(tu_sh("mtype -i %s ::/loader/loader.conf | grep -qx "
				       "'default talos-\\*-a.efi'",
				       esp),
				 0);
		assert_int_equal(tu_sh("mdir -b -i %s ::/EFI/systemd | grep -q "
				       "systemd-bootx64.efi",
				       esp),
				 0);
	}
	assert_int_equal(tu_sh("mdir -b -i %s ::/EFI/BOOT | grep -q BOOTX64.EFI", esp), 0);
	free(esp);
	/* META decodes (both copies) */
	struct im_meta m;
	struct im_error err = {0};
	int fd = open(img, O_RDONLY);
	im_meta_init(&m);
	assert_int_equal(im_install_meta_read(fd, img, &m, &err), 0);
	assert_string_equal((const char *)im_meta_get(&m, 0xc, NULL), "hello");
	im_meta_free(&m);
	close(fd);
	struct im_status st = status(img);
	assert_int_equal(st.committed, 'A');
	assert_int_equal(st.slot[0].state, IM_SLOT_COMMITTED);
	assert_string_equal(st.slot[0].version, "v1.0.0");
	assert_string_equal(st.slot[0].cmdline, "console=ttyS0 panic=1");
	assert_int_equal(st.slot[1].state, IM_SLOT_EMPTY);
	assert_int_equal(st.sector_size, ss);
	im_status_free(&st);
	free(img);
}

static void test_layouts(void **state)
{
	(void)state;
	if (!have_payload())
		skip();
	static const enum im_bootloader bls[] = {IM_BOOT_GRUB, IM_BOOT_SDBOOT, IM_BOOT_DUAL};
	for (int i = 0; i < 3; i++) {
		check_layout(bls[i], 512);
		check_layout(bls[i], 4096);
	}
}

/* Same inputs, same epoch: the same bytes. */
static void test_reproducible(void **state)
{
	(void)state;
	if (!have_payload())
		skip();
	char *a = path("a.img"), *b = path("b.img");
	install(a, IM_BOOT_DUAL, 512);
	install(b, IM_BOOT_DUAL, 512);
	assert_int_equal(tu_sh("cmp -s %s %s", a, b), 0);
	free(a);
	free(b);
}

/* ---- A/B ---- */

static void upgrade(const char *img, const char *version, const char *cmdline, char want)
{
	struct im_install_assets a = assets(version, cmdline);
	struct im_error err = {0};
	char slot = 0;
	a.arch = NULL; /* taken from the disk */
	int fd = open(img, O_RDWR);
	if (im_upgrade(fd, img, &a, 1700000100, &slot, &err) < 0)
		fail_msg("upgrade: %s", err.msg);
	close(fd);
	assert_int_equal(slot, want);
}

static void commit(const char *img, char slot)
{
	struct im_error err = {0};
	int fd = open(img, O_RDWR);
	if (im_commit(fd, img, slot, 1700000200, &err) < 0)
		fail_msg("commit: %s", err.msg);
	close(fd);
}

static void expect(const char *img, char committed, char trial, char previous, enum im_slot_state a,
		   enum im_slot_state b)
{
	struct im_status st = status(img);
	assert_int_equal(st.committed, committed);
	assert_int_equal(st.trial, trial);
	assert_int_equal(st.previous, previous);
	assert_int_equal(st.slot[0].state, a);
	assert_int_equal(st.slot[1].state, b);
	im_status_free(&st);
}

/* What systemd-boot does before starting a counted entry: +1 -> +0-1 (mtools' mren). */
static void sdboot_tries(const char *img, const char *from, const char *to)
{
	struct im_gpt_disk d;
	struct im_error err = {0};
	assert_int_equal(im_gpt_read_path(img, 0, &d, &err), 0);
	assert_int_equal(tu_sh("mren -i %s@@%llu ::/EFI/Linux/%s ::/EFI/Linux/%s", img,
			       (unsigned long long)im_gpt_find(&d, "EFI")->start, from, to),
			 0);
	im_gpt_disk_free(&d);
}

static void grub_env(const char *img, const char *want)
{
	char *esp = extract(img, "EFI");
	if (tu_sh("mcopy -o -i %s ::/grub/grubenv %s/env && grub-editenv %s/env list | "
		  "tr '\\n' ' ' | grep -qx '%s'",
		  esp, dir, dir, want)) {
		tu_sh("grub-editenv %s/env list >&2", dir);
		fail_msg("grubenv: want \"%s\"", want);
	}
	free(esp);
}

/* Edit the ESP's grubenv as GRUB's save_env would (grub-editenv, in place with mtools). */
static void grub_env_set(const char *img, const char *kv)
{
	assert_int_equal(tu_sh("mcopy -o -i %s@@1M ::/grub/grubenv %s/env && grub-editenv "
			       "%s/env %s %s && mcopy -o -i %s@@1M %s/env ::/grub/grubenv",
			       img, dir, dir, kv[0] == '-' ? "unset" : "set",
			       kv[0] == '-' ? kv + 1 : kv, img, dir),
			 0);
}

static void test_ab_grub(void **state)
{
	(void)state;
	if (!have_payload())
		skip();
	char *img = path("ab.img");
	install(img, IM_BOOT_GRUB, 512);
	upgrade(img, "v1.1.0", "console=ttyS0 'quoted arg' x=\"a b\"", 'B');
	expect(img, 'A', 'B', 'A', IM_SLOT_COMMITTED, IM_SLOT_TRIAL);
	grub_env(img, "saved_entry=A next_entry=B ");
	struct im_status st = status(img);
	assert_string_equal(st.slot[1].version, "v1.1.0");
	assert_string_equal(st.slot[1].cmdline, "console=ttyS0 'quoted arg' x=\"a b\"");
	im_status_free(&st);
	fsck(img, "BOOT-B");
	commit(img, 'B');
	expect(img, 'B', 0, 0, IM_SLOT_INACTIVE, IM_SLOT_COMMITTED);
	grub_env(img, "saved_entry=B ");
	upgrade(img, "v1.2.0", "console=ttyS0 imager.panic=1", 'A');
	expect(img, 'B', 'A', 'B', IM_SLOT_TRIAL, IM_SLOT_COMMITTED);
	/* GRUB booted the trial (grub.cfg clears next_entry) and nobody committed: failed */
	grub_env_set(img, "next_entry=");
	expect(img, 'B', 0, 'B', IM_SLOT_FAILED, IM_SLOT_COMMITTED);
	/* rollback re-arms A */
	struct im_error err = {0};
	char slot;
	int fd = open(img, O_RDWR);
	assert_int_equal(im_rollback(fd, img, 0, &slot, &err), 0);
	close(fd);
	assert_int_equal(slot, 'A');
	expect(img, 'B', 'A', 'B', IM_SLOT_TRIAL, IM_SLOT_COMMITTED);
	fsck(img, "EFI");
	free(img);
}

static void test_ab_sdboot(void **state)
{
	(void)state;
	if (!have_payload())
		skip();
	char *img = path("sd.img");
	install(img, IM_BOOT_DUAL, 512);
	upgrade(img, "v1.1.0", "console=ttyS0", 'B');
	expect(img, 'A', 'B', 'A', IM_SLOT_COMMITTED, IM_SLOT_TRIAL);
	struct im_status st = status(img);
	assert_string_equal(st.slot[1].uki, "Talos-v1.1.0-B+1.efi");
	assert_int_equal(st.slot[1].tries_left, 1);
	im_status_free(&st);
	char *esp = extract(img, "EFI");
	assert_int_equal(tu_sh("mtype -i %s ::/loader/loader.conf | grep -qx "
			       "'default talos-\\*-b+1.efi'",
			       esp),
			 0);
	assert_int_equal(tu_sh("mtype -i %s ::/loader/loader.conf | grep -qx 'timeout 3'", esp), 0);
	free(esp);
	fsck(img, "EFI");
	sdboot_tries(img, "Talos-v1.1.0-B+1.efi", "Talos-v1.1.0-B+0-1.efi");
	commit(img, 'B');
	expect(img, 'B', 0, 0, IM_SLOT_INACTIVE, IM_SLOT_COMMITTED);
	st = status(img);
	assert_string_equal(st.slot[1].uki, "Talos-v1.1.0-B.efi");
	im_status_free(&st);
	upgrade(img, "v1.2.0", "console=ttyS0 imager.panic=1", 'A');
	sdboot_tries(img, "Talos-v1.2.0-A+1.efi", "Talos-v1.2.0-A+0-1.efi");
	st = status(img);
	assert_int_equal(st.slot[0].state, IM_SLOT_FAILED);
	assert_int_equal(st.slot[0].tries_left, 0);
	assert_string_equal(st.slot[0].cmdline, "console=ttyS0 imager.panic=1");
	im_status_free(&st);
	/* many upgrades: the ESP keeps two UKIs and stays clean */
	for (int i = 0; i < 4; i++) {
		upgrade(img, "v1.3.0", "console=ttyS0", 'A');
		commit(img, 'A');
		upgrade(img, "v1.4.0", "console=ttyS0", 'B');
		commit(img, 'B');
	}
	esp = extract(img, "EFI");
	assert_int_equal(tu_sh("test $(mdir -b -i %s ::/EFI/Linux | wc -l) = 2", esp), 0);
	free(esp);
	fsck(img, "EFI");
	free(img);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
	(void)state;
	if (!have_payload())
		skip();
	struct im_error err = {0};
	char *img = path("small.img");
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct im_install_opts o = {
	    .bootloader = IM_BOOT_DUAL, .disk_size = 500 << 20, .image_mode = 1, .warn = quiet};
	struct im_install_assets a = assets("v1.0.0", "");
	assert_int_equal(im_install(fd, img, &o, &a, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	assert_non_null(strstr(err.msg, "smaller than the dual-boot layout"));
	o.disk_size = 0;
	o.sector_size = 1024;
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_install(fd, img, &o, &a, &err), -1);
	assert_non_null(strstr(err.msg, "sector size 1024"));
	enum im_bootloader bl;
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_bootloader_parse("lilo", &bl, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID);
	o.sector_size = 512;
	a.version = "v1 0";
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_install(fd, img, &o, &a, &err), -1);
	assert_non_null(strstr(err.msg, "version \"v1 0\""));
	/* upgrade of a disk with no committed slot */
	close(fd);
	install(img, IM_BOOT_GRUB, 512);
	grub_env_set(img, "-saved_entry");
	fd = open(img, O_RDWR);
	a.version = "v2";
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_upgrade(fd, img, &a, 0, NULL, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INSTALL);
	assert_non_null(strstr(err.msg, "no committed slot"));
	/* not an installed disk: a bare GPT */
	struct im_gpt_part p[] = {{.name = "EFI", .type = "esp", .size_bytes = 100 << 20},
				  {.name = "META", .type = "linux", .size_bytes = 1 << 20}};
	struct im_gpt_layout l = {.disk_size = 200 << 20, .parts = p, .n = 2};
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(im_gpt_write(fd, img, &l, NULL, &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(im_upgrade(fd, img, &a, 0, NULL, &err), -1);
	assert_int_equal(err.code, IM_EXIT_INVALID); /* no FAT on the ESP */
	close(fd);
	free(img);
}

/* ---- the FAT editor on its own ---- */

static void fat_edit_case(uint64_t size, uint32_t ss, int want_type)
{
	char *img = path("fat.img");
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(0);
	assert_int_equal(im_tree_add_file_mem(t, "d/keep.txt", "keep", 4, 0644, &err), 0);
	struct im_fat_opts fo = {.size_bytes = size, .sector_size = ss, .label = "T"};
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(im_fat_write(fd, 0, &fo, t, &err), 0);
	im_tree_free(t);
	struct im_fatfs fs;
	assert_int_equal(im_fatfs_open(&fs, fd, img, 0, size, 1700000000, &err), 0);
	assert_int_equal(fs.type, want_type);
	char name[128], data[5000];
	/* 40 long names: the folder grows past its first cluster */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "a file with a rather long name number %02d.bin", i);
		memset(data, 'a' + i % 26, sizeof(data));
		if (im_fatfs_create(&fs, "d", name, data, (size_t)(i * 97) % sizeof(data), &err))
			fail_msg("create %s: %s", name, err.msg);
		if (im_fatfs_create(&fs, "", name, data, 100, &err))
			fail_msg("create /%s: %s", name, err.msg);
	}
	struct im_fat_dirent e;
	for (int i = 0; i < 40; i += 3) {
		snprintf(name, sizeof(name), "d/a file with a rather long name number %02d.bin", i);
		assert_int_equal(im_fatfs_lookup(&fs, name, &e, &err), 1);
		char to[128];
		snprintf(to, sizeof(to),
			 i % 4 ? "x%d.bin"
			       : "an even longer name, long enough to "
				 "need more long-name entries %d.bin",
			 i);
		int rc =
		    i % 2 ? im_fatfs_delete(&fs, &e, &err) : im_fatfs_rename(&fs, &e, to, &err);
		if (rc) /* odd: delete; even: shorter and longer names */
			fail_msg("%s: %s", name, err.msg);
	}
	assert_int_equal(im_fatfs_lookup(&fs, "D/KEEP.TXT", &e, &err), 1);
	uint8_t *buf;
	size_t len;
	assert_int_equal(im_fatfs_read(&fs, &e, &buf, &len, &err), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(buf, "keep", 4);
	free(buf);
	assert_int_equal(im_fatfs_overwrite(&fs, &e, "KEEP", 4, &err), 0);
	struct im_fat_dirent *v;
	size_t n;
	assert_int_equal(im_fatfs_list(&fs, "d", &v, &n, &err), 0);
	assert_int_equal(n, 1 + 40 - 7);
	free(v);
	im_fatfs_close(&fs);
	close(fd);
	if (tu_sh("fsck.fat -n %s > %s/fsck.out 2>&1", img, dir)) {
		tu_sh("cat %s/fsck.out >&2", dir);
		fail_msg("fsck.fat after edits (%d-bit)", want_type);
	}
	assert_int_equal(tu_sh("fsck.fat -n %s | grep -q 'differ\\|wrong\\|Reclaim'", img), 1);
	assert_int_equal(tu_sh("mtype -i %s ::/d/keep.txt | grep -qx KEEP", img), 0);
	assert_int_equal(
	    tu_sh("mdir -b -i %s ::/d | grep -q 'an even longer name, long enough'", img), 0);
	assert_int_equal(tu_sh("test \"$(mtype -i %s '::/d/a file with a rather long name "
			       "number 38.bin' | wc -c)\" = %d",
			       img, (38 * 97) % 5000),
			 0);
	free(img);
}

static void test_fat_editor(void **state)
{
	(void)state;
	fat_edit_case(100 << 20, 512, 32);
	fat_edit_case(16 << 20, 512, 16);
	fat_edit_case(300 << 20, 4096, 32);
}

/* ---- power loss ---- */

/* After an interrupted upgrade: GPT, ESP and META intact, A still committed and whole. */
static void check_survivor(const char *img, unsigned at)
{
	if (tu_sh("sfdisk --verify %s >/dev/null 2>&1", img))
		fail_msg("write %u: sfdisk --verify", at);
	char *esp = extract(img, "EFI");
	/* an interrupted create may leave allocated clusters without an entry (fsck: "free
	 * cluster summary" / lost clusters); nothing else is acceptable */
	tu_sh("fsck.fat -n %s > %s/fsck.out 2>&1", esp, dir);
	if (tu_sh("grep -v -e '^fsck.fat' -e 'clusters$' -e 'FATs differ but appear to be intact' "
		  "-e 'Using first FAT' -e 'Free cluster summary wrong' -e 'Auto-correcting' -e "
		  "'Leaving filesystem unchanged' -e 'Reclaimed .* unused clusters' -e '^$' "
		  "%s/fsck.out | grep -q .",
		  dir) == 0) {
		tu_sh("cat %s/fsck.out >&2", dir);
		fail_msg("write %u: ESP damaged", at);
	}
	free(esp);
	struct im_status st = status(img);
	if (st.committed != 'A' || st.slot[0].state != IM_SLOT_COMMITTED ||
	    strcmp(st.slot[0].version, "v1.0.0"))
		fail_msg("write %u: committed %c, slot A %s %s", at, st.committed,
			 im_slot_state_name(st.slot[0].state), st.slot[0].version);
	if (st.trial == 'B' && strcmp(st.slot[1].version, "v2.0.0"))
		fail_msg("write %u: armed a half-written slot", at);
	im_status_free(&st);
	if (tu_sh("mtype -i %s@@%s ::/vmlinuz | cmp -s - %s/vmlinuz", img, "102M", PAYLOAD))
		fail_msg("write %u: slot A kernel damaged", at);
}

static void test_power_loss(void **state)
{
	(void)state;
	if (!have_payload())
		skip();
	char *base = path("base.img"), *img = path("cut.img");
	install(base, IM_BOOT_DUAL, 512);
	/* a B payload in place and a failed trial: the next upgrade deletes, creates, renames */
	upgrade(base, "v1.5.0", "console=ttyS0", 'B');
	commit(base, 'A');
	im_install_writes = 0;
	tu_sh("cp --sparse=always %s %s", base, img);
	upgrade(img, "v2.0.0", "console=ttyS0", 'B');
	unsigned total = im_install_writes;
	print_message("# an upgrade makes %u writes\n", total);
	assert_true(total >= 20);
	for (unsigned at = 1; at <= total; at++) {
		struct im_install_assets a = assets("v2.0.0", "console=ttyS0");
		struct im_error err = {0};
		assert_int_equal(tu_sh("cp --sparse=always %s %s", base, img), 0);
		im_install_writes = 0;
		im_install_fault_at = at;
		int fd = open(img, O_RDWR);
		int rc = im_upgrade(fd, img, &a, 1700000100, NULL, &err);
		close(fd);
		im_install_fault_at = 0;
		assert_int_equal(rc, -1);
		assert_non_null(strstr(err.msg, "simulated power loss"));
		check_survivor(img, at);
	}
	free(base);
	free(img);
}

/* loader.conf's default glob matches exactly one UKI of EFI/Linux (lower-cased, as
 * systemd-boot compares entry ids): the loader boots what the state names. */
static int sdboot_default_matches(const char *img)
{
	return tu_sh("g=$(mtype -i %s@@1M ::/loader/loader.conf | sed -n 's/^default //p'); n=0; "
		     "for f in $(mdir -b -i %s@@1M ::/EFI/Linux); do "
		     "f=$(basename \"$f\" | tr A-Z a-z); case $f in $g) n=$((n + 1));; esac; done; "
		     "[ $n -eq 1 ]",
		     img, img) == 0;
}

/* A commit of an sd-boot trial cut at every write: the default glob always names a UKI
 * (regression: the UKI lost its +1 before loader.conf stopped naming "+1", so a cut between
 * the two left a glob that matched nothing and the loader's fallback order decided). */
static void test_power_loss_commit(void **state)
{
	(void)state;
	if (!have_payload())
		skip();
	char *base = path("cbase.img"), *img = path("ccut.img");
	install(base, IM_BOOT_SDBOOT, 512);
	upgrade(base, "v1.1.0", "console=ttyS0", 'B');
	assert_true(sdboot_default_matches(base));
	im_install_writes = 0;
	tu_sh("cp --sparse=always %s %s", base, img);
	commit(img, 'B');
	unsigned total = im_install_writes;
	assert_true(sdboot_default_matches(img));
	for (unsigned at = 1; at <= total; at++) {
		struct im_error err = {0};
		assert_int_equal(tu_sh("cp --sparse=always %s %s", base, img), 0);
		im_install_writes = 0;
		im_install_fault_at = at;
		int fd = open(img, O_RDWR);
		int rc = im_commit(fd, img, 'B', 1700000200, &err);
		close(fd);
		im_install_fault_at = 0;
		assert_int_equal(rc, -1);
		if (!sdboot_default_matches(img))
			fail_msg("commit cut at write %u: loader.conf's default names no UKI", at);
		struct im_status st = status(img);
		if (st.committed != 'A' && st.committed != 'B')
			fail_msg("commit cut at write %u: no committed slot", at);
		im_status_free(&st);
	}
	free(base);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reproducible, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ab_grub, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ab_sdboot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fat_editor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_power_loss, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_power_loss_commit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
