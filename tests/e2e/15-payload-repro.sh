#!/usr/bin/env bash
# Building the payload twice -- another output folder, another TZ and umask -- gives
# byte-identical rootfs.sqsh and initramfs.xz (and the same GRUB images).
. "$(dirname "$0")/lib.sh"

out2="$T/out2"
if ! (umask 077 && TZ=Pacific/Chatham CACHE="$OUT/cache" OUT="$out2" IMAGER="$IMAGER" \
	"$SRC/pkgs/payload.sh" amd64 arm64 >"$T/payload.log" 2>&1); then
	not_ok "second payload build succeeds" "$(tail -5 "$T/payload.log")"
	exit 0
fi
ok "second payload build succeeds"
check "a warm cache downloads nothing" sh -c "! grep -q downloading '$T/payload.log'"
for arch in amd64 arm64; do
	check "$arch: initramfs.xz byte-identical" cmp "$INSTALL/$arch/initramfs.xz" "$out2/install/$arch/initramfs.xz"
	mkdir -p "$T/a-$arch" "$T/b-$arch"
	xz -dc "$INSTALL/$arch/initramfs.xz" | (cd "$T/a-$arch" && bsdtar -xf - rootfs.sqsh)
	xz -dc "$out2/install/$arch/initramfs.xz" | (cd "$T/b-$arch" && bsdtar -xf - rootfs.sqsh)
	check "$arch: rootfs.sqsh byte-identical" cmp "$T/a-$arch/rootfs.sqsh" "$T/b-$arch/rootfs.sqsh"
	for g in "$INSTALL/$arch"/grub/*; do
		check "$arch: grub/$(basename "$g") byte-identical" cmp "$g" "$out2/install/$arch/grub/$(basename "$g")"
	done
done
