/* A/B slots of an installed disk: upgrade, commit, rollback, status (include/imager/install.h,
 * DESIGN.md §7 "A/B and rollback").
 *
 * State lives where the boot loaders read it, nowhere else:
 *   GRUB         ESP /grub/grubenv: saved_entry (committed), next_entry (armed trial)
 *   systemd-boot ESP /loader/loader.conf "default" glob (committed, or the armed trial) and
 *                the boot counter in each slot UKI's name (UAPI Boot Loader Specification,
 *                "Boot counting": <name>+LEFT[-DONE].efi; LEFT = 0 means used up)
 *   both         META tag 6 = the slot to fall back to while an upgrade is unconfirmed */
#include "imager/install/install.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imager/disk/gpt.h"
#include "imager/install/grubcfg.h"
#include "imager/install/grubenv.h"

struct disk {
	int fd;
	const char *what;
	struct im_gpt_disk d;
	const struct im_gpt_entry *esp, *meta, *boot[2];
	enum im_bootloader bl;
	struct im_fatfs fs;
	/* GRUB */
	struct im_fat_dirent env_e;
	char env[IM_GRUBENV_SIZE];
	/* systemd-boot */
	struct im_fat_dirent conf_e;
	char conf[IM_LOADER_CONF_SIZE + 1];
	char conf_slot; /* slot named by "default" */
	int conf_trial; /* ... with its +1 name */
	struct im_fat_dirent *ukis;
	size_t nukis;
};

static char other(char s)
{
	return s == 'A' ? 'B' : 'A';
}

/* A slot UKI name "<base>-<X>[+LEFT[-DONE]].efi": its slot, the tries left (-1 without a
 * counter) and the length of "<base>-<X>". 0 when the name is not one. */
static char uki_slot(const char *n, int *left, size_t *base)
{
	size_t len = strlen(n);
	if (len < 7 || strcasecmp(n + len - 4, ".efi"))
		return 0;
	len -= 4;
	*left = -1;
	const char *plus = memrchr(n, '+', len);
	if (plus && plus > n) {
		const char *p = plus + 1;
		size_t d = strspn(p, "0123456789");
		if (d && (p + d == n + len ||
			  (p[d] == '-' &&
			   strspn(p + d + 1, "0123456789") == (size_t)(n + len - p - d - 1) &&
			   n + len > p + d + 1))) {
			*left = atoi(p);
			len = (size_t)(plus - n);
		}
	}
	if (len < 3 || n[len - 2] != '-')
		return 0;
	char s = (char)toupper((unsigned char)n[len - 1]);
	*base = len;
	return s == 'A' || s == 'B' ? s : 0;
}

static const struct im_fat_dirent *find_uki(const struct disk *k, char slot, int *left)
{
	size_t base;
	int l;
	for (size_t i = 0; i < k->nukis; i++)
		if (uki_slot(k->ukis[i].name, &l, &base) == slot) {
			if (left)
				*left = l;
			return &k->ukis[i];
		}
	return NULL;
}

/* "default <name>-*-<x>[+1].efi" */
static void parse_conf(struct disk *k)
{
	for (const char *l = k->conf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, "default ", 8))
			continue;
		size_t n = strcspn(l, "\n");
		const char *e = l + n;
		if (n > 14 && !strncmp(e - 4, ".efi", 4)) {
			int trial = !strncmp(e - 6, "+1", 2);
			const char *s = e - 4 - (trial ? 2 : 0) - 1;
			if (s[-1] == '-' && (*s == 'a' || *s == 'b')) {
				k->conf_slot = (char)(*s - 32);
				k->conf_trial = trial;
			}
		}
	}
}

static int read_small(struct disk *k, const char *path, struct im_fat_dirent *e, char *buf,
		      size_t size, struct im_error *err)
{
	uint8_t *b;
	size_t len;
	int r = im_fatfs_lookup(&k->fs, path, e, err);
	if (r <= 0)
		return r;
	if (e->size != size)
		return im_fail(err, IM_EXIT_INSTALL, "%s: ESP /%s has %u bytes, expected %zu",
			       k->what, path, e->size, size);
	if (im_fatfs_read(&k->fs, e, &b, &len, err) < 0)
		return -1;
	memcpy(buf, b, size);
	free(b);
	return 1;
}

