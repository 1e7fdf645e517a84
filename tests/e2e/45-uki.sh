#!/usr/bin/env bash
# UKIs (output kind uki): PE sections seen by objdump, and booting from an ESP under
# OVMF (x86-64) and AAVMF (arm64) to the init report with the UKI's own .cmdline.
. "$(dirname "$0")/lib.sh"

o="$T/out"
for arch in amd64 arm64; do
	con=ttyS0
	[ $arch = arm64 ] && con=ttyAMA0
	if ! "$IMAGER" metal-uki --arch $arch -o "$o" -q --extra-kernel-arg console=$con 2>"$T/err"; then
		not_ok "$arch: imager metal-uki builds" "$(cat "$T/err")"
		continue
	fi
	uki="$o/metal-$arch-uki.efi"
	ok "$arch: imager metal-uki builds"
	objdump=objdump
	[ $arch = arm64 ] && objdump=aarch64-linux-gnu-objdump
	$objdump -h "$uki" >"$T/$arch.sections"
	for s in .osrel .cmdline .uname .linux .initrd; do
		check "$arch: $objdump lists $s" grep -q " $s " "$T/$arch.sections"
	done
	vmas_increase() {
		local last=-1 v
		while read -r _ _ _ vma _; do
			v=$((16#$vma))
			[ $v -gt $last ] || return 1
			last=$v
		done < <(grep -E '^ *[0-9]+ \.' "$1")
	}
	check "$arch: section VMAs increase" vmas_increase "$T/$arch.sections"
	objcopy -O binary --only-section=.cmdline "$uki" "$T/$arch.cmdline" 2>/dev/null ||
		aarch64-linux-gnu-objcopy -O binary --only-section=.cmdline "$uki" "$T/$arch.cmdline"
	efi=BOOTX64.EFI
	[ $arch = arm64 ] && efi=BOOTAA64.EFI
	esp_with "$uki" $efi "$T/$arch.esp"
	boot_uefi $arch "$T/$arch.log" "$T/$arch.esp" &
done
wait
for arch in amd64 arm64; do
	[ -e "$T/$arch.log" ] || continue
	if ! grep -q "IMAGER-REPORT done" "$T/$arch.log"; then
		not_ok "$arch: UKI boots under UEFI to the init report" "$(log_tail "$T/$arch.log")"
		continue
	fi
	ok "$arch: UKI boots under UEFI to the init report"
	expect_eq "$arch: efi=1" "$(report "$T/$arch.log" efi)" 1
	expect_eq "$arch: reported cmdline = the UKI's .cmdline" "$(report "$T/$arch.log" cmdline)" \
		"$(cat "$T/$arch.cmdline")"
	expect_eq "$arch: rootfs marker" "$(report "$T/$arch.log" rootfs)" "$(head -n1 "$SRC/pkgs/rootfs/etc/imager-rootfs")"
done

# imager inspect reads back what was assembled.
uki="$o/metal-amd64-uki.efi"
if [ -e "$uki" ]; then
	"$IMAGER" inspect "$uki" >"$T/inspect.txt" 2>&1
	check "inspect lists .linux with its sha256" grep -Eq "^\.linux .* $(objcopy -O binary --only-section=.linux "$uki" /dev/stdout | sha256sum | cut -d' ' -f1)$" "$T/inspect.txt"
	check "inspect shows the .uname" grep -qx "$(cat "$INSTALL/amd64/kernel.release")" "$T/inspect.txt"
	check "inspect says unsigned" grep -qx "signer: (unsigned)" "$T/inspect.txt"
	check "inspect --json is JSON" sh -c "'$IMAGER' inspect --json '$uki' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"arch\"]==\"amd64\" and any(s[\"name\"]==\".initrd\" for s in d[\"sections\"])'"
fi
expect_fail "inspect: not a PE file" 2 "^imager: .*README.md: expected a PE image" "" "$IMAGER" inspect "$SRC/README.md"
