#!/usr/bin/env bash
# The benchmark of issue 15: each output of the imager against what a user would run
# instead (the standard Debian tools), side by side and alternating, and against a
# "physical limit" (the payload through the case's compressor once, written once).
#
#   bench/run.sh [--runs N] [--payload-mb N] [--ext-mb N] [--quick] [--only 1,3,...]
#
# Inputs are prepared in $OUT/bench/ (never in git): the inputs folder of `make payload`
# with a synthetic incompressible initramfs (the reference initramfs.xz followed by a newc
# cpio holding N MB of AES-CTR keystream: deterministic, and as incompressible as
# compressed kernel modules and firmware), and a system extension of --ext-mb MB.
#
# Every timed command runs under /usr/bin/time -v (peak RSS: the largest single process
# of the command, as getrusage reports it for a pipeline) inside `bash -c 'CMD; cat
# /proc/$$/io'`: the kernel adds the I/O counters of every reaped child to its parent, so
# that shell's wchar/write_bytes are the command's bytes written. Wall time is taken
# around it with $EPOCHREALTIME. Before each run the page cache is synced (untimed), so a
# run never pays for the writeback of the one before.
#
# Prints one table (markdown) and exits non-zero when a case failed to produce its
# output or the table is malformed.
# shellcheck disable=SC2016 # the sh -c / bash -c scripts are single-quoted on purpose
set -euo pipefail
export LC_ALL=C # $EPOCHREALTIME and printf use the locale's decimal point
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
cd "$SRC"

RUNS=3 PAYLOAD_MB=100 EXT_MB=50 QUICK=0 ONLY=
AWS_SMALL=8GiB AWS_LARGE=100GiB
usage() {
	sed -n '2,/^# shellcheck/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit "${1:-0}"
}
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2 && shift ;;
	--payload-mb) PAYLOAD_MB=$2 && shift ;;
	--ext-mb) EXT_MB=$2 && shift ;;
	--only) ONLY=,$2, && shift ;;
	--quick) QUICK=1 ;;
	-h | --help) usage 0 ;;
	*)
		echo "bench: unknown argument $1" >&2
		usage 2 >&2
		;;
	esac
	shift
done
if [ $QUICK = 1 ]; then
	# Seconds, not minutes: small payload, small disks, one run; the .xz case on a small
	# systemd-boot image (xz of 3 GiB of zeros alone takes ~60 s here).
	RUNS=1 PAYLOAD_MB=2 EXT_MB=2 AWS_SMALL=1GiB AWS_LARGE=8GiB
fi
[[ $RUNS =~ ^[1-9][0-9]*$ && $PAYLOAD_MB =~ ^[0-9]+$ && $EXT_MB =~ ^[1-9][0-9]*$ ]] || {
	echo "bench: --runs, --payload-mb and --ext-mb take whole numbers" >&2
	exit 2
}

