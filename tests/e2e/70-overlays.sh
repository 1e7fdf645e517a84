#!/usr/bin/env bash
# Board overlays (issue 7, DESIGN §6), built on this amd64 host for arm64 boards:
# rpi_generic boots in QEMU raspi3b through Debian's rpi U-Boot, its EFI and GRUB to the
# init report; pine64 and rock64 carry their boot blobs at the exact offsets with valid
# headers and an intact partition table; an overlay-placed H3 U-Boot boots QEMU's
# orangepi-pc boot ROM path (and not from a wrong offset); the build runs no program at
# all (strace) and no binfmt_misc handler; builds are byte-identical; bad inputs refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sbc.sh"

export SOURCE_DATE_EPOCH=1700000000
OVL=$SRC/overlays
UB=$INSTALL/arm64/u-boot
FW=$T/firmware # placeholder Raspberry Pi firmware (not redistributable)
mkdir -p "$FW/overlays"
for f in bootcode.bin start.elf fixup.dat start4.elf fixup4.dat; do echo "placeholder $f" >"$FW/$f"; done
echo placeholder >"$FW/overlays/disable-bt.dtbo"
RPI_OVL=(--overlay-name rpi_generic --overlay-image "$OVL/rpi_generic" --overlay-option firmware="$FW")
RPI=(--arch arm64 metal "${RPI_OVL[@]}")

# part IMG NAME -> "start size" (512-byte sectors) of the GPT partition named NAME
part() { sfdisk -J "$1" | python3 -c 'import json,sys; p=[x for x in json.load(sys.stdin)["partitiontable"]["partitions"] if x.get("name")==sys.argv[1]]; print(p[0]["start"], p[0]["size"]) if p else None' "$2"; }
esp_of() { # IMG OUT: the EFI partition's filesystem
	local s
	s=$(part "$1" EFI) && [ -n "$s" ] || return 1
	set -- "$1" "$2" $s
	dd if="$1" of="$2" bs=512 skip="$3" count="$4" status=none
}

