#!/usr/bin/env bash
# Issue 17, acceptance 3: power loss at every write point of `upgrade`, `commit`, `rollback`
# and `install` over an installed OS, for GRUB (SeaBIOS) and systemd-boot (OVMF).
#
# For each verb and bootloader: a "before" disk is made once; the verb runs uncut with
# IMAGER_INSTALL_FAULT=count (N write points, printed) to give the "after" disk; then for
# every k in 1..N, plain and torn (IMAGER_INSTALL_FAULT=k, k:torn), on a copy of the before
# disk: exit 6 "simulated power loss at write k", then, read by tools that are not ours:
#   - sfdisk --verify of the GPT, fsck.fat -n of the ESP and of BOOT-A/B (GRUB), the MBR
#     boot code (GRUB) that of the before or the after disk;
#   - the slot the firmware's loader boots and the committed slot: GRUB from grub-editenv's
#     list of grubenv (next_entry boots once, saved_entry is committed), systemd-boot from
#     loader.conf's default glob matched against the UKI names of EFI/Linux (mdir): a UKI
#     with a boot counter (+1) is a trial, the committed slot is then the other one;
#   - the committed slot is one the verb may leave (upgrade, rollback: the before's; commit,
#     install: the before's or the after's) and its bytes (GRUB: its BOOT partition, sd-boot:
#     its UKI) are those of that disk; the slot booted has a payload.
# fsck.fat -n also accepts one outcome that is no damage: clusters allocated in the FAT for a
# file whose directory entry was not written yet (the allocation is written first, so a cut
# leaks space, it never cross-links), with the FSInfo free count and the second FAT copy
# (written after the first) that go with it.
# Then QEMU boots up to 10 spread cut states per verb and bootloader whose boot-relevant
# bytes differ (all of them when there are fewer; see boot_key), two at a time: each must
# land on the slot the static check named.
# The before disks get a menu timeout of 0 (same file sizes) to keep the boots short.
source "$(dirname "$0")/lib.sh"

ARCH=amd64
P=$INSTALL/$ARCH
if [ ! -e "$P/vmlinuz" ] || [ ! -x "$INSTALLER" ] || ! command -v mdir >/dev/null ||
	! command -v grub-editenv >/dev/null || ! command -v fsck.fat >/dev/null; then
	skip "power cut at every write point" "needs make payload, $INSTALLER, mtools, grub-editenv, fsck.fat"
	exit 0
fi
export SOURCE_DATE_EPOCH=1700000000 MTOOLS_SKIP_CHECK=1
t_start=$SECONDS

payload_assets "$T/A" amd64 v1.0.0 "console=ttyS0 panic=1"
payload_assets "$T/B" amd64 v1.1.0 "console=ttyS0 panic=1"
payload_assets "$T/C" amd64 v1.2.0 "console=ttyS0 panic=1" # what install writes over the installed OS

# Partitions by name and content hashes, from the sparse files' data extents (a 1000 MiB
# BOOT partition holds ~20 MiB): `part IMG NAME` prints "START_BYTES SIZE_BYTES";
# `phash IMG OFF LEN` the sha256 of its non-zero 4 KiB blocks with their positions (the
# content, whatever is a hole); `extract IMG OFF LEN OUT` a sparse copy for fsck.fat.
cat >"$T/pc.py" <<'EOF'
import hashlib, os, sys
def blocks(path, off, n):
    fd = os.open(path, os.O_RDONLY)
    pos, end = off, off + n
    while pos < end:
        try:
            d = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            break
        if d >= end:
            break
        h = min(os.lseek(fd, d, os.SEEK_HOLE), end)
        d -= (d - off) % 4096
        while d < h:
            b = os.pread(fd, min(1 << 20, h - d), d)
            for i in range(0, len(b), 4096):
                blk = b[i:i + 4096]
                if blk.count(0) != len(blk):
                    yield d + i - off, blk
            d += len(b)
        pos = h
    os.close(fd)
cmd, path, off, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if cmd == "hash":
    s = hashlib.sha256()
    for at, blk in blocks(path, off, n):
        s.update(at.to_bytes(8, "little") + blk)
    print(s.hexdigest())
else:
    fd = os.open(sys.argv[5], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, n)
    for at, blk in blocks(path, off, n):
        os.pwrite(fd, blk, at)
    os.close(fd)
EOF
part() {
	sfdisk -d "$1" 2>/dev/null | sed -n "s/.*start= *\([0-9]*\), size= *\([0-9]*\),.*name=\"$2\".*/\1 \2/p" |
		{ read -r s n && echo $((s * 512)) $((n * 512)); }
}
phash() { python3 "$T/pc.py" hash "$@"; }
mbr_code() { dd if="$1" bs=440 count=1 status=none | sha256sum | cut -d" " -f1; }

