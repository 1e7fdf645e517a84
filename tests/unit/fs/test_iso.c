/* lib/iso.c, judged by independent tools: the xorriso/osirrox programs (-pvd_info,
 * -report_el_torito, -extract), isoinfo (genisoimage), sfdisk, cmp; optionally QEMU boots
 * (SeaBIOS and OVMF, as CD-ROM and as hard disk) of an ISO with the payload's kernel. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "imager/fs/fstree.h"
#include "imager/fs/iso.h"

#define EPOCH	   1705321815 /* 2024-01-15 12:30:15 UTC */
#define EPOCH_UUID "2024011512301500"
#define LONG_NAME  "Boot/MixedCase_Long_File-Name.With.Dots.txt"
#define KERNEL_LEN (300 * 1024 + 77)
#define EFI_GUID   "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

struct fx {
	char *dir;	/* scratch folder */
	char *kernel;	/* host file behind /vmlinuz */
	char *ref;	/* the tree as a host folder, for diff against osirrox -extract */
	char *eltorito; /* payload: GRUB i386-pc-eltorito image, or NULL */
	char *mbr;	/* payload: GRUB boot_hybrid.img, or NULL */
	char *efi;	/* FAT image made by mkfs.vfat/mtools, or NULL */
	int have_isoinfo;
};
static struct fx fx;

static char *scratch(const char *name)
{
	char *s;
	assert_true(asprintf(&s, "%s/%s", fx.dir, name) > 0);
	return s;
}

/* First existing match of a glob pattern (relative to the source tree), or NULL. */
static char *find_payload(const char *pat)
{
	const char *out = getenv("OUT");
	char full[4096];
	if (out && out[0] == '/')
		snprintf(full, sizeof(full), "%s/%s", out, pat);
	else
		snprintf(full, sizeof(full), "%s/%s/%s", IMAGER_SOURCE_DIR, out ? out : "out", pat);
	glob_t g;
	char *r = NULL;
	if (glob(full, 0, NULL, &g) == 0 && g.gl_pathc > 0)
		r = strdup(g.gl_pathv[0]);
	globfree(&g);
	return r;
}

/* ------------------------------------------------------------------ the tree ----------- */

static void ref_path(char *buf, size_t len, const char *path)
{
	snprintf(buf, len, "%s/%s", fx.ref, path);
	assert_int_equal(tu_sh("mkdir -p \"$(dirname '%s')\"", buf), 0);
}

static void add_mem(struct im_tree *t, const char *path, const char *data, uint32_t mode)
{
	struct im_error err = {0};
	char ref[4096];
	assert_int_equal(im_tree_add_file_mem(t, path, data, strlen(data), mode, &err), 0);
	ref_path(ref, sizeof(ref), path);
	tu_write_file(ref, data, strlen(data));
	assert_int_equal(chmod(ref, mode), 0);
}

static void add_src(struct im_tree *t, const char *path, const char *src, uint32_t mode)
{
	struct im_error err = {0};
	char ref[4096];
	assert_int_equal(im_tree_add_file_src(t, path, src, mode, &err), 0);
	ref_path(ref, sizeof(ref), path);
	assert_int_equal(tu_sh("cp '%s' '%s' && chmod %o '%s'", src, ref, mode, ref), 0);
}

static void add_link(struct im_tree *t, const char *path, const char *target)
{
	struct im_error err = {0};
	char ref[4096];
	assert_int_equal(im_tree_add_symlink(t, path, target, &err), 0);
	ref_path(ref, sizeof(ref), path);
	assert_int_equal(symlink(target, ref), 0);
}

/* The boot-asset-like tree every test writes (and its copy in fx.ref). With bios, it holds
 * the GRUB El Torito image at /boot/grub/eltorito.img and a user file named like the boot
 * catalog, which must survive. */
static struct im_tree *make_tree(int bios, const char *grub_cfg)
{
	struct im_error err = {0};
	struct im_tree *t = im_tree_new(EPOCH);
	assert_non_null(t);
	assert_int_equal(tu_sh("rm -rf '%s' && mkdir -p '%s'", fx.ref, fx.ref), 0);
	add_mem(t, "grub/grub.cfg", grub_cfg ? grub_cfg : "set timeout=0\n", 0644);
	add_src(t, "vmlinuz", fx.kernel, 0644);
	char *lnk = scratch("kernel-link.bin"); /* a symlinked source gives its target's bytes */
	unlink(lnk);
	assert_int_equal(symlink(fx.kernel, lnk), 0);
	add_src(t, "vmlinuz.via-link", lnk, 0755);
	free(lnk);
	add_mem(t, "a/b/c/d/e/f/g/h/i/deep.txt", "deeper than ECMA-119's 8 levels\n", 0600);
	add_mem(t, LONG_NAME, "mixed case, long name\n", 0755);
	add_mem(t, "odd [name] *?.txt", "pattern characters are literal\n", 0644);
	add_mem(t,
		"gr\xc3\xbc\xc3\x9f"
		"e.txt",
		"utf-8 name\n", 0644);
	add_mem(t, "empty", "", 0444);
	add_link(t, "link", "vmlinuz");
	add_link(t, "grub/abs-link", "/grub/grub.cfg");
	assert_int_equal(im_tree_add_dir(t, "emptydir", 0700, &err), 0);
	assert_int_equal(tu_sh("mkdir -m 700 '%s/emptydir'", fx.ref), 0);
	if (bios) {
		add_src(t, "boot/grub/eltorito.img", fx.eltorito, 0644);
		add_mem(t, "boot.catalog", "not the El Torito catalog\n", 0644);
	}
	assert_int_equal(tu_sh("chmod 755 '%s'", fx.ref), 0);
	return t;
}

