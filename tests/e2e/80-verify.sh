#!/usr/bin/env bash
# Build records and imager verify (issue 14): every output has a reproducible
# <output>.build.json naming its inputs with their sha256 and no private key; verify
# rebuilds each kind and exits 0; a byte flipped inside a disk image's FAT file, an ISO file
# or a UKI section is named exactly (exit 8); a changed input is named before building;
# bad inputs give an exit code, one line and leave nothing.
. "$(dirname "$0")/lib.sh"

export SOURCE_DATE_EPOCH=1700000000
export TMPDIR=$T/tmp # verify's rebuild folder: nothing may be left there
mkdir -p "$TMPDIR"
o=$T/o
"$IMAGER" keys --output "$T/keys" >/dev/null 2>&1 || not_ok "imager keys" "for the Secure Boot kinds"
printf 'baseProfileName: metal\noutput:\n  outFormat: raw\n' >"$T/raw.yaml"
printf 'baseProfileName: metal\noutput:\n  outFormat: raw\n  imageOptions: {diskFormat: qcow2}\n' >"$T/qcow2.yaml"
# every other disk format and compression, on the smallest disk the layout allows
small() { # NAME YAML-LINES: a profile file
	printf '%b' "$2" >"$T/$1.yaml"
	echo "$T/$1.yaml"
}
SMALL='  imageOptions: {diskSize: 1246MiB'

# kind ARTIFACT-NAME BUILD-ARGS...
kinds=()
build() {
	local name=$1
	shift
	if "$IMAGER" "$@" -o "$o" -q 2>"$T/build.err" && [ -e "$o/$name" ]; then
		kinds+=("$name")
	else
		not_ok "builds $name" "$(head -c 500 "$T/build.err")"
	fi
}
build cmdline-metal-amd64 metal --output-kind cmdline
build kernel-amd64 metal --output-kind kernel
build initramfs-amd64.xz metal --output-kind initramfs
build metal-amd64-uki.efi metal-uki
build metal-amd64-secureboot-uki.efi secureboot-metal-uki --secureboot-keys "$T/keys"
build metal-amd64.iso iso
build metal-amd64-secureboot.iso secureboot-iso --secureboot-keys "$T/keys"
build metal-amd64.raw "$T/raw.yaml"
build metal-amd64.raw.zst metal
build metal-amd64.qcow2 "$T/qcow2.yaml"
build metal-amd64.raw.xz "$(small xz "baseProfileName: metal\noutput:\n  outFormat: .xz\n")"
build metal-amd64.raw.gz "$(small gz "baseProfileName: metal\noutput:\n  outFormat: .gz\n")"
build metal-amd64.vhd "$(small vhd "baseProfileName: metal\noutput:\n  outFormat: raw\n$SMALL, diskFormat: vhd}\n")"
build vmware-amd64.ova "$(small ova "baseProfileName: vmware\noutput:\n$SMALL}\n")"
build gcp-amd64.raw.tar.gz "$(small gcp "baseProfileName: gcp\noutput:\n$SMALL}\n")"
build installer-amd64.tar installer
build metal-amd64-secureboot.raw.zst secureboot-metal --secureboot-keys "$T/keys"
build installer-amd64-secureboot.tar secureboot-installer --secureboot-keys "$T/keys"

# --- the record ----------------------------------------------------------------------------
for k in "${kinds[@]}"; do
	check "$k: record is JSON" python3 -m json.tool "$o/$k.build.json"
done
rec_field() { # RECORD PYTHON-EXPR(d)
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}
r=$o/metal-amd64-uki.efi.build.json
expect_eq "record: in-toto Statement v1" "$(rec_field "$r" 'd["_type"]')" https://in-toto.io/Statement/v1
expect_eq "record: SLSA provenance v1" "$(rec_field "$r" 'd["predicateType"]')" https://slsa.dev/provenance/v1
expect_eq "record: subject sha256 = sha256sum" "$(rec_field "$r" 'd["subject"][0]["digest"]["sha256"]')" \
	"$(sha256sum <"$o/metal-amd64-uki.efi" | cut -d' ' -f1)"
expect_eq "record: SOURCE_DATE_EPOCH" \
	"$(rec_field "$r" 'd["predicate"]["buildDefinition"]["externalParameters"]["sourceDateEpoch"]')" 1700000000
