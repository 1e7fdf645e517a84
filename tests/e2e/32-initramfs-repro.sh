#!/usr/bin/env bash
# The initramfs output with extensions is byte-identical when built twice from different
# folders, TZ, umask and thread counts; bsdtar lists both archives (base + appended).
. "$(dirname "$0")/lib.sh"

ext="$T/ext"
"$SRC/extensions/hello-world/build.sh" "$ext" amd64 >/dev/null 2>&1
cp -R "$ext" "$T/ext2"
(cd "$T" && umask 022 && TZ=UTC IMAGER_THREADS=1 "$IMAGER" metal --output-kind initramfs -q -o "$T/a" \
	--system-extension-image "$ext/hello-world-amd64")
(cd / && umask 077 && TZ=Asia/Kathmandu IMAGER_THREADS=2 "$IMAGER" metal --output-kind initramfs -q \
	-o "$T/b" --system-extension-image "$T/ext2/hello-world-amd64")
check "initramfs with extensions byte-identical" cmp "$T/a/initramfs-amd64.xz" "$T/b/initramfs-amd64.xz"

base="$INSTALL/amd64/initramfs.xz"
n=$(stat -c %s "$base")
check "the base initramfs is kept unchanged at the front" \
	cmp -n "$n" "$base" "$T/a/initramfs-amd64.xz"
tail -c +$((n + 1)) "$T/a/initramfs-amd64.xz" >"$T/appended.xz"
check "bsdtar lists the base archive" sh -c "xz -dc '$base' | bsdtar -tf - | grep -qx init"
bsdtar -tvf "$T/appended.xz" --numeric-owner >"$T/appended.list" 2>&1
check "bsdtar lists the appended archive: extensions.yaml" grep -q ' extensions.yaml$' "$T/appended.list"
check "bsdtar lists the appended archive: 0.sqsh" grep -q ' 0.sqsh$' "$T/appended.list"
check "appended entries are root-owned" awk '$3 != 0 || $4 != 0 { exit 1 }' "$T/appended.list"