static int load_state(struct disk *k, struct im_error *err)
{
	int r = read_small(k, "grub/grubenv", &k->env_e, k->env, sizeof(k->env), err);
	if (r < 0)
		return -1;
	if (r && k->boot[0] && k->boot[1])
		k->bl |= IM_BOOT_GRUB;
	r = read_small(k, "loader/loader.conf", &k->conf_e, k->conf, IM_LOADER_CONF_SIZE, err);
	if (r < 0)
		return -1;
	if (r) {
		k->bl |= IM_BOOT_SDBOOT;
		k->conf[IM_LOADER_CONF_SIZE] = 0;
		parse_conf(k);
		if (im_fatfs_list(&k->fs, "EFI/Linux", &k->ukis, &k->nukis, err) < 0)
			return -1;
	}
	if (!k->bl)
		return im_fail(err, IM_EXIT_INSTALL,
			       "%s: no A/B boot state in the ESP (no grub/grubenv with BOOT-A/B, "
			       "no loader/loader.conf)",
			       k->what);
	return 0;
}

static void close_disk(struct disk *k)
{
	im_fatfs_close(&k->fs);
	im_gpt_disk_free(&k->d);
	free(k->ukis);
}

/* writable: the verb changes the disk (it may then repair a corrupt primary GPT). */
static int open_disk(struct disk *k, int fd, const char *what, int64_t epoch, bool writable,
		     struct im_error *err)
{
	memset(k, 0, sizeof(*k));
	k->fd = fd;
	k->what = what;
	if (im_install_read_gpt(fd, what, writable, &k->d, err) < 0)
		return -1;
	k->esp = im_gpt_find(&k->d, "EFI");
	k->meta = im_gpt_find(&k->d, "META");
	k->boot[0] = im_gpt_find(&k->d, "BOOT-A");
	k->boot[1] = im_gpt_find(&k->d, "BOOT-B");
	if (!k->esp || !k->meta) {
		im_gpt_disk_free(&k->d);
		return im_fail(err, IM_EXIT_INSTALL,
			       "%s: not an installed disk (no EFI or META partition)", what);
	}
	if (im_fatfs_open(&k->fs, fd, what, k->esp->start, k->esp->size, epoch, err) < 0 ||
	    load_state(k, err) < 0) {
		close_disk(k);
		return -1;
	}
	return 0;
}

/* ---- reading the state ---- */

static char env_slot(const struct disk *k, const char *name)
{
	struct im_grubenv env;
	struct im_error e = {0};
	char s = 0;
	if (im_grubenv_parse(&env, k->env, sizeof(k->env), &e) == 0) {
		const char *v = im_grubenv_get(&env, name);
		if (v && (!strcmp(v, "A") || !strcmp(v, "B")))
			s = v[0];
	}
	im_grubenv_free(&env);
	return s;
}

static char committed(const struct disk *k)
{
	if (k->bl & IM_BOOT_GRUB)
		return env_slot(k, IM_GRUBENV_SAVED_ENTRY);
	if (!k->conf_slot)
		return 0;
	return k->conf_trial ? other(k->conf_slot) : k->conf_slot;
}

/* The armed trial: with both loaders (dual-boot), armed for both; a trial one path has
 * used up counts as used up. */
static char armed(const struct disk *k)
{
	char g = k->bl & IM_BOOT_GRUB ? env_slot(k, IM_GRUBENV_NEXT_ENTRY) : 0, s = 0;
	int left = -1;
	if ((k->bl & IM_BOOT_SDBOOT) && k->conf_trial && find_uki(k, k->conf_slot, &left) &&
	    left > 0)
		s = k->conf_slot;
	if (k->bl == IM_BOOT_DUAL)
		return g == s ? g : 0;
	return k->bl & IM_BOOT_GRUB ? g : s;
}

