#!/usr/bin/env bash
# GRUB A/B fallback (DESIGN §7): a trial slot GRUB cannot boot (BOOT-B empty: no boot.cfg,
# no kernel) falls back to the committed slot in the same boot. GRUB 2.06 takes only entry
# numbers in "fallback"; an id there is ignored and the machine stops at "Failed to boot
# both default and fallback entries".
. "$(dirname "$0")/lib.sh"

export SOURCE_DATE_EPOCH=1700000000
printf 'baseProfileName: metal\noutput:\n  outFormat: raw\n  imageOptions:\n    bootloader: grub\n' >"$T/grub.yaml"
check "imager metal (grub, raw)" "$IMAGER" "$T/grub.yaml" -o "$T/o" -q --extra-kernel-arg console=ttyS0
img=$T/o/metal-amd64.raw
s=$(sfdisk -J "$img" | python3 -c 'import json,sys; print(*[(p["start"], p["size"]) for p in json.load(sys.stdin)["partitiontable"]["partitions"] if p.get("name")=="EFI"][0])')
set -- $s
dd if="$img" of="$T/esp.img" bs=512 skip="$1" count="$2" status=none
mcopy -i "$T/esp.img" ::/grub/grubenv "$T/grubenv"
# arm a trial of the empty slot B, as a broken upgrade would leave it
grub-editenv "$T/grubenv" set next_entry=B
mcopy -o -i "$T/esp.img" "$T/grubenv" ::/grub/grubenv
dd if="$T/esp.img" of="$img" bs=512 seek="$1" conv=notrunc status=none
check "grubenv: saved_entry=A, next_entry=B" sh -c "grub-editenv '$T/grubenv' list | grep -qx next_entry=B"
QEMU_STOP_RE='Failed to boot both default and fallback' \
	qemu_run "$T/boot.log" 150 qemu-system-x86_64 -M pc -m 1024 -net none -drive file="$img",format=raw
if grep -q "IMAGER-REPORT done" "$T/boot.log"; then
	ok "a trial slot GRUB cannot boot falls back to the committed slot"
	expect_eq "fallback boot is slot A" "$(report "$T/boot.log" slot)" A
else
	not_ok "a trial slot GRUB cannot boot falls back to the committed slot" "$(tail -c 1200 "$T/boot.log")"
fi
dd if="$img" of="$T/esp2.img" bs=512 skip="$1" count="$2" status=none
mcopy -o -i "$T/esp2.img" ::/grub/grubenv "$T/grubenv2"
check "the one-shot trial was consumed (next_entry cleared)" sh -c "! grub-editenv '$T/grubenv2' list | grep -q '^next_entry=B'"
