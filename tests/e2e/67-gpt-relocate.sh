#!/usr/bin/env bash
# Issue 17: a disk image written onto a larger disk (the `dd` a user does). The backup GPT
# stays where the image ended: `installer status` reads the disk, says so in one warning
# and writes nothing; `upgrade` moves the backup to the disk's end first (as `sgdisk -e`),
# then upgrades. The move is power-safe: a cut at each of its writes, plain or torn,
# leaves a primary GPT whose backup checks out (read here by a Python reader written from
# UEFI 2.10 §5.3.2, not ours), the same partitions, and the same slot state; rerunning the
# upgrade finishes the job (sfdisk --verify: no errors). The result boots on the new slot.
. "$(dirname "$0")/lib.sh"

if [ ! -e "$INSTALL/amd64/vmlinuz" ]; then
	not_ok "backup GPT relocation" "needs make payload ($INSTALL/amd64)"
	exit 0
fi
export SOURCE_DATE_EPOCH=1700000000
payload_assets "$T/A" amd64 v1.0.0 "console=ttyS0 panic=1"
payload_assets "$T/B" amd64 v1.1.0 "console=ttyS0 panic=1"

# gptcheck IMG: "ALT LAST" (the backup's LBA, the disk's last LBA) when the primary header
# and the backup it names both check out (signature, header CRC, MyLBA, entry array CRC).
cat >"$T/gpt.py" <<'EOF'
import os, struct, sys, zlib
f = open(sys.argv[1], "rb")
last = os.fstat(f.fileno()).st_size // 512 - 1
def header(lba):
    f.seek(lba * 512)
    h = f.read(512)
    if h[:8] != b"EFI PART":
        sys.exit("LBA %d: no GPT header" % lba)
    size, crc = struct.unpack_from("<II", h, 12)
    if zlib.crc32(h[:16] + b"\0\0\0\0" + h[20:size]) != crc:
        sys.exit("LBA %d: header CRC" % lba)
    my, alt, first, lastu = struct.unpack_from("<QQQQ", h, 24)
    entries, n, esize, ecrc = struct.unpack_from("<QIII", h, 72)
    if my != lba:
        sys.exit("LBA %d: MyLBA %d" % (lba, my))
    f.seek(entries * 512)
    if zlib.crc32(f.read(n * esize)) != ecrc:
        sys.exit("LBA %d: entry array CRC" % lba)
    return alt, lastu
alt, lastu = header(1)
back, _ = header(alt)
if back != 1:
    sys.exit("backup at %d names %d, not LBA 1" % (alt, back))
print(alt, last)
EOF
gptcheck() { python3 "$T/gpt.py" "$1"; }
parts() { sfdisk -d "$1" | sed -n 's/^[^ ]* : start=/start=/p'; }

"$INSTALLER" install --disk "$T/img" --image-mode --bootloader grub --assets "$T/A" \
	>"$T/inst.out" 2>&1 || not_ok "install an image" "$(cat "$T/inst.out")"
image_size=$(stat -c %s "$T/img")
truncate -s +1G "$T/img" # the image dd'ed onto a disk 1 GiB larger
read -r alt0 last0 < <(gptcheck "$T/img")
expect_eq "the image on the larger disk: backup where the image ended" \
	"$alt0" "$((image_size / 512 - 1))"
sum0=$(sha256sum <"$T/img")
parts0=$(parts "$T/img")
status0=$("$INSTALLER" status --disk "$T/img" 2>"$T/st.err")
check "status reads it: A committed" grep -qx "slot A: committed Talos v1.0.0" <<<"$status0"
expect_eq "status warns in one line" "$(cat "$T/st.err")" \
	"installer: warning: $T/img: the backup GPT is at LBA $alt0, not at the disk's end (LBA $last0: an image written onto a larger disk); upgrade, commit or rollback moves it there"
expect_eq "status writes nothing" "$(sha256sum <"$T/img")" "$sum0"

