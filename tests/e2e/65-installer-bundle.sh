#!/usr/bin/env bash
# Issue 13 acceptance: the installer bundle (DESIGN.md §7 "Installer bundle"). An OCI image
# layout archive read by skopeo and umoci, whose installer runs in its own root (amd64) and
# is complete for arm64 (ELF headers); byte-identical builds; installing from the bundle
# boots slot A (SeaBIOS, OVMF); a bundle customised from it (--base-installer-image plus the
# hello-world extension) upgrades to slot B with the extension active and commits; a
# panicking v3 rolls back to B; the Secure Boot bundle boots under OVMF Secure Boot;
# --tar-to-stdout; bad bundles refused before the disk is touched.
source "$(dirname "$0")/lib.sh"

if [ ! -e "$INSTALL/amd64/installer-root/usr/bin/installer" ] ||
	[ ! -e "$INSTALL/arm64/installer-root/usr/bin/installer" ]; then
	skip "installer bundle" "needs make payload (out/install/<arch>/installer-root)"
	exit 0
fi
export SOURCE_DATE_EPOCH=1700000000
CON="--extra-kernel-arg console=ttyS0 --extra-kernel-arg panic=1"

# --- build ---------------------------------------------------------------------------------
# shellcheck disable=SC2086
check "imager installer (amd64)" "$IMAGER" installer -q -o "$T/v1" $CON
check "imager installer --arch arm64" "$IMAGER" installer --arch arm64 -q -o "$T/a64" \
	--extra-kernel-arg console=ttyAMA0
V1=$T/v1/installer-amd64.tar
A64=$T/a64/installer-arm64.tar
check "output folder holds the bundle and its record only" \
	test "$(ls -A "$T/v1" | tr '\n' ' ')" = "installer-amd64.tar installer-amd64.tar.build.json "

# skopeo and umoci (independent OCI tools)
skopeo inspect --config "oci-archive:$V1" >"$T/config.json" 2>"$T/skopeo.err"
cfg() { python3 -c "import json,sys; c=json.load(open('$T/config.json')); print($1)"; }
expect_eq "skopeo: architecture" "$(cfg "c['architecture']")" amd64
expect_eq "skopeo: os" "$(cfg "c['os']")" linux
expect_eq "skopeo: entrypoint" "$(cfg "c['config']['Entrypoint']")" "['/usr/bin/installer']"
expect_eq "skopeo: created = SOURCE_DATE_EPOCH" "$(cfg "c['created']")" "2023-11-14T22:13:20Z"
expect_eq "skopeo: two layers" "$(skopeo inspect "oci-archive:$V1" 2>/dev/null |
	python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))')" 2
check "skopeo copy to an OCI folder" skopeo copy -q "oci-archive:$V1" "oci:$T/oci:v1"
check "umoci unpack" umoci unpack --rootless --image "$T/oci:v1" "$T/unpacked"
R=$T/unpacked/rootfs
for f in vmlinuz initramfs.xz systemd-stub.efi systemd-boot.efi vmlinuz.efi grub/core.img cmdline \
	name version bootloader; do
	check "bundle has /usr/install/amd64/$f" test -s "$R/usr/install/amd64/$f"
done
check "bundle's initramfs is the payload's" cmp "$R/usr/install/amd64/initramfs.xz" \
	"$INSTALL/amd64/initramfs.xz"
check "chroot ROOT /usr/bin/installer --help runs" sh -c \
	"chroot '$R' /usr/bin/installer --help | grep -q 'installer install'"
check "the root holds only the installer, its loader and libraries, and /usr/install" sh -c \
	"cd '$R' && test -z \"\$(find . -type f ! -path './usr/install/*' ! -path './usr/bin/installer' ! -path './lib/x86_64-linux-gnu/*')\""

