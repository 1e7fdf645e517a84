#!/usr/bin/env bash
# Install the Debian packages of pkgs/deps.list that are missing (idempotent), and make
# sure the arm64 and armhf foreign architectures are known so `apt-get download pkg:arm64`
# works (armhf: a 32-bit board U-Boot for a test; packages are downloaded, never installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t want < <(grep -v '^\s*#' "$here/deps.list" | grep -v '^\s*$')
missing=()
for p in "${want[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
need_arch=0
foreign=" $(dpkg --print-foreign-architectures | tr '\n' ' ') " # (grep -q in a pipe: SIGPIPE)
for a in arm64 armhf; do [[ $foreign == *" $a "* ]] || need_arch=1; done
if [ ${#missing[@]} -eq 0 ] && [ $need_arch -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages: ${missing[*]:-none} (arm64/armhf foreign arch missing: $need_arch); run 'make deps' as root" >&2
	exit 4
fi
if [ $need_arch -eq 1 ]; then
	echo "deps: adding foreign architectures arm64 armhf"
	dpkg --add-architecture arm64
	dpkg --add-architecture armhf
fi
echo "deps: installing ${missing[*]}"
# A mirror caught mid-sync fails one index ("File has unexpected size") while the others
# are fine: go on with what apt has; a package that is really missing fails the install.
apt-get update -qq || echo "deps: warning: apt-get update reported errors; using the indexes it has" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