static int meta_previous(struct disk *k, char *prev, struct im_error *err)
{
	struct im_meta m;
	im_meta_init(&m);
	*prev = 0;
	if (im_meta_read_fd(k->fd, (off_t)k->meta->start, k->what, &m, err) < 0)
		return -1;
	size_t len;
	const uint8_t *v = im_meta_get(&m, IM_META_TAG_UPGRADE, &len);
	if (v && len == 1 && (v[0] == 'A' || v[0] == 'B'))
		*prev = (char)v[0];
	im_meta_free(&m);
	return 0;
}

/* ---- writing the state ---- */

static int env_put(struct disk *k, const char *saved, const char *next, int set_next,
		   struct im_error *err)
{
	if (!(k->bl & IM_BOOT_GRUB))
		return 0;
	char buf[IM_GRUBENV_SIZE];
	memcpy(buf, k->env, sizeof(buf));
	if ((saved &&
	     im_grubenv_edit_block(buf, sizeof(buf), IM_GRUBENV_SAVED_ENTRY, saved, err) < 0) ||
	    (set_next &&
	     im_grubenv_edit_block(buf, sizeof(buf), IM_GRUBENV_NEXT_ENTRY, next, err) < 0))
		return -1;
	if (!memcmp(buf, k->env, sizeof(buf)))
		return 0;
	if (im_fatfs_overwrite(&k->fs, &k->env_e, buf, sizeof(buf), err) < 0)
		return -1;
	memcpy(k->env, buf, sizeof(buf));
	return 0;
}

/* Rewrite loader.conf's default: keep every other line (timeout, extras). */
static int conf_put(struct disk *k, char slot, int trial, struct im_error *err)
{
	if (!(k->bl & IM_BOOT_SDBOOT) || (k->conf_slot == slot && k->conf_trial == trial))
		return 0;
	char body[IM_LOADER_CONF_SIZE + 1] = "", name[64] = "", out[IM_LOADER_CONF_SIZE];
	size_t bl = 0;
	for (const char *l = k->conf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t n = strcspn(l, "\n");
		if (!strncmp(l, "default ", 8)) {
			const char *star = strstr(l, "-*-");
			if (star && star - l - 8 < (long)sizeof(name))
				snprintf(name, sizeof(name), "%.*s", (int)(star - l - 8), l + 8);
			continue;
		}
		if (!strncmp(l, "# generated by imager", 21) || strspn(l, "#") == n)
			continue;
		if (bl + n + 1 < sizeof(body)) {
			memcpy(body + bl, l, n);
			body[bl + n] = '\n';
			bl += n + 1;
			body[bl] = 0;
		}
	}
	if (!name[0])
		return im_fail(err, IM_EXIT_INSTALL,
			       "%s: loader/loader.conf has no default glob "
			       "of ours",
			       k->what);
	if (im_install_loader_conf(out, name, slot, trial, body, err) < 0 ||
	    im_fatfs_overwrite(&k->fs, &k->conf_e, out, sizeof(out), err) < 0)
		return -1;
	memcpy(k->conf, out, sizeof(out));
	k->conf_slot = slot;
	k->conf_trial = trial;
	return 0;
}

static int meta_set_previous(struct disk *k, char prev, struct im_error *err)
{
	struct im_meta m;
	im_meta_init(&m);
	int rc = im_meta_read_fd(k->fd, (off_t)k->meta->start, k->what, &m, err);
	size_t len;
	const uint8_t *v = rc ? NULL : im_meta_get(&m, IM_META_TAG_UPGRADE, &len);
	if (rc == 0 && (prev ? !v || len != 1 || v[0] != (uint8_t)prev : v != NULL)) {
		if (prev)
			rc = im_meta_set(&m, IM_META_TAG_UPGRADE, &prev, 1, err);
		else
			im_meta_delete(&m, IM_META_TAG_UPGRADE);
		if (rc == 0)
			rc = im_install_meta_put(k->fd, k->what, k->meta->start, k->meta->size, &m,
						 err);
	}
	im_meta_free(&m);
	return rc;
}

