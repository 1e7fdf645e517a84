#!/usr/bin/env bash
# imager inspect of the other kinds the imager writes (issue 14): installer bundles (the
# OCI image layout tar, also as --tar-to-stdout writes it), initramfs (xz, zstd, gzip or
# plain newc cpio, with the extensions cpio appended), system extension squashfs images
# and VM formats. Each kind is built with $IMAGER and its --json checked against an
# independent reader (skopeo, tar, cpio, rdsquashfs, qemu-img); the human form fits 80
# columns; a truncated or garbage file of each kind is refused with its exit code and one
# stderr line naming the file.
. "$(dirname "$0")/lib.sh"

# json_check FILE.json PY-EXPR...: each Python expression over d (the document) is true
json_check() {
	local f=$1
	shift
	python3 - "$f" "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
bad = [e for e in sys.argv[2:] if not eval(e)]
for e in bad:
    print("false:", e)
sys.exit(1 if bad else 0)
PY
}
cols80() { awk 'length > 80 { print FILENAME ":" FNR ": " length " columns"; bad = 1 } END { exit bad }' "$1"; }
# human FILE OUT: the human form, which must fit 80 columns
human() { "$IMAGER" inspect "$1" >"$2" 2>&1 && cols80 "$2"; }

# --- installer bundle -------------------------------------------------------------------
b=$T/bundle/installer-amd64.tar
if "$IMAGER" installer -o "$T/bundle" -q --no-build-record 2>"$T/err"; then
	ok "imager installer builds"
else
	not_ok "imager installer builds" "$(cat "$T/err")"
fi
"$IMAGER" inspect --json "$b" >"$T/b.json" 2>"$T/err"
check "a bundle is inspected (--json parses)" json_check "$T/b.json" \
	'd["kind"] == "bundle" and d["arch"] == "amd64" and d["os"] == "linux"' \
	'd["size"] == '"$(stat -c %s "$b")"
skopeo inspect "oci-archive:$b" >"$T/skopeo.json" 2>"$T/err"
check "bundle: manifest digest, layers, arch, created and env as skopeo reads them" python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
assert d["manifest"]["digest"] == s["Digest"], (d["manifest"]["digest"], s["Digest"])
assert [l["digest"] for l in d["layers"]] == s["Layers"]
assert d["arch"] == s["Architecture"] and d["config"]["created"] == s["Created"]
assert d["config"]["env"] == s["Env"]
assert d["index"]["manifests"][0]["platform"]["architecture"] == "amd64"
' "$T/b.json" "$T/skopeo.json"
check "bundle: the blobs of the tar with the sizes tar lists" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sizes = {}
for l in open(sys.argv[2]):
    f = l.split()
    sizes[f[5]] = int(f[2])
for l in d["layers"] + [d["manifest"]["config"]]:
    assert sizes["blobs/sha256/" + l["digest"][7:]] == l["size"], l
' "$T/b.json" <(tar tvf "$b")
# the assets: every file of the layer under usr/install/, with tar's sizes and sha256sum
mkdir -p "$T/layer"
for l in $(python3 -c 'import json,sys; print(" ".join(l["digest"][7:] for l in json.load(open(sys.argv[1]))["layers"]))' "$T/b.json"); do
	tar -xOf "$b" "blobs/sha256/$l" | tar -xzf - -C "$T/layer"
done
(cd "$T/layer" && find usr/install -type f | sort | while read -r f; do
	echo "/$f $(stat -c %s "$f") $(sha256sum <"$f" | cut -d' ' -f1)"
done) >"$T/assets.want"
python3 -c 'import json,sys; [print(a["path"], a["size"], a["sha256"]) for a in sorted(json.load(open(sys.argv[1]))["assets"], key=lambda a: a["path"])]' \
	"$T/b.json" >"$T/assets.got"
check "bundle: the /usr/install/amd64 assets with their sizes and sha256" sh -c \
	"diff '$T/assets.want' '$T/assets.got' && grep -q '^/usr/install/amd64/vmlinuz ' '$T/assets.got'"
check "bundle: the record installer install applies (name, version, bootloader, cmdline)" json_check "$T/b.json" \
	'd["record"]["version"] == open("'"$T"'/layer/usr/install/amd64/version").read().strip()' \
	'd["record"]["cmdline"] == open("'"$T"'/layer/usr/install/amd64/cmdline").read().strip()' \
	'd["record"]["bootloader"] in ("grub", "sd-boot", "dual-boot") and d["buildRecord"] is None'
