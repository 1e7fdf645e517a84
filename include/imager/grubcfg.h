/* grub.cfg generation. Every prepared GRUB image (pkgs/grub/early.cfg) searches for
 * /grub/grub.cfg and hands over to it, so these files only describe the entries. */
#ifndef IMAGER_GRUBCFG_H
#define IMAGER_GRUBCFG_H

struct im_grub_iso {
	const char *title;   /* "Talos v1.0.0" */
	const char *kernel;  /* path on the ISO, e.g. /boot/vmlinuz */
	const char *initrd;  /* /boot/initramfs.xz */
	const char *cmdline; /* the built command line */
	int serial;          /* 1: also use the first serial port (x86 BIOS/UEFI) */
};

/* The ISO's grub.cfg: the main entry (with talos.halt_if_installed=1, so a machine that
 * is already installed does not boot the ISO by accident) and a "reset" entry carrying
 * talos.experimental.wipe=system, as Talos's ISO has. malloc'd. */
char *im_grubcfg_iso(const struct im_grub_iso *c);

#endif