/* Rename a slot's UKI to carry `tries` (0: no counter). */
static int uki_rename(struct disk *k, char slot, int tries, struct im_error *err)
{
	int left;
	size_t base;
	const struct im_fat_dirent *e = find_uki(k, slot, &left);
	if (!e)
		return 0;
	uki_slot(e->name, &left, &base);
	if (tries ? left == tries : left < 0)
		return 0;
	char name[sizeof(e->name) + 16];
	snprintf(name, sizeof(name), "%.*s%s.efi", (int)base, e->name, tries ? "+1" : "");
	return im_fatfs_rename(&k->fs, e, name, err);
}

static int arm(struct disk *k, char slot, struct im_error *err)
{
	const char s[2] = {slot, 0};
	if (meta_set_previous(k, other(slot), err) < 0 || env_put(k, NULL, s, 1, err) < 0)
		return -1;
	return conf_put(k, slot, 1, err);
}

static int disarm(struct disk *k, char keep, struct im_error *err)
{
	if (env_put(k, NULL, NULL, 1, err) < 0)
		return -1;
	return conf_put(k, keep, 0, err);
}

/* ---- operations ---- */

/* The new slot's UKI; without a->arch, the disk's (the ESP's removable-media loader). */
static int build_uki(struct disk *k, const struct im_install_assets *a, char slot, int64_t epoch,
		     uint8_t **uki, size_t *len, struct im_error *err)
{
	struct im_install_assets b = *a;
	struct im_fat_dirent e;
	if (!b.arch) {
		int r = im_fatfs_lookup(&k->fs, "EFI/BOOT/BOOTAA64.EFI", &e, err);
		if (r < 0)
			return -1;
		b.arch = r ? "arm64" : "amd64";
	}
	return im_install_slot_uki(&b, slot, epoch, uki, len, err);
}

static int slot_present(struct disk *k, char slot, struct im_error *err);

int im_upgrade(int fd, const char *what, const struct im_install_assets *a, int64_t epoch,
	       char *slot_out, struct im_error *err)
{
	struct disk k;
	uint8_t *uki = NULL;
	size_t uki_len = 0;
	if (im_install_check_assets(a, err) < 0 || open_disk(&k, fd, what, epoch, true, err) < 0)
		return -1;
	int rc = -1;
	char c = committed(&k), y = other(c);
	if (!c) {
		im_fail(err, IM_EXIT_INSTALL, "%s: no committed slot to upgrade from", what);
		goto out;
	}
	if ((k.bl & IM_BOOT_SDBOOT) && !a->uki && !a->sdstub_efi) {
		im_fail(err, IM_EXIT_MISSING, "upgrade: sd-boot needs a UKI or systemd-stub");
		goto out;
	}
	if ((k.bl & IM_BOOT_SDBOOT) && build_uki(&k, a, y, epoch, &uki, &uki_len, err) < 0)
		goto out;
	if (disarm(&k, c, err) < 0)
		goto out;
	if ((k.bl & IM_BOOT_GRUB) &&
	    im_install_write_boot(fd, what, k.boot[y - 'A'], k.d.sector_size, a, y, epoch, err) < 0)
		goto out;
	if (k.bl & IM_BOOT_SDBOOT) {
		char name[256];
		const struct im_fat_dirent *e;
		while ((e = find_uki(&k, y, NULL))) {
			if (im_fatfs_delete(&k.fs, e, err) < 0)
				goto out;
			k.ukis[e - k.ukis] = k.ukis[--k.nukis]; /* drop it from the list */
		}
		if (im_install_uki_name(a->name, a->version, y, 1, name, sizeof(name)) < 0 ||
		    im_fatfs_create(&k.fs, "EFI/Linux", name, uki, uki_len, err) < 0)
			goto out;
		free(k.ukis);
		k.ukis = NULL;
		if (im_fatfs_list(&k.fs, "EFI/Linux", &k.ukis, &k.nukis, err) < 0)
			goto out;
	}
	rc = arm(&k, y, err);
	if (rc == 0 && slot_out)
		*slot_out = y;
out:
	free(uki);
	close_disk(&k);
	return rc;
}

