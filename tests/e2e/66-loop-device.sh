#!/usr/bin/env bash
# Issue 17: the installer on a real block device (a loop device; CI runs as root).
# - install on a loop device made without partition scanning: the partitions appear
#   (/sys/block, lsblk, /dev nodes) because the installer tells the kernel itself
#   (BLKRRPART, then BLKPG partition by partition as partx -u does: kernels without a GPT
#   parser, busy disks); the ESP and BOOT-A check clean with fsck.fat -n on their nodes;
# - status and upgrade through the device; a reinstall with another layout (systemd-boot:
#   fewer partitions) leaves the kernel with exactly the new partitions;
# - refusals, the device unchanged: install on a mounted target (the whole device or a
#   partition of it) and on a device smaller than the layout; upgrade with a data
#   partition mounted goes ahead (a running system upgrades its own disk);
# - the file behind the device boots (SeaBIOS) on the upgraded slot.
# Skips, with the reason, where loop devices cannot be made (no /dev/loop-control, not root).
. "$(dirname "$0")/lib.sh"

if [ ! -e /dev/loop-control ] || [ "$(id -u)" -ne 0 ] || ! command -v losetup >/dev/null; then
	skip "installer on a loop device" "needs root, /dev/loop-control and losetup"
	exit 0
fi
if [ ! -e "$INSTALL/amd64/vmlinuz" ] || ! command -v fsck.fat >/dev/null; then
	not_ok "installer on a loop device" "needs make payload ($INSTALL/amd64) and fsck.fat"
	exit 0
fi
export SOURCE_DATE_EPOCH=1700000000
LOOPS=()
MNT=
cleanup_loop() {
	[ -n "$MNT" ] && umount "$MNT" 2>/dev/null
	local l
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	cleanup_e2e
}
trap cleanup_loop EXIT

