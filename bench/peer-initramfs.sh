#!/usr/bin/env bash
# An initramfs with one system extension appended (DESIGN.md §5), the way a user would
# make it with the standard tools: mksquashfs of the extension's rootfs, then
# `find | cpio -o -H newc | <compressor>` of {0.sqsh, extensions.yaml} appended to a copy
# of the base. The peer of case 6 of bench/run.sh. The compressor is the base's (xz with
# CRC32, the kernel's check, for an .xz base; zstd -3 otherwise), as the imager does.
#
#   bench/peer-initramfs.sh BASE EXTENSION EXTENSIONS.YAML OUT
set -euo pipefail
[ $# -eq 4 ] || {
	echo "usage: $0 BASE EXTENSION EXTENSIONS.YAML OUT" >&2
	exit 2
}
base=$1 ext=$2 yaml=$3 out=$4
stage=$(mktemp -d "$(dirname "$out")/peer-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mksquashfs "$ext/rootfs" "$stage/0.sqsh" -comp zstd -Xcompression-level 3 -all-root \
	-noappend -no-progress -quiet -processors "$(nproc)" >/dev/null
cp "$yaml" "$stage/extensions.yaml"
if [ "$(head -c 6 "$base" | od -An -tx1 | tr -d ' ')" = fd377a585a00 ]; then
	compress=(xz --check=crc32 -6 -T0)
else
	compress=(zstd -3 -T0 -q)
fi
cp "$base" "$out"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
	"${compress[@]}" >>"$out"
