#!/usr/bin/env bash
# make fuzz FUZZ_S=N: run every fuzz target for N seconds (default 60), one after the
# other (a 2-core machine), and print per target: executions, coverage (edges, features),
# crashes/hangs/leaks found. Work corpora grow in $OUT/fuzz/corpus/<target> (seeded from
# tests/fuzz/corpus/<target>, which stays as checked in); findings go to
# $OUT/fuzz/artifacts/<target>/ (crash-*, leak-*, timeout-* > 1 s, oom-*). Copy a finding
# to tests/fuzz/regressions/<target>/ once fixed: `make check` replays it from then on.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out}
BUILD=${BUILD:-$OUT/build}
FUZZ_S=${FUZZ_S:-60}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rows=()
total_found=0
for t in "$@"; do
	work=$OUT/fuzz/corpus/$t
	art=$OUT/fuzz/artifacts/$t
	log=$OUT/fuzz/$t.log
	mkdir -p "$work" "$art"
	dict=()
	[ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
	before=$(find "$art" -type f | wc -l)
	echo "fuzz: $t for ${FUZZ_S}s (log $log)"
	"$BUILD/fuzz/$t" -max_total_time="$FUZZ_S" -timeout=1 -rss_limit_mb=2048 \
		-malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$art/" "${dict[@]}" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	found=$(($(find "$art" -type f | wc -l) - before))
	[ $rc -ne 0 ] && [ $found -eq 0 ] && found="? (exit $rc, see log)"
	[[ $found =~ ^[0-9]+$ ]] && total_found=$((total_found + found)) || total_found=$((total_found + 1))
	rows+=("$(printf '%-16s %6s %10s %8s %8s  %s' "$t" "$FUZZ_S" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$found")")
done
printf '\n%-16s %6s %10s %8s %8s  %s\n' target seconds execs cov ft "crashes/hangs/leaks"
printf '%s\n' "${rows[@]}"
[ $total_found -eq 0 ]