"$IMAGER" installer --tar-to-stdout -q --no-build-record >"$T/stdout.tar" 2>"$T/err"
"$IMAGER" inspect --json "$T/stdout.tar" >"$T/s.json" 2>"$T/err"
check "bundle: the --tar-to-stdout form names its member" json_check "$T/s.json" 'd["member"] == "installer-amd64.tar"'
check "bundle: the --tar-to-stdout form is inspected as the file is" cmp <(sed 1,4d "$T/s.json") <(sed 1,4d "$T/b.json")
check "bundle: the human form fits 80 columns" human "$b" "$T/b.txt"
check "bundle: the human form names the platform and the kernel" sh -c \
	"grep -q '^platform: linux/amd64' '$T/b.txt' && grep -q '^  /usr/install/amd64/vmlinuz ' '$T/b.txt'"
# the Secure Boot bundle: the signed UKI and the enrollment files among the assets
"$IMAGER" keys --output "$T/keys" >/dev/null 2>"$T/err"
"$IMAGER" secureboot-installer --secureboot-keys "$T/keys" -o "$T/sb" -q --no-build-record 2>"$T/err"
sb=$T/sb/installer-amd64-secureboot.tar
"$IMAGER" inspect --json "$sb" >"$T/sb.json" 2>"$T/err"
skopeo inspect "oci-archive:$sb" >"$T/sbs.json" 2>"$T/err"
check "Secure Boot bundle: manifest as skopeo reads it, uki.efi and db.auth among the assets" json_check "$T/sb.json" \
	'd["manifest"]["digest"] == json.load(open("'"$T"'/sbs.json"))["Digest"]' \
	'{"/usr/install/amd64/uki.efi", "/usr/install/amd64/esp/loader/keys/auto/db.auth"} <= {a["path"] for a in d["assets"]}'
check "Secure Boot bundle: the human form fits 80 columns" human "$sb" "$T/sb.txt"
# a small layer (walked from memory) made by hand with lib.sh's oci_layout
mkdir -p "$T/sl/usr/install/arm64" && printf 'v9.9.9\n' >"$T/sl/usr/install/arm64/version"
tar -cf "$T/sl.tar" -C "$T/sl" usr && gzip -n "$T/sl.tar"
oci_layout "$T/small" "$T/sl.tar.gz" >/dev/null
tar -cf "$T/small.tar" -C "$T/small" oci-layout index.json blobs
"$IMAGER" inspect --json "$T/small.tar" >"$T/small.json" 2>"$T/err"
check "bundle: a small hand-made layer's assets and record" json_check "$T/small.json" \
	'[(a["path"], a["size"]) for a in d["assets"]] == [("/usr/install/arm64/version", 7)]' \
	'd["record"]["version"] == "v9.9.9" and d["layers"][0]["files"] == 1'
head -c 300000 "$b" >"$T/bt.tar"
expect_fail "bundle truncated: invalid input, one line" 2 "bt\.tar: " "" "$IMAGER" inspect "$T/bt.tar"
tar -cf "$T/nl.tar" -C "$INSTALL/amd64" kernel.release
expect_fail "a tar that is no OCI layout: invalid input" 2 "nl\.tar: .*not an OCI image layout" "" "$IMAGER" inspect "$T/nl.tar"
printf 'x' >"$T/f" && tar -cf "$T/l.tar" -C "$T" f && gzip -n "$T/l.tar"
oci_layout "$T/bad" "$T/l.tar.gz" >/dev/null
ld=$(ls "$T/bad/blobs/sha256" | head -1)
printf 'tampered' >>"$T/bad/blobs/sha256/$ld"
tar -cf "$T/bd.tar" -C "$T/bad" oci-layout index.json blobs
expect_fail "a bundle blob whose content is not its digest: invalid input" 2 "bd\.tar: blob sha256:.* holds content of" "" \
	"$IMAGER" inspect "$T/bd.tar"

# --- initramfs ---------------------------------------------------------------------------
base=$INSTALL/amd64/initramfs.xz
if "$IMAGER" metal --output-kind initramfs --system-extension-image "$OUT/extensions/hello-world-amd64" \
	-o "$T/ir" -q --no-build-record 2>"$T/err"; then
	ok "an initramfs with an extension builds"
