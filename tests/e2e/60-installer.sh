#!/usr/bin/env bash
# Issue 6 acceptance for the installer: A/B with automatic rollback booted in QEMU, for GRUB
# (SeaBIOS) and systemd-boot (OVMF); interrupted upgrades still boot the committed slot; bad
# inputs. The slot payloads share the payload's kernel and initramfs and differ by their
# command line: imager.slot= (added by the installer); for B, imager.commit=1 (the reference
# init runs the initramfs's `installer commit` on the trial boot, no host help); for C,
# imager.panic=1 (the reference init exits, the kernel panics, panic=1 reboots).
source "$(dirname "$0")/lib.sh"

ARCH=amd64
P=$INSTALL/$ARCH
if [ ! -e "$P/vmlinuz" ] || [ ! -x "$INSTALLER" ]; then
	skip "installer A/B" "needs make payload and $INSTALLER"
	exit 0
fi
export SOURCE_DATE_EPOCH=1700000000

payload_assets "$T/A" amd64 v1.0.0 "console=ttyS0 panic=1"
payload_assets "$T/B" amd64 v1.1.0 "console=ttyS0 panic=1 imager.commit=1"
payload_assets "$T/C" amd64 v1.2.0 "console=ttyS0 panic=1 imager.panic=1"

# The slot a boot reported: IMAGER-REPORT slot= (init with slot support), else the
# imager.slot= word of the reported command line.
slot_of() {
	local s
	s=$(report "$1" slot)
	[ -n "$s" ] || s=$(report "$1" cmdline | tr ' ' '\n' | sed -n 's/^imager\.slot=//p' | tail -n1)
	echo "$s"
}

# boot MODE LOG DISK: SeaBIOS (grub) or OVMF (sd-boot), powering off after the report.
boot() {
	case $1 in
	bios) qemu_run "$2" 150 qemu-system-x86_64 -M pc -m 1024 -net none \
		-drive file="$3",format=raw ;;
	uefi) boot_uefi amd64 "$2" "$3" ;;
	esac
}

# boot_reboot MODE LOG DISK: the same, but a panicking kernel may reboot the machine; ends
# when a boot reports done (or after the cap). QEMU is killed by PID.
boot_reboot() {
	local mode=$1 log=$2 disk=$3 pid i args=()
	case $mode in
	bios) args=(-M pc -drive file="$disk",format=raw) ;;
	uefi)
		cp /usr/share/OVMF/OVMF_VARS_4M.fd "$log.vars"
		args=(-M q35 -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
			-drive if=pflash,format=raw,unit=1,file="$log.vars"
			-drive file="$disk",format=raw,if=virtio) ;;
	esac
	: >"$log"
	timeout --kill-after=5 240 qemu-system-x86_64 -m 1024 -net none "${args[@]}" -accel tcg \
		-nographic -monitor none -serial "file:$log" </dev/null >"$log.qemu" 2>&1 &
	pid=$!
	QEMU_PIDS+=("$pid")
	for ((i = 0; i < 240 * 4; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		grep -q "IMAGER-REPORT done" "$log" 2>/dev/null && { sleep 1; break; }
		sleep 0.25
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	tr -d '\r' <"$log" >"$log.clean" && mv "$log.clean" "$log"
}

# expect_boot DESC MODE LOG DISK SLOT
expect_boot() {
	if boot "$2" "$3" "$4"; then
		expect_eq "$1" "$(slot_of "$3")" "$5"
	else
		not_ok "$1" "no IMAGER-REPORT done" "$(log_tail "$3")"
	fi
}

status_has() { "$INSTALLER" status --disk "$1" | grep -qx "$2"; }

# ab MODE BOOTLOADER: the issue's sequence A -> B (trial, commits itself) -> C (panics) ->
# back on B.
ab() {
	local mode=$1 bl=$2 img=$T/ab-$2.img log=$T/ab-$2
	if ! "$INSTALLER" install --disk "$img" --image-mode --bootloader "$bl" --assets "$T/A" \
		>"$log.out" 2>&1; then
		not_ok "$bl: install" "$(cat "$log.out")"
		return
	fi
	ok "$bl: install slot A"
	expect_boot "$bl: boots slot A ($mode)" "$mode" "$log-1.log" "$img" A
	check "$bl: upgrade to B" "$INSTALLER" upgrade --disk "$img" --assets "$T/B"
	check "$bl: status says B is on trial" status_has "$img" "slot B: trial Talos v1.1.0"
	expect_boot "$bl: next boot is slot B" "$mode" "$log-2.log" "$img" B
	expect_eq "$bl: B's init ran installer commit" "$(report "$log-2.log" commit)" ok
	check "$bl: status says B committed (by the booted B)" status_has "$img" \
		"slot B: committed Talos v1.1.0"
	expect_boot "$bl: B stays" "$mode" "$log-3.log" "$img" B
	check "$bl: upgrade to C (panics)" "$INSTALLER" upgrade --disk "$img" --assets "$T/C"
	check "$bl: status says A (C) is on trial" status_has "$img" "slot A: trial Talos v1.2.0"
	boot_reboot "$mode" "$log-4.log" "$img"
	if grep -q "IMAGER-REPORT panic=requested" "$log-4.log" &&
		grep -q "IMAGER-REPORT done" "$log-4.log"; then
		expect_eq "$bl: C panicked, the machine came back on B by itself" \
			"$(grep -a 'IMAGER-REPORT cmdline=' "$log-4.log" | tail -n1 |
				tr ' ' '\n' | sed -n 's/^imager\.slot=//p')" B
	else
		not_ok "$bl: C panicked, the machine came back on B by itself" "$(log_tail "$log-4.log")"
	fi
	check "$bl: status says C failed" status_has "$img" "slot A: failed Talos v1.2.0"
	check "$bl: status says B committed after the failure" status_has "$img" \
		"slot B: committed Talos v1.1.0"
}

