# Shared helpers of the end-to-end tests: TAP output, checks, QEMU boots.
# Each test script sources this file, prints TAP lines and exits 0 (failures are lines).
set -uo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUT:-out}
case $OUT in /*) ;; *) OUT="$SRC/$OUT" ;; esac
INSTALL=${INSTALL:-$OUT/install}
IMAGER=${IMAGER:-$SRC/bin/imager}
INSTALLER=${INSTALLER:-$SRC/bin/installer}
T=$(mktemp -d "${TMPDIR:-/tmp}/imager-e2e.XXXXXX")
QEMU_PIDS=()
cleanup_e2e() {
	local p
	for p in "${QEMU_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup_e2e EXIT

ok() { echo "ok - $*"; }
not_ok() {
	echo "not ok - $1"
	shift
	local l
	for l in "$@"; do echo "#   $l"; done
}
skip() { echo "ok - $1 # SKIP $2"; }

# check DESC CMD...: ok when CMD succeeds; otherwise show its output.
check() {
	local desc=$1 o=$T/check.$BASHPID.out # per process: in_parallel runs checks side by side
	shift
	if "$@" >"$o" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc" "command: $*" "$(head -c 2000 "$o")"
	fi
}

# expect_eq DESC GOT WANT
expect_eq() {
	if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "got:  $2" "want: $3"; fi
}

# expect_fail DESC WANT_CODE WANT_MSG_REGEX NO_OUTPUT_PATH CMD...: a failing command must
# exit with WANT_CODE, print one stderr line matching the regex, and leave no output.
expect_fail() {
	local desc=$1 code=$2 re=$3 path=$4 rc lines f=$T/fail.$BASHPID
	shift 4
	"$@" >"$f.out" 2>"$f.err"
	rc=$?
	lines=$(grep -c . "$f.err")
	if [ $rc -ne "$code" ]; then
		not_ok "$desc" "exit $rc, want $code" "stderr: $(head -c 500 "$f.err")"
	elif [ "$lines" -ne 1 ] || ! grep -Eq -- "$re" "$f.err"; then
		not_ok "$desc" "want one stderr line matching: $re" "stderr: $(head -c 500 "$f.err")"
	elif [ -n "$path" ] && (shopt -s dotglob; compgen -G "$path" >/dev/null); then
		not_ok "$desc" "output left behind: $(shopt -s dotglob; compgen -G "$path" | head -3 | tr '\n' ' ')"
	else
		ok "$desc"
	fi
}

# payload_assets DIR ARCH VERSION CMDLINE: a payload folder for `installer install/upgrade
# --assets`: the ARCH inputs folder's kernel, initramfs, stubs and GRUB (links), with its
# own version and command line.
payload_assets() {
	mkdir -p "$1"
	local f
	for f in vmlinuz initramfs.xz systemd-stub.efi systemd-boot.efi grub; do
		ln -sfn "$INSTALL/$2/$f" "$1/$f"
	done
	echo "$3" >"$1/version"
	echo "$4" >"$1/cmdline"
}

# in_parallel "CMD1" "CMD2"...: run independent test sequences (each typically boots QEMU
# once at a time) side by side, two QEMUs on two cores; their TAP lines are printed in
# the order given, as if they had run one after the other.
in_parallel() {
	local i=0 c pids=() base=$T/par.$BASHPID
	for c in "$@"; do
		(eval "$c") >"$base.$i.tap" 2>&1 &
		pids+=($!)
		i=$((i + 1))
	done
	for ((i = 0; i < ${#pids[@]}; i++)); do
		wait "${pids[$i]}"
		cat "$base.$i.tap"
		rm -f "$base.$i.tap"
	done
}

# oci_layout DIR LAYER.tar.gz: an OCI image layout by hand (index -> manifest -> config +
# one gzip'd layer); prints the layer's digest (hex).
oci_layout() {
	local dir=$1 layer=$2 ld cfg md
	mkdir -p "$dir/blobs/sha256"
	ld=$(sha256sum <"$layer" | cut -d' ' -f1)
	cp "$layer" "$dir/blobs/sha256/$ld"
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$dir/cfg"
	cfg=$(sha256sum <"$dir/cfg" | cut -d' ' -f1)
	mv "$dir/cfg" "$dir/blobs/sha256/$cfg"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
		"$cfg" "$(stat -c %s "$dir/blobs/sha256/$cfg")" "$ld" "$(stat -c %s "$layer")" >"$dir/m"
	md=$(sha256sum <"$dir/m" | cut -d' ' -f1)
	mv "$dir/m" "$dir/blobs/sha256/$md"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d}]}' \
		"$md" "$(stat -c %s "$dir/blobs/sha256/$md")" >"$dir/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	echo "$ld"
}

# --- QEMU ------------------------------------------------------------------------------
# qemu_run LOG CAP_SECONDS QEMU-BINARY ARGS...: boot with serial to LOG, stop as soon as
# the init reports `done` (or QEMU exits, or CAP passes); QEMU is always killed by PID.
qemu_run() {
	local log=$1 cap=$2 pid i
	shift 2
	: >"$log"
	timeout --kill-after=5 "$cap" "$@" -accel tcg -nographic -no-reboot -monitor none \
		-serial "file:$log" </dev/null >"$log.qemu" 2>&1 &
	pid=$!
	QEMU_PIDS+=("$pid")
	for ((i = 0; i < cap * 4; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		# QEMU_STOP_RE: firmware messages after which nothing more will come (a refused
		# image under Secure Boot waits forever)
		if [ -n "${QEMU_STOP_RE:-}" ] && grep -Eq "$QEMU_STOP_RE" "$log" 2>/dev/null; then
			sleep 1
			break
		fi
		if grep -q "IMAGER-REPORT done" "$log" 2>/dev/null; then
			# give the init a moment to power off cleanly, then make sure it is gone
			for ((j = 0; j < 20; j++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
			break
		fi
		sleep 0.25
	done
	stop_timeout_child "$pid"
	tr -d '\r' <"$log" >"$log.clean" && mv "$log.clean" "$log"
	grep -q "IMAGER-REPORT done" "$log"
}

# stop_timeout_child PID: PID is `timeout CAP qemu...`; SIGTERM makes timeout pass the
# signal on to QEMU (killing timeout itself with -9 would leave QEMU running uncapped),
# then -9 whatever is left.
stop_timeout_child() {
	local j
	kill -TERM "$1" 2>/dev/null
	for ((j = 0; j < 20; j++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.25; done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# report LOG KEY: the value of the first "IMAGER-REPORT KEY=value" line.
report() {
	sed -n "s/.*IMAGER-REPORT $2=\(.*\)\$/\1/p" "$1" | head -n1
}

# expect_booted NAME WHAT LOG SLOT: the boot logged in LOG reached the init's report
# ("NAME: WHAT") on SLOT ("NAME: slot SLOT"); otherwise the end of the serial log.
expect_booted() {
	if grep -q "IMAGER-REPORT done" "$3"; then
		ok "$1: $2"
		expect_eq "$1: slot $4" "$(report "$3" slot)" "$4"
	else
		not_ok "$1: $2" "$(log_tail "$3")"
	fi
}

# Direct kernel boots (-kernel/-initrd/-append) of an arch's inputs folder.
boot_direct() { # ARCH LOG KERNEL INITRD APPEND
	local arch=$1 log=$2 k=$3 i=$4 append=$5
	case $arch in
	amd64) qemu_run "$log" 90 qemu-system-x86_64 -m 1024 -net none \
		-kernel "$k" -initrd "$i" -append "console=ttyS0 panic=1 $append" ;;
	arm64) qemu_run "$log" 90 qemu-system-aarch64 -M virt -cpu cortex-a57 -m 1024 -net none \
		-kernel "$k" -initrd "$i" -append "console=ttyAMA0 panic=1 $append" ;;
	esac
}

# tail of a serial log for a failure message
log_tail() { tail -n 15 "$1" | sed 's/^/serial: /'; }

# --- UEFI -----------------------------------------------------------------------------
# esp_with FILE EFI-NAME IMG: a FAT ESP holding FILE as EFI/BOOT/<EFI-NAME> (tests may use
# mkfs.vfat + mtools; the imager itself never does).
esp_with() {
	local f=$1 name=$2 img=$3
	rm -f "$img"
	mkfs.vfat -C -n ESP "$img" $(( ($(stat -c %s "$f") / 1024 + 8192) )) >/dev/null &&
		mmd -i "$img" ::/EFI ::/EFI/BOOT && mcopy -i "$img" "$f" "::/EFI/BOOT/$name"
}

# boot_uefi ARCH LOG DISK [VARS-TEMPLATE] [CODE]: boot a disk image under OVMF (q35) or
# AAVMF (virt), with a private copy of the variable store (left at LOG.vars).
boot_uefi() {
	local arch=$1 log=$2 disk=$3 vars=${4:-} code=${5:-}
	case $arch in
	amd64)
		vars=${vars:-/usr/share/OVMF/OVMF_VARS_4M.fd}
		code=${code:-/usr/share/OVMF/OVMF_CODE_4M.fd}
		[ -e "$log.vars" ] || cp "$vars" "$log.vars"
		local m=q35 sec=()
		case $code in *secboot*|*snakeoil*|*ms.fd) m=q35,smm=on
			sec=(-global driver=cfi.pflash01,property=secure,value=on) ;; esac
		qemu_run "$log" 150 qemu-system-x86_64 -M "$m" -m 1024 -net none "${sec[@]}" \
			-drive if=pflash,format=raw,unit=0,readonly=on,file="$code" \
			-drive if=pflash,format=raw,unit=1,file="$log.vars" \
			-drive file="$disk",format=raw,if=virtio ;;
	arm64)
		vars=${vars:-/usr/share/AAVMF/AAVMF_VARS.fd}
		code=${code:-/usr/share/AAVMF/AAVMF_CODE.fd}
		[ -e "$log.vars" ] || cp "$vars" "$log.vars"
		qemu_run "$log" 150 qemu-system-aarch64 -M virt -cpu cortex-a57 -m 1024 -net none \
			-drive if=pflash,format=raw,unit=0,readonly=on,file="$code" \
			-drive if=pflash,format=raw,unit=1,file="$log.vars" \
			-drive file="$disk",format=raw,if=virtio ;;
	esac
}