OUT=${OUT:-out}
case $OUT in /*) ;; *) OUT=$SRC/$OUT ;; esac
ARCH=amd64
REF=$OUT/install/$ARCH
# Always the optimised build (the tests export IMAGER as the sanitizer build).
IMAGER=${BENCH_IMAGER:-$SRC/bin/imager}
INSTALLER=${BENCH_INSTALLER:-$SRC/bin/installer}
B=$OUT/bench
IN=$B/inputs   # the inputs folder with the synthetic initramfs
EXT=$B/ext     # the extension (manifest.yaml + rootfs/)
PROF=$B/prof   # profiles
KEYS=$B/keys   # imager keys
CONF=$B/conf   # the peers' hand-written files, copied from reference imager outputs
UPG=$B/upgrade # the payload folder installer upgrade writes
W=$B/run       # per-run outputs (removed before each run)
R=$B/results   # one line per run: wall_s rss_kib wchar write_bytes
MIB=1048576
NPROC=$(nproc)
FAILED=()

die() {
	echo "bench: $*" >&2
	exit 4
}
log() { echo "bench: $*" >&2; }

need_tools() {
	local t missing=()
	for t in /usr/bin/time openssl cpio zstd xz objcopy objdump sbsign sfdisk mkfs.vfat \
		mcopy xorriso mksquashfs; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	[ ${#missing[@]} -eq 0 ] || die "missing tools: ${missing[*]} (run 'make deps')"
	if [ ! -x "$IMAGER" ] || [ ! -x "$INSTALLER" ]; then die "no $IMAGER or $INSTALLER (run 'make all')"; fi
	if [ ! -f "$REF/vmlinuz" ] || [ ! -f "$REF/initramfs.xz" ]; then die "no $REF (run 'make payload')"; fi
}

# keystream BYTES: BYTES of a fixed AES-128-CTR keystream (deterministic, incompressible).
keystream() {
	openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
		-iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null | head -c "$1" || true
}

# newc DIR: a reproducible newc cpio of DIR's contents on stdout.
newc() {
	(cd "$1" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --reproducible --quiet)
}

prepare_inputs() {
	local f
	rm -rf "$IN" "$B/pl"
	mkdir -p "$IN" "$B/pl/bench"
	for f in "$REF"/*; do
		[ "$(basename "$f")" = initramfs.xz ] || ln -s "$f" "$IN/"
	done
	# The kernel unpacks concatenated archives: the reference (xz) then the payload
	# (uncompressed newc). The xz magic in front keeps the imager appending extensions
	# with xz, as for a real Talos initramfs.xz.
	keystream $((PAYLOAD_MB * 1000000)) >"$B/pl/bench/payload.bin"
	{ cat "$REF/initramfs.xz" && newc "$B/pl"; } >"$IN/initramfs.xz"
	rm -rf "$B/pl"
}

# The extension: half incompressible (keystream), half base64 text of it (compresses to
# ~75%), in 1 MiB files, like binaries next to text.
prepare_extension() {
	local i d=$EXT/rootfs/usr/local/lib/bench n=$(((EXT_MB * 1000000 + MIB - 1) / MIB))
	rm -rf "$EXT"
	mkdir -p "$d"
	sed 's/name: hello-world/name: bench/; s/^  version: .*/  version: 1.0.0/' \
		"$SRC/extensions/hello-world/manifest.yaml" >"$EXT/manifest.yaml"
	keystream $((n * MIB)) >"$B/ext.bin"
	for ((i = 0; i < n; i++)); do
		if ((i % 2 == 0)); then
			dd if="$B/ext.bin" of="$d/blob$i.bin" bs=$MIB skip=$i count=1 status=none
		else
			# 3/4 MiB as base64 without line breaks: exactly 1 MiB of text
			dd if="$B/ext.bin" bs=$((MIB * 3 / 4)) skip=$((i * MIB)) count=1 iflag=skip_bytes \
				status=none | base64 -w0 >"$d/text$i.txt"
		fi
	done
	rm -f "$B/ext.bin"
}

prepare_profiles() {
	mkdir -p "$PROF"
	printf 'baseProfileName: aws\noutput:\n  imageOptions:\n    diskSize: %s\n' "$AWS_SMALL" >"$PROF/aws-small.yaml"
	printf 'baseProfileName: aws\noutput:\n  imageOptions:\n    diskSize: %s\n' "$AWS_LARGE" >"$PROF/aws-large.yaml"
	# metal as built in; --quick: a 128 MiB diskSize (+ the two 1000 MiB boot slots)
	local disk=
	[ $QUICK = 1 ] && disk='  imageOptions:\n    diskSize: 128MiB\n'
	printf '%b' "baseProfileName: metal\n${disk:+output:\n$disk}" >"$PROF/metal.yaml"
	printf '%b' "baseProfileName: metal\noutput:\n  outFormat: raw\n$disk" >"$PROF/metal-raw.yaml"
	if [ $QUICK = 1 ]; then
		local o='  imageOptions:\n    bootloader: sd-boot\n    diskSize: 128MiB\n'
		printf '%b' "baseProfileName: metal\noutput:\n  outFormat: .xz\n$o" >"$PROF/xz.yaml"
		printf '%b' "baseProfileName: metal\noutput:\n  outFormat: raw\n$o" >"$PROF/xz-raw.yaml"
	else
		printf 'baseProfileName: metal\noutput:\n  outFormat: .xz\n' >"$PROF/xz.yaml"
		cp "$PROF/metal-raw.yaml" "$PROF/xz-raw.yaml"
	fi
}

