#!/usr/bin/env bash
# Prepare the default inputs (DESIGN.md §3, §8) from Debian packages:
#   $OUT/install/<arch>/{vmlinuz,config,initramfs.xz,systemd-stub.efi,systemd-boot.efi,grub/,dtb/,u-boot/}
# Packages are cached in $CACHE/debs (a warm cache downloads nothing) and recorded in
# $CACHE/payload.manifest (package version arch sha256). This is the one place where
# Debian tools (apt-get, dpkg-deb, depmod, modprobe, grub-mkimage, gcc, readelf) may run.
# Usage: pkgs/payload.sh [amd64] [arm64]
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$src/out}
CACHE=${CACHE:-$OUT/cache}
IMAGER=${IMAGER:-$src/bin/imager}
ROOTFS_DIR=${ROOTFS_DIR:-$src/pkgs/rootfs}
INIT_SRC=${INIT_SRC:-$src/pkgs/init/init.c}
# Reproducible by default: the payload's timestamps do not depend on when it is built.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
export LC_ALL=C
HOST_ARCH=$(dpkg --print-architecture)

die() { # die CODE MESSAGE: one line, the documented exit code
	echo "payload: $2" >&2
	exit "$1"
}
log() { echo "payload: $*"; }

need_input() { # the inputs we read must exist and be readable
	[ -e "$1" ] || die 5 "$1: missing input (expected $2)"
	[ -r "$1" ] || die 5 "$1: unreadable input (expected $2)"
}

mkdir -p "$OUT" "$CACHE/debs" "$CACHE/extract"
OUT=$(cd "$OUT" && pwd)
CACHE=$(cd "$CACHE" && pwd)

# --- fetching -------------------------------------------------------------------------

# apt-cache costs over a second per call, so ask it once for everything.
declare -A REAL VER DEBARCH # "arch pkg" -> ABI package; "arch real" -> version, .deb arch
query_apt() { # reads "arch pkg" lines of packages.list for $ARCHES
	local arch pkg cur="" line q=()
	while read -r arch pkg; do
		REAL["$arch $pkg"]=$pkg
		case $pkg in linux-image-amd64 | linux-image-arm64) q+=("$pkg:$arch") ;; esac
	done < <(wanted)
	# A kernel metapackage (linux-image-ARCH) -> the ABI package it depends on.
	if [ ${#q[@]} -gt 0 ]; then
		while IFS= read -r line; do
			case $line in
			" "*"Depends: linux-image-"[0-9]*)
				[ -n "$cur" ] || continue
				line=${line#*Depends: }
				REAL["$cur"]=${line%%:*}
				cur=""
				;;
			" "*) ;;
			*:*) cur="${line#*:} ${line%%:*}" ;;
			*) cur="$HOST_ARCH $line" ;;
			esac
		done < <(apt-cache depends "${q[@]}" 2>/dev/null)
	fi
	q=()
	for k in "${!REAL[@]}"; do q+=("${REAL[$k]}:${k%% *}"); done
	local p="" v="" a=""
	while IFS= read -r line; do
		case $line in
		"Package: "*) p=${line#Package: } ;;
		"Version: "*) v=${line#Version: } ;;
		"Architecture: "*) a=${line#Architecture: } ;;
		"")
			[ -n "$p" ] && [ -z "${VER["$a $p"]:-}" ] && { VER["$a $p"]=$v; DEBARCH["$a $p"]=$a; }
			p="" v="" a=""
			;;
		esac
	done < <(apt-cache show --no-all-versions "${q[@]}" 2>/dev/null; echo)
}

fetch_arches() { # $ARCHES, and armhf with arm64 (32-bit board blobs for the SBC tests)
	case " $ARCHES " in *" arm64 "*) echo "$ARCHES armhf" ;; *) echo "$ARCHES" ;; esac
}

wanted() { # the "arch pkg" lines of packages.list for $ARCHES
	local arch pkg _role
	while read -r arch pkg _role; do
		case " $(fetch_arches) " in *" $arch "*) echo "$arch $pkg" ;; esac
	done < <(grep -v '^#' "$src/pkgs/packages.list" | grep -v '^\s*$')
}