# fsck_ok IMG NAME: fsck.fat -n of the partition finds no damage (see the header).
fsck_ok() {
	local o
	o=$(part "$1" "$2") || return 1
	python3 "$T/pc.py" extract "$1" $o "$T/fsck.part" &&
		fsck.fat -n "$T/fsck.part" >"$T/fsck.out" 2>&1
	case $? in
	0) return 0 ;;
	1) ! grep -Ev '^(fsck\.fat [0-9.]+ |FATs differ but appear to be intact\.$|  Using first FAT\.$|Reclaimed [0-9]+ unused clusters|Free cluster summary wrong|  Auto-correcting\.$|Leaving filesystem unchanged\.$|.*: [0-9]+ files, [0-9]+/[0-9]+ clusters$|$)' \
		"$T/fsck.out" | grep -q . ;;
	*) return 1 ;;
	esac
}

# state IMG BL: "BOOT COMMITTED" as the loader sees it (? when undecided), or nothing.
state() {
	local esp img=$1 boot committed
	read -r esp _ < <(part "$img" EFI) || return
	if [ "$2" = grub ]; then
		mcopy -n -i "$img@@$esp" ::/grub/grubenv "$T/env" 2>/dev/null || return
		committed=$(grub-editenv "$T/env" list | sed -n 's/^saved_entry=//p')
		boot=$(grub-editenv "$T/env" list | sed -n 's/^next_entry=//p')
		echo "${boot:-$committed} $committed"
		return
	fi
	local glob name n=0 match= slot
	glob=$(mtype -i "$img@@$esp" ::/loader/loader.conf 2>/dev/null | sed -n 's/^default //p')
	while read -r name; do
		name=${name##*/}
		# shellcheck disable=SC2053 # the default line is a glob
		[[ ${name,,} == ${glob,,} ]] && { match=$name; n=$((n + 1)); }
	done < <(mdir -b -i "$img@@$esp" ::/EFI/Linux 2>/dev/null)
	[ "$n" -eq 1 ] || { echo "? ?"; return; }
	slot=$(sed -n 's/.*-\([AaBb]\)\(+[0-9-]*\)\{0,1\}\.efi$/\1/p' <<<"$match")
	slot=${slot^^}
	if [[ $match == *+* ]]; then
		committed=$(tr AB BA <<<"$slot")
		uki_of "$img" "$committed" | grep -qv '+' || committed='?'
	else
		committed=$slot
	fi
	echo "$slot $committed"
}

# uki_of IMG SLOT: the slot's UKI name in EFI/Linux.
uki_of() {
	local esp
	read -r esp _ < <(part "$1" EFI)
	mdir -b -i "$1@@$esp" ::/EFI/Linux 2>/dev/null | sed 's|.*/||' | grep -Ei -- "-$2(\+[0-9-]*)?\.efi$"
}

# slot_hash IMG BL SLOT: GRUB: the BOOT partition's content; sd-boot: the UKI's bytes.
slot_hash() {
	if [ "$2" = grub ]; then
		phash "$1" $(part "$1" "BOOT-$3")
		return
	fi
	local esp u
	read -r esp _ < <(part "$1" EFI)
	u=$(uki_of "$1" "$3") && [ -n "$u" ] || { echo none; return; }
	mcopy -n -i "$1@@$esp" "::/EFI/Linux/$u" "$T/uki.bin" && sha256sum <"$T/uki.bin" | cut -d' ' -f1
}

# has_payload IMG BL SLOT: GRUB: BOOT-SLOT holds vmlinuz and boot.cfg; sd-boot: a UKI.
has_payload() {
	if [ "$2" = grub ]; then
		local o
		read -r o _ < <(part "$1" "BOOT-$3")
		mdir -b -i "$1@@$o" :: 2>/dev/null | grep -q '/vmlinuz$' &&
			mdir -b -i "$1@@$o" :: 2>/dev/null | grep -q '/boot.cfg$'
	else
		[ -n "$(uki_of "$1" "$3")" ]
	fi
}

# boot_key IMG BL SLOT: the bytes a boot of IMG can read before the init reports, as one
# hash: the MBR boot code, the BIOS boot partition, the ESP, META and (GRUB) the BOOT
# partition of the slot it boots. Cut states with the same key boot the same way: one of
# them is booted.
boot_key() {
	local name o n
	{
		dd if="$1" bs=440 count=1 status=none | sha256sum
		for name in BIOS EFI META ${3:+BOOT-$3}; do
			[ "$2" = sd-boot ] && [ "$name" != EFI ] && [ "$name" != META ] && continue
			read -r o n < <(part "$1" "$name") && phash "$1" "$o" "$n"
		done
	} | sha256sum | cut -d' ' -f1
}

# fast IMG BL: menu timeout 0 (a same-size edit: the installer rewrites these in place).
fast() {
	local esp f
	read -r esp _ < <(part "$1" EFI)
	if [ "$2" = grub ]; then f=grub/grub.cfg; else f=loader/loader.conf; fi
	mtype -i "$1@@$esp" "::/$f" | sed 's/^set timeout=3$/set timeout=0/; s/^timeout 3$/timeout 0/' \
		>"$T/fast.cfg" && mcopy -o -i "$1@@$esp" "$T/fast.cfg" "::/$f"
}

# run_verb VERB IMG [FAULT]: the verb on IMG (install: over what IMG holds).
run_verb() {
	local v=$1 img=$2 bl=${3:-}
	case $v in
	upgrade) "$INSTALLER" upgrade --disk "$img" --assets "$T/B" ;;
	commit) "$INSTALLER" commit --disk "$img" --slot B ;;
	rollback) "$INSTALLER" rollback --disk "$img" ;;
	install) "$INSTALLER" install --disk "$img" --image-mode --bootloader "$bl" --assets "$T/C" ;;
	esac
}