# uki_section UKI NAME FILE: one PE section's bytes.
uki_section() { objcopy -O binary --only-section="$2" "$1" "$3"; }

# Reference outputs (untimed; they also warm the page cache) and, from them, the files a
# user of the peers would have written by hand.
prepare_references() {
	local ref=$B/ref esp boota
	rm -rf "$ref" "$CONF" "$B/iso" "$UPG"
	mkdir -p "$ref" "$CONF/esp" "$CONF/boot" "$CONF/sb" "$B/iso"
	[ -f "$KEYS/uki-signing-key.pem" ] || "$IMAGER" keys --output "$KEYS" >/dev/null
	"$IMAGER" "$PROF/metal-raw.yaml" --inputs "$IN" -o "$ref/metal" -q --no-build-record
	"$IMAGER" "$PROF/xz-raw.yaml" --inputs "$IN" -o "$ref/xz" -q --no-build-record
	"$IMAGER" iso --inputs "$IN" -o "$ref/iso" -q --no-build-record
	"$IMAGER" secureboot-metal-uki --inputs "$IN" --secureboot-keys "$KEYS" -o "$ref/uki" -q \
		--no-build-record
	"$IMAGER" metal --output-kind initramfs --inputs "$IN" --system-extension-image "$EXT" \
		-o "$ref/initramfs" -q --no-build-record

	# metal: ESP and BOOT-A files, the UKI's text sections, META
	RAW=$ref/metal/metal-amd64.raw
	read -r esp _ < <(part_of "$RAW" EFI)
	read -r boota _ < <(part_of "$RAW" BOOT-A)
	read -r meta _ < <(part_of "$RAW" META)
	mcopy -s -n -i "$RAW@@$esp" ::/grub ::/loader "$CONF/esp/"
	mcopy -n -i "$RAW@@$boota" ::/boot.cfg ::/os-release "$CONF/boot/"
	local uki
	uki=$(mdir -b -i "$RAW@@$esp" ::/EFI/Linux | head -n1)
	basename "$uki" >"$CONF/uki-name"
	mcopy -n -i "$RAW@@$esp" "$uki" "$ref/uki-a.efi"
	uki_section "$ref/uki-a.efi" .cmdline "$CONF/cmdline"
	uki_section "$ref/uki-a.efi" .osrel "$CONF/osrel"
	uki_section "$ref/uki-a.efi" .uname "$CONF/uname"
	dd if="$RAW" of="$CONF/meta.img" bs=$MIB skip=$((meta / MIB)) count=1 status=none
	stat -c %s "$RAW" >"$CONF/disk-size"
	sfdisk -d "$RAW" | sed -nE 's/^label-id: (.*)/disk \1/p; s/.*uuid=([^,]+), name="([^"]+)".*/\2 \1/p' >"$CONF/gpt"
	# the signed UKI's command line (lockdown=...) for the UKI peer
	cp "$CONF/osrel" "$CONF/uname" "$CONF/sb/"
	uki_section "$(ls "$ref"/uki/*.efi)" .cmdline "$CONF/sb/cmdline"
	# the extension's extensions.yaml, from the appended archive
	tail -c +$(($(stat -c %s "$IN/initramfs.xz") + 1)) "$ref/initramfs/initramfs-amd64.xz" |
		xz -dc | (cd "$ref" && cpio -id --quiet extensions.yaml)
	cp "$ref/extensions.yaml" "$CONF/extensions.yaml"

	# ISO: the imager's tree, its boot images, and its xorriso options (as mkisofs)
	prepare_iso "$ref/iso/metal-amd64.iso"

	# upgrade: a payload folder with a new version
	mkdir -p "$UPG"
	local f
	for f in vmlinuz initramfs.xz systemd-stub.efi systemd-boot.efi grub; do ln -s "$IN/$f" "$UPG/$f"; done
	echo v1.1.0 >"$UPG/version"
	cp "$CONF/cmdline" "$UPG/cmdline"
	sed 's/-v1\.0\.0-A\.efi$/-v1.1.0-B.efi/' "$CONF/uki-name" >"$CONF/uki-name-b"
}

