#!/usr/bin/env bash
# Issue 14 acceptance 3: reproducibility across environments, for every kind. Each kind is
# built twice, side by side, in different output folders and working directories, with
# different TZ, LANG/LC_ALL, umask and IMAGER_THREADS (1 vs 2), and every file of the
# two output folders (outputs and build records) must be byte-identical. The kinds
# covered are listed; a kind that does not build fails the test.
# The optimized binary builds here (the bytes are the point; the sanitizer builds run
# everywhere else): bin/imager.
. "$(dirname "$0")/lib.sh"

export SOURCE_DATE_EPOCH=1700000000
B=$SRC/bin/imager
[ -x "$B" ] || B=$IMAGER
"$B" keys --output "$T/keys" --common-name "Repro Env" >/dev/null 2>&1 ||
	not_ok "imager keys" "could not make Secure Boot keys"

profile() { # NAME YAML: a profile file for a kind
	printf '%b' "$2" >"$T/$1.yaml"
	echo "$T/$1.yaml"
}

# build ENV-SET OUT PROFILE FLAGS...: one build with one of the two environments
build() {
	local set=$1 out=$2
	shift 2
	mkdir -p "$out" "$T/cwd-$set"
	if [ "$set" = a ]; then
		(cd "$T/cwd-$set" && umask 022 && env TZ=UTC LANG=C LC_ALL=C IMAGER_THREADS=1 \
			"$B" "$@" -q -o "$out")
	else
		(cd / && umask 077 && env TZ=Pacific/Kiritimati LANG=de_DE.UTF-8 LC_ALL=tr_TR.UTF-8 \
			IMAGER_THREADS=2 "$B" "$@" -q -o "$out")
	fi
}

covered=()
# kind NAME PROFILE FLAGS...: build twice, compare every file
kind() {
	local name=$1 a=$T/a/$1 b=$T/b-other-folder/$1 t0=$SECONDS
	shift
	build a "$a" "$@" >"$T/$name.a.log" 2>&1 &
	local pa=$!
	build b "$b" "$@" >"$T/$name.b.log" 2>&1
	local rb=$?
	wait "$pa"
	local ra=$?
	if [ $ra -ne 0 ] || [ $rb -ne 0 ]; then
		not_ok "$name: builds in both environments" "$(tail -n 3 "$T/$name.a.log" "$T/$name.b.log")"
		return
	fi
	local fa fb
	fa=$(cd "$a" && find . -type f | sort)
	fb=$(cd "$b" && find . -type f | sort)
	if [ -z "$fa" ] || [ "$fa" != "$fb" ]; then
		not_ok "$name: the same files in both folders" "a: $(echo $fa)" "b: $(echo $fb)"
		return
	fi
	local f diff=
	for f in $fa; do
		cmp -s "$a/$f" "$b/$f" || diff="$diff $f"
	done
	if [ -n "$diff" ]; then
		not_ok "$name: byte-identical across environments" "differ:$diff"
	else
		ok "$name: byte-identical across environments ($(echo $fa | sed 's#\./##g'))"
		covered+=("$name")
	fi
	rm -rf "$a" "$b"
	echo "# $name: $((SECONDS - t0)) s"
}

SBK=(--secureboot-keys "$T/keys")
kind kernel metal --output-kind kernel
kind initramfs metal --output-kind initramfs
kind cmdline metal --output-kind cmdline
kind uki metal-uki
kind signed-uki secureboot-metal-uki "${SBK[@]}"
kind iso iso
kind secureboot-iso secureboot-iso "${SBK[@]}"
kind image-raw.zst metal
kind image-raw "$(profile raw 'baseProfileName: metal\noutput:\n  outFormat: raw\n')"
kind image-raw.xz "$(profile xz 'baseProfileName: metal\noutput:\n  outFormat: .xz\n')"
kind image-raw.gz "$(profile gz 'baseProfileName: metal\noutput:\n  outFormat: .gz\n')"
kind image-sd-boot "$(profile sdb 'baseProfileName: metal\noutput:\n  imageOptions: {bootloader: sd-boot}\n')"
kind image-4096 "$(profile s4k 'baseProfileName: metal\noutput:\n  outFormat: raw\n  imageOptions: {sectorSize: 4096, bootloader: sd-boot}\n')"
kind secureboot-image secureboot-metal "${SBK[@]}"
kind image-arm64 metal --arch arm64
kind qcow2 "$(profile qcow2 'baseProfileName: metal\noutput:\n  outFormat: raw\n  imageOptions: {diskFormat: qcow2}\n')"
kind vhd "$(profile vhd 'baseProfileName: metal\noutput:\n  outFormat: raw\n  imageOptions: {diskFormat: vhd}\n')"
# the cloud profiles' 8 GiB disks only cost time here: the layout is the same at 1246 MiB
kind ova "$(profile ova 'baseProfileName: vmware\noutput:\n  imageOptions: {diskSize: 1246MiB}\n')"
kind gcp-tar.gz "$(profile gcp 'baseProfileName: gcp\noutput:\n  imageOptions: {diskSize: 1246MiB}\n')"
kind installer installer
kind secureboot-installer secureboot-installer "${SBK[@]}"
echo "# kinds covered (${#covered[@]}): ${covered[*]}"
expect_eq "every kind listed above was covered" "${#covered[@]}" 21