inputs_ok() { # RECORD: every inputs/ dependency has the sha256 sha256sum gives; prints them
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for x in d["predicate"]["buildDefinition"]["resolvedDependencies"]:
    if x["uri"].startswith("inputs/"):
        print(x["uri"][7:], x["digest"]["sha256"])' "$1" >"$T/deps"
	[ -s "$T/deps" ] || return 1
	while read -r f h; do
		[ "$(sha256sum <"$INSTALL/amd64/$f" | cut -d' ' -f1)" = "$h" ] || { echo "$f"; return 1; }
	done <"$T/deps"
}
check "uki record: kernel, initramfs, stub with their sha256" sh -c \
	"$(declare -f inputs_ok); T='$T' INSTALL='$INSTALL' inputs_ok '$r' && grep -qx 'vmlinuz .*' '$T/deps' && grep -q '^systemd-stub.efi ' '$T/deps' && grep -q '^initramfs.xz ' '$T/deps'"
check "iso record: the GRUB images with their sha256" sh -c \
	"$(declare -f inputs_ok); T='$T' INSTALL='$INSTALL' inputs_ok '$o/metal-amd64.iso.build.json' && grep -q '^grub/eltorito.img ' '$T/deps'"
check "installer record: payload manifest entries" grep -q '"uri": "pkg:deb/debian/' "$o/installer-amd64.tar.build.json"
sb=$o/metal-amd64-secureboot-uki.efi.build.json
check "secureboot record: certificate fingerprint" grep -q "\"sha256\": \"$(openssl x509 -in "$T/keys/uki-signing-cert.pem" -outform DER | sha256sum | cut -d' ' -f1)\"" "$sb"
no_key() {
	! grep -q -e PRIVATE -e signing-key "$1" &&
		! grep -q "$(sha256sum <"$T/keys/uki-signing-key.pem" | cut -d' ' -f1)" "$1" &&
		! grep -q "$(sed -n 2p "$T/keys/uki-signing-key.pem" | cut -c1-40)" "$1"
}
check "secureboot records hold no private key material" sh -c "$(declare -f no_key); T='$T' no_key '$sb' && T='$T' no_key '$o/metal-amd64-secureboot.iso.build.json'"
(cd / && TZ=Asia/Tokyo LC_ALL=C.UTF-8 umask 077 && "$IMAGER" iso -o "$T/o2" -q 2>/dev/null)
check "the record is reproducible (other folder, TZ, locale, umask)" cmp "$o/metal-amd64.iso.build.json" "$T/o2/metal-amd64.iso.build.json"
"$IMAGER" metal-uki -o "$T/nr" -q --no-build-record
expect_eq "--no-build-record: the artifact alone" "$(ls -A "$T/nr")" metal-amd64-uki.efi

# --- verify each kind ----------------------------------------------------------------------
# signed kinds: with the keys folder, and keyless (no folder at all: the signatures, the
# certificate, the PCR public key and the .auth files are taken from the artifact and must
# match the record and verify over the rebuilt bytes)
signed=()
for k in "${kinds[@]}"; do
	case $k in
	*secureboot*)
		check "verify $k with the keys folder: reproduced (exit 0)" \
			"$IMAGER" verify "$o/$k" --secureboot-keys "$T/keys"
		"$IMAGER" verify "$o/$k" >"$T/v.out" 2>"$T/v.err"
		rc=$?
		if [ $rc -eq 0 ] && grep -q "reproduced (sha256" "$T/v.out" &&
			grep -Eq ": [0-9]+ signatures verified with the recorded certificate and PCR public key \(keyless\)$" "$T/v.out"; then
			ok "verify $k without any key: reproduced, signatures verified (exit 0)"
			signed+=("$k")
		else
			not_ok "verify $k without any key" "exit $rc" "$(cat "$T/v.out" "$T/v.err" | head -c 600)"
		fi
		;;
	*) check "verify $k: reproduced (exit 0)" "$IMAGER" verify "$o/$k" ;;
	esac
done
echo "# verify covered: ${kinds[*]}; keyless: ${signed[*]}"
expect_eq "every signed kind verified keyless" "${#signed[@]}" 4
mkdir -p "$T/pub"
cp "$T/keys/uki-signing-cert.pem" "$T/keys/"*.auth "$T/pub/"
check "verify with a folder of public files only (certificate, .auth): reproduced" \
	"$IMAGER" verify "$o/metal-amd64-secureboot.iso" --secureboot-keys "$T/pub"
check "verify leaves no temporary folder" test -z "$(ls -A "$TMPDIR")"

