#!/usr/bin/env bash
# System extensions (DESIGN.md §5) and META on the command line (§7), booted for real:
# the hello-world extension is appended to the reference initramfs, the init stacks it
# over the root squashfs (overlayfs) and reports the layers, the extension services, the
# root marker through the overlay, and META values given as talos.environment=
# INSTALLER_META_BASE64= (plain and gzip'd). Bad extensions are refused with the right
# message and no output.

. "$(dirname "$0")/lib.sh"

BUILD=${BUILD:-$OUT/build}
case $BUILD in /*) ;; *) BUILD="$SRC/$BUILD" ;; esac
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
marker=$(head -n1 "$SRC/pkgs/rootfs/etc/imager-rootfs")

# ext_append ARCH BASE OUTDIR VERSION EXT...: the imager's initramfs output with
# --system-extension-image, over a given base initramfs (profile from stdin).
ext_append() {
	local arch=$1 base=$2 od=$3 ver=$4 a=() e
	shift 4
	for e; do a+=(--system-extension-image "$e"); done
	printf 'arch: %s\nversion: %s\ninput:\n  initramfs: {path: "%s"}\noutput: {kind: initramfs}\n' \
		"$arch" "$ver" "$base" | "$IMAGER" - -q -o "$od" "${a[@]}"
}

# --- extensions ---------------------------------------------------------------------------
arches=()
for arch in amd64 arm64; do
	if [ ! -e "$INSTALL/$arch/initramfs.xz" ]; then
		skip "$arch: extensions" "no payload in $INSTALL/$arch (make payload)"
		continue
	fi
	if "$SRC/extensions/hello-world/build.sh" "$T/ext" $arch >"$T/build-$arch.log" 2>&1; then
		ok "$arch: hello-world extension built"
		arches+=($arch)
	else
		not_ok "$arch: hello-world extension built" "$(tail -n 5 "$T/build-$arch.log")"
	fi
done

# A second extension, as a tar.gz: another service, stacked above hello-world.
second="$T/second"
mkdir -p "$second/rootfs/usr/local/etc/containers" "$second/rootfs/usr/local/lib/containers/abc"
cat >"$second/manifest.yaml" <<'EOF'
version: v1alpha1
metadata:
  name: second
  version: 0.2.0-rc.1
  compatibility:
    talos:
      version: ">=1.0.0 <2.0.0"
EOF
printf 'name: abc\ncontainer:\n  entrypoint: ./abc\nrestart: never\n' \
	>"$second/rootfs/usr/local/etc/containers/abc.yaml"
printf '#!/bin/sh\n' >"$second/rootfs/usr/local/lib/containers/abc/abc"
bsdtar -C "$second" -czf "$T/second.tar.gz" manifest.yaml rootfs

# META through the imager's own cmdline output: --meta 0xa=@network.yaml on both arches;
# arm64 also gets a 2 KiB value, so the string is gzip'd (Talos's rule) and the init's
# own inflate runs.
big=$(head -c 2048 /dev/zero | tr '\0' 'm')
printf 'machine:\n  network:\n    hostname: imager-e2e\n' >"$T/network.yaml"
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
declare -A cmdline
for arch in "${arches[@]}"; do
	con=ttyS0
	[ $arch = arm64 ] && con=ttyAMA0
	m=(--meta "0xa=@$T/network.yaml")
	[ $arch = arm64 ] && m+=(--meta "0xc=$big")
	if "$IMAGER" metal --arch $arch --output-kind cmdline -q -o "$T/c-$arch" "${m[@]}" \
		--extra-kernel-arg console=$con 2>"$T/c.err"; then
		cmdline[$arch]=$(cat "$T/c-$arch/cmdline-metal-$arch")
		ok "$arch: imager cmdline output with --meta 0xa=@network.yaml"
	else
		not_ok "$arch: imager cmdline output with --meta 0xa=@network.yaml" "$(cat "$T/c.err")"
	fi
done
if [ -n "${cmdline[arm64]:-}" ]; then
	b64=$(echo "${cmdline[arm64]}" | sed -n 's/.*INSTALLER_META_BASE64=\([^ ]*\).*/\1/p')
	expect_eq "arm64: long META string is gzip'd" \
		"$(echo "$b64" | base64 -d | head -c 2 | od -An -tx1 | tr -d ' ')" 1f8b
fi

for arch in "${arches[@]}"; do
	exts=("$T/ext/hello-world-$arch" "$T/second.tar.gz")
	check "$arch: imager --system-extension-image appends two extensions to initramfs.xz" \
		ext_append $arch "$INSTALL/$arch/initramfs.xz" "$T/o-$arch" v1.0.0 "${exts[@]}"
	cp "$T/o-$arch/initramfs-$arch.xz" "$T/initramfs-$arch.xz" 2>/dev/null
	check "$arch: no temporary file left in the output folder" \
		test "$(ls -A "$T/o-$arch" | tr '\n' ' ')" = "initramfs-$arch.xz initramfs-$arch.xz.build.json "