# the two chains are independent: one QEMU each, side by side
in_parallel "ab bios grub" "ab uefi sd-boot"

# arm64 (AAVMF, sd-boot): the arm64 installer in the initramfs commits the trial slot too.
ab_arm64() {
	local P=$INSTALL/arm64 img=$T/ab-arm64.img log=$T/ab-arm64
	payload_assets "$T/A64" arm64 v1.0.0 "console=ttyAMA0 panic=1"
	payload_assets "$T/B64" arm64 v1.1.0 "console=ttyAMA0 panic=1 imager.commit=1"
	if ! "$INSTALLER" install --disk "$img" --image-mode --arch arm64 --bootloader sd-boot \
		--assets "$T/A64" >"$log.out" 2>&1 ||
		! "$INSTALLER" upgrade --disk "$img" --assets "$T/B64" >>"$log.out" 2>&1; then
		not_ok "arm64: install A and upgrade to B" "$(cat "$log.out")"
		return
	fi
	ok "arm64: install A and upgrade to B"
	if boot_uefi arm64 "$log.log" "$img"; then
		expect_eq "arm64: trial boot is slot B" "$(slot_of "$log.log")" B
		expect_eq "arm64: B's init ran installer commit" "$(report "$log.log" commit)" ok
	else
		not_ok "arm64: trial boot of slot B" "$(log_tail "$log.log")"
	fi
	check "arm64: status says B committed (by the booted B)" status_has "$img" \
		"slot B: committed Talos v1.1.0"
}

# A commit that cannot happen (no disk with a META partition) is reported, with the
# installer's message, and the init still reports done (arm64 direct boot: the fastest).
no_disk_commit() {
	if boot_direct arm64 "$T/nodisk.log" "$INSTALL/arm64/vmlinuz" "$INSTALL/arm64/initramfs.xz" \
		"imager.slot=B imager.commit=1"; then
		expect_eq "commit without a META disk: commit=failed" "$(report "$T/nodisk.log" commit)" failed
		expect_eq "commit without a META disk: the installer's message" \
			"$(report "$T/nodisk.log" commit-error)" \
			"installer: no --disk given and no disk with a META partition found"
	else
		not_ok "commit without a META disk: the init reports done" "$(log_tail "$T/nodisk.log")"
	fi
}
in_parallel ab_arm64 no_disk_commit

# Power loss (acceptance 4, the QEMU part; the structure check of every write point is in
# tests/unit/test_install.c): an upgrade cut at a write still boots the committed slot A.
power_loss() {
	local at=$1 mode=$2 img=$T/cut-$1.img
	cp --sparse=always "$T/base.img" "$img"
	IMAGER_INSTALL_FAULT=$at "$INSTALLER" upgrade --disk "$img" --assets "$T/B" \
		>"$T/cut-$at.out" 2>&1
	local rc=$?
	if [ $rc -ne 6 ] || ! grep -q "simulated power loss" "$T/cut-$at.out"; then
		not_ok "upgrade cut at write $at" "exit $rc: $(cat "$T/cut-$at.out")"
		return
	fi
	expect_boot "upgrade cut at write $at: slot A still boots ($mode)" "$mode" \
		"$T/cut-$at.log" "$img" A
}
# base: A committed and an old B payload, so the upgrade also deletes B's UKI (22 writes)
if "$INSTALLER" install --disk "$T/base.img" --image-mode --bootloader dual-boot \
	--assets "$T/A" >/dev/null 2>&1 &&
	"$INSTALLER" upgrade --disk "$T/base.img" --assets "$T/C" >/dev/null 2>&1 &&
	"$INSTALLER" commit --disk "$T/base.img" --slot A >/dev/null 2>&1; then
	in_parallel "power_loss 4 uefi" "power_loss 12 uefi"
	power_loss 21 bios
