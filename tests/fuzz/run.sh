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
	# libFuzzer's -timeout is wall-clock: on a loaded 2-core machine a unit that takes
	# 50 ms can be stopped as a "timeout". A timeout input that replays alone in under
	# 1 s three times is such a false alarm: it moves to $OUT/fuzz/false-timeouts/ and
	# the target goes on for the rest of its time (counted in the "restarts" column).
	t0=$SECONDS execs=0 restarts=0 rc=0
	: >"$log"
	touch "$log.run.start"
	while :; do
		left=$((FUZZ_S - (SECONDS - t0)))
		[ $left -gt 0 ] || break
		"$BUILD/fuzz/$t" -max_total_time="$left" -timeout=1 -rss_limit_mb=2048 \
			-malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
			-artifact_prefix="$art/" "${dict[@]}" "$work" "tests/fuzz/corpus/$t" >"$log.run" 2>&1
		rc=$?
		cat "$log.run" >>"$log"
		e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.run" | tail -1)
		execs=$((execs + ${e:-0}))
		[ $rc -eq 0 ] && break
		false_alarm=0
		for f in $(find "$art" -name 'timeout-*' -newer "$log.run.start" 2>/dev/null); do
			slow=0
			for _ in 1 2 3; do
				timeout 1 "$BUILD/fuzz/$t" "$f" >/dev/null 2>&1 || slow=1
			done
			if [ $slow -eq 0 ]; then
				mkdir -p "$OUT/fuzz/false-timeouts/$t"
				mv "$f" "$OUT/fuzz/false-timeouts/$t/"
				false_alarm=1
			fi
		done
		[ $false_alarm -eq 1 ] || break
		restarts=$((restarts + 1))
		touch "$log.run.start"
	done
	rm -f "$log.run" "$log.run.start"
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	found=$(($(find "$art" -type f | wc -l) - before))
	[ $rc -ne 0 ] && [ $found -eq 0 ] && found="? (exit $rc, see log)"
	[[ $found =~ ^[0-9]+$ ]] && total_found=$((total_found + found)) || total_found=$((total_found + 1))
	rows+=("$(printf '%-16s %6s %10s %8s %8s %8s  %s' "$t" "$FUZZ_S" "$execs" "${cov:-?}" "${ft:-?}" "$restarts" "$found")")
done
printf '\n%-16s %6s %10s %8s %8s %8s  %s\n' target seconds execs cov ft restarts "crashes/hangs/leaks"
printf '%s\n' "${rows[@]}"
[ $total_found -eq 0 ]