# prepare_iso ISO: ISO_TREE and ISO_ARGS (xorriso -as mkisofs options) that rebuild ISO:
# `-report_el_torito as_mkisofs` names byte ranges of ISO itself (MBR, EFI image); those
# are cut out into files so the peer reads only its inputs.
prepare_iso() {
	local iso=$1 line tok a u e n=0 bs
	ISO_TREE=$B/iso/tree
	xorriso -osirrox on -indev "$iso" -extract / "$ISO_TREE" 2>/dev/null
	chmod -R u+w "$ISO_TREE"
	ISO_ARGS=()
	while IFS= read -r line; do
		local toks=()
		eval "toks=($line)" # xorriso quotes every path with '...'
		for tok in "${toks[@]}"; do
			if [[ $tok =~ ^--interval:local_fs:([0-9]+)([sd])-([0-9]+)([sd]):([^:]*):(.*)$ ]]; then
				a=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} e=${BASH_REMATCH[3]}
				[ "$u" = s ] && bs=2048 || bs=512
				n=$((n + 1))
				dd if="$iso" of="$B/iso/part$n" bs=$bs skip="$a" count=$((e - a + 1)) status=none
				tok="--interval:local_fs:0$u-$((e - a))$u:${BASH_REMATCH[5]}:$B/iso/part$n"
			fi
			tok=$(sed -E 's/appended_partition_([0-9]+)_start_[0-9]+s_size_[0-9]+d/appended_partition_\1/' <<<"$tok")
			[ "$tok" = / ] || ISO_ARGS+=("$tok") # the tree is given as the source
		done
	done < <(xorriso -indev "$iso" -report_el_torito as_mkisofs 2>/dev/null)
	[ ${#ISO_ARGS[@]} -gt 0 ] || die "xorriso reported no boot options for $iso"
}

# --- the cases -------------------------------------------------------------------------

CASES=(metal aws iso uki sqfs initramfs xz upgrade)
declare -A LABEL=(
	[metal]="1 metal raw.zst"
	[aws]="2 aws raw.zst ${AWS_LARGE/GiB/ GiB} (peer: imager ${AWS_SMALL/GiB/ GiB})"
	[iso]="3 ISO (peer: xorriso -as mkisofs)"
	[uki]="4 UKI + sign (peer: objcopy + sbsign)"
	[sqfs]="5 extension squashfs (peer: mksquashfs)"
	[initramfs]="6 initramfs + extension (peer: mksquashfs, cpio, xz)"
	[xz]="7 .xz image (peer: xz -T0 of raw)"
	[upgrade]="8 installer upgrade (peer: mkfs.vfat + mcopy)"
)

# side CASE WHO: the untimed preparation of one run of CASE by WHO (imager, peer or
# limit), leaving the command in CMD and the output it must produce in OUTF.
side() {
	local d=$W/$1-$2
	rm -rf "$d"
	mkdir -p "$d"
	CMD=() OUTF=
	local payload=("$IN/vmlinuz" "$IN/initramfs.xz")
	case $1.$2 in
	metal.imager) CMD=("$IMAGER" "$PROF/metal.yaml" --inputs "$IN" -o "$d" -q) OUTF=$d/metal-amd64.raw.zst ;;
	metal.peer) CMD=("$HERE/peer-metal.sh" "$IN" "$CONF" "$d/metal-amd64.raw.zst") OUTF=$d/metal-amd64.raw.zst ;;
	metal.limit) # the payload through zstd -3 -T0 once, written once
		CMD=(sh -c 'cat "$@" | zstd -3 -T0 -q >"$0"' "$d/limit.zst" "${payload[@]}") OUTF=$d/limit.zst ;;
	aws.imager) CMD=("$IMAGER" "$PROF/aws-large.yaml" --inputs "$IN" -o "$d" -q) OUTF=$d/aws-amd64.raw.zst ;;
	aws.peer) CMD=("$IMAGER" "$PROF/aws-small.yaml" --inputs "$IN" -o "$d" -q) OUTF=$d/aws-amd64.raw.zst ;;
	iso.imager) CMD=("$IMAGER" iso --inputs "$IN" -o "$d" -q) OUTF=$d/metal-amd64.iso ;;
	iso.peer) CMD=(xorriso -as mkisofs "${ISO_ARGS[@]}" -o "$d/peer.iso" "$ISO_TREE") OUTF=$d/peer.iso ;;
	iso.limit) # the payload written once (an ISO stores files uncompressed)
		CMD=(sh -c 'cat "$@" >"$0"' "$d/limit.bin" "${payload[@]}") OUTF=$d/limit.bin ;;
	uki.imager)
		CMD=("$IMAGER" secureboot-metal-uki --inputs "$IN" --secureboot-keys "$KEYS" -o "$d" -q)
		OUTF=$d/metal-amd64-secureboot-uki.efi
		;;
	uki.peer) CMD=("$HERE/peer-uki.sh" "$IN" "$CONF/sb" "$KEYS" "$d/peer.efi") OUTF=$d/peer.efi ;;
	uki.limit) # stub + payload read once, hashed once (Authenticode), written once
		CMD=(sh -c 'cat "$@" | tee "$0" | sha256sum >/dev/null' "$d/limit.efi" "$IN/systemd-stub.efi" "${payload[@]}")
		OUTF=$d/limit.efi
		;;
	sqfs.imager) CMD=("$IMAGER" mksquashfs --threads "$NPROC" "$EXT/rootfs" "$d/ext.sqsh") OUTF=$d/ext.sqsh ;;
	sqfs.peer)
		CMD=(mksquashfs "$EXT/rootfs" "$d/ext.sqsh" -comp zstd -Xcompression-level 3 -b 131072
			-processors "$NPROC" -all-root -noappend -no-progress -quiet)
		OUTF=$d/ext.sqsh
		;;
	sqfs.limit | initramfs.limit) # the tree through zstd -3 once (+ the base copied once)
		local base=/dev/null
		[ "$1" = initramfs ] && base=$IN/initramfs.xz
		CMD=(sh -c 'cat "$1" >"$0" && find "$2" -type f | sort | xargs cat | zstd -3 -T0 -q >>"$0"'
			"$d/limit.bin" "$base" "$EXT/rootfs")
		OUTF=$d/limit.bin
		;;
	initramfs.imager)
		CMD=("$IMAGER" metal --output-kind initramfs --inputs "$IN" --system-extension-image "$EXT" -o "$d" -q)
		OUTF=$d/initramfs-amd64.xz
		;;
	initramfs.peer)
		CMD=("$HERE/peer-initramfs.sh" "$IN/initramfs.xz" "$EXT" "$CONF/extensions.yaml" "$d/initramfs.xz")
		OUTF=$d/initramfs.xz
		;;
	xz.imager) CMD=("$IMAGER" "$PROF/xz.yaml" --inputs "$IN" -o "$d" -q) OUTF=$d/metal-amd64.raw.xz ;;
	xz.peer) CMD=(sh -c 'xz -T0 -c "$1" >"$0"' "$d/peer.raw.xz" "$B/ref/xz/metal-amd64.raw") OUTF=$d/peer.raw.xz ;;
	xz.limit) # the payload through xz once, in the imager's 8 MiB blocks on every core
		CMD=(sh -c 'cat "$@" | xz -T0 --block-size=8MiB >"$0"' "$d/limit.xz" "${payload[@]}") OUTF=$d/limit.xz ;;
	upgrade.imager | upgrade.peer)
		cp --sparse=always "$RAW" "$d/disk.raw"
		if [ "$2" = imager ]; then
			CMD=("$INSTALLER" upgrade --disk "$d/disk.raw" --assets "$UPG")
		else
			CMD=("$HERE/peer-upgrade.sh" "$d/disk.raw" "$UPG" "$CONF")
		fi
		OUTF=$d/disk.raw
		;;
	upgrade.limit) # the payload written once
		CMD=(sh -c 'cat "$@" >"$0"' "$d/limit.bin" "${payload[@]}") OUTF=$d/limit.bin ;;
	*) return 1 ;; # no such side (aws has no limit of its own: see metal)
	esac
	sync
}