int im_commit(int fd, const char *what, char slot, int64_t epoch, struct im_error *err)
{
	struct disk k;
	if (slot != 'A' && slot != 'B')
		return im_fail(err, IM_EXIT_INVALID, "commit: slot \"%c\": expected A or B",
			       slot ? slot : '?');
	if (open_disk(&k, fd, what, epoch, true, err) < 0)
		return -1;
	const char s[2] = {slot, 0};
	int rc = slot_present(&k, slot, err), left;
	/* systemd-boot, the trial `slot` armed: loader.conf names "<slot>+1", which stops
	 * matching once the UKI loses its counter. So that every state a power cut can leave
	 * has a default glob naming a UKI, disarm first (back to the committed slot's UKI,
	 * which has no counter), then drop the counter, then switch loader.conf. */
	if (rc == 0 && (k.bl & IM_BOOT_SDBOOT) && k.conf_slot == slot && k.conf_trial &&
	    find_uki(&k, other(slot), &left) && left < 0)
		rc = conf_put(&k, other(slot), 0, err);
	if (rc == 0 && (k.bl & IM_BOOT_SDBOOT))
		rc = uki_rename(&k, slot, 0, err);
	if (rc == 0)
		rc = conf_put(&k, slot, 0, err);
	if (rc == 0)
		rc = env_put(&k, s, NULL, 1, err);
	if (rc == 0)
		rc = meta_set_previous(&k, 0, err);
	close_disk(&k);
	return rc;
}

int im_rollback(int fd, const char *what, int64_t epoch, char *slot_out, struct im_error *err)
{
	struct disk k;
	if (open_disk(&k, fd, what, epoch, true, err) < 0)
		return -1;
	char c = committed(&k), y = other(c);
	int rc = c ? slot_present(&k, y, err)
		   : im_fail(err, IM_EXIT_INSTALL, "%s: no committed slot", what);
	if (rc == 0 && (k.bl & IM_BOOT_SDBOOT))
		rc = uki_rename(&k, y, 1, err);
	if (rc == 0)
		rc = arm(&k, y, err);
	if (rc == 0 && slot_out)
		*slot_out = y;
	close_disk(&k);
	return rc;
}

/* ---- status ---- */

/* The slot's own command line: without the imager.slot= word the install code appends, and
 * (from boot.cfg) without GRUB's single quotes. */
static void clean_cmdline(char *s, int grub)
{
	char *o = s;
	int q = 0;
	for (char *p = s; *p && grub; p++) {
		if (*p == '\'' && (q || p == s || p[-1] == ' ' || p[-1] == '\'')) {
			q = !q;
			continue;
		}
		if (*p == '\\' && !q && p[1] == '\'') {
			*o++ = *++p;
			continue;
		}
		*o++ = *p;
	}
	if (grub)
		*o = 0;
	char *w = strstr(s, "imager.slot=");
	if (w && (w == s || w[-1] == ' ') && w[12] && (!w[13] || w[13] == ' ')) {
		char *end = w + 13;
		if (w > s)
			w--;
		memmove(w, end, strlen(end) + 1);
	}
}

/* GRUB slot record: BOOT-x/os-release and the linux line of boot.cfg. 1 found, 0 none. */
static int boot_record(struct disk *k, char slot, struct im_slot_info *si, struct im_error *err)
{
	struct im_fatfs fs;
	struct im_fat_dirent e;
	uint8_t *buf;
	size_t len;
	if (im_fatfs_open(&fs, k->fd, k->what, k->boot[slot - 'A']->start,
			  k->boot[slot - 'A']->size, 0, err) < 0)
		return -1;
	int r = im_fatfs_lookup(&fs, "os-release", &e, err);
	if (r > 0 && (r = im_fatfs_read(&fs, &e, &buf, &len, err)) == 0) {
		char *n = im_install_osrel_get((char *)buf, "NAME");
		char *v = im_install_osrel_get((char *)buf, "VERSION_ID");
		snprintf(si->name, sizeof(si->name), "%s", n ? n : "");
		snprintf(si->version, sizeof(si->version), "%s", v ? v : "");
		free(n);
		free(v);
		free(buf);
		r = 1;
	}
	if (r > 0 && im_fatfs_lookup(&fs, "boot.cfg", &e, err) > 0 &&
	    im_fatfs_read(&fs, &e, &buf, &len, err) == 0) {
		const char *l = strstr((char *)buf, "\nlinux /vmlinuz ");
		if (l && (si->cmdline = strndup(l + 16, strcspn(l + 16, "\n"))))
			clean_cmdline(si->cmdline, 1);
		free(buf);
	}
	im_fatfs_close(&fs);
	return r;
}

