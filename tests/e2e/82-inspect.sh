#!/usr/bin/env bash
# imager inspect (issue 14, first step): the kind is told from the file's bytes; a UKI is
# inspected, every other kind the imager writes is recognised and refused with exit 3
# ("not inspected yet") in one line, and a file of no known kind is invalid input (2).
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
expect_fail "a GPT disk image: recognised, not yet" 3 "disk\.bin: a GPT disk image; only UKI" "" "$IMAGER" inspect "$T/disk.bin"
head -c 65536 "$T/disk.bin" >"$T/part.img"
zstd -q -c "$T/part.img" >"$T/z.img"
xz -c "$T/part.img" >"$T/x.img"
gzip -c "$T/part.img" >"$T/g.img"
expect_fail "zstd: recognised, not yet" 3 "z\.img: a zstd-compressed file" "" "$IMAGER" inspect "$T/z.img"
expect_fail "xz: recognised, not yet" 3 "x\.img: a xz-compressed file" "" "$IMAGER" inspect "$T/x.img"
expect_fail "gzip: recognised, not yet" 3 "g\.img: a gzip-compressed file" "" "$IMAGER" inspect "$T/g.img"
qemu-img create -q -f qcow2 "$T/q.img" 1M
expect_fail "qcow2: recognised, not yet" 3 "q\.img: a qcow2 disk image" "" "$IMAGER" inspect "$T/q.img"
xz -dc "$INSTALL/amd64/initramfs.xz" | head -c 4096 >"$T/cpio.img"
expect_fail "cpio (initramfs): recognised, not yet" 3 "cpio\.img: a cpio archive" "" "$IMAGER" inspect "$T/cpio.img"
{ printf hsqs; head -c 4092 /dev/zero; } >"$T/sq.img" # the superblock magic only
expect_fail "squashfs: recognised, not yet" 3 "sq\.img: a squashfs" "" "$IMAGER" inspect "$T/sq.img"
tar -cf "$T/t.img" -C "$INSTALL/amd64" kernel.release
expect_fail "tar (bundle): recognised, not yet" 3 "t\.img: a tar archive" "" "$IMAGER" inspect "$T/t.img"

# Bad inputs: no known kind, truncated UKI, missing file.
head -c 10000 /dev/urandom | tr -d '\037\050\375QKh0' >"$T/garbage"
expect_fail "garbage: invalid input, one line" 2 "garbage: expected a PE image" "" "$IMAGER" inspect "$T/garbage"
head -c 4096 "$uki" >"$T/trunc.efi"
expect_fail "a truncated UKI: invalid input, one line" 2 "trunc\.efi" "" "$IMAGER" inspect "$T/trunc.efi"
expect_fail "a missing file: exit 5" 5 "nope" "" "$IMAGER" inspect "$T/nope"
