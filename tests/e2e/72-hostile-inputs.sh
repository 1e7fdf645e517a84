#!/usr/bin/env bash
# Issue 18: hostile inputs tried as a new user would.
# 1. Overlays holding symlinks: a link that stays inside the overlay is copied as the file
#    it points to (FAT has no symlinks), folder or tarball alike; one that leaves the overlay
#    (absolute, or ".." above its root) is refused, never followed on the host; input:PATH
#    cannot leave the inputs folder.
# 2. A GPT entry past the end of the disk: every installer verb refuses it before writing
#    (exit 2, the partition and the disk size named, the disk unchanged). A corrupt primary
#    GPT with a valid backup: one warning line; read-only verbs write nothing, writing verbs
#    rewrite the primary from the backup (the table ends up as it was made).
# 3. A build killed by SIGINT or SIGTERM mid-way leaves nothing in the output folder nor in
#    $TMPDIR.
. "$(dirname "$0")/lib.sh"

export SOURCE_DATE_EPOCH=1700000000
GPTEDIT=$SRC/tests/tools/gptedit.py
if [ ! -e "$INSTALL/arm64/vmlinuz" ] || [ ! -e "$INSTALL/amd64/vmlinuz" ]; then
	not_ok "hostile inputs" "needs make payload ($INSTALL/{amd64,arm64})"
	exit 0
fi

# --- 1. overlays with symlinks ---------------------------------------------------------
# A raw image (no compression: quick, and cmp compares it directly).
printf 'baseProfileName: metal\narch: arm64\noutput:\n  kind: image\n  outFormat: raw\n' >"$T/raw.yaml"
overlay() { # DIR FILES-YAML: an arm64 GRUB overlay named x copying FILES
	mkdir -p "$1"
	printf 'name: x\narch: arm64\nbootloader: grub\nfiles: %s\n' "$2" >"$1/overlay.yaml"
}
build() { # OUTDIR OVERLAY [INPUTS]
	mkdir -p "$1"
	"$IMAGER" "$T/raw.yaml" -o "$1" -q --overlay-name x --overlay-image "$2" \
		${3:+--inputs "$3"}
}
esp_cat() { # IMG PATH: a file of the image's EFI partition
	local s
	s=$(sfdisk -d "$1" | awk '/name="EFI"/{gsub(",","",$4); print $4}')
	mtype -i "$1@@$((s * 512))" "::/$2"
}

O=$T/ovl-in
overlay "$O" '[{from: "overlay:link", to: link}, {from: "overlay:dir", to: copied/}]'
echo "the target" >"$O/somefile"
ln -s somefile "$O/link"
mkdir -p "$O/dir/sub"
echo "in dir" >"$O/dir/real"
ln -s ../../somefile "$O/dir/sub/up" # stays inside the overlay
if build "$T/o1" "$O" 2>"$T/o1.err"; then
	ok "an overlay with links that stay inside it builds"
	expect_eq "the link is copied as the file it points to" \
		"$(esp_cat "$T/o1/metal-arm64.raw" link)" "the target"
	expect_eq "a link inside a copied folder is copied as its target" \
		"$(esp_cat "$T/o1/metal-arm64.raw" copied/sub/up)" "the target"
	(cd "$O" && tar -cf "$T/ovl.tar" .)
	if build "$T/o2" "$T/ovl.tar" 2>"$T/o2.err"; then
		check "the same overlay as a tarball gives the same image" \
			cmp "$T/o1/metal-arm64.raw" "$T/o2/metal-arm64.raw"
	else
		not_ok "the same overlay as a tarball builds" "$(cat "$T/o2.err")"
	fi
else
	not_ok "an overlay with links that stay inside it builds" "$(cat "$T/o1.err")"
fi

O=$T/ovl-abs
overlay "$O" '[{from: "overlay:link", to: link}]'
ln -s /etc/shadow "$O/link"
mkdir -p "$T/o3"
expect_fail "overlay link to /etc/shadow: refused, not followed" 2 \
	'symlink link -> /etc/shadow points outside' "$T/o3/*" build "$T/o3" "$O"
(cd "$O" && tar -cf "$T/abs.tar" .)
expect_fail "the same link in a tarball overlay: refused" 2 \
	'symlink link -> /etc/shadow points outside' "$T/o3/*" build "$T/o3" "$T/abs.tar"

O=$T/ovl-up
overlay "$O" '[{from: "overlay:link", to: link}]'
ln -s ../../../etc/passwd "$O/link"
expect_fail "overlay link climbing out with ..: refused" 2 \
	'symlink link -> ../../../etc/passwd leaves it' "$T/o3/*" build "$T/o3" "$O"

O=$T/ovl-dirlink
overlay "$O" '[{from: "overlay:dir", to: /}]'
mkdir -p "$O/dir"
ln -s /etc "$O/dir/etc"
expect_fail "a link out of the overlay inside a copied folder: refused" 2 \
	'symlink dir/etc -> /etc points outside' "$T/o3/*" build "$T/o3" "$O"

O=$T/ovl-loop
overlay "$O" '[{from: "overlay:a", to: a}]'
ln -s b "$O/a"
ln -s a "$O/b"
expect_fail "a symlink loop in an overlay: refused" 2 'more than 40 symlinks' "$T/o3/*" \
	build "$T/o3" "$O"

O=$T/ovl-input
overlay "$O" '[{from: "input:../../../../etc/passwd", to: passwd}]'
expect_fail "input: with .. is refused" 2 'expected a relative path inside the inputs folder' \
	"$T/o3/*" build "$T/o3" "$O"
