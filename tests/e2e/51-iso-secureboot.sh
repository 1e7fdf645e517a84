#!/usr/bin/env bash
# Secure Boot ISO: signed systemd-boot + signed UKI + loader/keys/auto; in OVMF Secure Boot
# with setup-mode variables systemd-boot enrolls our keys and the next boot has
# secureboot=1; with secure-boot-enroll off nothing is enrolled.
# The profile default is if-safe (Talos); Debian 12's systemd-boot 252 predates if-safe
# (v253) and treats it as "manual" (a menu entry), so the enrolling ISO here says force.
. "$(dirname "$0")/lib.sh"

export SOURCE_DATE_EPOCH=1700000000
k="$T/keys"
"$IMAGER" keys --output "$k" >/dev/null
iso="$T/sb/metal-amd64-secureboot.iso"
check "imager secureboot-iso" "$IMAGER" secureboot-iso --secureboot-keys "$k" -o "$T/sb" -q --extra-kernel-arg console=ttyS0
printf 'baseProfileName: secureboot-iso\noutput:\n  isoOptions:\n    sdBootEnrollKeys: "off"\n' >"$T/off.yaml"
printf 'baseProfileName: secureboot-iso\noutput:\n  isoOptions:\n    sdBootEnrollKeys: force\n' >"$T/force.yaml"
check "imager secureboot-iso with secure-boot-enroll force" "$IMAGER" "$T/force.yaml" --secureboot-keys "$k" -o "$T/force" -q --extra-kernel-arg console=ttyS0
check "imager secureboot-iso with secure-boot-enroll off" "$IMAGER" "$T/off.yaml" --secureboot-keys "$k" -o "$T/off" -q --extra-kernel-arg console=ttyS0

start=$(sfdisk -J "$iso" | python3 -c 'import json,sys; p=json.load(sys.stdin)["partitiontable"]["partitions"]; e=[x for x in p if x["type"].lower() in ("ef","c12a7328-f81f-11d2-ba4b-00a0c93ec93b")][0]; print(e["start"], e["size"])')
set -- $start
dd if="$iso" of="$T/efi.img" bs=512 skip="$1" count="$2" status=none
check "EFI image: fsck.fat -n is clean" fsck.fat -n "$T/efi.img"
mdir -/ -b -i "$T/efi.img" ::/ >"$T/efi.list" 2>&1
for f in EFI/BOOT/BOOTX64.EFI EFI/Linux/Talos-v1.0.0.efi loader/loader.conf loader/keys/auto/PK.auth \
	loader/keys/auto/KEK.auth loader/keys/auto/db.auth; do
	check "EFI image holds $f" grep -qi "::/$f$" "$T/efi.list"
done
mcopy -i "$T/efi.img" ::/EFI/BOOT/BOOTX64.EFI "$T/sdboot.efi"
mcopy -i "$T/efi.img" ::/EFI/Linux/Talos-v1.0.0.efi "$T/uki.efi"
check "systemd-boot is signed by our key" sbverify --cert "$k/uki-signing-cert.pem" "$T/sdboot.efi"
check "UKI is signed by our key" sbverify --cert "$k/uki-signing-cert.pem" "$T/uki.efi"
check "the EFI image grew to hold the UKI" test "$(stat -c %s "$T/efi.img")" -gt "$(stat -c %s "$T/uki.efi")"
check "loader.conf: secure-boot-enroll if-safe (default)" sh -c "mtype -i '$T/efi.img' ::/loader/loader.conf | grep -qx 'secure-boot-enroll if-safe'"

SB=(/usr/share/OVMF/OVMF_VARS_4M.fd /usr/share/OVMF/OVMF_CODE_4M.secboot.fd)
boot_uefi amd64 "$T/e1.log" "$T/force/metal-amd64-secureboot.iso" "${SB[@]}" # enrolls, resets
cp "$T/e1.log.vars" "$T/e2.log.vars"
boot_uefi amd64 "$T/e2.log" "$T/force/metal-amd64-secureboot.iso" "${SB[@]}"
if grep -q "IMAGER-REPORT done" "$T/e2.log"; then
	ok "Secure Boot ISO boots after enrolling our keys"
	expect_eq "secureboot=1" "$(report "$T/e2.log" secureboot)" 1
else
	not_ok "Secure Boot ISO boots after enrolling our keys" "$(log_tail "$T/e2.log")" "first: $(tail -n 3 "$T/e1.log" | tr '\n' ' ')"
fi

boot_uefi amd64 "$T/off.log" "$T/off/metal-amd64-secureboot.iso" "${SB[@]}"
if grep -q "IMAGER-REPORT done" "$T/off.log"; then
	ok "secure-boot-enroll off: boots without enrolling"
	expect_eq "secure-boot-enroll off: secureboot=0 (nothing enrolled)" "$(report "$T/off.log" secureboot)" 0
else
	not_ok "secure-boot-enroll off: boots without enrolling" "$(log_tail "$T/off.log")"
fi