# --- rpi_generic: the documented command line, .xz by default, no program run --------
# binfmt_misc: a handler for arm64 ELF files would let an arm64 binary run unnoticed.
# Disable any such handler during the build (root), and trace the build's execve calls.
binfmt_arm64() { # enabled handlers whose magic is an arm64 ELF header (e_machine 0xb7)
	grep -ls '^enabled' /proc/sys/fs/binfmt_misc/* 2>/dev/null | xargs -r grep -l 'magic 7f454c46020101.*0200b700'
}
binfmt_off=()
for h in $(binfmt_arm64); do echo 0 >"$h" && binfmt_off+=("$h"); done
expect_eq "no binfmt_misc handler for arm64 during the build" "$(binfmt_arm64)" ""
# (LeakSanitizer cannot run under ptrace: leak checks are off for this one run)
check "imager ${RPI[*]} (on $(uname -m))" env ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=execve -o "$T/strace" \
	"$IMAGER" "${RPI[@]}" -o "$T/rpi" -q --overlay-option configTxtAppend=dtparam=audio=on
for h in "${binfmt_off[@]}"; do echo 1 >"$h"; done
expect_eq "the build executes no program but the imager" \
	"$(grep -c 'execve(' "$T/strace")" 1
check "rpi_generic writes metal-arm64.raw.xz (overlay default .xz)" test -s "$T/rpi/metal-arm64.raw.xz"
check "two builds are byte-identical (.xz; the second on one thread)" sh -c "IMAGER_THREADS=1 '$IMAGER' ${RPI[*]} -o '$T/rpi2' -q --overlay-option configTxtAppend=dtparam=audio=on && cmp '$T/rpi/metal-arm64.raw.xz' '$T/rpi2/metal-arm64.raw.xz'"
xz -dc "$T/rpi/metal-arm64.raw.xz" >"$T/rpi.raw"
check "rpi_generic: sfdisk --verify" sfdisk --verify "$T/rpi.raw"
check "rpi_generic: hybrid MBR: record 1 is the EFI partition (FAT32 LBA), then 0xEE" sh -c \
	"fdisk -l -t dos '$T/rpi.raw' | grep -E 'rpi.raw1 .* c W95 FAT32 \(LBA\)' && fdisk -l -t dos '$T/rpi.raw' | grep -E 'rpi.raw2 +1 .* ee GPT'"
esp_of "$T/rpi.raw" "$T/rpi-esp.img"
check "rpi_generic: fsck.fat -n on the boot partition" fsck.fat -n "$T/rpi-esp.img"
mtype -i "$T/rpi-esp.img" ::/config.txt >"$T/config.txt" 2>/dev/null
printf 'gpu_mem=32\nhdmi_safe:0=1\nhdmi_safe:1=1\nkernel=u-boot.bin\narm_64bit=1\narm_boost=1\nenable_uart=1\ndtoverlay=disable-bt\ndtoverlay=disable-wifi\ndtparam=audio=on\n' >"$T/config.want"
check "rpi_generic: config.txt = defaults + configTxtAppend" cmp "$T/config.txt" "$T/config.want"
check "rpi_generic: firmware, u-boot.bin and the Pi DTBs at the FAT root" sh -c \
	"mdir -b -i '$T/rpi-esp.img' ::/ | grep -q '::/bootcode.bin' && mdir -b -i '$T/rpi-esp.img' ::/ | grep -q '::/bcm2837-rpi-3-b.dtb' && mdir -b -i '$T/rpi-esp.img' ::/overlays | grep -q disable-bt.dtbo && mtype -i '$T/rpi-esp.img' ::/u-boot.bin | cmp - '$UB/rpi_arm64/u-boot.bin'"

if boot_raspi3b "$T/rpi.log" "$T/rpi.raw" 240; then
	ok "rpi_generic boots in QEMU raspi3b (U-Boot, EFI, GRUB) to the init report"
	expect_eq "raspi3b: slot A" "$(report "$T/rpi.log" slot)" A
	check "raspi3b: the overlay's kernel arguments are on the command line" sh -c \
		"grep -h 'IMAGER-REPORT cmdline=' '$T/rpi.log' '$T/rpi.log.2' | grep -q 'console=tty0 console=ttyAMA0,115200'"
else
	not_ok "rpi_generic boots in QEMU raspi3b (U-Boot, EFI, GRUB) to the init report" \
		"$(tail -c 1500 "$T/rpi.log.2" | tr -d '\0')" "$(tail -c 800 "$T/rpi.log" | tr -d '\0')"
fi

# configTxt replaces the whole file (K=@file); gpuMem is an int
printf 'arm_64bit=1\nkernel=u-boot.bin\n' >"$T/mycfg"
printf 'baseProfileName: metal\narch: arm64\noutput:\n  outFormat: raw\n' >"$T/raw.yaml"
check "rpi_generic with configTxt=@file" "$IMAGER" "$T/raw.yaml" --overlay-name rpi_generic \
	--overlay-image "$OVL/rpi_generic" --overlay-option firmware="$FW" \
	--overlay-option configTxt=@"$T/mycfg" -o "$T/cfg" -q
esp_of "$T/cfg/metal-arm64.raw" "$T/cfg-esp.img" && mtype -i "$T/cfg-esp.img" ::/config.txt >"$T/config2.txt"
check "rpi_generic: configTxt replaces config.txt" cmp "$T/config2.txt" "$T/mycfg"

# --- pine64 and rock64: blobs at their offsets, headers valid, tables intact ------------
blob_at() { # IMG FILE OFFSET: FILE's bytes are at byte OFFSET of IMG
	cmp -n "$(stat -c %s "$2")" "$2" <(tail -c +$(($3 + 1)) "$1")
}
for b in pine64 rock64; do
	check "$b: build (raw)" "$IMAGER" "$T/raw.yaml" --overlay-name $b --overlay-image "$OVL" -o "$T/$b" -q
	check "$b: two builds are byte-identical (raw)" sh -c "'$IMAGER' '$T/raw.yaml' --overlay-name $b --overlay-image '$OVL' -o '$T/$b.2' -q && cmp '$T/$b/metal-arm64.raw' '$T/$b.2/metal-arm64.raw'"
	check "$b: sfdisk --verify" sfdisk --verify "$T/$b/metal-arm64.raw"
done
P=$T/pine64/metal-arm64.raw R=$T/rock64/metal-arm64.raw
tar -C "$OVL/rock64" -czf "$T/rock64.tar.gz" .
check "rock64 from a tarball overlay: the same image as from the folder" sh -c \
	"'$IMAGER' '$T/raw.yaml' --overlay-name rock64 --overlay-image '$T/rock64.tar.gz' -o '$T/rock64.tgz' -q && cmp '$R' '$T/rock64.tgz/metal-arm64.raw'"
check "pine64: sunxi-spl.bin at 8 KiB" blob_at "$P" "$UB/pine64_plus/sunxi-spl.bin" 8192
check "pine64: U-Boot FIT at 40 KiB" blob_at "$P" "$UB/pine64_plus/u-boot-sunxi-with-spl.fit.itb" 40960
check "pine64: eGON.BT0 header and checksum valid at 8 KiB" python3 "$SRC/tests/tools/egon-check.py" "$P" 8192
expect_eq "pine64: 56-entry GPT (clear of the SPL), first partition at 1 MiB" \
	"$(sfdisk -d "$P" | grep -c 'start=        2048,') $(sfdisk --verify "$P" | grep -o 'out of [0-9]*')" "1 out of 56"
check "rock64: idbloader.img at sector 64" blob_at "$R" "$UB/rock64-rk3328/idbloader.img" $((64 * 512))
check "rock64: u-boot.itb at sector 16384" blob_at "$R" "$UB/rock64-rk3328/u-boot.itb" $((16384 * 512))
check "rock64: Rockchip idbloader header valid at sector 64" python3 "$SRC/tests/tools/rkidb-check.py" "$R" $((64 * 512))
expect_eq "rock64: first partition at 16 MiB" "$(part "$R" EFI | cut -d' ' -f1)" 32768
esp_of "$R" "$T/rock-esp.img"
check "rock64: DTB in the EFI partition for U-Boot (dtb/rockchip/)" sh -c \
	"mtype -i '$T/rock-esp.img' ::/dtb/rockchip/rk3328-rock64.dtb | cmp - '$INSTALL/arm64/dtb/rockchip/rk3328-rock64.dtb'"

# --- the raw-blob path on an emulated Allwinner boot ROM ----------------------------------
# An H3 (32-bit) u-boot-sunxi-with-spl.bin (Debian armhf u-boot-sunxi, orangepi_plus: the
# same SoC as the Orange Pi PC, which Debian does not build; downloaded by the payload, never
# installed), placed by an overlay at 8 KiB (the boot ROM's eGON offset), boots QEMU's
# orangepi-pc to U-Boot; at 16 KiB the boot ROM finds nothing and the console stays silent.
H3=$OPI_UBOOT
h3_overlay() { # DIR OFFSET
	mkdir -p "$1"
	printf 'name: h3-test\narch: arm64\npartitionTable:\n  entries: 56\noptions:\n  - name: spl\n    type: path\n    required: true\nblobs:\n  - from: option:spl\n    offset: %s\n' "$2" >"$1/overlay.yaml"
}
h3_overlay "$T/h3-good" 8KiB
h3_overlay "$T/h3-bad" 16KiB
for v in good bad; do
	check "orangepi-pc ($v offset): build" "$IMAGER" "$T/raw.yaml" --overlay-image "$T/h3-$v" \
		--overlay-option spl="$H3" -o "$T/h3$v" -q
done
if boot_orangepi_pc "$T/h3good.log" "$T/h3good/metal-arm64.raw" 60; then
	ok "orangepi-pc: the boot ROM runs the overlay's SPL at 8 KiB and reaches the U-Boot prompt"
else
	not_ok "orangepi-pc: the boot ROM runs the overlay's SPL at 8 KiB and reaches the U-Boot prompt" "$(tail -c 800 "$T/h3good.log" | tr -d '\0')"
fi
if [ ! -s "$T/h3bad/metal-arm64.raw" ]; then
	not_ok "orangepi-pc: the same blob at 16 KiB does not boot" "no image was built"
elif boot_orangepi_pc "$T/h3bad.log" "$T/h3bad/metal-arm64.raw" 20; then
	not_ok "orangepi-pc: the same blob at 16 KiB does not boot" "$(tail -c 800 "$T/h3bad.log" | tr -d '\0')"
else
	ok "orangepi-pc: the same blob at 16 KiB does not boot"
fi

# --- bad inputs ------------------------------------------------------------------------
expect_fail "overlay for another arch" 2 "overlay rock64 .* is for arm64, not amd64" "$T/e1/*" \
	"$IMAGER" "$T/raw.yaml" --arch amd64 --overlay-name rock64 --overlay-image "$OVL" -o "$T/e1" -q
mkdir -p "$T/overlap"
printf 'name: overlap\narch: arm64\nblobs:\n  - from: overlay:blob.bin\n    offset: 1MiB\n' >"$T/overlap/overlay.yaml"
head -c 4096 /dev/urandom >"$T/overlap/blob.bin"
expect_fail "blob overlapping a partition" 2 "blob overlay:blob.bin .* overlaps partition EFI" "$T/e2/*" \
	"$IMAGER" "$T/raw.yaml" --overlay-image "$T/overlap" -o "$T/e2" -q
sed -i 's/offset: 1MiB/offset: 8KiB/' "$T/overlap/overlay.yaml"
expect_fail "blob overlapping the partition table" 2 "overlaps the primary partition table" "$T/e3/*" \
	"$IMAGER" "$T/raw.yaml" --overlay-image "$T/overlap" -o "$T/e3" -q
expect_fail "unknown overlay option" 2 'overlay rpi_generic: unknown option "colour"' "$T/e4/*" \
	"$IMAGER" "$T/raw.yaml" "${RPI_OVL[@]}" --overlay-option colour=red -o "$T/e4" -q
expect_fail "missing required option (rpi firmware folder)" 5 "overlay rpi_generic: option firmware is required" "$T/e5/*" \
	"$IMAGER" "$T/raw.yaml" --overlay-name rpi_generic --overlay-image "$OVL/rpi_generic" -o "$T/e5" -q
expect_fail "template option of the wrong type" 2 'option gpuMem: "lots" is not an int' "$T/e6/*" \
	"$IMAGER" "$T/raw.yaml" "${RPI_OVL[@]}" --overlay-option gpuMem=lots -o "$T/e6" -q
expect_fail "overlay name that is not the overlay's" 2 'overlay "rock64" is not the one asked for' "$T/e7/*" \
	"$IMAGER" "$T/raw.yaml" --overlay-name pine64 --overlay-image "$OVL/rock64" -o "$T/e7" -q
expect_fail "overlay without overlay.yaml" 2 "no overlay.yaml" "$T/e8/*" \
	"$IMAGER" "$T/raw.yaml" --overlay-image "$T/firmware" -o "$T/e8" -q
