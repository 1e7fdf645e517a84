#!/usr/bin/env bash
# imager meta encode|decode: the INSTALLER_META_BASE64 string and META partition images.
. "$(dirname "$0")/lib.sh"

expect_eq "meta encode 0xa=foo" "$("$IMAGER" meta encode 0xa=foo)" "MHhhPWZvbw=="
big=$(head -c 2048 /dev/urandom | base64 -w0 | head -c 2048)
s=$("$IMAGER" meta encode "0xa=$big")
expect_eq "2 KiB value goes through gzip" "$(echo "$s" | base64 -d | head -c 2 | od -An -tx1 | tr -d ' ')" 1f8b
expect_eq "2 KiB value round-trips" "$("$IMAGER" meta decode "$s")" "0xa=$big"

"$IMAGER" meta encode 0xa=net 0xc=user 6=A --image "$T/meta.img"
expect_eq "META image is 1 MiB" "$(stat -c %s "$T/meta.img")" 1048576
expect_eq "META image reads back" "$("$IMAGER" meta decode "$T/meta.img")" "$(printf '0x6=A\n0xa=net\n0xc=user')"
expect_eq "an independent reader (DESIGN §7, tests/tools/metacheck.py) agrees" \
	"$(python3 "$SRC/tests/tools/metacheck.py" "$T/meta.img")" "$(printf '0x6=A\n0xa=net\n0xc=user')"
cp "$T/meta.img" "$T/corrupt.img"
printf 'X' | dd of="$T/corrupt.img" bs=1 seek=20 conv=notrunc status=none
expect_eq "corrupted first copy: read from the second" "$("$IMAGER" meta decode "$T/corrupt.img")" \
	"$(printf '0x6=A\n0xa=net\n0xc=user')"
expect_eq "the independent reader also falls back to the second copy" \
	"$(python3 "$SRC/tests/tools/metacheck.py" "$T/corrupt.img")" "$(printf '0x6=A\n0xa=net\n0xc=user')"
printf 'X' | dd of="$T/corrupt.img" bs=1 seek=$((262144 + 20)) conv=notrunc status=none
expect_fail "both copies corrupted" 2 "^imager: .*corrupt.img" "" "$IMAGER" meta decode "$T/corrupt.img"

head -c 300000 /dev/zero | tr '\0' x >"$T/huge"
expect_fail "value too large for a copy" 2 "^imager: .*huge is larger than a META copy" "$T/m2.img" \
	"$IMAGER" meta encode "0xa=@$T/huge" --image "$T/m2.img"
expect_fail "META key 256" 2 "^imager: .*256" "$T/m3.img" "$IMAGER" meta encode 256=x --image "$T/m3.img"
expect_fail "--meta without =" 2 "^imager: .*0xa" "$T/o/*" \
	"$IMAGER" metal --output-kind cmdline --meta 0xa -o "$T/o" -q
expect_fail "unknown output kind" 2 "^imager: .*\"floppy\"" "$T/o/*" \
	"$IMAGER" metal --output-kind floppy -o "$T/o" -q