# Fetch PKG for ARCH into the cache unless that version is already there; prints the path.
fetch_deb() { # ARCH PKG (the ABI package for kernels)
	local arch=$1 pkg=$2 ver debarch file
	ver=${VER["$arch $pkg"]:-}
	debarch=${DEBARCH["$arch $pkg"]:-}
	[ -n "$ver" ] || die 5 "$pkg:$arch: not known to apt (run 'apt-get update'; arm64 needs 'dpkg --add-architecture arm64')"
	file="$CACHE/debs/${pkg}_${ver//:/%3a}_${debarch}.deb"
	if [ ! -s "$file" ]; then
		log "downloading $pkg:$arch $ver" >&2
		(cd "$CACHE/debs" && apt-get download -qq "$pkg:$arch=$ver" >/dev/null 2>&1) ||
			die 5 "$pkg:$arch=$ver: download failed"
		[ -s "$file" ] || die 5 "$file: expected after download"
	fi
	echo "$file"
}

# Extract a .deb once into $CACHE/extract/<name>/ (name from the file, so a new version
# gets a new folder).
extract_deb() { # DEB -> folder
	local deb=$1 dir
	dir="$CACHE/extract/$(basename "$deb" .deb)"
	if [ ! -e "$dir/.done" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		dpkg-deb -x "$deb" "$dir" || die 6 "$deb: dpkg-deb -x failed"
		touch "$dir/.done"
	fi
	echo "$dir"
}

declare -A EX # "arch pkg" -> extract dir (pkg as listed in packages.list)
fetch_all() {
	local manifest_tmp="$CACHE/.payload.manifest.tmp" arch pkg real deb
	query_apt
	: >"$manifest_tmp"
	while read -r arch pkg; do
		real=${REAL["$arch $pkg"]}
		[ "$real" != "$pkg" ] || [[ $pkg != linux-image-* ]] ||
			die 5 "$pkg:$arch: cannot resolve the kernel ABI package"
		deb=$(fetch_deb "$arch" "$real")
		EX["$arch $pkg"]=$(extract_deb "$deb")
		printf '%s %s %s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" \
			"$(dpkg-deb -f "$deb" Architecture)" "$(sha256sum "$deb" | cut -d' ' -f1)" >>"$manifest_tmp"
	done < <(wanted)
	# Keep the lines of architectures this run did not touch (`payload.sh amd64` must not
	# drop the arm64 packages from the record).
	if [ -e "$CACHE/payload.manifest" ]; then
		awk -v arches=" $(fetch_arches) " 'index(arches, " " $3 " ") == 0' "$CACHE/payload.manifest" >>"$manifest_tmp"
	fi
	sort -u "$manifest_tmp" >"$CACHE/payload.manifest.new"
	mv "$CACHE/payload.manifest.new" "$CACHE/payload.manifest"
	rm -f "$manifest_tmp"
}

# --- the reference initramfs ------------------------------------------------------------

kernel_release() { # extract dir -> e.g. 6.1.0-56-amd64
	local d
	d=$(ls -d "$1"/lib/modules/*/ 2>/dev/null | head -n1)
	[ -n "$d" ] || die 5 "$1/lib/modules: missing in the kernel package"
	basename "$d"
}

# Copy the modules the init loads (and their dependencies, in load order) into the stage
# and write etc/modules.load for the init. Built-in ones need nothing.
stage_modules() { # ARCH KDIR KREL STAGE
	local arch=$1 kdir=$2 krel=$3 stage=$4 mods line path
	mapfile -t mods < <(grep -v '^#' "$src/pkgs/modules-$arch.list" | tr ' ' '\n' | grep -v '^$')
	[ -e "$kdir/lib/modules/$krel/modules.dep" ] || depmod -b "$kdir" "$krel" ||
		die 6 "depmod failed for $kdir"
	: >"$stage/etc/modules.load"
	for m in "${mods[@]}"; do
		modprobe -d "$kdir" -S "$krel" --show-depends "$m" >"$stage/.deps" 2>&1 ||
			die 5 "kernel $krel: module $m not found ($(head -n1 "$stage/.deps"))"
		while read -r line; do
			case $line in
			insmod\ *)
				path=${line#insmod }
				path=${path%% *}
				path=${path#"$kdir"}
				path=$(echo "/$path" | tr -s /)
				grep -qx "$path" "$stage/etc/modules.load" && continue
				mkdir -p "$stage/$(dirname "$path")"
				cp "$kdir$path" "$stage$path"
				echo "$path" >>"$stage/etc/modules.load"
				;;
			esac
		done <"$stage/.deps"
	done
	rm -f "$stage/.deps"
}

target_cc() { # ARCH -> the C compiler for that target on this host
	local cc=gcc
	[ "$1" = arm64 ] && cc=aarch64-linux-gnu-gcc
	[ "$1" = amd64 ] && [ "$(uname -m)" = aarch64 ] && cc=x86_64-linux-gnu-gcc
	echo "$cc"
}

build_init() { # ARCH OUTFILE
	local cc
	cc=$(target_cc "$1")
	need_input "$INIT_SRC" "the reference init's C source"
	"$cc" -std=gnu11 -Wall -Wextra -Werror -O2 -static -s -I"$src/include" -o "$2" "$INIT_SRC" ||
		die 1 "$INIT_SRC: $cc failed"
}

# --- the installer in the initramfs -------------------------------------------------------
# /init runs /usr/bin/installer (`installer commit` on imager.commit=1). Debian 12 ships no
# libfdisk.a, so it is a dynamically linked program, built the same way for both
# architectures against the packages of role "installer" in packages.list (never against
# the build host's libraries), and the initramfs carries the loader and exactly the shared
# libraries it needs, taken from those same packages.

# Libraries the installer's share of lib/ calls into (the Makefile's LIBS, less what only
# the imager uses); a new one shows up as an undefined reference at the link below.
INSTALLER_LIBS="fdisk z yaml"

triplet() { # ARCH -> Debian multiarch triplet
	case $1 in
	amd64) echo x86_64-linux-gnu ;;
	arm64) echo aarch64-linux-gnu ;;
	*) die 3 "$1: unsupported architecture" ;;
	esac
}

role_pkgs() { # ARCH ROLE -> the packages of that role in packages.list
	grep -v '^#' "$src/pkgs/packages.list" | awk -v a="$1" -v r="$2" '$1 == a && $3 == r { print $2 }'
}

# The installer packages of ARCH unpacked into one folder, $CACHE/sysroot/ARCH; remade only
# when the set of unpacked packages (their extract folders, named by version) changes.
make_sysroot() { # ARCH -> prints the folder
	local sr="$CACHE/sysroot/$1" list="" pkg d
	for pkg in $(role_pkgs "$1" installer); do
		list+="${EX["$1 $pkg"]}"$'\n'
	done
	[ -n "$list" ] || die 5 "pkgs/packages.list: no packages of role installer for $1"
	if [ "$(cat "$sr/.sysroot" 2>/dev/null)" != "$list" ]; then
		rm -rf "$sr"
		mkdir -p "$sr"
		while read -r d; do
			[ -z "$d" ] || cp -a "$d/." "$sr/" || die 6 "$sr: cannot copy $d"
		done <<<"$list"
		printf '%s' "$list" >"$sr/.sysroot"
	fi
	echo "$sr"
}

# PATH inside the sysroot, symlinks followed inside it (package links may be absolute, e.g.
# zlib1g-dev's libz.so -> /lib/<triplet>/libz.so.1.2.13). Prints the host path of the file.
sysroot_file() { # SYSROOT PATH
	local sr=$1 p=$2 l n=0
	while [ -L "$sr$p" ] && [ $((n++)) -lt 16 ]; do
		l=$(readlink "$sr$p")
		case $l in /*) p=$l ;; *) p=$(dirname "$p")/$l ;; esac
	done
	[ -f "$sr$p" ] && echo "$sr$p"
}

sysroot_lib() { # SYSROOT TRIPLET NAME -> host path of lib/NAME or usr/lib/NAME
	sysroot_file "$1" "/lib/$2/$3" || sysroot_file "$1" "/usr/lib/$2/$3"
}

elf_needed() { # ELF -> its DT_NEEDED sonames
	readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'
}

elf_interp() { # ELF -> its PT_INTERP path
	readelf -l "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p'
}

# Compiles installer/*.c and lib/*/*.c (into an archive, so only the members the installer
# uses are linked) for ARCH against SYSROOT, and links a stripped OUTFILE. Reproducible:
# sources by absolute path but mapped away (-ffile-prefix-map), no debug info, no dates.
build_installer() { # ARCH SYSROOT OUTFILE
	local arch=$1 sr=$2 out=$3 t cc w="$WORK/installer-$1" n f
	t=$(triplet "$arch")
	cc=$(target_cc "$arch")
	rm -rf "$w"
	mkdir -p "$w/lib" "$w/installer" "$w/link"
	# Headers: the target's -dev packages first; arch-independent ones (only needed by lib/
	# files the installer does not link, e.g. zstd.h, yaml.h) from the host, last.
	local cflags=(-std=gnu11 -Wall -Wextra -Werror -O2 -D_GNU_SOURCE -ffunction-sections
		-fdata-sections "-ffile-prefix-map=$src/=" -I"$src/include"
		-isystem "$sr/usr/include" -isystem "$sr/usr/include/$t"
		-isystem "$sr/usr/include/libfdisk" -isystem "$sr/usr/include/blkid"
		-isystem "$sr/usr/include/uuid" -idirafter /usr/include
		-idirafter /usr/include/libisoburn)
	n=$(nproc)
	# lib/profile_builtin.c .incbin's the profiles from the source tree (the path is not
	# kept in the object); the installer is not built in a source tree and has no prefix
	# but /usr, so its built-in asset folders are /usr/install/ARCH and below /usr/share.
	(cd "$w/lib" && printf '%s\n' "$src"/lib/*/*.c | xargs -n 4 -P "$n" "$cc" "${cflags[@]}" \
		-DIMAGER_SOURCE_DIR="\"$src\"" -c) || die 1 "$arch installer: $cc failed on lib/"
	(cd "$w/installer" && printf '%s\n' "$src"/installer/*.c | xargs -n 4 -P "$n" "$cc" \
		"${cflags[@]}" -DIMAGER_SOURCE_DIR='"/nonexistent"' -DIMAGER_PREFIX='"/usr"' -c) ||
		die 1 "$arch installer: $cc failed on installer/"
	"$cc-ar" rcsD "$w/libimager.a" "$w"/lib/*.o || die 1 "$arch installer: $cc-ar failed"
	# Link against the packages' real .so files: their lib*.so links may be absolute.
	for f in $INSTALLER_LIBS; do
		ln -s "$(sysroot_file "$sr" "/usr/lib/$t/lib$f.so")" "$w/link/lib$f.so" ||
			die 5 "lib$f.so: not in the $arch installer packages (pkgs/packages.list)"
	done
	# shellcheck disable=SC2046
	"$cc" -o "$out" -s -Wl,--gc-sections -Wl,--as-needed "$w"/installer/*.o "$w/libimager.a" \
		-L"$w/link" $(printf -- '-l%s ' $INSTALLER_LIBS) \
		-Wl,-rpath-link,"$sr/lib/$t:$sr/usr/lib/$t" ||
		die 1 "$arch installer: link failed (undefined references: add the library to INSTALLER_LIBS and its packages, role installer, to pkgs/packages.list)"
}

# The installer at /usr/bin/installer, the shared libraries it needs (DT_NEEDED, followed
# recursively) in /lib/<triplet>/, where the loader looks without an ld.so.cache, and the
# loader's PT_INTERP path as Debian has it (a link to /lib/<triplet>/ when it differs).
stage_installer() { # ARCH STAGE
	local arch=$1 stage=$2 sr t so f interp todo seen=" "
	sr=$(make_sysroot "$arch")
	t=$(triplet "$arch")
	mkdir -p "$stage/usr/bin" "$stage/lib/$t"
	build_installer "$arch" "$sr" "$stage/usr/bin/installer"
	mapfile -t todo < <(elf_needed "$stage/usr/bin/installer")
	while [ ${#todo[@]} -gt 0 ]; do
		so=${todo[0]}
		todo=("${todo[@]:1}")
		[[ $seen == *" $so "* ]] && continue
		seen+="$so "
		f=$(sysroot_lib "$sr" "$t" "$so") ||
			die 5 "$so: needed by the $arch installer, not in its packages (pkgs/packages.list)"
		cp "$f" "$stage/lib/$t/$so"
		mapfile -t -O ${#todo[@]} todo < <(elf_needed "$f")
	done
	interp=$(elf_interp "$stage/usr/bin/installer")
	[ -e "$stage/lib/$t/${interp##*/}" ] ||
		die 5 "$interp: the $arch installer's loader is not among its libraries"
	if [ "$interp" != "/lib/$t/${interp##*/}" ]; then
		mkdir -p "$stage${interp%/*}"
		ln -s "/lib/$t/${interp##*/}" "$stage$interp"
	fi
}

build_initramfs() { # ARCH KDIR KREL DEST
	local arch=$1 kdir=$2 krel=$3 dest=$4 stage="$WORK/initramfs-$1"
	rm -rf "$stage"
	mkdir -p "$stage"/{dev,proc,sys,rootfs,tmp,etc}
	need_input "$ROOTFS_DIR" "the reference root tree"
	build_init "$arch" "$stage/init"
	stage_installer "$arch" "$WORK/installer-root-$arch"
	cp -a "$WORK/installer-root-$arch/." "$stage/"
	"$IMAGER" mksquashfs "$ROOTFS_DIR" "$stage/rootfs.sqsh" >/dev/null || exit $?
	stage_modules "$arch" "$kdir" "$krel" "$stage"
	"$IMAGER" mkinitramfs "$stage" "$dest" || exit $?
}

# --- bootloaders -----------------------------------------------------------------------

grub_modules() { grep -v '^#' "$src/pkgs/grub/modules.list" | tr '\n' ' '; }

# Every image embeds pkgs/grub/early.cfg: find the filesystem carrying /grub/grub.cfg (the
# ESP of a disk image, the ISO, or the ISO's EFI image) and hand over to it. That file is
# read by GRUB's rescue parser, which knows no comments: an apostrophe in a "#" line
# opens a quote that swallows the commands after it, so it holds commands only.
# grub-mkimage is run with the module folder of the downloaded package, so the images match
# the package version recorded in the manifest, whatever GRUB the host has.
grub_mkimage() { # MODDIR FORMAT OUT EXTRA-MODULES...
	local moddir=$1 fmt=$2 out=$3
	shift 3
	need_input "$moddir" "GRUB modules"
	# shellcheck disable=SC2046
	grub-mkimage -d "$moddir" -O "$fmt" -o "$out" -c "$src/pkgs/grub/early.cfg" -p /grub \
		$(grub_modules) "$@" || die 1 "grub-mkimage -O $fmt failed"
}

prepare_grub_amd64() { # DEST
	local pc="${EX["amd64 grub-pc-bin"]}/usr/lib/grub/i386-pc"
	local efi="${EX["amd64 grub-efi-amd64-bin"]}/usr/lib/grub/x86_64-efi"
	mkdir -p "$1"
	need_input "$pc/boot.img" "GRUB boot.img"
	cp "$pc/boot.img" "$1/boot.img"
	# MBR boot code of hybrid ISOs (a USB stick with the ISO boots GRUB on BIOS)
	cp "$pc/boot_hybrid.img" "$1/boot_hybrid.img"
	grub_mkimage "$pc" i386-pc "$1/core.img" biosdisk
	grub_mkimage "$pc" i386-pc-eltorito "$1/eltorito.img" biosdisk
	grub_mkimage "$efi" x86_64-efi "$1/grubx64.efi" efi_gop efi_uga all_video
}

prepare_grub_arm64() { # DEST
	local efi="${EX["arm64 grub-efi-arm64-bin"]}/usr/lib/grub/arm64-efi"
	mkdir -p "$1"
	grub_mkimage "$efi" arm64-efi "$1/grubaa64.efi" efi_gop all_video
}

copy_sdboot() { # ARCH DEST
	local d="${EX["$1 systemd-boot-efi"]}/usr/lib/systemd/boot/efi" sfx=x64
	[ "$1" = arm64 ] && sfx=aa64
	need_input "$d/linux$sfx.efi.stub" "systemd-stub"
	cp "$d/linux$sfx.efi.stub" "$2/systemd-stub.efi"
	cp "$d/systemd-boot$sfx.efi" "$2/systemd-boot.efi"
}

copy_arm64_boards() { # KDIR KREL DEST
	local dtbsrc="$1/usr/lib/linux-image-$2" pkg
	mkdir -p "$3/dtb" "$3/u-boot"
	for v in broadcom allwinner rockchip; do
		need_input "$dtbsrc/$v" "device trees"
		cp -R "$dtbsrc/$v" "$3/dtb/"
	done
	for pkg in u-boot-rpi u-boot-sunxi u-boot-rockchip; do
		cp -R "${EX["arm64 $pkg"]}/usr/lib/u-boot/." "$3/u-boot/"
	done
}

# 32-bit Allwinner U-Boot builds (SPL included) for the QEMU orangepi-pc boot-ROM test.
copy_armhf_blobs() {
	local dest="$OUT/install/.armhf.tmp"
	rm -rf "$dest"
	mkdir -p "$dest/u-boot"
	need_input "${EX["armhf u-boot-sunxi"]}/usr/lib/u-boot/orangepi_plus" "the armhf H3 U-Boot"
	cp -R "${EX["armhf u-boot-sunxi"]}/usr/lib/u-boot/orangepi_plus" "$dest/u-boot/"
	rm -rf "$OUT/install/armhf"
	mv "$dest" "$OUT/install/armhf"
}

# --- per architecture --------------------------------------------------------------------

prepare_arch() { # ARCH
	local arch=$1 kdir krel dest="$OUT/install/.$1.tmp" final="$OUT/install/$1"
	kdir="${EX["$arch linux-image-$arch"]}"
	krel=$(kernel_release "$kdir")
	rm -rf "$dest"
	mkdir -p "$dest"
	log "$arch: kernel $krel"
	cp "$kdir/boot/vmlinuz-$krel" "$dest/vmlinuz"
	# Debian's kernels have no CONFIG_IKCONFIG: their .config is read from here by
	# `imager kernel-check` and the builds' kernel check (kernel-config/).
	need_input "$kdir/boot/config-$krel" "the kernel's .config (linux-image package)"
	cp "$kdir/boot/config-$krel" "$dest/config"
	echo "$krel" >"$dest/kernel.release"
	build_initramfs "$arch" "$kdir" "$krel" "$dest/initramfs.xz"
	# The same installer root (installer, loader, libraries) for the installer bundle
	# (imager installer takes <inputs>/installer-root as its first layer).
	cp -a "$WORK/installer-root-$arch" "$dest/installer-root"
	copy_sdboot "$arch" "$dest"
	"prepare_grub_$arch" "$dest/grub"
	[ "$arch" = arm64 ] && copy_arm64_boards "$kdir" "$krel" "$dest" && copy_armhf_blobs
	# Replace the previous folder only now that everything is in place.
	rm -rf "$final"
	mv "$dest" "$final"
	log "$arch: ready in $final"
}

ARCHES=${*:-amd64 arm64}
[ -x "$IMAGER" ] || die 5 "$IMAGER: missing (run 'make all' first)"
WORK=$(mktemp -d "$OUT/.payload-work.XXXXXX")
trap 'rm -rf "$WORK"; for a in $ARCHES; do rm -rf "$OUT/install/.$a.tmp"; done' EXIT
mkdir -p "$OUT/install"
fetch_all
for a in $ARCHES; do
	prepare_arch "$a"
done
