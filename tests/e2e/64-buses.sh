#!/usr/bin/env bash
# Issue 17, acceptance 4: the A/B loop on the disks machines really have. For each bus
# QEMU offers (NVMe, AHCI, virtio-blk, virtio-scsi, usb-storage; SeaBIOS + GRUB) and for
# the Raspberry Pi 3 B SD card (U-Boot + EFI GRUB): an upgrade to slot B boots B on
# trial, the reference init's `installer commit` finds the disk on that bus and commits
# (commit=ok), and the next boot stays on B. Without the bus's storage driver in the
# initramfs the commit finds no disk and every upgrade rolls back.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sbc.sh"

P=$INSTALL/amd64
if [ ! -e "$P/vmlinuz" ] || [ ! -x "$INSTALLER" ]; then
	skip "A/B commit on every bus" "needs make payload and $INSTALLER"
	exit 0
fi
export SOURCE_DATE_EPOCH=1700000000

payload_assets "$T/A" amd64 v1.0.0 "console=ttyS0 panic=1"
payload_assets "$T/B" amd64 v1.1.0 "console=ttyS0 panic=1 imager.commit=1"

# bus_args BUS IMG: the QEMU machine and disk arguments of a disk on BUS. bootindex makes
# SeaBIOS boot that disk; the guest sees it as nvme0n1, sda (AHCI, SCSI, USB) or vda.
bus_args() {
	local d="if=none,id=d0,format=raw,file=$2"
	case $1 in
	nvme) echo "-M pc -drive $d -device nvme,drive=d0,serial=imager0,bootindex=0" ;;
	ahci) echo "-M q35 -drive $d -device ide-hd,drive=d0,bus=ide.0,bootindex=0" ;;
	virtio-blk) echo "-M pc -drive $d -device virtio-blk-pci,drive=d0,bootindex=0" ;;
	virtio-scsi) echo "-M pc -drive $d -device virtio-scsi-pci,id=scsi0" \
		"-device scsi-hd,drive=d0,bus=scsi0.0,bootindex=0" ;;
	usb-storage) echo "-M pc -drive $d -device qemu-xhci,id=xhci" \
		"-device usb-storage,drive=d0,bus=xhci.0,bootindex=0" ;;
	esac
}

# bus_boot BUS LOG IMG: one SeaBIOS boot of IMG on BUS, powering off after the report.
bus_boot() {
	# shellcheck disable=SC2046 # bus_args is a word list by design (paths have no spaces)
	qemu_run "$2" 180 qemu-system-x86_64 -m 1024 -net none $(bus_args "$1" "$3")
}

# ab_on_bus BUS: install A, upgrade to B, boot B on trial (commits itself), boot again.
# Prints TAP; runs in the background two at a time.
ab_on_bus() {
	local bus=$1 img=$T/$1.img log=$T/$1
	if ! "$INSTALLER" install --disk "$img" --image-mode --bootloader grub --assets "$T/A" \
		>"$log.out" 2>&1 ||
		! "$INSTALLER" upgrade --disk "$img" --assets "$T/B" >>"$log.out" 2>&1; then
		not_ok "$bus: install A, upgrade to B" "$(cat "$log.out")"
		return
	fi
	bus_boot "$bus" "$log-1.log" "$img"
	expect_booted "$bus" "trial boot reaches the init report" "$log-1.log" B
	expect_eq "$bus: the trial's installer commit found the disk and committed" \
		"$(report "$log-1.log" commit)" ok
	if ! "$INSTALLER" status --disk "$img" | grep -qx "slot B: committed Talos v1.1.0"; then
		not_ok "$bus: status says B committed" "$("$INSTALLER" status --disk "$img" 2>&1)"
	else
		ok "$bus: status says B committed"
	fi
	bus_boot "$bus" "$log-2.log" "$img"
	expect_booted "$bus" "the next boot stays on B" "$log-2.log" B
}

# raspi3b: the rpi_generic image the imager builds (GRUB on U-Boot's EFI), upgraded to B
# with the arm64 payload; the init reports on ttyAMA0 (the last console=).
ab_on_sd() {
	local img=$T/rpi.raw log=$T/rpi
	local fw=$T/firmware
	mkdir -p "$fw/overlays"
	for f in bootcode.bin start.elf fixup.dat; do echo "placeholder $f" >"$fw/$f"; done
	payload_assets "$T/rpiB" arm64 v1.1.0 "console=ttyS1 console=ttyAMA0 panic=1 imager.commit=1"
	if ! "$IMAGER" --arch arm64 metal --overlay-name rpi_generic \
		--overlay-image "$SRC/overlays/rpi_generic" --overlay-option firmware="$fw" \
		-o "$T/rpi-out" -q >"$log.out" 2>&1 ||
		! xz -dc "$T/rpi-out/metal-arm64.raw.xz" >"$img"; then
		not_ok "raspi3b SD: imager builds rpi_generic" "$(cat "$log.out")"
		return
	fi
	rm -rf "$T/rpi-out"
	pad_pow2 "$img"
	if ! "$INSTALLER" upgrade --arch arm64 --disk "$img" --assets "$T/rpiB" >>"$log.out" 2>&1; then
		not_ok "raspi3b SD: upgrade to B" "$(cat "$log.out")"
		return
	fi
	if boot_raspi3b "$log-1.log" "$img" 240; then
		ok "raspi3b SD: trial boot reaches the init report"
		expect_eq "raspi3b SD: slot B" "$(report "$log-1.log" slot)" B
		expect_eq "raspi3b SD: the trial's installer commit found the SD card and committed" \
			"$(report "$log-1.log" commit)" ok
	else
		not_ok "raspi3b SD: trial boot reaches the init report" "$(log_tail "$log-1.log.2")"
	fi
	if boot_raspi3b "$log-2.log" "$img" 240; then
		ok "raspi3b SD: the next boot reaches the init report"
		expect_eq "raspi3b SD: the next boot stays on B" "$(report "$log-2.log" slot)" B
	else
		not_ok "raspi3b SD: the next boot reaches the init report" "$(log_tail "$log-2.log.2")"
	fi
}

# Two at a time (2 cores); each job's TAP goes to its own file, printed in order.
jobs_tap=()
run_bg() {
	"$@" >"$T/tap-$1-${2:-}" 2>&1 &
	jobs_tap+=("$T/tap-$1-${2:-}")
	while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
}
for bus in nvme ahci virtio-blk virtio-scsi usb-storage; do
	run_bg ab_on_bus "$bus"
done
if [ -e "$RPI_UBOOT" ]; then
	run_bg ab_on_sd
else
	not_ok "raspi3b SD: the arm64 payload has rpi U-Boot" "$RPI_UBOOT: missing (make payload)"
fi
wait
cat "${jobs_tap[@]}"
