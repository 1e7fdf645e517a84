#!/usr/bin/env bash
# imager inspect (issue 14): the kind is told from the file's bytes. A UKI, a disk image
# (raw, .zst, .xz, .gz) and an ISO are inspected: --json round-trips what the build put in
# (partitions as sfdisk reads them, slots, command line, META values) and the human form
# of the disk image and the ISO fits 80 columns. The other kinds (bundles, initramfs,
# extensions, VM formats) are checked by 84-inspect-kinds; here only that each is told
# by its bytes; a file of no known kind is invalid input (2).
. "$(dirname "$0")/lib.sh"

o="$T/out"
if "$IMAGER" metal -o "$o" -q --meta 0xa=disk-meta --extra-kernel-arg console=ttyS0 2>"$T/err"; then
	ok "imager metal builds"
else
	not_ok "imager metal builds" "$(cat "$T/err")"
fi
if "$IMAGER" metal-uki -o "$o" -q 2>"$T/err"; then
	ok "imager metal-uki builds"
else
	not_ok "imager metal-uki builds" "$(cat "$T/err")"
fi
raw=$(ls "$o"/metal-amd64*.raw* 2>/dev/null | head -1)
uki=$(ls "$o"/metal-amd64*.efi 2>/dev/null | head -1)

check "a UKI is inspected" sh -c "'$IMAGER' inspect '$uki' | grep -q '^signer: (unsigned)'"
# (a UKI's section lines carry whole sha256s, 97 columns, kept stable for 45-uki; the
# 80-column rule of issue 14 is for the disk image and ISO forms, not written yet.)
check "a UKI's --json parses" sh -c "'$IMAGER' inspect --json '$uki' | python3 -c 'import json,sys; json.load(sys.stdin)'"

# Every kind by its magic, whatever its name.
case $raw in
*.zst) zstd -dq "$raw" -o "$T/disk.bin" ;;
*.xz) xz -dc "$raw" >"$T/disk.bin" ;;
*) cp "$raw" "$T/disk.bin" ;;
esac
# --- the disk image: raw and every compression ---------------------------------------
# json_check FILE.json PY-EXPR...: each Python expression over d (the document) is true
json_check() {
	local f=$1
	shift
	python3 - "$f" "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for e in sys.argv[2:]:
    if not eval(e):
        print("false:", e)
        sys.exit(1)
PY
}
cols80() { awk 'length > 80 { print FILENAME ":" FNR ": " length " columns"; bad = 1 } END { exit bad }' "$1"; }
"$IMAGER" inspect --json "$T/disk.bin" >"$T/disk.json" 2>"$T/err"
check "a raw disk image is inspected (--json parses)" json_check "$T/disk.json" 'd["kind"] == "disk"'
sfdisk -J "$T/disk.bin" >"$T/sfdisk.json"
check "partitions: names, starts and sizes as sfdisk reads them" python3 -c '
import json, sys
ours = json.load(open(sys.argv[1]))["partitions"]
theirs = json.load(open(sys.argv[2]))["partitiontable"]["partitions"]
got = [(p["name"], p["start"], p["size"], p["guid"], p["type"]) for p in ours]
want = [(p["name"], p["start"] * 512, p["size"] * 512, p["uuid"], p["type"]) for p in theirs]
sys.exit(got != want)' "$T/disk.json" "$T/sfdisk.json"
check "slots: A committed with the build's version and command line, B empty" json_check "$T/disk.json" \
	'd["bootloader"] == "dual-boot" and d["committed"] == "A" and d["trial"] is None' \
	'd["slots"][0]["state"] == "committed" and d["slots"][0]["version"] == "v1.0.0"' \
	'"console=ttyS0" in d["slots"][0]["cmdline"].split() and d["slots"][1]["state"] == "empty"'
check "META: the value given with --meta" json_check "$T/disk.json" \
	'd["meta"] == [{"key": "0x0a", "value": "disk-meta"}]'
"$IMAGER" inspect "$T/disk.bin" >"$T/disk.txt" 2>&1
check "the disk image's human form fits 80 columns" cols80 "$T/disk.txt"
check "the human form names the slot, version and META value" sh -c \
	"grep -qx 'slot A: committed Talos v1.0.0' '$T/disk.txt' && grep -qx '  0x0a: disk-meta' '$T/disk.txt'"
printf 'baseProfileName: metal\noutput:\n  outFormat: %s\n' .xz >"$T/xz.yaml"
printf 'baseProfileName: metal\noutput:\n  outFormat: %s\n' .gz >"$T/gz.yaml"
for c in "$raw" xz gz; do
	f=$c
	if [ "$c" != "$raw" ]; then
		"$IMAGER" "$T/$c.yaml" -o "$T/$c" -q --no-build-record --meta 0xa=disk-meta \
			--extra-kernel-arg console=ttyS0 2>"$T/err"
		f=$(ls "$T/$c"/metal-amd64.raw.* | head -1)
	fi
	"$IMAGER" inspect --json "$f" 2>"$T/err" | sed 1,2d >"$T/c.json"
	check "$(basename "$f"): inspected as the raw image is" cmp "$T/c.json" <(sed 1,2d "$T/disk.json")