done

# --- boot ---------------------------------------------------------------------------------
for arch in "${arches[@]}"; do
	[ -e "$T/initramfs-$arch.xz" ] || continue
	boot_direct $arch "$T/$arch.log" "$INSTALL/$arch/vmlinuz" "$T/initramfs-$arch.xz" \
		"${cmdline[$arch]:-}" &
done
wait
for arch in "${arches[@]}"; do
	log="$T/$arch.log"
	[ -e "$T/initramfs-$arch.xz" ] || continue
	if ! grep -q "IMAGER-REPORT done" "$log"; then
		not_ok "$arch: boot with extensions reaches the init report" "$(log_tail "$log")"
		continue
	fi
	ok "$arch: boot with extensions reaches the init report"
	want="0:hello-world:1.0.0 1:second:0.2.0-rc.1"
	services="abc hello-world"
	expect_eq "$arch: extension layers, bottom to top" \
		"$(sed -n 's/.*IMAGER-REPORT ext=//p' "$log" | tr '\n' ' ' | sed 's/ $//')" "$want"
	expect_eq "$arch: extension services (sorted)" \
		"$(sed -n 's/.*IMAGER-REPORT ext-service=//p' "$log" | tr '\n' ' ' | sed 's/ $//')" \
		"$services"
	expect_eq "$arch: no extension error" "$(report "$log" ext-error)" ""
	expect_eq "$arch: root marker read through the overlay" "$(report "$log" rootfs)" "$marker"
	want_meta="0xa:$(sha256sum <"$T/network.yaml" | cut -d' ' -f1) "
	[ $arch = arm64 ] && want_meta="${want_meta}0xc:$(sha "$big") "
	expect_eq "$arch: META values from INSTALLER_META_BASE64" \
			"$(sed -n 's/.*IMAGER-REPORT meta=//p' "$log" | tr '\n' ' ')" "$want_meta"
	expect_eq "$arch: no META error" "$(report "$log" meta-error)" ""
done

# --- refused extensions -------------------------------------------------------------------
bad() { # NAME: a copy of hello-world to break
	rm -rf "$T/bad-$1"
	cp -R "$T/ext/hello-world-${arches[0]:-amd64}" "$T/bad-$1" 2>/dev/null ||
		cp -R "$SRC/extensions/hello-world" "$T/bad-$1"
	rm -rf "$T/bad-$1/src" "$T/bad-$1/build.sh"
	echo "$T/bad-$1"
}
base="$INSTALL/${arches[0]:-amd64}/initramfs.xz"
[ -e "$base" ] || { printf '\xfd7zXZ\0' >"$T/fake.xz"; base="$T/fake.xz"; }

d=$(bad abslink)
ln -s /etc/passwd "$d/rootfs/usr/local/passwd"
expect_fail "absolute symlink refused" 2 "bad-abslink: rootfs/usr/local/passwd: absolute symlink" \
	"$T/out-abslink/*" ext_append amd64 "$base" "$T/out-abslink" v1.0.0 "$d"

d=$(bad escape)
ln -s ../../../../etc/passwd "$d/rootfs/usr/local/passwd"
expect_fail "escaping symlink refused" 2 "rootfs/usr/local/passwd: symlink to .* leaves rootfs/" \
	"$T/out-escape/*" ext_append amd64 "$base" "$T/out-escape" v1.0.0 "$d"

# a device node cannot be made without root: describe one in an mtree spec for bsdtar
printf '#mtree\n./manifest.yaml type=file mode=0644 contents=%s\n./rootfs type=dir mode=0755\n./rootfs/usr/local/null type=char mode=0666 device=native,1,3\n' \
	"$SRC/extensions/hello-world/manifest.yaml" >"$T/dev.mtree"
(cd "$T" && bsdtar -cf "$T/dev.tar" @dev.mtree)
expect_fail "device node refused" 2 "dev.tar: \"rootfs/usr/local/null\": character device not allowed" \
	"$T/out-dev/*" ext_append amd64 "$base" "$T/out-dev" v1.0.0 "$T/dev.tar"

d=$(bad toonew)
sed -i 's/">= v1.0.0"/">= v9.0.0"/' "$d/manifest.yaml"
expect_fail "unsatisfied version constraint refused" 2 \
	"extension hello-world requires Talos version \">= v9.0.0\", but the profile version is v1.0.0" \
	"$T/out-toonew/*" ext_append amd64 "$base" "$T/out-toonew" v1.0.0 "$d"

d=$(bad badrange)
sed -i 's/">= v1.0.0"/"~> 1.0"/' "$d/manifest.yaml"
expect_fail "malformed version constraint refused" 2 "version constraint \"~> 1.0\"" \
	"$T/out-badrange/*" ext_append amd64 "$base" "$T/out-badrange" v1.0.0 "$d"

expect_fail "missing extension: exit 5" 5 "$T/nope: system extension" \
	"$T/out-nope/*" ext_append amd64 "$base" "$T/out-nope" v1.0.0 "$T/nope"