# measure CASE WHO: one timed run; appends "wall_s rss_kib wchar write_bytes" to
# $R/CASE.WHO, or records a failure.
measure() {
	side "$1" "$2" || return 0
	local tf=$W/time.$1.$2 io=$W/io.$1.$2 lg=$W/log.$1.$2 t0 t1 rc=0
	t0=$EPOCHREALTIME
	/usr/bin/time -v -o "$tf" bash -c 'io=$1; shift; "$@"; rc=$?; cat /proc/$$/io >"$io"; exit $rc' \
		bench "$io" "${CMD[@]}" >"$lg" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	if [ $rc -ne 0 ] || [ ! -s "$OUTF" ]; then
		log "$1/$2 failed (exit $rc, output ${OUTF#"$SRC"/}): $(tail -n 5 "$lg" | tr '\n' ' ')"
		FAILED+=("$1/$2")
		return 0
	fi
	awk -v a="$t0" -v b="$t1" \
		'/Maximum resident set size/ {rss = $NF}
		 FNR == NR {next}
		 /^wchar:/ {w = $2} /^write_bytes:/ {wb = $2}
		 END {printf "%.3f %d %d %d\n", b - a, rss, w, wb}' "$tf" "$io" >>"$R/$1.$2"
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$W/$1-$2" # BENCH_KEEP=1: look at the last run's outputs
}

