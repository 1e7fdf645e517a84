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
trap 'rm -f "$results"' EXIT

# run_tap NAME CMD...: run one test program, echo its output, tally its TAP lines.
run_tap() {
	local name=$1 rc p0 f0
	shift
	echo "### $name"
	p0=$pass f0=$fail
	local t0=$SECONDS
	"$@" >"$results" 2>&1
	rc=$?
	cat "$results"
	echo "# $name: $((SECONDS - t0)) s"
	while IFS= read -r line; do
		case $line in
		# a skip, ours ("ok - x # SKIP why") or cmocka's ("not ok N # SKIP x"), is a skip
		"ok"*"# SKIP"* | "ok"*"# skip"* | "not ok"*"# SKIP"*) skip=$((skip + 1)) ;;
		"not ok"*) fail=$((fail + 1)) ;;
		"ok"*) pass=$((pass + 1)) ;;
		esac
	done <"$results"
	if [ $rc -ne 0 ] && [ $fail -eq $f0 ]; then
		echo "not ok - $name exited with status $rc without reporting a failure"
		fail=$((fail + 1))
	fi
	if [ $pass -eq $p0 ] && [ $fail -eq $f0 ] && [ $rc -eq 0 ]; then
		echo "not ok - $name reported no results"
		fail=$((fail + 1))
	fi
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
for t in tests/e2e/[0-9]*.sh; do
	[ -n "$filter" ] && [[ $t != *$filter* ]] && continue
	run_tap "e2e $(basename "$t")" bash "$t"
done

summary="$pass passed, $fail failed"
[ $skip -gt 0 ] && summary="$summary, $skip skipped"
echo "$summary"
[ $fail -eq 0 ]
