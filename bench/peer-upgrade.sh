#!/usr/bin/env bash
# An A/B upgrade of a dual-boot disk image done by hand with the standard tools: the peer
# of `installer upgrade` (case 8 of bench/run.sh). It writes the payload where the
# installer writes it: a new UKI into the ESP (objcopy, mcopy) and a freshly formatted
# BOOT-B holding the kernel and initramfs (mkfs.vfat --offset, mcopy). The few hundred
# bytes the installer also changes (grubenv, loader entry, META tag 6) are left out.
#
#   bench/peer-upgrade.sh DISK INPUTS CONF
#
# CONF as for bench/peer-metal.sh (cmdline, osrel, uname, boot/), plus uki-name-b.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/peer-lib.sh
. "$here/peer-lib.sh"

[ $# -eq 3 ] || {
	echo "usage: $0 DISK INPUTS CONF" >&2
	exit 2
}
disk=$1 in=$2 conf=$3
work=$(mktemp -d "$(dirname "$disk")/peer-upgrade.XXXXXX")
trap 'rm -rf "$work"' EXIT

read -r esp _ < <(part_of "$disk" EFI)
read -r bb bb_size < <(part_of "$disk" BOOT-B)

peer_uki "$in/systemd-stub.efi" "$in/vmlinuz" "$in/initramfs.xz" "$conf/cmdline" \
	"$conf/osrel" "$conf/uname" "$work/uki.efi"
mcopy -o -Q -i "$disk@@$esp" "$work/uki.efi" "::/EFI/Linux/$(cat "$conf/uki-name-b")"

# (on a regular file mkfs.vfat warns that the file is bigger than the block count)
mkfs.vfat -F 32 -n BOOT-B --offset=$((bb / 512)) "$disk" $((bb_size / 1024)) >/dev/null 2>&1
mcopy -Q -i "$disk@@$bb" "$in/vmlinuz" "$in/initramfs.xz" "$conf/boot/boot.cfg" \
	"$conf/boot/os-release" ::/