# attach FILE: a loop device for FILE, without partition scanning (the installer must
# make the partitions known itself).
attach() {
	local l
	l=$(losetup -f --show "$1") || return 1
	LOOPS+=("$l")
	echo "$l"
}
# kparts DEV: the kernel's partitions of DEV, "N START SIZE" in 512-byte units, from sysfs.
kparts() {
	local b=/sys/block/${1#/dev/} p
	for p in "$b"/"${1#/dev/}"p*; do
		[ -e "$p/partition" ] && echo "$(cat "$p/partition") $(cat "$p/start") $(cat "$p/size")"
	done | sort -n
}
# tparts DEV: the partitions of DEV's GPT, as sfdisk reads them, same form.
tparts() {
	sfdisk -d "$1" | sed -n 's|^[^ ]*[^0-9]\([0-9]*\) : start= *\([0-9]*\), size= *\([0-9]*\),.*|\1 \2 \3|p' |
		sort -n
}
devsum() { head -c "$(blockdev --getsize64 "$1")" "$1" | sha256sum | cut -d' ' -f1; }

payload_assets "$T/A" amd64 v1.0.0 "console=ttyS0 panic=1"
payload_assets "$T/B" amd64 v1.1.0 "console=ttyS0 panic=1"

# --- a device smaller than the layout ---------------------------------------------------
truncate -s 64M "$T/small.img"
if S=$(attach "$T/small.img"); then
	before=$(devsum "$S")
	"$INSTALLER" install --disk "$S" --bootloader grub --assets "$T/A" >"$T/small.out" 2>&1
	rc=$?
	expect_eq "a 64 MiB device: install exits 2" "$rc" 2
	check "a 64 MiB device: the error says the disk is smaller than the layout" \
		grep -q "^installer: $S: disk of 67108864 bytes is smaller than the grub layout" "$T/small.out"
	expect_eq "a 64 MiB device: unchanged" "$(devsum "$S")" "$before"
else
	not_ok "a loop device for a 64 MiB file" "losetup -f failed"
fi

# --- install, status, upgrade ------------------------------------------------------------
truncate -s 3G "$T/disk.img"
if ! L=$(attach "$T/disk.img"); then
	not_ok "a loop device for a 3 GiB file" "losetup -f failed"
	exit 0
fi
expect_eq "the fresh device has no partitions" "$(kparts "$L")" ""
if "$INSTALLER" install --disk "$L" --bootloader grub --assets "$T/A" >"$T/inst.out" 2>&1; then
	ok "install on $L (grub)"
else
	not_ok "install on $L (grub)" "$(cat "$T/inst.out")"
fi
check "sfdisk --verify of the device" sh -c "sfdisk --verify '$L' 2>&1 | grep -q '^No errors detected'"
expect_eq "the kernel has the partitions of the GPT written (nobody ran partx)" \
	"$(kparts "$L")" "$(tparts "$L")"
expect_eq "the kernel has 7 partitions" "$(kparts "$L" | wc -l)" 7
check "lsblk lists them" sh -c "lsblk -rno NAME '$L' | grep -qx '${L#/dev/}p5'"
p() { # NAME: the device node of the partition named NAME
	local n
	n=$(sfdisk -d "$L" | sed -n "s|^[^ ]*[^0-9]\([0-9]*\) :.*name=\"$1\".*|\1|p")
	echo "${L}p$n"
}
for name in EFI BOOT-A; do
	node=$(p "$name")
	check "fsck.fat -n $name ($node) is clean" fsck.fat -n "$node"
done
check "status through the device: A committed" \
	sh -c "'$INSTALLER' status --disk '$L' | grep -qx 'slot A: committed Talos v1.0.0'"
if "$INSTALLER" upgrade --disk "$L" --assets "$T/B" >"$T/up.out" 2>&1; then
	ok "upgrade through the device"
else
	not_ok "upgrade through the device" "$(cat "$T/up.out")"
fi
check "status: B on trial" sh -c "'$INSTALLER' status --disk '$L' | grep -qx 'trial: B'"
check "fsck.fat -n BOOT-B is clean" fsck.fat -n "$(p BOOT-B)"
expect_eq "after the upgrade the kernel still has the GPT's partitions" \
	"$(kparts "$L")" "$(tparts "$L")"

# --- refusals of a mounted target ----------------------------------------------------------
# The kernel here may have no VFAT: mount an ext2 made on a scratch copy of the device
# instead (what matters is that something on it is mounted).
truncate -s 200M "$T/m.img"
mkfs.ext2 -q -F "$T/m.img" >/dev/null 2>&1
MNT=$T/mnt
mkdir -p "$MNT"
if M=$(attach "$T/m.img") && mount -o ro "$M" "$MNT" 2>"$T/mount.err"; then
	before=$(devsum "$M")
	"$INSTALLER" install --disk "$M" --bootloader grub --assets "$T/A" >"$T/mnt.out" 2>&1
	rc=$?
	check "install on a mounted device is refused (exit $rc)" [ $rc -eq 7 ]
	check "the error says it is mounted" grep -q "^installer: $M: the disk or one of its partitions is mounted" "$T/mnt.out"
	expect_eq "the mounted device is unchanged" "$(devsum "$M")" "$before"
	umount "$MNT"
else
	not_ok "mount an ext2 loop device" "$(cat "$T/mount.err" 2>/dev/null)"
fi
# a mounted partition of the installed disk (ext2 over the empty EPHEMERAL partition):
# install over it is refused; upgrade is not, as on a running system, whose data
# partitions are mounted while it upgrades the inactive slot.
EPH=$(p EPHEMERAL)
if mkfs.ext2 -q -F "$EPH" >/dev/null 2>&1 && mount -o ro "$EPH" "$MNT" 2>"$T/mount.err"; then
	before=$(devsum "$L")
	"$INSTALLER" install --disk "$L" --bootloader grub --assets "$T/A" >"$T/mnt2.out" 2>&1
	rc=$?
	check "install with a partition mounted is refused (exit $rc)" [ $rc -eq 7 ]
	check "the error names the disk" grep -q "^installer: $L: the disk or one of its partitions is mounted" "$T/mnt2.out"
	expect_eq "the disk is unchanged" "$(devsum "$L")" "$before"
	cp --sparse=always "$T/disk.img" "$T/boot.img" # the upgraded GRUB disk, booted below
	if "$INSTALLER" upgrade --disk "$L" --assets "$T/A" >"$T/mnt3.out" 2>&1; then
		ok "upgrade with a data partition mounted (a live upgrade)"
	else
		not_ok "upgrade with a data partition mounted (a live upgrade)" "$(cat "$T/mnt3.out")"
	fi
	umount "$MNT"
else
	not_ok "mount an ext2 on EPHEMERAL ($EPH)" "$(cat "$T/mount.err" 2>/dev/null)"
	cp --sparse=always "$T/disk.img" "$T/boot.img"
fi
MNT=

# --- another layout: the kernel ends up with exactly the new partitions ---------------------
if "$INSTALLER" install --disk "$L" --bootloader sd-boot --assets "$T/A" >"$T/sd.out" 2>&1; then
	ok "reinstall with systemd-boot on $L"
else
	not_ok "reinstall with systemd-boot on $L" "$(cat "$T/sd.out")"
fi
expect_eq "the kernel dropped the old partitions and has the new ones" \
	"$(kparts "$L")" "$(tparts "$L")"
expect_eq "the systemd-boot layout has 4 partitions" "$(kparts "$L" | wc -l)" 4

# --- the file behind the device boots --------------------------------------------------------
qemu_run "$T/boot.log" 150 qemu-system-x86_64 -M pc -m 512 -net none \
	-drive file="$T/boot.img",format=raw
expect_booted "the loop-backed file (SeaBIOS)" "reaches the init report" "$T/boot.log" B
exit 0
