/* grub.cfg generation. Every prepared GRUB image (pkgs/grub/early.cfg) searches for
 * /grub/grub.cfg and hands over to it, so these files only describe the entries. */
#ifndef IMAGER_GRUBCFG_H
#define IMAGER_GRUBCFG_H

struct im_grub_iso {
	const char *title;   /* "Talos v1.0.0" */
	const char *kernel;  /* path on the ISO, e.g. /boot/vmlinuz */
	const char *initrd;  /* /boot/initramfs.xz */
	const char *cmdline; /* the built command line */
	int serial;	     /* 1: also use the first serial port (x86 BIOS/UEFI) */
};

/* The ISO's grub.cfg: the main entry (with talos.halt_if_installed=1, so a machine that
 * is already installed does not boot the ISO by accident) and a "reset" entry carrying
 * talos.experimental.wipe=system, as Talos's ISO has. malloc'd. */
char *im_grubcfg_iso(const struct im_grub_iso *c);

/* A/B disks (DESIGN.md §7). The ESP's grub.cfg, written once at install and never changed:
 * it loads the ESP's grubenv ($prefix/grubenv: the prepared images set prefix to the
 * folder holding grub.cfg); a set next_entry is booted once: it is cleared and saved
 * *before* the entry runs, so a trial that crashes falls back to saved_entry (the
 * committed slot) on the next boot. One entry per slot (--id A / --id B) finds its BOOT-x
 * partition by FAT label and sources that slot's boot.cfg, so each slot brings its own
 * command line and an upgrade never rewrites this file. */
struct im_grub_ab {
	const char *title; /* OS name: entries read "<title> (slot A)" */
	int serial;	   /* 1: also the first serial port (x86) */
};

char *im_grubcfg_ab(const struct im_grub_ab *c);

/* A slot's boot.cfg (at the root of BOOT-<slot>): `linux /vmlinuz <cmdline>
 * imager.slot=<slot>` and `initrd /initramfs.xz`. Command line words that GRUB's script
 * parser would interpret are single-quoted. malloc'd. */
char *im_grubcfg_slot(const char *title, char slot, const char *cmdline);

#endif
