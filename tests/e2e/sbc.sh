# QEMU recipes for single-board-computer images (board overlays, DESIGN §6). Source it
# after lib.sh:   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/sbc.sh"
# Conventions of lib.sh: TCG only, `timeout` as a hard cap, QEMU killed by PID (QEMU_PIDS),
# serial ports to files, CR stripped from the logs afterwards. The functions print nothing.

# QEMU runs under `timeout` (the hard cap), so $! is timeout's PID. SIGKILL to timeout
# would orphan QEMU (it keeps running, with no cap); SIGTERM is forwarded to QEMU. So:
# sbc_track PID notes QEMU's own PID (timeout's child) in QEMU_PIDS for lib.sh's cleanup,
# and sbc_stop PID ends both by their PIDs.
sbc_track() {
	local c i
	for ((i = 0; i < 40; i++)); do
		c=$(ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ')
		[ -n "$c" ] && { QEMU_PIDS+=($c); SBC_QEMU=$c; return 0; }
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	SBC_QEMU=
}
sbc_stop() {
	# timeout forwards the SIGTERM to QEMU and arms its --kill-after SIGKILL
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	if [ -n "$SBC_QEMU" ] && grep -qa '^qemu-system' "/proc/$SBC_QEMU/cmdline" 2>/dev/null; then
		kill -9 "$SBC_QEMU" 2>/dev/null
	fi
}

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

# RPI_FAIL_RE: serial1 lines after which nothing more will come: U-Boot's prompt (distro
# boot found no EFI/BOOT/BOOTAA64.EFI, extlinux.conf or boot.scr) or GRUB giving up.
RPI_FAIL_RE=${RPI_FAIL_RE:-'^U-Boot> |Failed to boot both default and fallback entries'}

# boot_raspi3b LOG IMG [CAP]: boot IMG as the SD card of a raspi3b; serial0 (PL011,
# Linux ttyAMA0) goes to LOG, serial1 (mini UART, Linux ttyS1) to LOG.2. Returns 0 once
# `IMAGER-REPORT done` shows in either log; 1 at RPI_FAIL_RE, when QEMU exits, or at CAP
# (default 180 s). IMG is padded to a power of two in place and is written by the guest
# (GRUB's save_env; U-Boot only if told to save its environment).
# Measured (QEMU 7.2, Debian U-Boot 2023.01 rpi_arm64, Debian 6.1 arm64 kernel, TCG
# thread=single, 2 cores):
#   - `-dtb bcm2837-rpi-3-b.dtb` is required: without it U-Boot prints nothing, ever.
#   - U-Boot prints its banner on serial0, then moves to the DTB's stdout-path (serial1):
#     distro boot, GRUB / systemd-boot menus and the EFI stub messages are in LOG.2; the
#     kernel with console=ttyAMA0 (or console=ttyAMA0,115200) is in LOG, with
#     console=ttyS1 in LOG.2. The LAST console= becomes /dev/console: metal's arm64
#     default `console=ttyAMA0 console=tty0` sends the init's report to the (unseen)
#     framebuffer. earlycon=pl011,mmio32,0x3f201000 gives kernel output from its first
#     line on serial0; a bare `earlycon` uses stdout-path (mini UART, serial1).
#   - imager metal arm64 images (GPT with protective MBR, ESP = partition 1) boot
#     unmodified with bootloader grub (slot A) and sd-boot. U-Boot scans the partitions
#     `part list -bootable` gives (GPT: ESP type GUID or legacy-BIOS-bootable attribute;
#     MBR: boot flag 0x80), else partition 1 only; a hybrid MBR (0xEE entry from LBA 1)
#     is read as GPT. DTB: U-Boot hands its own (the -dtb one, on hardware the
#     firmware's) to GRUB/Linux through the EFI configuration table, unless the FAT
#     holds /broadcom/bcm2837-rpi-3-b.dtb or /dtb/broadcom/bcm2837-rpi-3-b.dtb
#     (${fdtfile}), which then replaces it. extlinux/extlinux.conf and boot.scr on the
#     FAT would be run before EFI/BOOT/BOOTAA64.EFI.
#   - Time to `done`: 24-26 s on an idle host (U-Boot 2 s autoboot delay + USB scan, 3 s
#     GRUB or systemd-boot menu timeout, ~7 s for GRUB to read vmlinuz+initramfs, ~7 s
#     kernel), up to ~55 s with the other core busy.
#   - poweroff exits QEMU here (EFI ResetSystem -> U-Boot's reset -> -no-reboot).
boot_raspi3b() {
	local log=$1 img=$2 cap=${3:-180} pid i
	: >"$log"
	: >"$log.2"
	pad_pow2 "$img" || return 1
	timeout --kill-after=5 "$cap" qemu-system-aarch64 -M raspi3b -accel tcg,thread=single \
		-kernel "$RPI_UBOOT" -dtb "$RPI_DTB" -drive if=sd,format=raw,file="$img" \
		-nographic -no-reboot -monitor none -net none \
		-serial "file:$log" -serial "file:$log.2" </dev/null >"$log.qemu" 2>&1 &
	pid=$!
	QEMU_PIDS+=("$pid")
	sbc_track "$pid"
	for ((i = 0; i < cap * 4; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		grep -q "IMAGER-REPORT done" "$log" "$log.2" 2>/dev/null && break
		tr -d '\r' <"$log.2" 2>/dev/null | grep -Eq "$RPI_FAIL_RE" && { sleep 1; break; }
		sleep 0.25
	done
	sbc_stop "$pid"
	for i in "$log" "$log.2"; do tr -d '\r' <"$i" >"$i.clean" && mv "$i.clean" "$i"; done
	grep -q "IMAGER-REPORT done" "$log" "$log.2"
}

# --- Allwinner H3 boot ROM (QEMU orangepi-pc, 32-bit) ---------------------------------
# Debian bookworm's u-boot-sunxi (armhf) has no orangepi_pc build; orangepi_plus (same H3
# SoC, Orange Pi Plus / Plus 2) boots on QEMU's orangepi-pc. The package is downloaded,
# never installed: `dpkg --add-architecture armhf; apt-get update;
# apt-get download u-boot-sunxi:armhf; dpkg-deb -x u-boot-sunxi_*_armhf.deb DIR`.
# Where a payload step would put it (inputs-folder layout), else get_sunxi_armhf's cache.
OPI_UBOOT=${OPI_UBOOT:-$INSTALL/armhf/u-boot/orangepi_plus/u-boot-sunxi-with-spl.bin}
SUNXI_ARMHF=${SUNXI_ARMHF:-$OUT/cache/u-boot-sunxi-armhf}

# get_sunxi_armhf: make sure OPI_UBOOT exists; when it does not, download and unpack
# u-boot-sunxi:armhf into SUNXI_ARMHF (once) and point OPI_UBOOT there. Returns 1 (the
# test should skip) when the armhf foreign architecture is not configured (pkgs/deps.sh
# adds arm64 only; `apt-get update` is needed after adding it) or the download fails.
get_sunxi_armhf() {
	[ -f "$OPI_UBOOT" ] && return 0
	local f=$SUNXI_ARMHF/usr/lib/u-boot/orangepi_plus/u-boot-sunxi-with-spl.bin d
	if [ ! -f "$f" ]; then
		dpkg --print-foreign-architectures | grep -qx armhf || return 1
		d=$(mktemp -d "${TMPDIR:-/tmp}/sunxi-armhf.XXXXXX") || return 1
		(cd "$d" && apt-get download -q u-boot-sunxi:armhf >/dev/null 2>&1) &&
			mkdir -p "$SUNXI_ARMHF" && dpkg-deb -x "$d"/u-boot-sunxi_*_armhf.deb "$SUNXI_ARMHF"
		rm -rf "$d"
	fi
	[ -f "$f" ] && OPI_UBOOT=$f
}
# what counts as "reached U-Boot": its autoboot countdown (U-Boot proper's main loop) or
# the prompt (which follows once autoboot finds nothing to boot)
OPI_STOP_RE=${OPI_STOP_RE:-'Hit any key to stop autoboot|^=> '}

# sd_with_blob IMG SIZE BLOB OFFSET: a blank (sparse) SD image of SIZE bytes with BLOB
# written at byte OFFSET, for tests that place a blob without the imager.
sd_with_blob() {
	rm -f "$1" && truncate -s "$2" "$1" &&
		dd if="$3" of="$1" bs=512 seek=$(($4 / 512)) conv=notrunc status=none
}

# boot_orangepi_pc LOG IMG [CAP]: boot IMG as the SD card of QEMU's orangepi-pc (no
# -kernel: QEMU's boot ROM model copies 32 KiB from byte 8192 of the card into SRAM A1
# and runs it; it does not check the eGON header or checksum). Serial (UART0) to LOG.
# Returns 0 once OPI_STOP_RE shows. IMG is padded to a power of two in place.
# Measured (QEMU 7.2, Debian U-Boot 2023.01 orangepi_plus, TCG), blob at 8192 (8 KiB):
#   `U-Boot SPL 2023.01+dfsg-2+deb12u3 (...)` 0.3-0.7 s, then `DRAM: 1024 MiB`,
#   `Trying to boot from MMC1`, `U-Boot 2023.01+dfsg-2+deb12u3 (...) Allwinner Technology`
#   (U-Boot proper, loaded by the SPL from byte 40960) 1-1.8 s, `Hit any key to stop
#   autoboot` 7-12 s, `=> ` about 20-27 s on a card with nothing to boot (distro boot
#   tries mmc, usb, pxe, dhcp first). Grep `^U-Boot SPL ` for "the ROM ran the SPL" and
#   `^U-Boot 20[0-9][0-9]\.` for "the SPL loaded U-Boot proper".
#   QEMU's ROM model reads 8 KiB only; a real H3 ROM also tries 128 KiB.
#   Works with an MBR or a 56-entry GPT (entries in LBA 2-15) and a FAT from 1 MiB:
#   U-Boot then prints `Scanning mmc 0:1...`.
#   Blob at 0, at 16 KiB, or no blob: LOG stays empty (0 bytes) until the cap; a cap of
#   15 s is plenty for such a negative test.
boot_orangepi_pc() {
	local log=$1 img=$2 cap=${3:-60} pid i
	: >"$log"
	pad_pow2 "$img" || return 1
	timeout --kill-after=5 "$cap" qemu-system-arm -M orangepi-pc -accel tcg \
		-drive if=sd,format=raw,file="$img" \
		-nographic -no-reboot -monitor none -net none -serial "file:$log" </dev/null >"$log.qemu" 2>&1 &
	pid=$!
	QEMU_PIDS+=("$pid")
	sbc_track "$pid"
	for ((i = 0; i < cap * 4; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		tr -d '\r' <"$log" 2>/dev/null | grep -Eq "$OPI_STOP_RE" && break
		sleep 0.25
	done
	sbc_stop "$pid"
	tr -d '\r' <"$log" >"$log.clean" && mv "$log.clean" "$log"
	grep -Eq "$OPI_STOP_RE" "$log"
}
