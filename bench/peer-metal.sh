#!/usr/bin/env bash
# The metal raw.zst image (dual-boot: GRUB for BIOS, systemd-boot + UKI for UEFI, A/B
# boot slots, META) the way a user would make it with the standard tools instead of the
# imager: objcopy, truncate, sfdisk, mkfs.vfat, mcopy, dd, zstd -3 -T0. The peer of case 1
# of bench/run.sh; it lays out the same partitions as the imager (DESIGN.md §7).
#
#   bench/peer-metal.sh INPUTS CONF OUT.raw.zst
#
# INPUTS: an inputs folder (vmlinuz, initramfs.xz, systemd-stub.efi, systemd-boot.efi,
# grub/boot.img, grub/core.img). CONF: the small text files a user would write by hand,
# which bench/run.sh copies from a reference imager image: cmdline, osrel, uname, uki-name,
# esp/ (grub/grub.cfg, grub/grubenv, loader/loader.conf), boot/ (boot.cfg, os-release),
# meta.img (the 1 MiB META partition), disk-size, gpt ("NAME GUID" lines: disk, then each partition).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/peer-lib.sh
. "$here/peer-lib.sh"

[ $# -eq 3 ] || {
	echo "usage: $0 INPUTS CONF OUT.raw.zst" >&2
	exit 2
}
in=$1 conf=$2 out=$3
work=$(mktemp -d "$(dirname "$out")/peer-metal.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. The UKI for slot A.
peer_uki "$in/systemd-stub.efi" "$in/vmlinuz" "$in/initramfs.xz" "$conf/cmdline" \
	"$conf/osrel" "$conf/uname" "$work/uki.efi"

# 2. Layout (DESIGN.md §7, lib/install/install.c plan()): ESP of at least 100 MiB, room for
# three UKIs + 16 MiB (two slots and a grown one); BIOS boot 1 MiB; BOOT-A/B 1000 MiB
# each; META 1 MiB; the disk is CONF/disk-size bytes (the metal profile's 1246 MiB plus
# the two boot slots).
uki=$(stat -c %s "$work/uki.efi")
esp=$(((3 * uki + 16 * MIB + MIB - 1) / MIB * MIB))
((esp < 100 * MIB)) && esp=$((100 * MIB))
bios_at=$((MIB + esp)) boot_a=$((MIB + esp + MIB))
boot_b=$((boot_a + 1000 * MIB)) meta=$((boot_b + 1000 * MIB))
disk=$work/disk.raw
truncate -s "$(cat "$conf/disk-size")" "$disk"
# The GUIDs are the imager's (derived from the labels, DESIGN.md §7), from CONF/gpt.
guid() { sed -n "s/^$1 //p" "$conf/gpt"; }
sfdisk -q --no-reread --no-tell-kernel "$disk" >/dev/null <<EOF
label: gpt
label-id: $(guid disk)
first-lba: 34
start=2048, size=$((esp / 512)), type=$T_ESP, uuid=$(guid EFI), name="EFI"
start=$((bios_at / 512)), size=2048, type=$T_BIOS, uuid=$(guid BIOS), name="BIOS"
start=$((boot_a / 512)), size=$((1000 * MIB / 512)), type=$T_LINUX, uuid=$(guid BOOT-A), name="BOOT-A"
start=$((boot_b / 512)), size=$((1000 * MIB / 512)), type=$T_LINUX, uuid=$(guid BOOT-B), name="BOOT-B"
start=$((meta / 512)), size=2048, type=$T_LINUX, uuid=$(guid META), name="META"
EOF

# 3. ESP: systemd-boot (also as the removable-media fallback), the UKI, GRUB's files.
mkdir -p "$work/esp/EFI/BOOT" "$work/esp/EFI/systemd" "$work/esp/EFI/Linux"
cp -r "$conf/esp/." "$work/esp/"
ln -s "$(realpath "$in/systemd-boot.efi")" "$work/esp/EFI/BOOT/BOOTX64.EFI"
ln -s "$(realpath "$in/systemd-boot.efi")" "$work/esp/EFI/systemd/systemd-bootx64.efi"
mv "$work/uki.efi" "$work/esp/EFI/Linux/$(cat "$conf/uki-name")"
fat_from "$work/esp" "$work/esp.img" "$esp" EFI
dd if="$work/esp.img" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$work/esp.img"

# 4. BOOT-A: kernel, initramfs and GRUB's per-slot configuration; BOOT-B: empty FAT32.
fat_from "" "$work/boot.img" $((1000 * MIB)) BOOT-A "$in/vmlinuz" "$in/initramfs.xz" \
	"$conf/boot/boot.cfg" "$conf/boot/os-release"
dd if="$work/boot.img" of="$disk" bs=1M seek=$((boot_a / MIB)) conv=notrunc,sparse status=none
rm -f "$work/boot.img"
# (on a regular file mkfs.vfat warns that the file is bigger than the block count)
mkfs.vfat -F 32 -n BOOT-B --offset=$((boot_b / 512)) "$disk" $((1000 * MIB / 1024)) >/dev/null 2>&1

# 5. BIOS boot code as grub-install would write it without a loop device (DESIGN.md §7):
# boot.img around the MBR's BPB and partition table, pointing at core.img in the BIOS
# partition, and core.img pointing at its own second sector.
dd if="$in/grub/boot.img" of="$disk" bs=1 count=3 conv=notrunc status=none
dd if="$in/grub/boot.img" of="$disk" bs=1 skip=90 seek=90 count=$((0x1b8 - 90)) conv=notrunc status=none
{ le 8 $((bios_at / 512)); } | put "$disk" $((0x5c))
printf '\xff' | put "$disk" $((0x64))
printf '\x90\x90' | put "$disk" $((0x66))
core=$(stat -L -c %s "$in/grub/core.img")
dd if="$in/grub/core.img" of="$disk" bs=512 seek=$((bios_at / 512)) conv=notrunc status=none
le 8 $((bios_at / 512 + 1)) | put "$disk" $((bios_at + 0x1f4))
le 2 $(((core + 511) / 512 - 1)) | put "$disk" $((bios_at + 0x1fc))

# 6. META, then the whole disk through zstd.
dd if="$conf/meta.img" of="$disk" bs=1M seek=$((meta / MIB)) conv=notrunc status=none
zstd -3 -T0 -q -f "$disk" -o "$out"
