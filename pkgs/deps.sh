#!/usr/bin/env bash
# Install the Debian packages of pkgs/deps.list that are missing (idempotent), and make
# sure the arm64 foreign architecture is known so `apt-get download pkg:arm64` works.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t want < <(grep -v '^\s*#' "$here/deps.list" | grep -v '^\s*$')
missing=()
for p in "${want[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
need_arch=0
dpkg --print-foreign-architectures | grep -qx arm64 || need_arch=1
if [ ${#missing[@]} -eq 0 ] && [ $need_arch -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages: ${missing[*]:-none} (arm64 foreign arch missing: $need_arch); run 'make deps' as root" >&2
	exit 4
fi
if [ $need_arch -eq 1 ]; then
	echo "deps: adding foreign architecture arm64"
	dpkg --add-architecture arm64
fi
echo "deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