static int write_iso(const char *path, int bios, int efi, int64_t epoch, struct im_error *err)
{
	struct im_tree *t = make_tree(bios, NULL);
	struct im_iso_opts o = {
	    .volume_id = "TALOS_V1_0_0",
	    .epoch = epoch,
	    .bios_boot_image = bios ? "/boot/grub/eltorito.img" : NULL,
	    .bios_mbr = bios ? fx.mbr : NULL,
	    .efi_image = efi ? fx.efi : NULL,
	};
	int r = im_iso_write(t, path, &o, err);
	im_tree_free(t);
	return r;
}

/* ------------------------------------------------------------------ checks ------------- */

/* osirrox extracts exactly the reference tree: names, contents, types, modes, link targets,
 * and every file and directory dated EPOCH. */
static void check_content(const char *iso)
{
	char *ex = scratch("extract"), *a = scratch("a.txt"), *b = scratch("b.txt");
	assert_int_equal(tu_sh("rm -rf '%s' && osirrox -indev '%s' -extract / '%s' >/dev/null 2>&1",
			       ex, iso, ex),
			 0);
	assert_int_equal(tu_sh("diff -r --no-dereference -x eltorito.img '%s' '%s'", fx.ref, ex),
			 0);
	/* the El Torito image differs only where xorriso patches it: the boot info table
	 * (bytes 8-63) and GRUB's boot info (bytes 2548-2555) */
	assert_int_equal(
	    tu_sh("cd '%s' && for f in $(find . -name eltorito.img); do "
		  "cmp -l \"$f\" '%s'/\"$f\" | awk '$1 < 9 || ($1 > 64 && $1 < 2549) || "
		  "$1 > 2556 { bad = 1 } END { exit bad }' || exit 1; done",
		  fx.ref, ex),
	    0);
	const char *list = "cd '%s' && find . -printf '%%y %%m %%p %%l\\n' | LC_ALL=C sort > '%s'";
	assert_int_equal(tu_sh(list, fx.ref, a), 0);
	assert_int_equal(tu_sh(list, ex, b), 0);
	assert_int_equal(tu_sh("diff '%s' '%s'", a, b), 0);
	assert_int_equal(tu_sh("cd '%s' && test -z \"$(find . ! -type l ! -newermt @%d)\" && "
			       "test -z \"$(find . ! -type l -newermt @%d)\"",
			       ex, EPOCH - 1, EPOCH),
			 0);
	/* the symlinks' own dates (osirrox does not restore them) and owners, from the ISO */
	assert_int_equal(tu_sh("TZ=UTC xorriso -indev '%s' -find / -exec lsdl 2>/dev/null | "
			       "grep -v '^ *$' > '%s'",
			       iso, a),
			 0);
	assert_int_equal(tu_sh("test $(grep -c . '%s') -ge 15", a), 0);
	assert_int_equal(tu_sh("! grep -v ' 0 \\+0 .* Jan 15  2024 ' '%s'", a), 0);
	assert_int_equal(tu_sh("rm -rf '%s'", ex), 0);
	free(ex);
	free(a);
	free(b);
}

/* Volume descriptors: id, creation/modification/effective date = the epoch, no expiry;
 * Rock Ridge and Joliet present; names: Rock Ridge and Joliet keep case, plain ISO 9660
 * is upper case. */