else
	not_ok "an initramfs with an extension builds" "$(cat "$T/err")"
fi
ir=$(ls "$T"/ir/initramfs-amd64.* | head -1)
"$IMAGER" inspect --json "$ir" >"$T/i.json" 2>"$T/err"
check "an initramfs is inspected (--json parses)" json_check "$T/i.json" \
	'd["kind"] == "initramfs" and [a["compression"] for a in d["archives"]] == ["xz", "xz"]' \
	'd["archives"][0]["storedSize"] == '"$(stat -c %s "$base")" \
	'd["archives"][1]["offset"] == '"$(stat -c %s "$base")"
# cpio_list: "path size" per member (size for regular files, "-" otherwise) from cpio -tv
cpio_list() { cpio -tv --quiet 2>/dev/null | awk '{ p = $NF; if ($1 ~ /^l/) p = $(NF-2); print p, ($1 ~ /^-/ ? $5 : "-") }' | sort; }
json_list() { # FILE ARCHIVE-INDEX: the same from the JSON
	python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["members"]:
    if m["archive"] == int(sys.argv[2]):
        print(m["path"], m["size"] if m["type"] == "file" else "-")' "$1" "$2" | sort
}
xz -dc "$base" | cpio_list >"$T/c0.want"
tail -c +$(($(stat -c %s "$base") + 1)) "$ir" | xz -dc | cpio_list >"$T/c1.want"
check "initramfs: the base archive's members and sizes as cpio -tv lists them" diff "$T/c0.want" <(json_list "$T/i.json" 0)
check "initramfs: the extensions archive's members as cpio -tv lists them" diff "$T/c1.want" <(json_list "$T/i.json" 1)
name=$(sed -n 's/^  name: //p' "$OUT/extensions/hello-world-amd64/manifest.yaml")
ver=$(sed -n 's/^  version: //p' "$OUT/extensions/hello-world-amd64/manifest.yaml")
check "initramfs: the appended extension by name and version from its manifest" json_check "$T/i.json" \
	"[(x['image'], x['name'], x['version']) for x in d['extensions']] == [('0.sqsh', '$name', '$ver')]" \
	"d['extensions'][0]['size'] == {m['path']: m['size'] for m in d['members']}['0.sqsh']"
check "initramfs: the human form fits 80 columns" human "$ir" "$T/i.txt"
check "initramfs: the human form summarises members and names the extension" sh -c \
	"grep -q '^members: [0-9]* (' '$T/i.txt' && grep -q 'more (--json lists them all)' '$T/i.txt' &&
	grep -qx '  0.sqsh: $name $ver (.*)' '$T/i.txt' && [ \$(wc -l <'$T/i.txt') -lt 40 ]"
xz -dc "$base" >"$T/plain.cpio"
zstd -q -c "$T/plain.cpio" >"$T/z.cpio"
gzip -n -c "$T/plain.cpio" >"$T/g.cpio"
for c in plain z g; do
	"$IMAGER" inspect --json "$T/$c.cpio" >"$T/$c.json" 2>"$T/err"
	check "initramfs ($c): the same members as the xz archive" diff "$T/c0.want" <(json_list "$T/$c.json" 0)
done
head -c 100000 "$base" >"$T/it.xz"
expect_fail "initramfs truncated (xz): invalid input, one line" 2 "it\.xz: xz data at byte 0 is truncated" "" "$IMAGER" inspect "$T/it.xz"
head -c 4096 "$T/plain.cpio" >"$T/it.cpio"
expect_fail "initramfs truncated (cpio): invalid input, one line" 2 "it\.cpio: the cpio member at byte" "" "$IMAGER" inspect "$T/it.cpio"
{ cat "$T/plain.cpio"; printf 'garbage after the archive'; } >"$T/ig.cpio"
expect_fail "garbage after an initramfs archive: invalid input, one line" 2 "ig\.cpio: at byte [0-9]* neither a newc cpio" "" "$IMAGER" inspect "$T/ig.cpio"

# --- system extension squashfs ------------------------------------------------------------
ext=$OUT/extensions/hello-world-amd64
if "$IMAGER" mksquashfs "$ext" "$T/ext.sqsh" 2>"$T/err"; then
	ok "an extension squashfs packs"
else
	not_ok "an extension squashfs packs" "$(cat "$T/err")"
