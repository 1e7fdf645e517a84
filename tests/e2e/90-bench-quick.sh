#!/usr/bin/env bash
# The benchmark harness (bench/run.sh, issue 15) once in its quick mode (one run, 2 MB
# payload, small disks), so it cannot rot: it must exit 0 and print a row with numbers in
# every column for each of the eight cases. The figures themselves are not checked (the
# machine may be shared); the README's Benchmark section holds a full run's.
. "$(dirname "$0")/lib.sh"

out=$T/bench.out
t0=$SECONDS
if OUT=$OUT bash "$SRC/bench/run.sh" --quick >"$out" 2>"$T/bench.err"; then
	ok "bench/run.sh --quick exits 0"
else
	not_ok "bench/run.sh --quick exits 0" "$(tail -n 15 "$T/bench.err")"
fi
took=$((SECONDS - t0))
# The quick mode is meant to take <= 40 s on the 2-core reference machine; only a hang or
# a large regression (3x) fails here, since other jobs may share the machine.
if [ $took -le 120 ]; then
	ok "quick mode finished in $took s (target 40 s)"
else
	not_ok "quick mode finished in $took s (target 40 s, fails above 120 s)"
fi

num='[0-9]+(\.[0-9]+)?'
row_re="^\| [^|]+ \| $num / $num \| $num / $num \|( $num \|){5}\$"
for c in "1 metal raw.zst" "2 aws raw.zst" "3 ISO" "4 UKI + sign" "5 extension squashfs" \
	"6 initramfs + extension" "7 .xz image" "8 installer upgrade"; do
	row=$(grep -F "| $c " "$out" || true)
	if [ "$(grep -cF "| $c " "$out")" = 1 ] && [[ $row =~ $row_re ]]; then
		ok "table row \"$c\" has a number in every column"
	else
		not_ok "table row \"$c\" has a number in every column" "row: ${row:-none}"
	fi
done
check "table header names the eight columns" grep -qx \
	'| case | imager best / median s | peer best / median s | ratio | limit s | ratio to limit | RSS imager MiB | RSS peer MiB |' "$out"
check "case 8 reports the bytes written" grep -Eq "^Case 8, MiB written .*imager $num / $num, peer $num / $num" "$out"
check "the prepared inputs stay out of git" git -C "$SRC" check-ignore -q "$OUT/bench/inputs/initramfs.xz"