# stat_of CASE WHO COL: "best median max" of column COL over the runs, or "- - -".
stat_of() {
	local f=$R/$1.$2
	[ -s "$f" ] || {
		echo "- - -"
		return
	}
	awk -v c="$3" '{print $c}' "$f" | sort -g | awk '{v[NR] = $1}
		END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		     printf "%s %s %s\n", v[1], m, v[NR]}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "n/a"; else printf "%.2f", a / b}'; }
fmt_s() { awk -v a="$1" 'BEGIN {if (a == "-") print "n/a"; else printf "%.2f", a}'; }
fmt_mib() { awk -v a="$1" 'BEGIN {if (a == "-") print "n/a"; else printf "%.0f", a / 1024}'; }
fmt_b() { awk -v a="$1" 'BEGIN {if (a == "-") print "n/a"; else printf "%.1f", a / 1048576}'; }

table() {
	local c ib im pb pm lb lm ir pr lim
	echo "| case | imager best / median s | peer best / median s | ratio | limit s | ratio to limit | RSS imager MiB | RSS peer MiB |"
	echo "|---|---|---|---|---|---|---|---|"
	for c in "${CASES[@]}"; do
		selected "$c" || continue
		read -r ib im _ < <(stat_of "$c" imager 1)
		read -r pb pm _ < <(stat_of "$c" peer 1)
		lim=$c
		[ "$c" = aws ] && lim=metal # same payload, same compressor
		read -r lb lm _ < <(stat_of "$lim" limit 1)
		read -r _ _ ir < <(stat_of "$c" imager 2)
		read -r _ _ pr < <(stat_of "$c" peer 2)
		printf '| %s | %s / %s | %s / %s | %s | %s | %s | %s | %s |\n' "${LABEL[$c]}" \
			"$(fmt_s "$ib")" "$(fmt_s "$im")" "$(fmt_s "$pb")" "$(fmt_s "$pm")" \
			"$(ratio "$im" "$pm")" "$(fmt_s "$lm")" "$(ratio "$im" "$lm")" \
			"$(fmt_mib "$ir")" "$(fmt_mib "$pr")"
	done
}