static void check_volume(const char *iso, const char *uuid)
{
	char *out = scratch("pvd.txt");
	assert_int_equal(tu_sh("xorriso -indev '%s' -pvd_info > '%s' 2>&1", iso, out), 0);
	assert_int_equal(tu_sh("grep -qx 'Volume Id    : TALOS_V1_0_0' '%s'", out), 0);
	assert_int_equal(tu_sh("grep -qx 'Creation Time: %s' '%s'", uuid, out), 0);
	assert_int_equal(tu_sh("grep -qx 'Modif. Time  : %s' '%s'", uuid, out), 0);
	assert_int_equal(tu_sh("grep -qx 'Eff. Time    : %s' '%s' || "
			       "grep -qx 'Eff. Time    : 0000000000000000' '%s'",
			       uuid, out, out),
			 0);
	assert_int_equal(tu_sh("grep -qx 'Expir. Time  : 0000000000000000' '%s'", out), 0);
	if (fx.have_isoinfo) {
		assert_int_equal(tu_sh("isoinfo -d -i '%s' > '%s'", iso, out), 0);
		assert_int_equal(tu_sh("grep -q '^Joliet with UCS level 3 found' '%s'", out), 0);
		assert_int_equal(
		    tu_sh("grep -q '^Rock Ridge signatures version 1 found' '%s'", out), 0);
		assert_int_equal(tu_sh("grep -qx 'Volume id: TALOS_V1_0_0' '%s'", out), 0);
		assert_int_equal(tu_sh("isoinfo -R -f -i '%s' | grep -qx '/%s'", iso, LONG_NAME),
				 0);
		assert_int_equal(tu_sh("isoinfo -J -f -i '%s' | grep -qx '/%s'", iso, LONG_NAME),
				 0);
		/* Joliet holds U+00FC U+00DF; isoinfo prints UCS-2 as Latin-1 */
		assert_int_equal(tu_sh("isoinfo -J -f -i '%s' | LC_ALL=C grep -qx '/gr\xfc\xdf"
				       "e.txt'",
				       iso),
				 0);
		assert_int_equal(
		    tu_sh("isoinfo -R -f -i '%s' | LC_ALL=C grep -qx '/gr\xc3\xbc\xc3\x9f"
			  "e.txt'",
			  iso),
		    0);
		/* plain ISO 9660 names are cut to 8.3/31 characters (xorriso keeps lower case
		 * there when a boot info table is patched, for ISOLINUX's sake) */
		assert_int_equal(tu_sh("isoinfo -f -i '%s' | grep -qi "
				       "'^/BOOT[^/]*/MIXEDCASE_LONG_FILE.NAME.W[^/]*;1$'",
				       iso),
				 0);
		assert_int_equal(tu_sh("isoinfo -f -i '%s' | grep -q 'With.Dots.txt'", iso), 1);
		/* dates of the plain ISO 9660 records (no Rock Ridge) */
		assert_int_equal(tu_sh("TZ=UTC isoinfo -l -i '%s' | grep '^[-d]' | "
				       "grep -v 'Jan 15 2024' | grep -q . && exit 1 || exit 0",
				       iso),
				 0);
	}
	free(out);
}

static long long file_size(const char *p)
{
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	return (long long)st.st_size;
}

static int count_entries(const char *d)
{
	return tu_sh("exit $(ls -A '%s' | wc -l)", d);
}

/* ------------------------------------------------------------------ tests -------------- */

