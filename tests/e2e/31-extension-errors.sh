#!/usr/bin/env bash
# Extensions the imager must refuse: message, exit code, and no output left behind.
. "$(dirname "$0")/lib.sh"

"$SRC/extensions/hello-world/build.sh" "$T/ext" amd64 >/dev/null
hello="$T/ext/hello-world-amd64"
check "hello-world extension built" test -f "$hello/manifest.yaml"

build() { # OUTDIR EXT...: the initramfs output with extensions
	local od=$1 a=() e
	shift
	for e; do a+=(--system-extension-image "$e"); done
	"$IMAGER" metal --output-kind initramfs -q -o "$od" "${a[@]}"
}
copy() { rm -rf "$T/$1"; cp -R "$hello" "$T/$1"; echo "$T/$1"; }

d=$(copy extra)
echo hi >"$d/README"
expect_fail "extra top-level file" 2 "extra.*README" "$T/o1/*" build "$T/o1" "$d"

d=$(copy noname)
sed -i '/^  name:/d' "$d/manifest.yaml"
expect_fail "manifest without a name" 2 "noname.*name" "$T/o2/*" build "$T/o2" "$d"
d=$(copy noversion)
sed -i '/^  version:/d' "$d/manifest.yaml"
expect_fail "manifest without a version" 2 "noversion.*version" "$T/o3/*" build "$T/o3" "$d"

# a tar whose member climbs out with ../ (crafted by bsdtar from an mtree description)
printf '#mtree\n./manifest.yaml type=file mode=0644 contents=%s\n./rootfs/usr/local/../../../evil type=file mode=0644 contents=%s\n' \
	"$hello/manifest.yaml" "$hello/manifest.yaml" >"$T/dots.mtree"
(cd "$T" && bsdtar -cf "$T/dots.tar" @dots.mtree)
check "the crafted tar really holds a ../ member" sh -c "bsdtar -tf '$T/dots.tar' | grep -q '\\.\\./'"
expect_fail "../ path in a tar" 2 "dots.tar.*\\.\\." "$T/o4/*" build "$T/o4" "$T/dots.tar"

bsdtar -C "$hello" -czf "$T/good.tar.gz" manifest.yaml rootfs
head -c $(( $(stat -c %s "$T/good.tar.gz") / 2 )) "$T/good.tar.gz" >"$T/trunc.tar.gz"
expect_fail "truncated extension tar" 2 "trunc.tar.gz" "$T/o5/*" build "$T/o5" "$T/trunc.tar.gz"

# An OCI image layout (one gzip'd layer) built by hand, then one with a wrong blob.
oci_layout "$T/oci-good" "$T/good.tar.gz" >/dev/null
check "a good OCI layout is accepted" build "$T/o6" "$T/oci-good"
ld=$(oci_layout "$T/oci-bad" "$T/good.tar.gz")
printf 'X' | dd of="$T/oci-bad/blobs/sha256/$ld" bs=1 seek=100 conv=notrunc status=none
expect_fail "OCI blob digest mismatch" 2 "oci-bad.*(digest|sha256)" "$T/o7/*" build "$T/o7" "$T/oci-bad"
