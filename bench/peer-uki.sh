#!/usr/bin/env bash
# A signed UKI the way a user would make it with the standard tools: objcopy (the recipe
# of systemd-stub(7)) and sbsign. The peer of case 4 of bench/run.sh. The imager also
# signs a PCR 11 policy into the UKI (.pcrsig/.pcrpkey); this peer does not (Debian 12
# has no ukify; systemd-measure would be a third tool).
#
#   bench/peer-uki.sh INPUTS CONF KEYS OUT.efi
#
# CONF: cmdline, osrel, uname (bench/run.sh copies them from the imager's UKI); KEYS: the
# folder of `imager keys` (uki-signing-key.pem, uki-signing-cert.pem).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/peer-lib.sh
. "$here/peer-lib.sh"

[ $# -eq 4 ] || {
	echo "usage: $0 INPUTS CONF KEYS OUT.efi" >&2
	exit 2
}
in=$1 conf=$2 keys=$3 out=$4
tmp=$out.unsigned
trap 'rm -f "$tmp"' EXIT
peer_uki "$in/systemd-stub.efi" "$in/vmlinuz" "$in/initramfs.xz" "$conf/cmdline" \
	"$conf/osrel" "$conf/uname" "$tmp"
sbsign --key "$keys/uki-signing-key.pem" --cert "$keys/uki-signing-cert.pem" \
	--output "$out" "$tmp" 2>/dev/null