# write points: the upgrade on the larger disk has the move's 5 writes more
cp --sparse=always "$T/img" "$T/small"
truncate -s "$image_size" "$T/small"
n_small=$(IMAGER_INSTALL_FAULT=count "$INSTALLER" upgrade --disk "$T/small" --assets "$T/B" 2>&1 |
	sed -n 's/^installer: \([0-9]*\) write points$/\1/p')
cp --sparse=always "$T/img" "$T/img.count"
n_big=$(IMAGER_INSTALL_FAULT=count "$INSTALLER" upgrade --disk "$T/img.count" --assets "$T/B" 2>&1 |
	sed -n 's/^installer: \([0-9]*\) write points$/\1/p')
expect_eq "the move adds 5 write points to the upgrade ($n_small -> $n_big)" "$((n_big - n_small))" 5
echo "# relocation: write points 1..5 of $n_big"

for k in 1 2 3 4 5; do
	for mode in "" :torn; do
		c=$T/cut
		cp --sparse=always "$T/img" "$c"
		IMAGER_INSTALL_FAULT=$k$mode "$INSTALLER" upgrade --disk "$c" --assets "$T/B" >"$T/cut.out" 2>&1
		rc=$?
		why=
		if [ $rc -ne 6 ] || ! grep -q "simulated power loss at write $k\$" "$T/cut.out"; then
			why="exit $rc: $(cat "$T/cut.out")"
		elif ! gptcheck "$c" >"$T/g.out" 2>&1; then
			why="GPT: $(cat "$T/g.out")"
		elif [ "$(parts "$c")" != "$parts0" ]; then
			why="partitions changed: $(parts "$c")"
		elif [ "$("$INSTALLER" status --disk "$c" 2>/dev/null)" != "$status0" ]; then
			why="status changed: $("$INSTALLER" status --disk "$c" 2>&1)"
		elif ! "$INSTALLER" upgrade --disk "$c" --assets "$T/B" >"$T/re.out" 2>&1; then
			why="the upgrade rerun failed: $(cat "$T/re.out")"
		elif ! sfdisk --verify "$c" 2>&1 | grep -q "^No errors detected"; then
			why="after the rerun: $(sfdisk --verify "$c" 2>&1)"
		fi
		if [ -z "$why" ]; then
			ok "cut at write $k$mode of the move: GPT consistent, same partitions and slots; a rerun finishes"
		else
			not_ok "cut at write $k$mode of the move" "$why"
		fi
	done
done

if "$INSTALLER" upgrade --disk "$T/img" --assets "$T/B" >"$T/up.out" 2>"$T/up.err"; then
	ok "upgrade on the larger disk"
else
	not_ok "upgrade on the larger disk" "$(cat "$T/up.err")"
fi
expect_eq "upgrade says it moves the backup, in one line" "$(cat "$T/up.err")" \
	"installer: warning: $T/img: the backup GPT is at LBA $alt0, not at the disk's end: moving it to LBA $last0"
expect_eq "the backup is at the disk's last LBA" "$(gptcheck "$T/img")" "$last0 $last0"
check "sfdisk --verify: no errors" sh -c "sfdisk --verify '$T/img' 2>&1 | grep -q '^No errors detected'"
expect_eq "sfdisk: the usable space reaches the end (last-lba)" \
	"$(sfdisk -d "$T/img" | sed -n 's/^last-lba: //p')" "$((last0 - 33))"
expect_eq "the partitions are the image's" "$(parts "$T/img")" "$parts0"
check "the old backup header is gone" sh -c \
	"[ \"\$(dd if='$T/img' bs=512 skip=$alt0 count=1 status=none | tr -d '\\0' | wc -c)\" -eq 0 ]"
cp --sparse=always "$T/img" "$T/img2"
expect_eq "the next writing verb warns no more" \
	"$("$INSTALLER" rollback --disk "$T/img2" 2>&1 >/dev/null)" ""

qemu_run "$T/boot.log" 150 qemu-system-x86_64 -M pc -m 512 -net none -drive file="$T/img",format=raw
expect_booted "the relocated disk (SeaBIOS)" "reaches the init report" "$T/boot.log" B
exit 0
