#!/usr/bin/env bash
# ISO output: the amd64 hybrid ISO boots four ways (SeaBIOS CD / disk, OVMF CD / disk)
# with META reaching the init; arm64 boots under AAVMF; xorriso/fsck.fat/mtools judge the
# format; builds are reproducible; bad inputs are refused.
. "$(dirname "$0")/lib.sh"

export SOURCE_DATE_EPOCH=1700000000
printf 'machine:\n  network:\n    hostname: iso-test\n' >"$T/net.yaml"
want_meta="0xa:$(sha256sum <"$T/net.yaml" | cut -d' ' -f1)"
iso="$T/a/metal-amd64.iso"
check "imager iso (amd64)" "$IMAGER" iso -o "$T/a" -q --meta "0xa=@$T/net.yaml" --extra-kernel-arg console=ttyS0
check "imager iso (arm64)" "$IMAGER" iso --arch arm64 -o "$T/a" -q --extra-kernel-arg console=ttyAMA0
check "imager iso again (same inputs)" "$IMAGER" iso -o "$T/b" -q --meta "0xa=@$T/net.yaml" --extra-kernel-arg console=ttyS0
check "two builds are byte-identical" cmp "$iso" "$T/b/metal-amd64.iso"

# --- formats ---------------------------------------------------------------------------
xorriso -indev "$iso" -report_el_torito plain >"$T/eltorito" 2>&1
check "El Torito: BIOS boot image" grep -Eq 'El Torito boot img : +1 +BIOS' "$T/eltorito"
check "El Torito: UEFI boot image" grep -Eq 'El Torito boot img : +2 +UEFI' "$T/eltorito"
xorriso -indev "$iso" -pvd_info >"$T/pvd" 2>&1
check "volume id from name + version" grep -Eq "^Volume Id +: TALOS_V1_0_0$" "$T/pvd"
check "volume dates are SOURCE_DATE_EPOCH (2023-11-14 22:13:20)" grep -Eq "^Creation Time *: 2023111422132000" "$T/pvd"
sfdisk -J "$iso" >"$T/parts.json" 2>/dev/null
efi_start=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["partitiontable"]["partitions"]; e=[x for x in p if x["type"].lower() in ("ef","c12a7328-f81f-11d2-ba4b-00a0c93ec93b")][0]; print(e["start"], e["size"])' "$T/parts.json" 2>/dev/null)
if [ -n "$efi_start" ]; then
	set -- $efi_start
	dd if="$iso" of="$T/efi.img" bs=512 skip="$1" count="$2" status=none
	check "EFI partition: fsck.fat -n is clean" fsck.fat -n "$T/efi.img"
	check "EFI partition: mdir lists EFI/BOOT/BOOTX64.EFI" sh -c "mdir -i '$T/efi.img' ::/EFI/BOOT | grep -qi BOOTX64"
	check "EFI partition: grub.cfg" sh -c "mtype -i '$T/efi.img' ::/grub/grub.cfg | grep -q talos.halt_if_installed=1"
else
	not_ok "the ISO has an EFI partition (sfdisk)" "$(cat "$T/parts.json")"
fi
check "ISO9660 holds the kernel and grub.cfg" sh -c "xorriso -indev '$iso' -find / -type f 2>/dev/null | grep -q \"'/boot/vmlinuz'\" && xorriso -indev '$iso' -find / 2>/dev/null | grep -q \"'/grub/grub.cfg'\""

# --- boots -----------------------------------------------------------------------------
OV=(-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd)
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$T/v1.fd"
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$T/v2.fd"
qemu_run "$T/bios-cd.log" 150 qemu-system-x86_64 -M pc -m 1024 -net none -boot d -cdrom "$iso" &
qemu_run "$T/bios-hd.log" 150 qemu-system-x86_64 -M pc -m 1024 -net none -drive file="$iso",format=raw,snapshot=on &
wait
qemu_run "$T/uefi-cd.log" 150 qemu-system-x86_64 -M q35 -m 1024 -net none "${OV[@]}" \
	-drive if=pflash,format=raw,unit=1,file="$T/v1.fd" -cdrom "$iso" &
qemu_run "$T/uefi-hd.log" 150 qemu-system-x86_64 -M q35 -m 1024 -net none "${OV[@]}" \
	-drive if=pflash,format=raw,unit=1,file="$T/v2.fd" -drive file="$iso",format=raw,if=virtio,snapshot=on &
wait
for way in bios-cd bios-hd uefi-cd uefi-hd; do
	log="$T/$way.log"
	if grep -q "IMAGER-REPORT done" "$log"; then
		ok "amd64 ISO boots ($way)"
		expect_eq "$way: META 0xa reaches the init" "$(report "$log" meta)" "$want_meta"
		check "$way: halt_if_installed on the cmdline" grep -q "IMAGER-REPORT cmdline=.*talos.halt_if_installed=1" "$log"
	else
		not_ok "amd64 ISO boots ($way)" "$(log_tail "$log")"
	fi
done
expect_eq "bios-cd: efi=0" "$(report "$T/bios-cd.log" efi)" 0
expect_eq "uefi-hd: efi=1" "$(report "$T/uefi-hd.log" efi)" 1

boot_uefi arm64 "$T/arm64.log" "$T/a/metal-arm64.iso"
if grep -q "IMAGER-REPORT done" "$T/arm64.log"; then
	ok "arm64 ISO boots under AAVMF"
	expect_eq "arm64 ISO: arch" "$(report "$T/arm64.log" arch)" arm64
else
	not_ok "arm64 ISO boots under AAVMF" "$(log_tail "$T/arm64.log")"
fi

# --- bad inputs ------------------------------------------------------------------------
mkdir -p "$T/inputs"
cp -R "$INSTALL/amd64/." "$T/inputs/"
rm "$T/inputs/grub/eltorito.img"
expect_fail "missing GRUB El Torito image" 5 "^imager: $T/inputs/grub/eltorito.img" "$T/o1/*" \
	"$IMAGER" iso --inputs "$T/inputs" -o "$T/o1" -q
expect_fail "secureboot ISO without keys" 5 "^imager: secureboot profile without" "$T/o2/*" \
	"$IMAGER" secureboot-iso -o "$T/o2" -q