/* sd-boot slot record: the UKI's name, counter, .osrel and .cmdline. */
static int uki_record(struct disk *k, char slot, struct im_slot_info *si, struct im_error *err)
{
	const struct im_fat_dirent *e = find_uki(k, slot, &si->tries_left);
	uint8_t *buf;
	size_t len;
	char *n, *v, *cl;
	if (!e)
		return 0;
	snprintf(si->uki, sizeof(si->uki), "%.255s", e->name);
	if (im_fatfs_read(&k->fs, e, &buf, &len, err) < 0)
		return -1;
	int rc = im_install_uki_info(buf, len, e->name, &n, &v, &cl, err);
	free(buf);
	if (rc < 0)
		return -1;
	if (!si->name[0])
		snprintf(si->name, sizeof(si->name), "%s", n ? n : "");
	if (!si->version[0])
		snprintf(si->version, sizeof(si->version), "%s", v ? v : "");
	if (!si->cmdline && cl) {
		si->cmdline = cl;
		cl = NULL;
		clean_cmdline(si->cmdline, 0);
	}
	free(n);
	free(v);
	free(cl);
	return 1;
}

static int slot_info(struct disk *k, char slot, struct im_slot_info *si, struct im_error *err)
{
	int g = 0, u = 0;
	si->slot = slot;
	si->tries_left = -1;
	if ((k->bl & IM_BOOT_GRUB) && (g = boot_record(k, slot, si, err)) < 0)
		return -1;
	if ((k->bl & IM_BOOT_SDBOOT) && (u = uki_record(k, slot, si, err)) < 0)
		return -1;
	return g || u;
}

static int slot_present(struct disk *k, char slot, struct im_error *err)
{
	struct im_slot_info si = {0};
	int r = slot_info(k, slot, &si, err);
	free(si.cmdline);
	if (r < 0)
		return -1;
	return r ? 0 : im_fail(err, IM_EXIT_INSTALL, "%s: slot %c holds no payload", k->what, slot);
}

static enum im_slot_state slot_state(const struct im_status *st, const struct im_slot_info *si)
{
	if (si->slot == st->committed)
		return IM_SLOT_COMMITTED;
	if (si->slot == st->trial)
		return IM_SLOT_TRIAL;
	if (si->tries_left == 0 || (st->previous && st->previous == st->committed))
		return IM_SLOT_FAILED;
	return IM_SLOT_INACTIVE;
}

int im_status(int fd, const char *what, struct im_status *st, struct im_error *err)
{
	struct disk k;
	memset(st, 0, sizeof(*st));
	if (open_disk(&k, fd, what, 0, false, err) < 0)
		return -1;
	st->bootloader = k.bl;
	st->sector_size = k.d.sector_size;
	st->committed = committed(&k);
	st->trial = armed(&k);
	int rc = meta_previous(&k, &st->previous, err);
	for (int i = 0; rc == 0 && i < 2; i++) {
		struct im_slot_info *si = &st->slot[i];
		int r = slot_info(&k, (char)('A' + i), si, err);
		if (r < 0)
			rc = -1;
		else
			si->state = r ? slot_state(st, si) : IM_SLOT_EMPTY;
	}
	close_disk(&k);
	if (rc < 0)
		im_status_free(st);
	return rc;
}

void im_status_free(struct im_status *st)
{
	for (int i = 0; i < 2; i++) {
		free(st->slot[i].cmdline);
		st->slot[i].cmdline = NULL;
	}
}

const char *im_slot_state_name(enum im_slot_state s)
{
	static const char *const n[] = {"empty", "committed", "trial", "failed", "inactive"};
	return s <= IM_SLOT_INACTIVE ? n[s] : "?";
}
