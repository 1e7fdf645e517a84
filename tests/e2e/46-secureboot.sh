#!/usr/bin/env bash
# Secure Boot UKIs: signatures judged by sbverify and osslsigncode (and refused after a
# one-byte change), then OVMF with Secure Boot enforcing: (a) Debian's snakeoil keys
# enrolled, a UKI signed by the snakeoil key boots with secureboot=1 and an unsigned one
# is refused; (b) our own keys enrolled from setup mode by systemd-boot
# (secure-boot-enroll force + loader/keys/auto/*.auth), then our signed UKI boots.
. "$(dirname "$0")/lib.sh"

k="$T/keys"
check "imager keys" "$IMAGER" keys --output "$k"
"$IMAGER" secureboot-metal-uki --secureboot-keys "$k" -o "$T/sb" -q --extra-kernel-arg console=ttyS0
uki="$T/sb/metal-amd64-secureboot-uki.efi"
"$IMAGER" sign --key "$k/uki-signing-key.pem" --cert "$k/uki-signing-cert.pem" \
	"$INSTALL/amd64/systemd-boot.efi" "$T/sd-boot.efi"
for f in "$uki" "$T/sd-boot.efi"; do
	n=$(basename "$f")
	check "$n: sbverify accepts" sbverify --cert "$k/uki-signing-cert.pem" "$f"
	check "$n: osslsigncode verify accepts" osslsigncode verify -CAfile "$k/uki-signing-cert.pem" "$f"
done
"$IMAGER" secureboot-metal-uki --secureboot-keys "$k" -o "$T/sb2" -q --extra-kernel-arg console=ttyS0
check "signed UKI is reproducible" cmp "$uki" "$T/sb2/metal-amd64-secureboot-uki.efi"
check "inspect names the signer" sh -c "'$IMAGER' inspect '$uki' | grep -q '^signer: /CN=imager Secure Boot'"
check "inspect predicts PCR 11 per bank and phase" sh -c "'$IMAGER' inspect '$uki' | grep -c '^  SHA\(256\|384\|512\) enter-initrd' | grep -qx 12"
check "the UKI carries .pcrsig and .pcrpkey" sh -c "objdump -h '$uki' | grep -q ' .pcrsig ' && objdump -h '$uki' | grep -q ' .pcrpkey '"
check ".cmdline has lockdown=confidentiality" sh -c "objcopy -O binary --only-section=.cmdline '$uki' /dev/stdout | grep -q lockdown=confidentiality"

# One byte flipped inside .linux: both verifiers refuse.
off=$(objdump -h "$uki" | awk '$2 == ".linux" { print $6 }')
cp "$uki" "$T/tampered.efi"
printf '\xff' | dd of="$T/tampered.efi" bs=1 seek=$((16#$off + 4096)) conv=notrunc status=none
check "tampered .linux: sbverify refuses" sh -c "! sbverify --cert '$k/uki-signing-cert.pem' '$T/tampered.efi'"
check "tampered .linux: osslsigncode refuses" sh -c "! osslsigncode verify -CAfile '$k/uki-signing-cert.pem' '$T/tampered.efi'"

# (a) Debian's snakeoil keys, pre-enrolled in OVMF_VARS_4M.snakeoil.fd.
openssl rsa -passin pass:snakeoil -in /usr/share/ovmf/PkKek-1-snakeoil.key -out "$T/snakeoil.key" 2>/dev/null
openssl genrsa -out "$T/pcr.key" 2048 2>/dev/null
printf 'input:\n  secureboot:\n    keyPath: %s\n    certPath: %s\n    pcrKeyPath: %s\n' \
	"$T/snakeoil.key" /usr/share/ovmf/PkKek-1-snakeoil.pem "$T/pcr.key" >"$T/snakeoil.yaml"
printf 'baseProfileName: secureboot-metal-uki\n' | cat - "$T/snakeoil.yaml" >"$T/snakeoil-uki.yaml"
"$IMAGER" "$T/snakeoil-uki.yaml" -o "$T/so" -q --extra-kernel-arg console=ttyS0
"$IMAGER" metal-uki -o "$T/us" -q --extra-kernel-arg console=ttyS0
esp_with "$T/so/metal-amd64-secureboot-uki.efi" BOOTX64.EFI "$T/snakeoil.esp"
esp_with "$T/us/metal-amd64-uki.efi" BOOTX64.EFI "$T/unsigned.esp"
SB=(/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd /usr/share/OVMF/OVMF_CODE_4M.secboot.fd)
boot_uefi amd64 "$T/a.log" "$T/snakeoil.esp" "${SB[@]}" &
QEMU_STOP_RE="Access Denied|Security Violation|No bootable option" \
	boot_uefi amd64 "$T/u.log" "$T/unsigned.esp" "${SB[@]}" &
wait
if grep -q "IMAGER-REPORT done" "$T/a.log"; then
	ok "snakeoil-signed UKI boots under Secure Boot"
	expect_eq "snakeoil: secureboot=1" "$(report "$T/a.log" secureboot)" 1
else
	not_ok "snakeoil-signed UKI boots under Secure Boot" "$(log_tail "$T/a.log")"
fi
check "unsigned UKI is refused" sh -c "! grep -q 'IMAGER-REPORT boot' '$T/u.log' &&
	grep -Eq 'Access Denied|Security Violation|No bootable option' '$T/u.log'"

# (b) our keys: blank variable store (setup mode), systemd-boot enrolls them, resets.
esp="$T/enroll.esp"
mkfs.vfat -C -n ESP "$esp" 65536 >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/Linux ::/loader ::/loader/keys ::/loader/keys/auto
mcopy -i "$esp" "$T/sd-boot.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$uki" ::/EFI/Linux/talos.efi
printf 'timeout 0\nsecure-boot-enroll force\n' >"$T/loader.conf"
mcopy -i "$esp" "$T/loader.conf" ::/loader/loader.conf
for v in PK KEK db; do mcopy -i "$esp" "$k/$v.auth" "::/loader/keys/auto/$v.auth"; done
SB=(/usr/share/OVMF/OVMF_VARS_4M.fd /usr/share/OVMF/OVMF_CODE_4M.secboot.fd)
boot_uefi amd64 "$T/e.log" "$esp" "${SB[@]}" # enrolls, then resets: QEMU exits (-no-reboot)
check "systemd-boot enrolled our keys (first boot)" grep -q "Enrolling secure boot keys\|Custom Secure Boot keys successfully enrolled" "$T/e.log"
cp "$T/e.log.vars" "$T/e2.log.vars"
boot_uefi amd64 "$T/e2.log" "$esp" "${SB[@]}"
if grep -q "IMAGER-REPORT done" "$T/e2.log"; then
	ok "own keys: signed UKI boots after enrollment"
	expect_eq "own keys: secureboot=1" "$(report "$T/e2.log" secureboot)" 1
else
	not_ok "own keys: signed UKI boots after enrollment" "$(log_tail "$T/e2.log")" "first boot: $(tail -n 5 "$T/e.log" | tr '\n' ' ')"
fi
