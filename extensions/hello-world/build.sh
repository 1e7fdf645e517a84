#!/usr/bin/env bash
# Assemble the hello-world system extension for ARCH under OUTDIR/hello-world-ARCH/:
#   manifest.yaml
#   rootfs/usr/local/etc/containers/hello-world.yaml
#   rootfs/usr/local/lib/containers/hello-world/hello-world   (static, stripped, built here)
# The result is a folder `imager --system-extension-image` takes as is (or tar it).
# Usage: extensions/hello-world/build.sh OUTDIR amd64|arm64
# Exit codes follow DESIGN.md §3: 2 bad usage, 5 missing compiler, 1 compiler failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() {
	echo "hello-world: $2" >&2
	exit "$1"
}

[ $# -eq 2 ] || die 2 "usage: $0 OUTDIR amd64|arm64"
out=$1 arch=$2
case $arch in
amd64) cc=gcc ;;
arm64) cc=aarch64-linux-gnu-gcc ;;
*) die 2 "ARCH \"$arch\": expected amd64 or arm64" ;;
esac
# building on an arm64 host: the native compiler makes arm64, the cross one amd64
if [ "$(uname -m)" = aarch64 ]; then
	case $arch in amd64) cc=x86_64-linux-gnu-gcc ;; arm64) cc=gcc ;; esac
fi
command -v "$cc" >/dev/null || die 5 "$cc: compiler for $arch not found (Debian: gcc / gcc-aarch64-linux-gnu)"

mkdir -p "$out"
dest="$out/hello-world-$arch"
tmp=$(mktemp -d "$out/.hello-world-$arch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cp "$here/manifest.yaml" "$tmp/manifest.yaml"
cp -R "$here/rootfs" "$tmp/rootfs"
bin="$tmp/rootfs/usr/local/lib/containers/hello-world"
mkdir -p "$bin"
"$cc" -std=gnu11 -Wall -Wextra -Werror -O2 -static -s -o "$bin/hello-world" "$here/src/hello.c" ||
	die 1 "$here/src/hello.c: $cc failed"
# fixed modes whatever the umask: the imager normalises them too, other consumers may not
find "$tmp" -type d -exec chmod 0755 {} +
find "$tmp" -type f -exec chmod 0644 {} +
chmod 0755 "$bin/hello-world"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