else
	not_ok "dual-boot install for the power-loss boots"
fi

# Bad inputs (acceptance 7): exit code, one stderr line, no output left behind.
expect_fail "disk smaller than the layout" 2 "smaller than the dual-boot layout" \
	"$T/small.img*" "$INSTALLER" install --disk "$T/small.img" --image-mode \
	--disk-size 1GiB --assets "$T/A"
expect_fail "unknown bootloader" 2 'bootloader "lilo"' "$T/bl.img*" \
	"$INSTALLER" install --disk "$T/bl.img" --bootloader lilo --assets "$T/A"
expect_fail "sector size 1024" 2 "sector-size 1024" "$T/ss.img*" \
	"$INSTALLER" install --disk "$T/ss.img" --sector-size 1024 --assets "$T/A"
mkdir -p "$T/empty"
expect_fail "--assets without a kernel" 5 "vmlinuz: missing" "$T/na.img*" \
	"$INSTALLER" install --disk "$T/na.img" --assets "$T/empty"
sum_base=$(sha256sum <"$T/base.img")
expect_fail "upgrade --assets without a kernel" 5 "vmlinuz: missing" "" \
	"$INSTALLER" upgrade --disk "$T/base.img" --assets "$T/empty"
expect_eq "the refused upgrade left the disk unchanged" "$(sha256sum <"$T/base.img")" "$sum_base"
truncate -s 200M "$T/blank.img"
expect_fail "upgrade of a disk with no installed system" 2 "blank.img" "" \
	"$INSTALLER" upgrade --disk "$T/blank.img" --assets "$T/B"
cp --sparse=always "$T/base.img" "$T/nocommit.img"
esp=$(( $(sfdisk -d "$T/nocommit.img" | awk '/name="EFI"/{gsub(",","",$4); print $4}') * 512 ))
mcopy -o -i "$T/nocommit.img@@$esp" ::/grub/grubenv "$T/env" && grub-editenv "$T/env" unset saved_entry &&
	mcopy -o -i "$T/nocommit.img@@$esp" "$T/env" ::/grub/grubenv
sum_nc=$(sha256sum <"$T/nocommit.img")
expect_fail "upgrade when no slot is committed" 7 "no committed slot" "" \
	"$INSTALLER" upgrade --disk "$T/nocommit.img" --assets "$T/B"
expect_eq "the refused upgrade left that disk unchanged" "$(sha256sum <"$T/nocommit.img")" "$sum_nc"

# Block devices (need root and loop devices): a mounted one is refused without --force; an
# unused one gets the full layout (STATE, EPHEMERAL; unformatted without mkfs.xfs).
block_devices() {
	local dev mnt=$T/mnt
	truncate -s 64M "$T/ext4.img" && mkfs.ext4 -q -F "$T/ext4.img" 2>/dev/null || return 1
	dev=$(losetup -f --show "$T/ext4.img" 2>/dev/null) || return 1
	mkdir -p "$mnt"
	if ! mount -o ro "$dev" "$mnt" 2>/dev/null; then
		losetup -d "$dev"
		return 1
	fi
	expect_fail "install over a mounted device without --force" 7 "is mounted" "" \
		"$INSTALLER" install --disk "$dev" --assets "$T/A"
	umount "$mnt"
	losetup -d "$dev"
	truncate -s 2500M "$T/dev.img"
	dev=$(losetup -f --show "$T/dev.img") || return 1
	if "$INSTALLER" install --disk "$dev" --bootloader dual-boot --assets "$T/A" \
		>"$T/dev.out" 2>&1; then
		ok "install on a block device"
		check "block device: STATE and EPHEMERAL" sh -c \
			"sfdisk -d '$dev' | grep -q 'name=\"STATE\"' && sfdisk -d '$dev' | grep -q 'name=\"EPHEMERAL\"'"
		check "block device: status" status_has "$dev" "slot A: committed Talos v1.0.0"
	else
		not_ok "install on a block device" "$(cat "$T/dev.out")"
	fi
	losetup -d "$dev"
}
block_devices || skip "block devices (mounted device refused, full layout)" "no loop device/mount"

# Reproducible: the same install twice gives the same bytes.
"$INSTALLER" install --disk "$T/r1.img" --image-mode --assets "$T/A" >/dev/null 2>&1
"$INSTALLER" install --disk "$T/r2.img" --image-mode --assets "$T/A" >/dev/null 2>&1
check "two installs are byte-identical" cmp "$T/r1.img" "$T/r2.img"
exit 0