# check_table FILE: every selected case has a row whose columns are numbers.
check_table() {
	local c row bad=0 num='[0-9]+(\.[0-9]+)?'
	for c in "${CASES[@]}"; do
		selected "$c" || continue
		row=$(grep -F "| ${LABEL[$c]} |" "$1" || true)
		if ! [[ $row =~ ^\|\ [^|]+\ \|\ $num\ /\ $num\ \|\ $num\ /\ $num\ \|(\ $num\ \|){5}$ ]]; then
			log "malformed or missing table row for case ${LABEL[$c]}: ${row:-none}"
			bad=1
		fi
	done
	return $bad
}

selected() {
	[ -z "$ONLY" ] && return 0
	local i
	for i in "${!CASES[@]}"; do [ "${CASES[$i]}" = "$1" ] && [[ $ONLY == *",$((i + 1)),"* ]] && return 0; done
	return 1
}

main() {
	need_tools
	# shellcheck source=bench/peer-lib.sh
	. "$HERE/peer-lib.sh" # part_of
	local t0=$SECONDS c i who
	mkdir -p "$B"
	log "preparing inputs in ${B#"$SRC"/} (payload $PAYLOAD_MB MB, extension $EXT_MB MB)"
	prepare_inputs
	prepare_extension
	prepare_profiles
	prepare_references
	rm -rf "$W" "$R"
	mkdir -p "$W" "$R"
	local load0 start
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	start=$(date -u '+%Y-%m-%d %H:%M')
	log "prepared in $((SECONDS - t0)) s; $RUNS run(s) of each case, imager / peer / limit alternating"
	for ((i = 1; i <= RUNS; i++)); do
		for c in "${CASES[@]}"; do
			selected "$c" || continue
			for who in imager peer limit; do measure "$c" "$who"; done
		done
		log "run $i/$RUNS done ($((SECONDS - t0)) s)"
	done

	local tab=$B/table.md
	{
		echo "Measured $start-$(date -u '+%H:%M') UTC on $NPROC cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, Linux $(uname -r);"
		echo "payload: initramfs $(($(stat -L -c %s "$IN/initramfs.xz") / 1000000)) MB (reference + $PAYLOAD_MB MB incompressible), kernel $(($(stat -L -c %s "$IN/vmlinuz") / 1000000)) MB; extension $EXT_MB MB; $RUNS run(s), alternating; load average before/after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)."
		echo
		table
		echo
		local iw ib pw pb lw lb
		if selected upgrade; then
			read -r _ iw _ < <(stat_of upgrade imager 3)
			read -r _ ib _ < <(stat_of upgrade imager 4)
			read -r _ pw _ < <(stat_of upgrade peer 3)
			read -r _ pb _ < <(stat_of upgrade peer 4)
			read -r _ lw _ < <(stat_of upgrade limit 3)
			read -r _ lb _ < <(stat_of upgrade limit 4)
			echo "Case 8, MiB written (median; wchar = write() bytes, write_bytes = page cache dirtied, /proc/PID/io): imager $(fmt_b "$iw") / $(fmt_b "$ib"), peer $(fmt_b "$pw") / $(fmt_b "$pb"), limit $(fmt_b "$lw") / $(fmt_b "$lb")."
		fi
		selected aws && echo "Case 2: ratio = ${AWS_LARGE/GiB/ GiB} / ${AWS_SMALL/GiB/ GiB} disk, both built by the imager."
	} >"$tab"
	cat "$tab"
	local rc=0
	check_table "$tab" || rc=1
	if [ ${#FAILED[@]} -gt 0 ]; then
		log "failed: ${FAILED[*]}"
		rc=1
	fi
	log "done in $((SECONDS - t0)) s"
	return $rc
}

main