done

# --- the ISO ---------------------------------------------------------------------------
"$IMAGER" iso -o "$T/iso" -q --meta 0xa=iso-meta --extra-kernel-arg imager.test=inspect 2>"$T/err"
iso=$T/iso/metal-amd64.iso
"$IMAGER" inspect --json "$iso" >"$T/iso.json" 2>"$T/err"
check "an ISO is inspected (--json parses)" json_check "$T/iso.json" 'd["kind"] == "iso"'
check "ISO: volume id and El Torito entries as xorriso reads them" sh -c "
	xorriso -indev '$iso' -report_el_torito plain 2>/dev/null >'$T/xo.txt'
	vol=\$(xorriso -indev '$iso' -pvd_info 2>/dev/null | sed -n 's/^Volume Id *: //p')
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d[\"volumeId\"] != sys.argv[2] or [e[\"platform\"] for e in d[\"elTorito\"]] != [\"bios\", \"efi\"])' '$T/iso.json' \"\$vol\" &&
	grep -q 'El Torito boot img :   1  BIOS' '$T/xo.txt' && grep -q 'El Torito boot img :   2  UEFI' '$T/xo.txt'"
check "ISO: the kernel and initramfs files with their sizes" json_check "$T/iso.json" \
	"{f['path']: f['size'] for f in d['files']}['/boot/vmlinuz'] == $(stat -c %s "$INSTALL/amd64/vmlinuz")" \
	"{f['path']: f['size'] for f in d['files']}['/boot/initramfs.xz'] == $(stat -c %s "$INSTALL/amd64/initramfs.xz")"
check "ISO: GRUB, the command line with the extra argument, the META value" json_check "$T/iso.json" \
	'd["bootloader"] == "grub" and "imager.test=inspect" in d["cmdline"].split()' \
	'd["meta"] == [{"key": "0x0a", "value": "iso-meta"}]'
"$IMAGER" inspect "$iso" >"$T/iso.txt" 2>&1
check "the ISO's human form fits 80 columns" cols80 "$T/iso.txt"

# compressed files holding something else than a disk image: recognised, not inspected
printf 'not a disk image\n' >"$T/part.img"
zstd -q -c "$T/part.img" >"$T/z.img"
xz -c "$T/part.img" >"$T/x.img"
gzip -c "$T/part.img" >"$T/g.img"
expect_fail "zstd of no known kind: exit 3" 3 "z\.img: a zstd-compressed file holding no known kind" "" "$IMAGER" inspect "$T/z.img"
expect_fail "xz of no known kind: exit 3" 3 "x\.img: a xz-compressed file holding no known kind" "" "$IMAGER" inspect "$T/x.img"
expect_fail "gzip of no known kind: exit 3" 3 "g\.img: a gzip-compressed file holding no known kind" "" "$IMAGER" inspect "$T/g.img"
{ head -c 1000 /dev/zero; printf 'x'; } | zstd -q -c | head -c 20 >"$T/zt.img"
expect_fail "a truncated .zst: invalid input" 2 "zt\.img: " "" "$IMAGER" inspect "$T/zt.img"
qemu-img create -q -f qcow2 "$T/q.img" 1M
check "qcow2: inspected by its header (84 checks VM formats)" sh -c "'$IMAGER' inspect '$T/q.img' | grep -qx 'virtual size: 1.0 MiB (1048576 bytes)'"
xz -dc "$INSTALL/amd64/initramfs.xz" | head -c 4096 >"$T/cpio.img"
expect_fail "cpio (initramfs) cut short: invalid input (84 inspects whole ones)" 2 "cpio\.img: the cpio member at byte" "" "$IMAGER" inspect "$T/cpio.img"
{ printf hsqs; head -c 4092 /dev/zero; } >"$T/sq.img" # the superblock magic only
expect_fail "squashfs magic only: invalid input (84 inspects images)" 2 "sq\.img: .*not a squashfs" "" "$IMAGER" inspect "$T/sq.img"
tar -cf "$T/t.img" -C "$INSTALL/amd64" kernel.release
expect_fail "tar that is no bundle: invalid input (84 inspects bundles)" 2 "t\.img: a tar archive but not an OCI image layout" "" "$IMAGER" inspect "$T/t.img"

# Bad inputs: no known kind, truncated UKI, missing file.
head -c 10000 /dev/urandom | tr -d '\037\050\375QKh0' >"$T/garbage"
expect_fail "garbage: invalid input, one line" 2 "garbage: expected a PE image" "" "$IMAGER" inspect "$T/garbage"
head -c 4096 "$uki" >"$T/trunc.efi"
expect_fail "a truncated UKI: invalid input, one line" 2 "trunc\.efi" "" "$IMAGER" inspect "$T/trunc.efi"
expect_fail "a missing file: exit 5" 5 "nope" "" "$IMAGER" inspect "$T/nope"
