# QEMU recipes for single-board-computer images (board overlays, DESIGN §6). Source it
# after lib.sh:   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/sbc.sh"
# Conventions of lib.sh: TCG only, `timeout` as a hard cap, QEMU killed by PID (QEMU_PIDS),
# serial ports to files, CR stripped from the logs afterwards. The functions print nothing.

# --- Raspberry Pi 3 B (QEMU raspi3b) --------------------------------------------------
# Debian's u-boot-rpi (arm64) `rpi_arm64/u-boot.bin` as -kernel plays the GPU firmware's
# part (QEMU has no VideoCore: config.txt, start*.elf, bootcode.bin are never read).
RPI_UBOOT=${RPI_UBOOT:-$INSTALL/arm64/u-boot/rpi_arm64/u-boot.bin}
RPI_DTB=${RPI_DTB:-$INSTALL/arm64/dtb/broadcom/bcm2837-rpi-3-b.dtb}

# pad_pow2 IMG: grow IMG (sparse, in place) to the next power of two; QEMU's SD card
# refuses other sizes ("SD card size has to be a power of 2"). Zeros are appended, so the
# GPT backup header is no longer at the end: U-Boot and GRUB do not mind.
pad_pow2() {
	local s p=1
	s=$(stat -c %s "$1") || return 1
	while [ $p -lt "$s" ]; do p=$((p * 2)); done
	[ "$p" -eq "$s" ] || truncate -s "$p" "$1"
}

# boot_raspi3b LOG IMG [CAP]: boot IMG as the SD card of a raspi3b; serial0 (PL011,
# Linux ttyAMA0) goes to LOG, serial1 (mini UART, Linux ttyS1) to LOG.2. Returns 0 once
# `IMAGER-REPORT done` shows in either log. IMG is padded to a power of two in place and
# written by the guest (U-Boot env, GRUB's save_env).
# Measured (QEMU 7.2, Debian U-Boot 2023.01, Debian 6.1 arm64 kernel, TCG thread=single):
#   - `-dtb bcm2837-rpi-3-b.dtb` is required: without it U-Boot prints nothing, ever.
#   - U-Boot prints its banner on serial0, then follows the DTB's stdout-path (serial1):
#     distro boot, GRUB / systemd-boot menus and the EFI stub messages are in LOG.2;
#     the kernel with console=ttyAMA0 (the last console= wins /dev/console) is in LOG.
#   - imager metal arm64 images, GPT (protective MBR), ESP first, boot unmodified:
#     U-Boot finds efi/boot/bootaa64.efi on mmc 0:1, passes its DTB through the EFI
#     configuration table. GRUB (BOOT-A) ~24 s to `done`, systemd-boot ~26 s.
#   - poweroff exits QEMU here (EFI ResetSystem -> U-Boot's reset -> -no-reboot).
boot_raspi3b() {
	local log=$1 img=$2 cap=${3:-120} pid i
	: >"$log"
	: >"$log.2"
	pad_pow2 "$img" || return 1
	timeout --kill-after=5 "$cap" qemu-system-aarch64 -M raspi3b -accel tcg,thread=single \
		-kernel "$RPI_UBOOT" -dtb "$RPI_DTB" -drive if=sd,format=raw,file="$img" \
		-nographic -no-reboot -monitor none -net none \
		-serial "file:$log" -serial "file:$log.2" </dev/null >"$log.qemu" 2>&1 &
	pid=$!
	QEMU_PIDS+=("$pid")
	for ((i = 0; i < cap * 4; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		grep -q "IMAGER-REPORT done" "$log" "$log.2" 2>/dev/null && break
		sleep 0.25
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	for i in "$log" "$log.2"; do tr -d '\r' <"$i" >"$i.clean" && mv "$i.clean" "$i"; done
	grep -q "IMAGER-REPORT done" "$log" "$log.2"
}