# An inputs folder holding a link to a host file: input: resolves, then must stay inside.
IN=$T/inputs
cp -a "$INSTALL/arm64" "$IN"
ln -s /etc/passwd "$IN/evil"
O=$T/ovl-evil
overlay "$O" '[{from: "input:evil", to: passwd}]'
expect_fail "input: through a link out of the inputs folder is refused" 2 \
	'is outside the inputs folder' "$T/o3/*" build "$T/o3" "$O" "$IN"

# --- 2. GPT entries past the end, corrupt primary ----------------------------------------
printf 'baseProfileName: metal\noutput:\n  kind: image\n  outFormat: raw\n' >"$T/disk.yaml"
if ! "$IMAGER" "$T/disk.yaml" -o "$T/d" -q 2>"$T/d.err"; then
	not_ok "a metal image to install over" "$(cat "$T/d.err")"
else
	IMG=$T/d/metal-amd64.raw
	size=$(stat -c %s "$IMG")
	cp --sparse=always "$IMG" "$T/past.img"
	python3 "$GPTEDIT" "$T/past.img" entry-end 5 $((size / 512 + 100))
	before=$(sha256sum <"$T/past.img")
	for verb in "status" "upgrade --assets $INSTALL/amd64" "commit --slot A" "rollback" \
		"meta set 0xa x"; do
		# shellcheck disable=SC2086
		expect_fail "installer ${verb%% *}: a GPT entry past the end of the disk is refused" 2 \
			"partition 5 \\(META\\) ends at byte [0-9]+, past the end of the disk \\($size bytes\\)" \
			"" "$INSTALLER" $verb --disk "$T/past.img"
	done
	expect_eq "the disk is unchanged (bytes and size)" \
		"$(sha256sum <"$T/past.img") $(stat -c %s "$T/past.img")" "$before $size"

	# corrupt primary, valid backup
	cp --sparse=always "$IMG" "$T/bad.img"
	python3 "$GPTEDIT" "$T/bad.img" corrupt-primary
	before=$(sha256sum <"$T/bad.img")
	"$INSTALLER" status --disk "$T/bad.img" >"$T/st.out" 2>"$T/st.err"
	expect_eq "status of a disk with a corrupt primary GPT: exit 0, the slots read" \
		"$? $(grep -c '^slot A: committed' "$T/st.out")" "0 1"
	expect_eq "status says so in one line" \
		"$(grep -c . "$T/st.err") $(grep -c 'primary GPT is corrupt; read the backup' "$T/st.err")" "1 1"
	expect_eq "status writes nothing" "$(sha256sum <"$T/bad.img")" "$before"
	"$INSTALLER" commit --disk "$T/bad.img" --slot A >"$T/c.out" 2>"$T/c.err"
	expect_eq "commit on it: exit 0, one line saying the primary is rewritten" \
		"$? $(grep -c . "$T/c.err") $(grep -c 'rewriting the primary from it' "$T/c.err")" "0 1 1"
	check "the primary GPT checks out again (independent reader)" \
		python3 "$GPTEDIT" "$T/bad.img" check-primary
	check "the repaired table is the one the imager wrote (first MiB identical)" \
		cmp -n 1048576 "$T/bad.img" "$IMG"
	check "sfdisk --verify: clean" sh -c "sfdisk --verify '$T/bad.img' 2>&1 | grep -q 'No errors detected'"
fi

# --- 3. interrupted builds --------------------------------------------------------------
# The build runs with SIGINT at its default (a background job of a script would ignore it);
# it is stopped once its temporary output (or staging folder) exists: for the image,
# .metal-amd64.raw.zst.XXXXXX, open from the start of the disk build (the raw disk being
# converted has no name: O_TMPFILE).
EXT=$T/ext.tar
tar -cf "$EXT" -C "$SRC/extensions/hello-world" manifest.yaml rootfs 2>/dev/null ||
	tar -cf "$EXT" -C "$OUT/extensions/hello-world-amd64" .
interrupt() { # SIGNAL WAIT-FOR(out|ext|tmp) DESC
	local o=$T/int-$1-$2 tmp=$T/tmp-$1-$2 pid rc i
	mkdir -p "$o" "$tmp"
	python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' env TMPDIR="$tmp" "$IMAGER" metal -o "$o" -q \
		--system-extension-image "$EXT" 2>"$o.err" &
	pid=$!
	for ((i = 0; i < 2000; i++)); do
		case $2 in
		out) compgen -G "$o/.metal-amd64*" >/dev/null && break ;;
		ext) compgen -G "$o/.initramfs-extensions.*" >/dev/null && break ;;
		*) compgen -G "$tmp/imager-stage.*/*" >/dev/null && break ;;
		esac
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	kill -"$1" "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	local left
	left=$(cd "$T" && find "int-$1-$2" "tmp-$1-$2" -mindepth 1 | head -5 | tr '\n' ' ')
	if [ "$i" -ge 2000 ] || [ "$rc" -eq 0 ]; then
		not_ok "$3" "the build was not caught mid-way (exit $rc)"
	elif [ -n "$left" ]; then
		not_ok "$3" "left: $left" "exit $rc"
	else
		ok "$3 (exit $rc)"
	fi
}
interrupt INT out "SIGINT while the disk image is written: output folder and TMPDIR clean"
interrupt TERM out "SIGTERM while the disk image is written: output folder and TMPDIR clean"
interrupt INT tmp "SIGINT while an extension is staged in TMPDIR: both folders clean"
interrupt TERM ext "SIGTERM while the initramfs with the extension is made: both folders clean"