# Before disks, per bootloader: base = A installed and committed (upgrade's before);
# trial = base upgraded to B, armed (commit's); onb = trial committed, B committed and A
# holding the old payload (rollback's and install's).
for bl in grub sd-boot; do
	if "$INSTALLER" install --disk "$T/$bl-base.img" --image-mode --bootloader "$bl" \
		--assets "$T/A" >"$T/prep.out" 2>&1 && fast "$T/$bl-base.img" "$bl" &&
		cp --sparse=always "$T/$bl-base.img" "$T/$bl-trial.img" &&
		run_verb upgrade "$T/$bl-trial.img" >>"$T/prep.out" 2>&1 &&
		cp --sparse=always "$T/$bl-trial.img" "$T/$bl-onb.img" &&
		run_verb commit "$T/$bl-onb.img" >>"$T/prep.out" 2>&1; then
		ok "$bl: before disks (A committed; B on trial; B committed)"
	else
		not_ok "$bl: before disks" "$(cat "$T/prep.out")"
	fi
done

BOOTS=()   # "IMG MODE SLOT DESC" of the cut states to boot
declare -A QUEUED=() # boot keys already queued (by any verb): the same bytes boot the same way
SHARED=0
TOTAL=0

# cut_all VERB BL BEFORE ALLOWED: every write point, plain and torn. ALLOWED: the committed
# slots the verb may leave ("before" and/or "after").
cut_all() {
	local v=$1 bl=$2 before=$3 allowed=$4 n k mode img after
	after=$T/$1-$2-after.img
	local -A seen=()
	local distinct=() bad=0 c0 c1 b0 b1
	cp --sparse=always "$before" "$after"
	IMAGER_INSTALL_FAULT=count run_verb "$v" "$after" "$bl" >"$T/count.out" 2>&1
	n=$(sed -n 's/^installer: \([0-9]*\) write points$/\1/p' "$T/count.out")
	if [ -z "$n" ] || [ "$n" -eq 0 ]; then
		not_ok "$v/$bl: uncut run counts its write points" "$(cat "$T/count.out")"
		return
	fi
	echo "# $v/$bl: $n write points"
	TOTAL=$((TOTAL + n))
	read -r b0 c0 < <(state "$before" "$bl")
	read -r b1 c1 < <(state "$after" "$bl")
	local -A want_hash=([$c0]=$(slot_hash "$before" "$bl" "$c0"))
	[[ $allowed == *after* ]] && want_hash[$c1]=$(slot_hash "$after" "$bl" "$c1")
	[[ $allowed == *before* ]] || unset "want_hash[$c0]"
	for ((k = 1; k <= n; k++)); do
		for mode in "" :torn; do
			img=$T/$v-$bl-$k$mode.img
			cp --sparse=always "$before" "$img"
			IMAGER_INSTALL_FAULT=$k$mode run_verb "$v" "$img" "$bl" >"$T/cut.out" 2>&1
			local rc=$? why=
			read -r boot committed < <(state "$img" "$bl")
			if [ $rc -ne 6 ] || ! grep -q "simulated power loss at write $k\$" "$T/cut.out"; then
				why="exit $rc: $(head -c 300 "$T/cut.out")"
			elif ! sfdisk --verify "$img" >"$T/v.out" 2>&1 || ! grep -q "^No errors detected" "$T/v.out"; then
				why="sfdisk --verify: $(cat "$T/v.out")"
			elif ! fsck_ok "$img" EFI; then
				why="fsck.fat -n ESP: $(cat "$T/fsck.out")"
			elif [ "$bl" = grub ] && [ "$(mbr_code "$img")" != "$(mbr_code "$before")" ] &&
				[ "$(mbr_code "$img")" != "$(mbr_code "$after")" ]; then
				why="the MBR boot code is neither the before's nor the after's"
			elif [ "$bl" = grub ] && ! { fsck_ok "$img" BOOT-A && fsck_ok "$img" BOOT-B; }; then
				why="fsck.fat -n BOOT: $(cat "$T/fsck.out")"
			elif [ -z "${committed:-}" ] || [ -z "${want_hash[$committed]:-}" ]; then
				why="committed slot '${committed:-}' (boots '${boot:-}'), want one of ${!want_hash[*]}"
			elif [ "$(slot_hash "$img" "$bl" "$committed")" != "${want_hash[$committed]}" ]; then
				why="the committed slot $committed's bytes changed"
			elif ! has_payload "$img" "$bl" "$boot"; then
				why="slot $boot (booted first) has no payload"
			elif [ "$boot" != "$committed" ] && ! { [ "$boot" = "$b0" ] &&
				[ "$(slot_hash "$img" "$bl" "$boot")" = "$(slot_hash "$before" "$bl" "$boot")" ]; } &&
				! { [ "$boot" = "$b1" ] &&
					[ "$(slot_hash "$img" "$bl" "$boot")" = "$(slot_hash "$after" "$bl" "$boot")" ]; }; then
				why="boots $boot: not the committed $committed, nor the before's or after's trial with its bytes"
			fi
			if [ -n "$why" ]; then
				not_ok "$v/$bl: cut at write $k$mode" "$why"
				bad=$((bad + 1))
				rm -f "$img"
				continue
			fi
			local h
			h=$(boot_key "$img" "$bl" "$boot")
			if [ -z "${seen[$h]:-}" ]; then
				seen[$h]=1
				distinct+=("$img $boot $h")
			else
				rm -f "$img"
			fi
		done
	done
	[ $bad -eq 0 ] && ok "$v/$bl: all $n write points, plain and torn: structure, committed slot's bytes, boot slot"
	# up to 10 of the distinct states, spread over the run
	local m=${#distinct[@]} i j last=-1 bmode=bios
	[ "$bl" = sd-boot ] && bmode=uefi
	for ((i = 0; i < 10 && i < m; i++)); do
		j=$(( m <= 10 ? i : i * (m - 1) / 9 ))
		[ $j -eq $last ] && continue
		last=$j
		read -r img boot h <<<"${distinct[$j]}"
		if [ -n "${QUEUED[$h]:-}" ]; then
			SHARED=$((SHARED + 1)) # booted for another verb already
			continue
		fi
		QUEUED[$h]=1
		BOOTS+=("$img $bmode $boot $v/$bl")
	done
	echo "# $v/$bl: ${#distinct[@]} distinct cut states, $(( m < 10 ? m : 10 )) booted"
}

cut_all upgrade grub "$T/grub-base.img" before
cut_all upgrade sd-boot "$T/sd-boot-base.img" before
cut_all commit grub "$T/grub-trial.img" "before after"
cut_all commit sd-boot "$T/sd-boot-trial.img" "before after"
cut_all rollback grub "$T/grub-onb.img" before
cut_all rollback sd-boot "$T/sd-boot-onb.img" before
cut_all install grub "$T/grub-onb.img" "before after"
cut_all install sd-boot "$T/sd-boot-onb.img" "before after"
echo "# $TOTAL write points in all; static checks took $((SECONDS - t_start)) s; ${#BOOTS[@]} boots, $SHARED more states share the bytes of one of them"

# QEMU, two at a time: each boot must land on the slot the static check named.
boot_one() {
	local img=$1 mode=$2 log=$1.log
	if [ "$mode" = bios ]; then
		qemu_run "$log" 120 qemu-system-x86_64 -M pc -m 512 -net none -drive file="$img",format=raw
	else
		boot_uefi amd64 "$log" "$img"
	fi
}
t_boot=$SECONDS
# a pool of two: the next boot starts as soon as either QEMU is done
for ((j = 0; j < ${#BOOTS[@]}; j++)); do
	while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
	read -r img mode _ _ <<<"${BOOTS[$j]}"
	boot_one "$img" "$mode" &
done
wait
for ((j = 0; j < ${#BOOTS[@]}; j++)); do
	read -r img mode slot desc <<<"${BOOTS[$j]}"
	name="$desc: boot after the cut at ${img##*-}"
	name=${name%.img}
	if grep -q "IMAGER-REPORT done" "$img.log"; then
		expect_eq "$name lands on slot $slot" "$(report "$img.log" slot)" "$slot"
	else
		not_ok "$name reaches the init's report" "$(log_tail "$img.log")"
	fi
	rm -f "$img" "$img.log.vars"
done
echo "# ${#BOOTS[@]} boots took $((SECONDS - t_boot)) s; the file $((SECONDS - t_start)) s"
exit 0
