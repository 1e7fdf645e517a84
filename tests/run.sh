#!/usr/bin/env bash
# Run every unit test (cmocka, ASan+UBSan builds) and every end-to-end test, all speaking
# TAP ("ok - ...", "not ok - ...", "ok - ... # SKIP reason"), and end with one line:
#   N passed, N failed[, N skipped]
# A test program that dies without reporting a failure counts as one failure.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
BUILD=${BUILD:-$OUT/build}
export OUT BUILD
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export IMAGER=${IMAGER:-$PWD/$BUILD/san/bin/imager}
export INSTALLER=${INSTALLER:-$PWD/$BUILD/san/bin/installer}
export LC_ALL=C

pass=0 fail=0 skip=0
results=$(mktemp)

# tally NAME RC SECONDS FILE: echo a test program's output, count its TAP lines.
tally() {
	local name=$1 rc=$2 secs=$3 file=$4 p0=$pass f0=$fail
	echo "### $name"
	cat "$file"
	echo "# $name: $secs s"
	while IFS= read -r line; do
		case $line in
		# a skip, ours ("ok - x # SKIP why") or cmocka's ("not ok N # SKIP x"), is a skip
		"ok"*"# SKIP"* | "ok"*"# skip"* | "not ok"*"# SKIP"*) skip=$((skip + 1)) ;;
		"not ok"*) fail=$((fail + 1)) ;;
		"ok"*) pass=$((pass + 1)) ;;
		esac
	done <"$file"
	if [ "$rc" -ne 0 ] && [ $fail -eq $f0 ]; then
		echo "not ok - $name exited with status $rc without reporting a failure"
		fail=$((fail + 1))
	fi
	if [ $pass -eq $p0 ] && [ $fail -eq $f0 ] && [ "$rc" -eq 0 ]; then
		echo "not ok - $name reported no results"
		fail=$((fail + 1))
	fi
}

# run_tap NAME CMD...: run one test program now, then tally it.
run_tap() {
	local name=$1 rc t0=$SECONDS
	shift
	"$@" >"$results" 2>&1
	rc=$?
	tally "$name" $rc $((SECONDS - t0)) "$results"
}

# End-to-end files run E2E_JOBS at a time (default 2: most spend their time in one QEMU or
# one build, and the machine has 2 cores), the longest first so both lanes end together;
# each file's output is shown whole when it ends. SERIAL files run alone afterwards:
# 73-bad-inputs checks that nothing appears in /tmp, which other files' tools use.
E2E_JOBS=${E2E_JOBS:-2}
LONGEST="63-power-cut 56-vm-formats 65-installer-bundle 70-overlays 64-buses 55-image
	60-installer 72-hostile-inputs 80-verify 81-repro-env 46-secureboot 50-iso"
SERIAL="73-bad-inputs"
e2e_dir=$(mktemp -d)
trap 'rm -rf "$results" "$e2e_dir"' EXIT

e2e_start() { # FILE: in the background; NAME.rc gets "status seconds" at the end
	local n
	n=$(basename "$1")
	(
		t0=$SECONDS
		bash "$1" >"$e2e_dir/$n.out" 2>&1
		echo "$? $((SECONDS - t0))" >"$e2e_dir/$n.rc.tmp"
		mv "$e2e_dir/$n.rc.tmp" "$e2e_dir/$n.rc"
	) &
}

e2e_collect() { # tally every finished file once
	local f n rc secs
	for f in "$e2e_dir"/*.rc; do
		[ -e "$f" ] || continue
		n=$(basename "$f" .rc)
		read -r rc secs <"$f"
		tally "e2e $n" "$rc" "$secs" "$e2e_dir/$n.out"
		rm -f "$f" "$e2e_dir/$n.out"
	done
}

e2e_order() { # the e2e files to run, longest first, SERIAL ones left out
	local l t
	for l in $LONGEST; do
		[ -e "tests/e2e/$l.sh" ] && echo "tests/e2e/$l.sh"
	done
	for t in tests/e2e/[0-9]*.sh; do
		l=$(basename "$t" .sh)
		[[ " $(echo $LONGEST $SERIAL) " == *" $l "* ]] || echo "$t"
	done
}

filter=${1:-}
# Quick checks first: formatting, and the layers of lib/ (also from the built objects).
if [ -z "$filter" ] || [[ lint == *"$filter"* ]]; then
	run_tap "lint format" tests/lint/format.sh
	run_tap "lint layers" python3 tests/lint/layers.py "$BUILD/obj"
fi
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	[ -n "$filter" ] && [[ $t != *$filter* ]] && continue
	CMOCKA_MESSAGE_OUTPUT=TAP run_tap "unit $(basename "$t")" "$t"
done
# Fuzz targets' regression replay: every corpus input and every saved crash input once.
for t in "$BUILD"/fuzz-replay/fuzz_*; do
	[ -x "$t" ] || continue
	[ -n "$filter" ] && [[ $t != *$filter* ]] && continue
	n=$(basename "$t")
	run_tap "fuzz $n" "$t" "tests/fuzz/corpus/$n" "tests/fuzz/regressions/$n"
done
t_e2e=$SECONDS
for t in $(e2e_order); do
	[ -n "$filter" ] && [[ $t != *$filter* ]] && continue
	while [ "$(jobs -rp | wc -l)" -ge "$E2E_JOBS" ]; do
		wait -n
		e2e_collect
	done
	e2e_start "$t"
done
wait
e2e_collect
for l in $SERIAL; do
	t=tests/e2e/$l.sh
	[ -e "$t" ] || continue
	[ -n "$filter" ] && [[ $t != *$filter* ]] && continue
	run_tap "e2e $(basename "$t")" bash "$t"
done
[ -z "$filter" ] && echo "# e2e files: $((SECONDS - t_e2e)) s ($E2E_JOBS at a time)"

summary="$pass passed, $fail failed"
[ $skip -gt 0 ] && summary="$summary, $skip skipped"
echo "$summary"
[ $fail -eq 0 ]