# --- one byte flipped inside a named place -----------------------------------------------
flip() { printf '\377' | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
# expect_diff DESC ARTIFACT WANT-LINE: exit 8 and the report names exactly that place
expect_diff() {
	"$IMAGER" verify "$2" >"$T/v.out" 2>"$T/v.err"
	local rc=$?
	if [ $rc -ne 8 ]; then
		not_ok "$1" "exit $rc, want 8" "$(head -c 500 "$T/v.err")"
	elif [ "$(grep -c '^  .* differ' "$T/v.err")" -ne 1 ] || ! grep -qxF "  $3" "$T/v.err"; then
		not_ok "$1" "want: $3" "$(head -c 500 "$T/v.err")"
	else
		ok "$1"
	fi
}
u=$T/f/metal-amd64-uki.efi
mkdir -p "$T/f"
cp "$o/metal-amd64-uki.efi" "$o/metal-amd64-uki.efi.build.json" "$T/f/"
flip "$u" $((16#$(objdump -h "$u" | awk '$2 == ".initrd" {print $6}') + 1000))
expect_diff "UKI: a byte of .initrd -> the PE section" "$u" "PE section .initrd differs (first at byte 1000)"

iso=$T/f/metal-amd64.iso
cp "$o/metal-amd64.iso" "$o/metal-amd64.iso.build.json" "$T/f/"
lba=$(xorriso -indev "$iso" -find /boot/initramfs.xz -exec report_lba 2>/dev/null | awk -F, '/initramfs/ {print $2 + 0}')
flip "$iso" $((lba * 2048 + 500))
expect_diff "ISO: a byte of /boot/initramfs.xz -> the ISO file" "$iso" "/boot/initramfs.xz differs (first at byte 500)"

# find_in IMG NEEDLE START LEN: offset of NEEDLE's first 4 KiB inside IMG[START, START+LEN)
find_in() {
	python3 - "$@" <<'EOF'
import sys
img, needle, start, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
n = open(needle, "rb").read(4096)
with open(img, "rb") as f:
    f.seek(start)
    pos, prev = start, b""
    while pos < start + length:
        b = f.read(1 << 22)
        if not b:
            break
        h = (prev + b).find(n)
        if h >= 0:
            print(pos - len(prev) + h)
            sys.exit(0)
        prev, pos = b[-4096:], pos + len(b)
sys.exit(1)
EOF
}
# the systemd-boot ISO: the UKI inside its EFI image (FAT12), then its .initrd section
sbiso=$T/f/metal-amd64-secureboot.iso
cp "$o/metal-amd64-secureboot.iso" "$o/metal-amd64-secureboot.iso.build.json" "$T/f/"
off=$(find_in "$sbiso" "$INSTALL/amd64/initramfs.xz" 0 "$(stat -c %s "$sbiso")")
flip "$sbiso" $((off + 36096))
"$IMAGER" verify "$sbiso" --secureboot-keys "$T/keys" >"$T/v.out" 2>"$T/v.err"
check "ISO: a byte of the UKI in the EFI image -> partition, file and PE section" \
	grep -qx '  Appended2:/EFI/Linux/Talos-v1.0.0.efi PE section .initrd differs (first at byte 36096)' "$T/v.err"

img=$T/f/metal-amd64.raw
cp --sparse=always "$o/metal-amd64.raw" "$img"
cp "$o/metal-amd64.raw.build.json" "$T/f/"
read -r s n < <(sfdisk -J "$img" | python3 -c 'import json,sys; p=[x for x in json.load(sys.stdin)["partitiontable"]["partitions"] if x.get("name")=="BOOT-A"][0]; print(p["start"], p["size"])')
off=$(find_in "$img" "$INSTALL/amd64/initramfs.xz" $((s * 512)) $((n * 512)))
flip "$img" $((off + 123456))
expect_diff "disk image: a byte of BOOT-A's initramfs.xz -> partition and file" "$img" "BOOT-A:/initramfs.xz differs (first at byte 123456)"
# the same in a .raw.zst, recompressed by zstd itself (another size): located in the
# decompressed images
mkdir -p "$T/z"
zstd -dq "$o/metal-amd64.raw.zst" -o "$T/z/x.raw"
off=$(find_in "$T/z/x.raw" "$INSTALL/amd64/initramfs.xz" $((s * 512)) $((n * 512)))
flip "$T/z/x.raw" $((off + 123456))
zstd -q -3 --rm "$T/z/x.raw" -o "$T/z/metal-amd64.raw.zst"
cp "$o/metal-amd64.raw.zst.build.json" "$T/z/"
expect_diff "compressed disk image: a byte of BOOT-A's initramfs.xz -> partition and file" "$T/z/metal-amd64.raw.zst" "BOOT-A:/initramfs.xz differs (first at byte 123456)"
check "  ... and the decompressed images leave nothing in TMPDIR" test -z "$(ls -A "$TMPDIR")"

# --- inputs ------------------------------------------------------------------------------
cp -a "$INSTALL/amd64" "$T/in"
printf x >>"$T/in/vmlinuz"
expect_fail "a changed input is named before building" 8 \
	'^imager: input kernel changed: .*/in/vmlinuz has sha256 ' "$TMPDIR/*" \
	"$IMAGER" verify "$o/metal-amd64-uki.efi" --inputs "$T/in"
cp "$INSTALL/amd64/vmlinuz" "$T/in/vmlinuz"
rm "$T/in/systemd-stub.efi"
expect_fail "a record with a missing input" 5 \
	'^imager: input systemd-stub \(inputs/systemd-stub.efi\): .*systemd-stub.efi' "$TMPDIR/*" \
	"$IMAGER" verify "$o/metal-amd64-uki.efi" --inputs "$T/in"

# --- bad inputs ----------------------------------------------------------------------------
expect_fail "a record for another artifact" 2 \
	'^imager: .*metal-amd64-uki.efi.build.json: the record is for metal-amd64-uki.efi, not metal-amd64.iso$' \
	"$TMPDIR/*" "$IMAGER" verify "$o/metal-amd64.iso" --record "$o/metal-amd64-uki.efi.build.json"
mkdir -p "$T/t"
head -c 100000 "$o/metal-amd64.iso" >"$T/t/metal-amd64.iso"
expect_fail "a truncated artifact" 8 '^imager: .*metal-amd64.iso: not reproduced: 100000 bytes, the record says ' \
	"$TMPDIR/*" "$IMAGER" verify "$T/t/metal-amd64.iso" --record "$o/metal-amd64.iso.build.json"
echo '{"_type": "x"' >"$T/t/bad.json"
expect_fail "a record that is not JSON" 2 '^imager: .*bad.json: not an imager build record \(not JSON\)$' \
	"$TMPDIR/*" "$IMAGER" verify "$o/metal-amd64.iso" --record "$T/t/bad.json"
expect_fail "a missing record" 5 '^imager: .*nope.build.json' "$TMPDIR/*" \
	"$IMAGER" verify "$T/t/nope"

# --- keyless: signatures that do not verify, another signer ---------------------------------
mkdir -p "$T/s"
su=$T/s/metal-amd64-secureboot-uki.efi
cp "$o/metal-amd64-secureboot-uki.efi" "$o/metal-amd64-secureboot-uki.efi.build.json" "$T/s/"
# the Authenticode signature: the last 512-byte DER OCTET STRING (04 82 02 00) of the file
sig=$(python3 -c 'import sys; b=open(sys.argv[1],"rb").read(); print(b.rfind(bytes([4,0x82,2,0])) + 4 + 100)' "$su")
flip "$su" "$sig"
"$IMAGER" verify "$su" >"$T/v.out" 2>"$T/v.err"
rc=$?
if [ $rc -eq 8 ] && grep -q '^  .*differ' "$T/v.err" &&
	grep -qx "imager: $su: 1 of 13 signatures do not verify over the rebuilt bytes with the recorded certificate and PCR public key" "$T/v.err" &&
	[ -z "$(ls -A "$TMPDIR")" ]; then
	ok "keyless: a signature that does not verify over the rebuilt bytes (exit 8, named, nothing left)"
else
	not_ok "keyless: a signature that does not verify" "exit $rc, want 8" "$(head -c 600 "$T/v.err")"
fi
"$IMAGER" keys --output "$T/keys2" >/dev/null 2>&1
"$IMAGER" secureboot-metal-uki --secureboot-keys "$T/keys2" -o "$T/k2" -q --no-build-record
expect_fail "keyless: an artifact signed with another key" 8 \
	'^imager: .*k2/metal-amd64-secureboot-uki.efi: not reproduced: (no certificate with the recorded fingerprint is in the artifact|[0-9]+ bytes, the record says)' \
	"$TMPDIR/*" "$IMAGER" verify "$T/k2/metal-amd64-secureboot-uki.efi" --record "$o/metal-amd64-secureboot-uki.efi.build.json"
cp "$o/metal-amd64-secureboot.iso" "$o/metal-amd64-secureboot.iso.build.json" "$T/s/"
pk=$(python3 -c 'import sys; b=open(sys.argv[1],"rb").read(); print(b.find(open(sys.argv[2],"rb").read()) + 100)' "$T/s/metal-amd64-secureboot.iso" "$T/keys/PK.auth")
flip "$T/s/metal-amd64-secureboot.iso" "$pk"
expect_fail "keyless: an enrollment file the record names is not in the artifact" 8 \
	'^imager: .*metal-amd64-secureboot.iso: not reproduced: input secureboot-keys/PK.auth \(sha256 [0-9a-f]{16}...\) is not in it; give --secureboot-keys DIR' \
	"$TMPDIR/*" "$IMAGER" verify "$T/s/metal-amd64-secureboot.iso"
