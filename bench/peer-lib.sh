# shellcheck shell=bash disable=SC2034 # (variables for the scripts that source this file)
# Shared helpers of the peer pipelines (bench/peer-*.sh): what a user would script with
# the standard Debian tools instead of running the imager. Sourced, not run.

MIB=1048576
# Partition type GUIDs (UEFI spec / GRUB / Linux), as the imager's images use them.
T_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
T_BIOS=21686148-6449-6E6F-744E-656564454649
T_LINUX=0FC63DAF-8483-4772-8E79-3D69D8477DE4

# peer_uki STUB KERNEL INITRD CMDLINE OSREL UNAME OUT: a UKI by objcopy (the recipe of
# systemd-stub(7) for systemd 252, which has no ukify): each section appended behind the
# stub's last one at a 4 KiB-aligned address computed from the section sizes (a 100 MB
# initrd does not fit the fixed addresses of the man page's example).
peer_uki() {
	local stub=$1 kernel=$2 initrd=$3 cmdline=$4 osrel=$5 uname=$6 out=$7
	local idx size vma rest end=0 va pair sec f args=()
	while read -r idx _ size vma rest; do
		[[ $idx =~ ^[0-9]+$ ]] || continue
		((0x$vma + 0x$size > end)) && end=$((0x$vma + 0x$size))
	done < <(objdump -h "$stub")
	va=$end
	for pair in ".osrel:$osrel" ".cmdline:$cmdline" ".uname:$uname" ".linux:$kernel" ".initrd:$initrd"; do
		sec=${pair%%:*} f=${pair#*:}
		va=$(((va + 0xfff) & ~0xfff))
		args+=(--add-section "$sec=$f" --change-section-vma "$(printf '%s=0x%x' "$sec" "$va")")
		va=$((va + $(stat -L -c %s "$f")))
	done
	objcopy "${args[@]}" "$stub" "$out"
}

# le BYTES VALUE: VALUE as BYTES little-endian bytes on stdout.
le() {
	local n=$1 v=$2 i s=
	for ((i = 0; i < n; i++)); do s+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); done
	printf '%b' "$s"
}

# put FILE OFFSET: stdin written into FILE at byte OFFSET (in place).
put() { dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# part_of DISK NAME: "START SIZE" in bytes of the GPT partition named NAME (sfdisk -d).
part_of() {
	local line start size
	line=$(sfdisk -d "$1" | grep "name=\"$2\"") || return 1
	[[ $line =~ start=\ *([0-9]+),\ size=\ *([0-9]+) ]] || return 1
	start=${BASH_REMATCH[1]} size=${BASH_REMATCH[2]}
	echo "$((start * 512)) $((size * 512))"
}

# fat_from DIR IMG SIZE LABEL FILE...: a FAT32 image file of SIZE bytes holding the tree
# DIR (may be empty) and then the FILEs at its root.
fat_from() {
	local dir=$1 img=$2 size=$3 label=$4
	shift 4
	rm -f "$img"
	mkfs.vfat -F 32 -n "$label" -C "$img" $((size / 1024)) >/dev/null
	if [ -n "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
		mcopy -s -Q -i "$img" "$dir"/* ::/
	fi
	[ $# -eq 0 ] || mcopy -Q -i "$img" "$@" ::/
}
