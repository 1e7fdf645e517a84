#!/usr/bin/env bash
# Missing or unreadable inputs: one line naming the path, exit code 5, no output left.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/o"
expect_fail "mkinitramfs: missing input folder" 5 "^imager: $T/nope: No such file or directory$" \
	"$T/o/*" "$IMAGER" mkinitramfs "$T/nope" "$T/o/initramfs.xz"
expect_fail "mksquashfs: missing input folder" 5 "^imager: $T/nope: No such file" \
	"$T/o/*" "$IMAGER" mksquashfs "$T/nope" "$T/o/root.sqsh"
expect_fail "mkinitramfs: output folder missing" 6 "^imager: $T/none/x.xz: cannot create output" \
	"$T/none" "$IMAGER" mkinitramfs "$SRC/pkgs/rootfs" "$T/none/x.xz"

# Unreadable file: root reads everything, so run the imager as nobody.
mkdir -p "$T/tree/etc" "$T/o2"
echo secret >"$T/tree/etc/secret"
chmod 000 "$T/tree/etc/secret"
chmod 777 "$T/o2"
chmod 755 "$T" "$T/tree" "$T/tree/etc"
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
	# the ASan build may need to read its own binary's folder: it is world-readable
	asnobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	expect_fail "mksquashfs: unreadable file" 5 "^imager: $T/tree/etc/secret: Permission denied$" \
		"$T/o2/*" asnobody "$IMAGER" mksquashfs "$T/tree" "$T/o2/root.sqsh"
	expect_fail "mkinitramfs: unreadable file" 5 "^imager: $T/tree/etc/secret: Permission denied$" \
		"$T/o2/*" asnobody "$IMAGER" mkinitramfs "$T/tree" "$T/o2/initramfs.xz"
else
	expect_fail "mksquashfs: unreadable file (as non-root)" 5 "^imager: $T/tree/etc/secret: Permission denied$" \
		"$T/o2/*" "$IMAGER" mksquashfs "$T/tree" "$T/o2/root.sqsh"
fi
expect_fail "bad SOURCE_DATE_EPOCH" 2 '^imager: SOURCE_DATE_EPOCH="yesterday": expected' "$T/o/*" \
	env SOURCE_DATE_EPOCH=yesterday "$IMAGER" mksquashfs "$SRC/pkgs/rootfs" "$T/o/r.sqsh"

# The payload recipe itself: a missing input names the path, exits 5 and leaves the
# previous inputs folder alone (nothing half-made).
mkdir -p "$T/pout"
expect_fail "payload: missing reference rootfs" 5 "^payload: $T/missing-rootfs: missing input" \
	"$T/pout/install/amd64" env CACHE="$OUT/cache" OUT="$T/pout" IMAGER="$IMAGER" \
	ROOTFS_DIR="$T/missing-rootfs" "$SRC/pkgs/payload.sh" amd64
expect_fail "payload: missing init source" 5 "^payload: $T/init.c: missing input" \
	"$T/pout/install/amd64" env CACHE="$OUT/cache" OUT="$T/pout" IMAGER="$IMAGER" \
	INIT_SRC="$T/init.c" "$SRC/pkgs/payload.sh" amd64
check "payload: no temporary folders left" sh -c "! ls -A '$T/pout/install' | grep -q ."

# A flag getopt refuses is one line of ours (getopt's own message is off), exit 2.
for v in inspect "sign x" mksquashfs mkinitramfs keys "meta decode" kernel-check metal; do
	expect_fail "imager $v: unknown flag is one line" 2 "^imager: .*--bogus" "" "$IMAGER" $v --bogus
done
for v in install upgrade commit rollback status "meta get"; do
	expect_fail "installer $v: unknown flag is one line" 2 "^installer: ${v%% *}: unknown or incomplete flag" "" "$INSTALLER" $v --bogus
done