fi
"$IMAGER" inspect --json "$T/ext.sqsh" >"$T/e.json" 2>"$T/err"
check "an extension is inspected (--json parses)" json_check "$T/e.json" \
	'd["kind"] == "squashfs" and d["compression"] == "zstd" and d["size"] == '"$(stat -c %s "$T/ext.sqsh")"
check "extension: name, version and compatibility from its manifest.yaml" json_check "$T/e.json" \
	"d['manifest']['name'] == '$name' and d['manifest']['version'] == '$ver'" \
	"d['manifest']['manifestVersion'] == 'v1alpha1'" \
	"'\"' + d['manifest']['compatibility'] + '\"' in open('$ext/manifest.yaml').read()"
# sq_list: "path size" per entry (size for regular files, "-" otherwise) from unsquashfs -lln
sq_list() { unsquashfs -lln -d '' "$1" | awk 'NF >= 6 && $6 != "" { p = substr($6, 2); for (i = 7; i <= NF && $1 !~ /^l/; i++) p = p " " $i; print p, ($1 ~ /^-/ ? $3 : "-") }' | sort; }
json_entries() { python3 -c '
import json, sys
for e in json.load(open(sys.argv[1]))["entries"]:
    print(e["path"], e["size"] if e["type"] == "file" else "-")' "$1" | sort; }
check "extension: every entry and file size as unsquashfs -lln lists them" diff <(sq_list "$T/ext.sqsh") <(json_entries "$T/e.json")
check "extension: file count and total size" json_check "$T/e.json" \
	"d['files'] == $(unsquashfs -lln -d '' "$T/ext.sqsh" | grep -c '^-')" \
	"d['bytes'] == $(find "$ext" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')"
check "extension: the human form fits 80 columns" human "$T/ext.sqsh" "$T/e.txt"
check "extension: the human form names it" grep -qx "extension: $name $ver (manifest v1alpha1)" "$T/e.txt"
# the image inside the initramfs (rootfs only, no manifest)
(cd "$T" && tail -c +$(($(stat -c %s "$base") + 1)) "$ir" | xz -dc | cpio -id --quiet 0.sqsh)
"$IMAGER" inspect --json "$T/0.sqsh" >"$T/0.json" 2>"$T/err"
check "the initramfs's extension image: no manifest" json_check "$T/0.json" 'd["manifest"] is None'
check "the initramfs's extension image: entries as unsquashfs -lln lists them" diff <(sq_list "$T/0.sqsh") <(json_entries "$T/0.json")
head -c 100000 "$T/ext.sqsh" >"$T/et.sqsh"
expect_fail "extension truncated: invalid input, one line" 2 "et\.sqsh: .*truncated or not a squashfs" "" "$IMAGER" inspect "$T/et.sqsh"
{ printf hsqs; head -c 4092 /dev/zero; } >"$T/eg.sqsh"
expect_fail "squashfs magic and zeros: invalid input, one line" 2 "eg\.sqsh: " "" "$IMAGER" inspect "$T/eg.sqsh"

# --- VM formats: qcow2, VHD (fixed, dynamic), OVA (and its VMDK) ------------------------------
for f in qcow2 vhd vhd-dynamic ova; do
	printf 'baseProfileName: metal\noutput:\n  outFormat: raw\n  imageOptions:\n    diskFormat: %s\n' "$f" >"$T/$f.yaml"
	check "imager metal as $f builds" "$IMAGER" "$T/$f.yaml" -o "$T/vm-$f" -q --no-build-record
done
q=$T/vm-qcow2/metal-amd64.qcow2 vf=$T/vm-vhd/metal-amd64.vhd vd=$T/vm-vhd-dynamic/metal-amd64.vhd ova=$T/vm-ova/metal-amd64.ova
# qemu_vs FILE FORMAT PY-EXPR...: our JSON (d) against qemu-img info --output=json (q)
qemu_vs() {
	local f=$1 fmt=$2
	shift 2
	"$IMAGER" inspect --json "$f" >"$T/vm.json" 2>"$T/err" || { cat "$T/err"; return 1; }
	qemu-img info -f "$fmt" --output=json "$f" >"$T/qi.json" || return 1
	python3 - "$T/vm.json" "$T/qi.json" "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); q = json.load(open(sys.argv[2]))
bad = [e for e in sys.argv[3:] if not eval(e)]
for e in bad:
    print("false:", e, "\nours:", d, "\nqemu-img:", q)
sys.exit(1 if bad else 0)
PY
}
check "qcow2: virtual size, cluster size, version and compression as qemu-img reads them" qemu_vs "$q" qcow2 \
	'd["kind"] == "qcow2" and d["virtualSize"] == q["virtual-size"] and d["clusterSize"] == q["cluster-size"]' \
	'{3: "1.1", 2: "0.10"}[d["version"]] == q["format-specific"]["data"]["compat"]' \
	'd["compression"] == q["format-specific"]["data"].get("compression-type", "zlib") and d["backingFile"] is None' \
	'd["refcountBits"] == q["format-specific"]["data"]["refcount-bits"]'
check "fixed VHD: virtual size as qemu-img reads it, the footer's creator and checksum" qemu_vs "$vf" vpc \
	'd["kind"] == "vhd" and d["type"] == "fixed" and d["virtualSize"] == q["virtual-size"]' \
	'd["creator"] == "qem2" and d["checksumOk"] and d["blockSize"] is None'
check "dynamic VHD: virtual size and block size as qemu-img reads them" qemu_vs "$vd" vpc \
	'd["type"] == "dynamic" and d["virtualSize"] == q["virtual-size"] and d["blockSize"] == q["cluster-size"]'
mkdir -p "$T/ova" && tar -xf "$ova" -C "$T/ova"
"$IMAGER" inspect --json "$ova" >"$T/ova.json" 2>"$T/err"
check "OVA: members and sizes as tar lists them" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
want = [(l.split()[5], int(l.split()[2])) for l in open(sys.argv[2])]
got = [(m["name"], m["size"]) for m in d["members"]]
assert got == want, (got, want)' "$T/ova.json" <(tar tvf "$ova")
qemu-img info -f vmdk --output=json "$T/ova/metal-amd64.vmdk" >"$T/qi.json"
check "OVA: its VMDK's virtual size, grain size and create type as qemu-img reads them" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["vmdk"]; q = json.load(open(sys.argv[2]))
assert d["member"] == "metal-amd64.vmdk" and d["virtualSize"] == q["virtual-size"], (d, q)
assert d["grainSize"] == q["cluster-size"] and d["createType"] == q["format-specific"]["data"]["create-type"], (d, q)
assert d["compression"] == "deflate"' "$T/ova.json" "$T/qi.json"
check "OVA: the OVF's disk capacity is the VMDK's virtual size" json_check "$T/ova.json" \
	'd["ovf"]["capacity"] == d["vmdk"]["virtualSize"] and d["ovf"]["virtualSystem"] == "metal-amd64"'
check "a bare VMDK is inspected as in its OVA" sh -c "'$IMAGER' inspect --json '$T/ova/metal-amd64.vmdk' >'$T/vmdk.json' &&
	python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))[\"vmdk\"]; sys.exit(any(a[k] != b[k] for k in b if k != \"member\"))' '$T/vmdk.json' '$T/ova.json'"
for f in "$q" "$vf" "$vd" "$ova"; do
	check "$(basename "$(dirname "$f")"): the human form fits 80 columns" human "$f" "$T/vm.txt"
done
zstd -q -c "$q" >"$T/q.zst"
check "a .qcow2.zst is inspected as the qcow2" cmp <("$IMAGER" inspect --json "$T/q.zst" | sed 1,2d) <("$IMAGER" inspect --json "$q" | sed 1,2d)
head -c 40 "$q" >"$T/qt.qcow2"
expect_fail "qcow2 truncated: invalid input, one line" 2 "qt\.qcow2: a qcow2 header cut short" "" "$IMAGER" inspect "$T/qt.qcow2"
{ head -c 512 "$vd"; head -c 4096 /dev/zero; } >"$T/vt.vhd"
expect_fail "dynamic VHD cut after its footer copy: invalid input, one line" 2 "vt\.vhd: a dynamic VHD without its dynamic disk header" "" "$IMAGER" inspect "$T/vt.vhd"
head -c 3000 "$ova" >"$T/ot.ova"
expect_fail "OVA truncated: invalid input, one line" 2 "ot\.ova: " "" "$IMAGER" inspect "$T/ot.ova"
head -c 100 "$T/ova/metal-amd64.vmdk" >"$T/mt.vmdk"
expect_fail "VMDK truncated: invalid input, one line" 2 "mt\.vmdk: a VMDK sparse extent header cut short" "" "$IMAGER" inspect "$T/mt.vmdk"