# arm64: an aarch64 ELF whose loader and DT_NEEDED libraries are in the bundle (not run)
mkdir -p "$T/a64root"
if bsdtar -xf "$A64" -C "$T/a64root" index.json blobs 2>/dev/null; then
	for l in "$T"/a64root/blobs/sha256/*; do
		gzip -t "$l" 2>/dev/null && bsdtar -xzf "$l" -C "$T/a64root"
	done
fi
E=$T/a64root/usr/bin/installer
check "arm64 installer is an AArch64 ELF" sh -c "readelf -h '$E' | grep -q 'Machine:.*AArch64'"
interp=$(readelf -l "$E" 2>/dev/null | sed -n 's/.*interpreter: \(.*\)\]$/\1/p')
# in_root ROOT PATH: PATH exists inside ROOT, absolute symlinks resolved inside ROOT
in_root() {
	local p=$2 n=0
	while [ -L "$1$p" ] && [ $((n++)) -lt 8 ]; do
		case $(readlink "$1$p") in /*) p=$(readlink "$1$p") ;; *) p=$(dirname "$p")/$(readlink "$1$p") ;; esac
	done
	[ -f "$1$p" ]
}
check "arm64 loader $interp is in the bundle" in_root "$T/a64root" "$interp"
missing=""
for so in $( (readelf -d "$E"; readelf -d "$T/a64root/lib/aarch64-linux-gnu"/*) 2>/dev/null |
	sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | sort -u); do
	[ -e "$T/a64root/lib/aarch64-linux-gnu/$so" ] || missing+=" $so"
done
expect_eq "arm64 installer: every DT_NEEDED library (and theirs) is in the bundle" "$missing" ""
check "arm64 libraries are AArch64 ELFs" sh -c "for l in '$T/a64root/lib/aarch64-linux-gnu'/*; do
	readelf -h \"\$l\" | grep -q 'Machine:.*AArch64' || exit 1; done"

# reproducible: another folder, TZ, umask and thread count
check "second build: other folder, TZ, umask, IMAGER_THREADS" sh -c "umask 077 && cd / &&
	TZ=Pacific/Chatham IMAGER_THREADS=1 '$IMAGER' installer -q -o '$T/v1b' $CON"
check "installer bundles byte-identical" cmp "$V1" "$T/v1b/installer-amd64.tar"

# the record: META values of the build go onto the disk, --meta of the install wins
# shellcheck disable=SC2086
check "imager installer --meta 0xa --meta 0xc" "$IMAGER" installer -q -o "$T/m" $CON \
	--meta 0xa=net --meta 0xc=user
check "install --bundle applies the bundle's META (--meta overrides)" sh -c "
	'$INSTALLER' install --disk '$T/m.img' --image-mode --bundle '$T/m/installer-amd64.tar' \
		--meta 0xc=override >/dev/null &&
	test \"\$('$INSTALLER' meta --disk '$T/m.img' list | tr '\n' ' ')\" = '0xa=net 0xc=override '"
rm -f "$T/m.img"

# --- install from the bundle, booted --------------------------------------------------------
slot_of() { report "$1" slot; }
D=$T/disk.img
check "installer install --bundle" "$INSTALLER" install --disk "$D" --image-mode --bundle "$V1"
cp --sparse=always "$D" "$T/disk-bios.img"
qemu_run "$T/bios.log" 150 qemu-system-x86_64 -M pc -m 1024 -net none \
	-drive file="$T/disk-bios.img",format=raw &
boot_uefi amd64 "$T/uefi.log" "$D" &
wait
expect_eq "bundle v1 boots slot A under SeaBIOS" "$(slot_of "$T/bios.log")" A
expect_eq "bundle v1 boots slot A under OVMF" "$(slot_of "$T/uefi.log")" A

# --- Secure Boot bundle ---------------------------------------------------------------------
check "imager keys" "$IMAGER" keys --output "$T/keys"
printf 'baseProfileName: secureboot-installer\noutput:\n  isoOptions:\n    sdBootEnrollKeys: force\n' >"$T/sb.yaml"
check "imager secureboot-installer" "$IMAGER" "$T/sb.yaml" -q --secureboot-keys "$T/keys" \
	-o "$T/sb" --extra-kernel-arg console=ttyS0
SBT=$T/sb/installer-amd64-secureboot.tar
check "secureboot bundle: install --bundle" "$INSTALLER" install --disk "$T/sb.img" \
	--image-mode --bundle "$SBT"
SB=(/usr/share/OVMF/OVMF_VARS_4M.fd /usr/share/OVMF/OVMF_CODE_4M.secboot.fd)
# its two boots (systemd-boot enrolls our keys and resets; then Secure Boot is on) run
# beside the upgrade boots below: at most two QEMUs at a time
(
	boot_uefi amd64 "$T/sb1.log" "$T/sb.img" "${SB[@]}"
	cp "$T/sb1.log.vars" "$T/sb2.log.vars"
	boot_uefi amd64 "$T/sb2.log" "$T/sb.img" "${SB[@]}"
) &
sbpid=$!

# v2: the Talos customisation flow from the v1 bundle, no inputs folder
if "$SRC/extensions/hello-world/build.sh" "$T/ext" amd64 >"$T/ext.log" 2>&1; then
	ok "hello-world extension built"
else
	not_ok "hello-world extension built" "$(tail -n 5 "$T/ext.log")"
fi
printf 'baseProfileName: installer\nversion: v1.1.0\n' >"$T/v2.yaml"
# shellcheck disable=SC2086
check "v2: --base-installer-image v1 --system-extension-image hello-world" env \
	IMAGER_INPUTS=/nonexistent "$IMAGER" "$T/v2.yaml" -q -o "$T/v2" --base-installer-image "$V1" \
	--system-extension-image "$T/ext/hello-world-amd64" $CON --extra-kernel-arg imager.commit=1
printf 'baseProfileName: installer\nversion: v1.2.0\n' >"$T/v3.yaml"
# shellcheck disable=SC2086
check "v3 (panics): --base-installer-image v1" "$IMAGER" "$T/v3.yaml" -q -o "$T/v3" \
	--base-installer-image "$V1" $CON --extra-kernel-arg imager.panic=1
check "upgrade --bundle v2" "$INSTALLER" upgrade --disk "$D" --bundle "$T/v2/installer-amd64.tar"
boot_uefi amd64 "$T/v2.log" "$D"
expect_eq "v2 boots slot B on trial" "$(slot_of "$T/v2.log")" B
expect_eq "v2: the hello-world extension is active" \
	"$(sed -n 's/.*IMAGER-REPORT ext=//p' "$T/v2.log" | tr '\n' ' ')" "0:hello-world:1.0.0 "
expect_eq "v2: the booted system committed itself" "$(report "$T/v2.log" commit)" ok
check "status: B committed" sh -c "'$INSTALLER' status --disk '$D' | grep -qx 'slot B: committed Talos v1.1.0'"
check "upgrade --bundle v3 (panics)" "$INSTALLER" upgrade --disk "$D" --bundle "$T/v3/installer-amd64.tar"
# a panicking kernel reboots (panic=1); the trial is used up and slot B boots by itself
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$T/v3.vars"
: >"$T/v3.log"
timeout --kill-after=5 240 qemu-system-x86_64 -M q35 -m 1024 -net none -accel tcg -nographic \
	-monitor none -serial "file:$T/v3.log" \
	-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
	-drive if=pflash,format=raw,unit=1,file="$T/v3.vars" \
	-drive file="$D",format=raw,if=virtio </dev/null >/dev/null 2>&1 &
pid=$!
QEMU_PIDS+=("$pid")
for ((i = 0; i < 960; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	grep -q "IMAGER-REPORT done" "$T/v3.log" 2>/dev/null && { sleep 1; break; }
	sleep 0.25
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
tr -d '\r' <"$T/v3.log" >"$T/v3.clean"
if grep -q "IMAGER-REPORT panic=requested" "$T/v3.clean" && grep -q "IMAGER-REPORT done" "$T/v3.clean"; then
	expect_eq "v3 panicked and the machine came back on B by itself" \
		"$(grep -a 'IMAGER-REPORT slot=' "$T/v3.clean" | tail -n1 | sed 's/.*slot=//')" B
else
	not_ok "v3 panicked and the machine came back on B by itself" "$(log_tail "$T/v3.clean")"
fi

wait "$sbpid"
if grep -q "IMAGER-REPORT done" "$T/sb2.log"; then
	expect_eq "secureboot bundle boots under OVMF Secure Boot (our keys enrolled)" \
		"$(report "$T/sb2.log" secureboot)" 1
else
	not_ok "secureboot bundle boots under OVMF Secure Boot (our keys enrolled)" "$(log_tail "$T/sb2.log")"
fi


# --- --tar-to-stdout ------------------------------------------------------------------------
# same_as_folder DESC DIR STREAM: the stream lists exactly DIR's files, byte-identical
same_as_folder() {
	local d=$T/x-$RANDOM
	mkdir -p "$d"
	if ! bsdtar -xf "$3" -C "$d" 2>"$T/x.err"; then
		not_ok "$1" "bsdtar: $(cat "$T/x.err")"
	elif [ "$(cd "$2" && find . -type f | sort)" != "$(cd "$d" && find . -type f | sort)" ]; then
		not_ok "$1" "folder: $(ls -A "$2" | tr '\n' ' ')" "stream: $(bsdtar -tf "$3" | tr '\n' ' ')"
	elif ! diff -r "$2" "$d" >/dev/null; then
		not_ok "$1" "contents differ"
	else
		ok "$1"
	fi
}
# shellcheck disable=SC2086
"$IMAGER" installer -q $CON --tar-to-stdout >"$T/inst.tar" 2>"$T/inst.err"
same_as_folder "--tar-to-stdout installer: the folder's files, byte-identical" "$T/v1" "$T/inst.tar"
"$IMAGER" iso -q -o "$T/iso" --extra-kernel-arg console=ttyS0 &&
	"$IMAGER" iso -q --extra-kernel-arg console=ttyS0 --tar-to-stdout >"$T/iso.tar"
same_as_folder "--tar-to-stdout iso: the folder's files, byte-identical" "$T/iso" "$T/iso.tar"
"$IMAGER" metal -q -o "$T/img" --output-kind image --base-installer-image "$V1" &&
	"$IMAGER" metal -q --output-kind image --base-installer-image "$V1" --tar-to-stdout >"$T/img.tar"
same_as_folder "--tar-to-stdout image (from a base installer): the folder's files" "$T/img" "$T/img.tar"

# --- bad bundles ------------------------------------------------------------------------------
truncate -s 3G "$T/target.img"
printf 'META?' | dd of="$T/target.img" bs=1 seek=1048576 conv=notrunc status=none
before=$(sha256sum <"$T/target.img")
echo "not a tar at all" >"$T/notatar.tar"
head -c $(($(stat -c %s "$V1") / 2)) "$V1" >"$T/truncated.tar"
python3 - "$V1" "$T" <<'PY'
import io, sys, tarfile
src, t = sys.argv[1], sys.argv[2]
def rewrite(dst, change):
    with tarfile.open(src) as a, tarfile.open(dst, "w", format=tarfile.USTAR_FORMAT) as b:
        for m in a.getmembers():
            data = a.extractfile(m).read() if m.isfile() else None
            r = change(m, data)
            if r is None:
                continue
            m, data = r
            if data is not None:
                m.size = len(data)
            b.addfile(m, io.BytesIO(data) if data is not None else None)
rewrite(t + "/nolayout.tar", lambda m, d: None if m.name == "oci-layout" else (m, d))
flipped = []
def flip(m, d):
    if m.name.startswith("blobs/sha256/") and d is not None and len(d) > 100000 and not flipped:
        flipped.append(m.name)
        d = d[:50000] + bytes([d[50000] ^ 1]) + d[50001:]
    return m, d
rewrite(t + "/corrupt.tar", flip)
PY
# a bundle without /usr/install/amd64/vmlinuz: umoci removes it (a whiteout layer)
rm -f "$R/usr/install/amd64/vmlinuz"
umoci repack --image "$T/oci:v1" "$T/unpacked" >/dev/null 2>&1 &&
	skopeo copy -q "oci:$T/oci:v1" "oci-archive:$T/nokernel.tar" >/dev/null 2>&1
bad() { # DESC FILE REGEX [ARCH]
	expect_fail "install refuses $1" 2 "$3" "" \
		"$INSTALLER" install --disk "$T/target.img" --image-mode --arch "${4:-amd64}" --bundle "$2"
	expect_eq "install refuses $1: target disk unchanged" "$(sha256sum <"$T/target.img")" "$before"
	expect_fail "--base-installer-image refuses $1" 2 "$3" "$T/bad-out/*" \
		"$IMAGER" installer -q --arch "${4:-amd64}" -o "$T/bad-out" --base-installer-image "$2"
}
bad "not a tar" "$T/notatar.tar" "notatar.tar: not a tar archive"
bad "a tar without oci-layout" "$T/nolayout.tar" "nolayout.tar: no oci-layout"
bad "a manifest for another arch" "$A64" "installer-arm64.tar: image for linux/arm64 \(expected linux/amd64\)"
bad "a blob whose content does not match its digest" "$T/corrupt.tar" "corrupt.tar: blob sha256:[0-9a-f]+: content has digest"
bad "a truncated archive" "$T/truncated.tar" "truncated.tar: truncated archive"
bad "a bundle without /usr/install/amd64/vmlinuz" "$T/nokernel.tar" "nokernel.tar: no /usr/install/amd64/vmlinuz"
expect_fail "upgrade refuses a corrupt bundle" 2 "corrupt.tar: blob" "" \
	"$INSTALLER" upgrade --disk "$T/target.img" --bundle "$T/corrupt.tar"
expect_eq "upgrade refuses a corrupt bundle: target disk unchanged" "$(sha256sum <"$T/target.img")" "$before"
expect_fail "base installer of another arch than --arch" 2 \
	"installer-amd64.tar: image for linux/amd64 \(expected linux/arm64\)" "$T/bad-arch/*" \
	"$IMAGER" installer -q --arch arm64 -o "$T/bad-arch" --base-installer-image "$V1"