static void test_volume_id(void **state)
{
	(void)state;
	char v[33];
	assert_int_equal(im_iso_volume_id("Talos", "v1.0.0", v), 12);
	assert_string_equal(v, "TALOS_V1_0_0");
	assert_int_equal(im_iso_volume_id("Talos v1.0.0", NULL, v), 12);
	assert_string_equal(v, "TALOS_V1_0_0");
	assert_int_equal(im_iso_volume_id("  my-OS ", "--v2.1.0-beta.1+x", v), 21);
	assert_string_equal(v, "MY_OS_V2_1_0_BETA_1_X");
	assert_int_equal(im_iso_volume_id(NULL, "1.2", v), 3);
	assert_string_equal(v, "1_2");
	assert_int_equal(im_iso_volume_id("caf\xc3\xa9 OS", NULL, v), 6);
	assert_string_equal(v, "CAF_OS");
	assert_int_equal(im_iso_volume_id("A Very Long Operating System Name", "v10.20.30", v), 32);
	assert_string_equal(v, "A_VERY_LONG_OPERATING_SYSTEM_NAM");
	/* cut right after a separator: no trailing '_' */
	assert_int_equal(im_iso_volume_id("ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "v1", v), 31);
	assert_string_equal(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234");
	assert_int_equal(im_iso_volume_id("...", "", v), -1);
	assert_string_equal(v, "");
	assert_int_equal(im_iso_volume_id(NULL, NULL, v), -1);
}

static void test_plain(void **state)
{
	(void)state;
	char *iso = scratch("plain.iso"), *iso2 = scratch("plain2.iso");
	struct im_error err = {0};
	assert_int_equal(write_iso(iso, 0, 0, EPOCH, &err), 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(file_size(iso) % 2048, 0);
	check_volume(iso, EPOCH_UUID);
	check_content(iso);
	/* no boot record, empty system area */
	assert_int_equal(tu_sh("xorriso -indev '%s' -report_el_torito plain 2>/dev/null | "
			       "grep -q 'El Torito boot img'",
			       iso),
			 1);
	assert_int_equal(tu_sh("test -z \"$(head -c 32768 '%s' | tr -d '\\000')\"", iso), 0);
	/* the host's time zone and working folder do not matter */
	char *cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(fx.dir), 0);
	setenv("TZ", "America/New_York", 1);
	tzset();
	assert_int_equal(write_iso("plain2.iso", 0, 0, EPOCH, &err), 0);
	setenv("TZ", "UTC", 1);
	tzset();
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
	assert_int_equal(tu_sh("cmp '%s' '%s'", iso, iso2), 0);

	/* an empty tree is an empty ISO */
	struct im_tree *t = im_tree_new(EPOCH);
	struct im_iso_opts o = {.volume_id = "EMPTY", .epoch = EPOCH};
	assert_int_equal(im_iso_write(t, iso, &o, &err), 0);
	im_tree_free(t);
	assert_int_equal(tu_sh("rm -rf '%s/e' && osirrox -indev '%s' -extract / '%s/e' >/dev/null "
			       "2>&1 && test -z \"$(ls -A '%s/e')\" && rm -rf '%s/e'",
			       fx.dir, iso, fx.dir, fx.dir, fx.dir),
			 0);
	free(iso);
	free(iso2);
}

static void test_epoch_zero(void **state)
{
	(void)state;
	char *iso = scratch("zero.iso");
	struct im_error err = {0};
	assert_int_equal(write_iso(iso, 0, 0, 0, &err), 0);
	char *out = scratch("pvd0.txt");
	assert_int_equal(tu_sh("xorriso -indev '%s' -pvd_info > '%s' 2>&1", iso, out), 0);
	assert_int_equal(tu_sh("grep -qx 'Creation Time: 1970010100000000' '%s'", out), 0);
	assert_int_equal(tu_sh("grep -qx 'Modif. Time  : 1970010100000000' '%s'", out), 0);
	assert_int_equal(tu_sh("TZ=UTC xorriso -indev '%s' -find / -exec lsdl 2>/dev/null | "
			       "grep . | grep -v ' Jan  1  1970 ' | grep -q . && exit 1 || exit 0",
			       iso),
			 0);
	/* host file dates do not leak: another mtime of a source, same bytes */
	char *iso2 = scratch("zero2.iso");
	struct timespec ts[2] = {{.tv_sec = 1234567890}, {.tv_sec = 1234567890}};
	assert_int_equal(utimensat(AT_FDCWD, fx.kernel, ts, 0), 0);
	assert_int_equal(write_iso(iso2, 0, 0, 0, &err), 0);
	assert_int_equal(tu_sh("cmp '%s' '%s'", iso, iso2), 0);
	free(iso2);
	free(out);
	free(iso);
}

static void test_bios(void **state)
{
	(void)state;
	if (!fx.eltorito || !fx.mbr)
		skip(); /* needs `make payload` */
	char *iso = scratch("bios.iso"), *out = scratch("eltorito.txt");
	struct im_error err = {0};
	assert_int_equal(write_iso(iso, 1, 0, EPOCH, &err), 0);
	assert_int_equal(
	    tu_sh("xorriso -indev '%s' -report_el_torito plain > '%s' 2>/dev/null", iso, out), 0);
	assert_int_equal(tu_sh("grep -q '^El Torito boot img : *1 *BIOS *y *none ' '%s'", out), 0);
	assert_int_equal(
	    tu_sh("grep -q '^El Torito img path : *1 */boot/grub/eltorito.img' '%s'", out), 0);
	assert_int_equal(tu_sh("grep -q '^El Torito img opts : *1 *boot-info-table grub2-boot-info'"
			       " '%s'",
			       out),
			 0);
	assert_int_equal(tu_sh("grep -q 'UEFI' '%s'", out), 1);
	/* hybrid MBR: GRUB's code, one bootable partition over the ISO, no GPT */
	assert_int_equal(tu_sh("cmp -n 432 '%s' '%s'", iso, fx.mbr), 0);
	assert_int_equal(tu_sh("sfdisk -d '%s' 2>/dev/null | grep -q '^label: dos'", iso), 0);
	assert_int_equal(tu_sh("sfdisk -d '%s' 2>/dev/null | grep -q 'start= *1, .*bootable'", iso),
			 0);
	check_volume(iso, EPOCH_UUID); /* the catalog is hidden: the ISO holds just the tree */
	check_content(iso);
	free(iso);
	free(out);
}

/* BIOS + UEFI: GPT with the ISO (mountable) and the ESP, El Torito BIOS + EFI entries, the
 * EFI entry and partition 2 are the same bytes = the FAT image; reproducible. */
static void test_bios_efi(void **state)
{
	(void)state;
	if (!fx.eltorito || !fx.mbr || !fx.efi)
		skip();
	char *iso = scratch("hybrid.iso"), *iso2 = scratch("hybrid2.iso"),
	     *iso3 = scratch("hybrid3.iso"), *out = scratch("eltorito.txt"),
	     *part = scratch("part.bin");
	struct im_error err = {0};
	assert_int_equal(write_iso(iso, 1, 1, EPOCH, &err), 0);
	assert_int_equal(file_size(iso) % 2048, 0);
	assert_int_equal(
	    tu_sh("xorriso -indev '%s' -report_el_torito plain > '%s' 2>/dev/null", iso, out), 0);
	assert_int_equal(tu_sh("grep -q '^El Torito boot img : *1 *BIOS *y *none ' '%s'", out), 0);
	assert_int_equal(tu_sh("grep -q '^El Torito boot img : *2 *UEFI *y *none ' '%s'", out), 0);
	assert_int_equal(
	    tu_sh("grep -q '^El Torito img path : *1 */boot/grub/eltorito.img' '%s'", out), 0);
	assert_int_equal(tu_sh("cmp -n 432 '%s' '%s'", iso, fx.mbr), 0);

	/* sfdisk: clean GPT (backup header at the very end), partition 2 = EFI System */
	assert_int_equal(tu_sh("sfdisk --verify '%s' > '%s' 2>&1", iso, out), 0);
	assert_int_equal(tu_sh("grep -qi 'mismatch\\|not on the end\\|error:' '%s'", out), 1);
	assert_int_equal(tu_sh("sfdisk -d '%s' > '%s' 2>&1", iso, out), 0);
	assert_int_equal(tu_sh("grep -q '^label: gpt' '%s'", out), 0);
	assert_int_equal(
	    tu_sh("grep -q '2 : start= *[0-9]*, size= *[0-9]*, type=" EFI_GUID "' '%s'", out), 0);
	/* partition 2 holds the FAT image, and it is what the El Torito EFI entry points at */
	assert_int_equal(
	    tu_sh("s=$(sed -n 's/.*2 : start= *\\([0-9]*\\),.*/\\1/p' '%s'); "
		  "dd if='%s' of='%s' bs=512 skip=$s count=$(( $(stat -c %%s '%s') / 512 )) "
		  "status=none && cmp '%s' '%s' && "
		  "lba=$(xorriso -indev '%s' -report_el_torito plain 2>/dev/null | "
		  "sed -n 's/^El Torito boot img : *2 .* \\([0-9]*\\)$/\\1/p') && "
		  "test $((lba * 4)) -eq $s",
		  out, iso, part, fx.efi, part, fx.efi, iso),
	    0);
	/* partition 1 is a mountable ISO of its own (second superblock at the offset) */
	assert_int_equal(
	    tu_sh("s=$(sed -n 's/.*1 : start= *\\([0-9]*\\),.*/\\1/p' '%s'); "
		  "dd if='%s' of='%s' bs=512 skip=$s status=none && "
		  "xorriso -indev '%s' -pvd_info 2>&1 | grep -qx 'Volume Id    : TALOS_V1_0_0'",
		  out, iso, part, part),
	    0);
	check_volume(iso, EPOCH_UUID);
	check_content(iso);

	/* reproducible: same inputs => same bytes; another epoch => other bytes */
	assert_int_equal(write_iso(iso2, 1, 1, EPOCH, &err), 0);
	assert_int_equal(tu_sh("cmp '%s' '%s'", iso, iso2), 0);
	assert_int_equal(write_iso(iso3, 1, 1, EPOCH + 1, &err), 0);
	assert_int_equal(tu_sh("cmp -s '%s' '%s'", iso, iso3), 1);
	assert_int_equal(tu_sh("sfdisk -d '%s' 2>/dev/null | grep -q '^label-id: '", iso3), 0);
	assert_int_equal(err.code, 0);
	free(iso);
	free(iso2);
	free(iso3);
	free(out);
	free(part);
}

/* UEFI only: GPT, El Torito EFI entry, no MBR boot code. */
static void test_efi_only(void **state)
{
	(void)state;
	if (!fx.efi)
		skip();
	char *iso = scratch("efi.iso"), *out = scratch("eltorito.txt");
	struct im_error err = {0};
	assert_int_equal(write_iso(iso, 0, 1, EPOCH, &err), 0);
	assert_int_equal(
	    tu_sh("xorriso -indev '%s' -report_el_torito plain > '%s' 2>/dev/null", iso, out), 0);
	assert_int_equal(tu_sh("grep -q '^El Torito boot img : *1 *UEFI ' '%s'", out), 0);
	assert_int_equal(tu_sh("grep -q 'BIOS' '%s'", out), 1);
	assert_int_equal(tu_sh("sfdisk --verify '%s' > '%s' 2>&1", iso, out), 0);
	assert_int_equal(tu_sh("grep -qi 'mismatch\\|not on the end' '%s'", out), 1);
	assert_int_equal(tu_sh("sfdisk -d '%s' 2>/dev/null | grep -q 'type=" EFI_GUID "'", iso), 0);
	check_content(iso);
	free(iso);
	free(out);
}

static void expect_error(struct im_tree *t, const struct im_iso_opts *o, int code,
			 const char *needle)
{
	char *d = scratch("errs");
	char out[4200];
	assert_int_equal(tu_sh("rm -rf '%s' && mkdir '%s'", d, d), 0);
	snprintf(out, sizeof(out), "%s/out.iso", d);
	struct im_error err = {0};
	assert_int_equal(im_iso_write(t, out, o, &err), -1);
	if (err.code != code || !strstr(err.msg, needle))
		fail_msg("code %d, message \"%s\"; want %d and \"%s\"", err.code, err.msg, code,
			 needle);
	assert_null(strchr(err.msg, '\n'));
	assert_int_equal(count_entries(d), 0); /* nothing left behind */
	free(d);
}

static void test_errors(void **state)
{
	(void)state;
	struct im_error err = {0};
	struct im_tree *t = make_tree(0, NULL);
	struct im_iso_opts o = {.volume_id = "OK", .epoch = EPOCH};
	char *missing = scratch("no-such-file.img");

	o.bios_boot_image = "/boot/nope.img";
	expect_error(t, &o, IM_EXIT_MISSING, "/boot/nope.img");
	o.bios_boot_image = "grub"; /* a folder */
	expect_error(t, &o, IM_EXIT_MISSING, "/grub");
	o.bios_boot_image = NULL;

	o.efi_image = missing;
	expect_error(t, &o, IM_EXIT_MISSING, missing);
	o.efi_image = fx.dir; /* not a file */
	expect_error(t, &o, IM_EXIT_INVALID, fx.dir);
	o.efi_image = NULL;

	o.bios_mbr = fx.kernel; /* a hybrid MBR without a BIOS boot image */
	expect_error(t, &o, IM_EXIT_INVALID, "BIOS");
	o.bios_mbr = NULL;

	o.volume_id = "talos";
	expect_error(t, &o, IM_EXIT_INVALID, "talos");
	o.volume_id = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"; /* 33 */
	expect_error(t, &o, IM_EXIT_INVALID, "volume id");
	o.volume_id = "OK";
	o.epoch = -1;
	expect_error(t, &o, IM_EXIT_INVALID, "-1");
	o.epoch = 6000000000; /* year 2160 */
	expect_error(t, &o, IM_EXIT_INVALID, "6000000000");
	o.epoch = EPOCH;

	if (fx.eltorito) {
		assert_int_equal(im_tree_add_file_src(t, "eltorito.img", fx.eltorito, 0644, &err),
				 0);
		o.bios_boot_image = "eltorito.img";
		o.bios_mbr = missing;
		expect_error(t, &o, IM_EXIT_MISSING, missing);
		o.bios_mbr = fx.kernel; /* > 32 KiB: not an MBR */
		expect_error(t, &o, IM_EXIT_INVALID, fx.kernel);
		o.bios_mbr = NULL;
		o.bios_boot_image = "grub/grub.cfg"; /* too small to be GRUB */
		expect_error(t, &o, IM_EXIT_INVALID, "grub.cfg");
		o.bios_boot_image = NULL;
	}

	/* a file source that vanished */
	char *gone = scratch("gone.bin");
	tu_write_file(gone, "x", 1);
	assert_int_equal(im_tree_add_file_src(t, "gone.bin", gone, 0644, &err), 0);
	assert_int_equal(unlink(gone), 0);
	expect_error(t, &o, IM_EXIT_MISSING, gone);
	im_tree_free(t);

	/* device nodes do not fit in an ISO */
	t = im_tree_new(EPOCH);
	assert_int_equal(im_tree_add_chrdev(t, "dev/console", 0600, 5, 1, &err), 0);
	expect_error(t, &o, IM_EXIT_UNSUPPORTED, "/dev/console");
	im_tree_free(t);
	free(missing);
	free(gone);
}

/* A libxorriso failure while writing (file size limit) is IM_EXIT_IO with xorriso's message
 * on one line, and leaves nothing behind. Run in a child for the rlimit. */
static void test_write_failure(void **state)
{
	(void)state;
	char *d = scratch("fsz");
	assert_int_equal(tu_sh("rm -rf '%s' && mkdir '%s'", d, d), 0);
	char out[4200];
	snprintf(out, sizeof(out), "%s/out.iso", d);
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	struct im_tree *t = make_tree(0, NULL); /* before fork: the ref folder is made here */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = {.rlim_cur = 128 * 1024, .rlim_max = 128 * 1024};
		setrlimit(RLIMIT_FSIZE, &rl);
		struct im_iso_opts o = {.volume_id = "X", .epoch = EPOCH};
		struct im_error err = {0};
		int r = im_iso_write(t, out, &o, &err);
		im_tree_free(t);
		dprintf(pfd[1], "%d %d %s", r, err.code, err.msg);
		close(pfd[1]);
		exit(0);
	}
	close(pfd[1]);
	char buf[2048] = "";
	ssize_t n, got = 0;
	while ((n = read(pfd[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = '\0';
	close(pfd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	im_tree_free(t);
	int r = 0, code = 0, off = 0;
	assert_int_equal(sscanf(buf, "%d %d %n", &r, &code, &off), 2);
	print_message("# write failure: %s\n", buf + off);
	assert_int_equal(r, -1);
	assert_int_equal(code, IM_EXIT_IO);
	assert_non_null(strstr(buf + off, out));
	assert_non_null(strstr(buf + off, "xorriso"));
	assert_null(strchr(buf + off, '\n'));
	assert_int_equal(count_entries(d), 0);
	free(d);
}

/* ------------------------------------------------------------------ QEMU --------------- */

/* Boot an ISO in QEMU (TCG), serial to log; true when the payload's init reported done. */
static int qemu_boot(const char *iso, const char *mode, const char *log)
{
	char vars[4200], args[9000];
	snprintf(vars, sizeof(vars), "%s.vars", log);
	if (strcmp(mode, "bios-cd") == 0)
		snprintf(args, sizeof(args), "-M pc -boot d -cdrom '%s'", iso);
	else if (strcmp(mode, "bios-hd") == 0)
		snprintf(args, sizeof(args), "-M pc -drive file='%s',format=raw,if=ide,snapshot=on",
			 iso);
	else
		snprintf(args, sizeof(args),
			 "-M q35 -drive if=pflash,format=raw,unit=0,readonly=on,"
			 "file=/usr/share/OVMF/OVMF_CODE_4M.fd "
			 "-drive if=pflash,format=raw,unit=1,file='%s' %s'%s'%s",
			 vars, strcmp(mode, "uefi-cd") == 0 ? "-cdrom " : "-drive file=", iso,
			 strcmp(mode, "uefi-cd") == 0 ? "" : ",format=raw,if=virtio,snapshot=on");
	return tu_sh("cp /usr/share/OVMF/OVMF_VARS_4M.fd '%s' && : > '%s' && "
		     "{ timeout --kill-after=5 150 qemu-system-x86_64 -m 1024 -net none %s "
		     "-accel tcg -nographic -no-reboot -monitor none -serial file:'%s' "
		     "</dev/null >/dev/null 2>&1 & pid=$!; "
		     "for i in $(seq 600); do kill -0 $pid 2>/dev/null || break; "
		     "grep -q 'IMAGER-REPORT done' '%s' && break; sleep 0.25; done; "
		     "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; }; "
		     "grep -q 'IMAGER-REPORT done' '%s'",
		     vars, log, args, log, log, log) == 0;
}

static void test_qemu_boot(void **state)
{
	(void)state;
	char *kernel = find_payload("install/amd64/vmlinuz");
	char *initrd = find_payload("install/amd64/initramfs.xz");
	char *efi_src = find_payload("install/amd64/grub/grubx64.efi");
	const char *no = getenv("IMAGER_TEST_NO_QEMU");
	if ((no && *no) || !fx.eltorito || !fx.mbr || !kernel || !initrd || !efi_src ||
	    tu_sh("command -v qemu-system-x86_64 >/dev/null && "
		  "test -r /usr/share/OVMF/OVMF_CODE_4M.fd") != 0) {
		free(kernel);
		free(initrd);
		free(efi_src);
		skip();
	}
	/* ESP: GRUB for x86_64-efi; its /grub/grub.cfg hands over to the ISO's. (GRUB's
	 * embedded config of the payload should find the ISO's grub.cfg by itself; this
	 * keeps the test about the ISO layout.) */
	char *esp = scratch("esp.img"), *cfg = scratch("esp-grub.cfg"), *iso = scratch("boot.iso");
	const char *hand_over = "search --no-floppy --file --set=root /vmlinuz\n"
				"configfile ($root)/grub/grub.cfg\n";
	tu_write_file(cfg, hand_over, strlen(hand_over));
	assert_int_equal(tu_sh("rm -f '%s' && mkfs.vfat -C '%s' 34000 >/dev/null && "
			       "mmd -i '%s' ::/EFI ::/EFI/BOOT ::/grub && "
			       "mcopy -i '%s' '%s' ::/EFI/BOOT/BOOTX64.EFI && "
			       "mcopy -i '%s' '%s' ::/grub/grub.cfg",
			       esp, esp, esp, esp, efi_src, esp, cfg),
			 0);
	struct im_error err = {0};
	struct im_tree *t = make_tree(1, "set timeout=0\n"
					 "menuentry x {\n"
					 "  linux /vmlinuz console=ttyS0 panic=1\n"
					 "  initrd /initramfs.xz\n"
					 "}\n");
	assert_int_equal(tu_sh("rm -f '%s/vmlinuz'", fx.ref), 0);
	struct im_node *vm = im_tree_lookup(t, "vmlinuz");
	assert_non_null(vm);
	free(vm->src);
	vm->src = strdup(kernel);
	vm->size = (uint64_t)file_size(kernel);
	assert_int_equal(im_tree_add_file_src(t, "initramfs.xz", initrd, 0644, &err), 0);
	struct im_iso_opts o = {.volume_id = "TALOS_V1_0_0",
				.epoch = EPOCH,
				.bios_boot_image = "boot/grub/eltorito.img",
				.bios_mbr = fx.mbr,
				.efi_image = esp};
	assert_int_equal(im_iso_write(t, iso, &o, &err), 0);
	im_tree_free(t);

	static const char *modes[] = {"bios-cd", "bios-hd", "uefi-cd", "uefi-hd"};
	int ok[4] = {0};
	/* two at a time (TCG, single vCPU each) */
	for (int i = 0; i < 4; i += 2) {
		pid_t kids[2];
		for (int k = 0; k < 2; k++) {
			kids[k] = fork();
			assert_true(kids[k] >= 0);
			if (kids[k] == 0) {
				char *log = scratch(modes[i + k]);
				_exit(qemu_boot(iso, modes[i + k], log) ? 0 : 1);
			}
		}
		for (int k = 0; k < 2; k++) {
			int st;
			assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
			ok[i + k] = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		}
	}
	for (int i = 0; i < 4; i++) {
		print_message("# QEMU %s: %s\n", modes[i], ok[i] ? "booted" : "FAILED");
		if (!ok[i])
			tu_sh("tail -c 1500 '%s/%s' | tr -d '\\r' | tail -n 8 | sed 's/^/#   /'",
			      fx.dir, modes[i]);
	}
	for (int i = 0; i < 4; i++)
		assert_true(ok[i]);
	free(kernel);
	free(initrd);
	free(efi_src);
	free(esp);
	free(cfg);
	free(iso);
}

/* ------------------------------------------------------------------ main --------------- */

static int setup(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	setenv("LC_ALL", "C.UTF-8", 1);
	setenv("MTOOLS_SKIP_CHECK", "1", 1);
	setenv("MTOOLSRC", "/dev/null", 1);
	tzset();
	fx.dir = tu_tmpdir();
	fx.kernel = scratch("kernel.bin");
	fx.ref = scratch("ref");
	uint8_t *b = malloc(KERNEL_LEN);
	assert_non_null(b);
	tu_pattern(b, KERNEL_LEN, 7);
	tu_write_file(fx.kernel, b, KERNEL_LEN);
	free(b);
	fx.eltorito = find_payload("install/amd64/grub/eltorito.img");
	fx.mbr = find_payload("install/amd64/grub/boot_hybrid.img");
	if (!fx.mbr)
		fx.mbr = find_payload("cache/extract/grub-pc-bin_*/usr/lib/grub/i386-pc/"
				      "boot_hybrid.img");
	fx.have_isoinfo = tu_sh("command -v isoinfo >/dev/null") == 0;
	if (tu_sh("command -v xorriso >/dev/null && command -v osirrox >/dev/null") != 0) {
		fprintf(stderr, "test_iso: the xorriso program is needed as the checker\n");
		return -1;
	}
	/* a small FAT image with a fake EFI program (tests may use mkfs.vfat/mtools) */
	char *efi = scratch("efi.img"), *prog = scratch("BOOTX64.EFI");
	tu_write_file(prog, "MZ not really a PE\n", 19);
	if (tu_sh("mkfs.vfat -C '%s' 34000 >/dev/null 2>&1 && mmd -i '%s' ::/EFI ::/EFI/BOOT && "
		  "mcopy -i '%s' '%s' ::/EFI/BOOT/BOOTX64.EFI",
		  efi, efi, efi, prog) == 0)
		fx.efi = efi;
	else
		free(efi);
	free(prog);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(fx.dir);
	free(fx.dir);
	free(fx.kernel);
	free(fx.ref);
	free(fx.eltorito);
	free(fx.mbr);
	free(fx.efi);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_volume_id),  cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_epoch_zero), cmocka_unit_test(test_bios),
	    cmocka_unit_test(test_bios_efi),   cmocka_unit_test(test_efi_only),
	    cmocka_unit_test(test_errors),     cmocka_unit_test(test_write_failure),
	    cmocka_unit_test(test_qemu_boot),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
