#!/usr/bin/env bash
# The reference payload (make payload): inputs folder layout, manifest, and the formats of
# rootfs.sqsh and initramfs.xz judged by independent tools (rdsquashfs, bsdtar, xz).
. "$(dirname "$0")/lib.sh"

manifest="$OUT/cache/payload.manifest"
check "manifest records package, version, arch and sha256 of every .deb" \
	awk 'NF != 4 || length($4) != 64 { exit 1 } END { exit NR < 10 }' "$manifest"
for pkg in linux-image-6.1.0 systemd-boot-efi grub-pc-bin grub-efi-amd64-bin grub-efi-arm64-bin \
	u-boot-rpi u-boot-sunxi u-boot-rockchip; do
	check "manifest lists $pkg" grep -q "^$pkg" "$manifest"
done

# The installer the init runs on imager.commit=1: /usr/bin/installer for the right machine
# (readelf -h), every library it and its libraries need (DT_NEEDED) in /lib/<triplet>/, and
# its loader (PT_INTERP) in place. Needs the listing in $T/$arch/list.
installer_checks() { # ARCH
	local arch=$1 dir=$T/$1/root machine triplet so missing=""
	case $arch in
	amd64) machine="Advanced Micro Devices X86-64" triplet=x86_64-linux-gnu ;;
	arm64) machine=AArch64 triplet=aarch64-linux-gnu ;;
	esac
	mkdir -p "$dir"
	(cd "$dir" && bsdtar -xf ../initramfs.cpio usr/bin lib lib64 2>/dev/null)
	expect_eq "$arch: initramfs has /usr/bin/installer for $arch" \
		"$(readelf -h "$dir/usr/bin/installer" 2>&1 | sed -n 's/^ *Machine: *//p')" "$machine"
	check "$arch: the installer is stripped and dynamically linked" sh -c \
		"file -L '$dir/usr/bin/installer' | grep 'dynamically linked' | grep -q ', stripped'"
	for so in $( (readelf -d "$dir/usr/bin/installer"; readelf -d "$dir/lib/$triplet"/*) |
		sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | sort -u); do
		[ -e "$dir/lib/$triplet/$so" ] || missing+=" $so"
	done
	expect_eq "$arch: every library the installer needs is in /lib/$triplet" "$missing" ""
	# the loader: a file, or a link to one, inside the initramfs (not the host's)
	local interp p
	interp=$(readelf -l "$dir/usr/bin/installer" | sed -n 's/.*interpreter: \(.*\)\]$/\1/p')
	p=$interp
	if [ -L "$dir$p" ]; then
		case $(readlink "$dir$p") in
		/*) p=$(readlink "$dir$p") ;;
		*) p=${p%/*}/$(readlink "$dir$p") ;;
		esac
	fi
	if [ -n "$interp" ] && [ -f "$dir$p" ] && [ ! -L "$dir$p" ]; then
		expect_eq "$arch: the installer's loader $interp is in the initramfs" \
			"$(readelf -h "$dir$p" | sed -n 's/^ *Machine: *//p')" "$machine"
	else
		not_ok "$arch: the installer's loader $interp is in the initramfs" "$(ls -l "$dir$interp")"
	fi
}

for arch in amd64 arm64; do
	d="$INSTALL/$arch"
	for f in vmlinuz config initramfs.xz systemd-stub.efi systemd-boot.efi kernel.release; do
		check "$arch: inputs folder has $f" test -s "$d/$f"
	done
	krel=$(cat "$d/kernel.release")
	check "$arch: config is the linux-image package's boot/config-$krel" \
		cmp "$d/config" $(compgen -G "$OUT/cache/extract/linux-image-${krel}_*/boot/config-$krel" | head -n1)
	if [ $arch = amd64 ]; then
		for f in boot.img boot_hybrid.img core.img eltorito.img grubx64.efi; do
			check "$arch: GRUB image grub/$f" test -s "$d/grub/$f"
		done
		check "amd64: boot.img is one sector" test "$(stat -c %s "$d/grub/boot.img")" = 512
	else
		check "arm64: GRUB image grub/grubaa64.efi" test -s "$d/grub/grubaa64.efi"
		check "arm64: Raspberry Pi DTBs" compgen -G "$d/dtb/broadcom/bcm2711-rpi-4-b.dtb"
		check "arm64: rpi_arm64 U-Boot" test -s "$d/u-boot/rpi_arm64/u-boot.bin"
	fi

	# xz stream with the CRC32 check: the kernel's decoder rejects CRC64.
	check "$arch: initramfs.xz uses the CRC32 check" \
		sh -c "xz --robot -lvv '$d/initramfs.xz' | grep -q '^stream.*CRC32'"

	mkdir -p "$T/$arch"
	xz -dc "$d/initramfs.xz" >"$T/$arch/initramfs.cpio"
	bsdtar -tvf "$T/$arch/initramfs.cpio" --numeric-owner >"$T/$arch/list" 2>&1
	check "$arch: initramfs has /init" grep -Eq ' init$' "$T/$arch/list"
	check "$arch: initramfs has rootfs.sqsh" grep -Eq ' rootfs.sqsh$' "$T/$arch/list"
	check "$arch: initramfs has squashfs.ko" grep -Eq ' lib/modules/.*/squashfs.ko$' "$T/$arch/list"
	check "$arch: initramfs has /dev/console" grep -Eq '^c.* dev/console$' "$T/$arch/list"
	check "$arch: every initramfs entry is owned by 0:0" \
		awk '$3 != 0 || $4 != 0 { print; bad = 1 } END { exit bad }' "$T/$arch/list"
	installer_checks "$arch"
	check "$arch: every module the init loads is in the initramfs" sh -c "
		cd '$T/$arch' && bsdtar -xf initramfs.cpio etc/modules.load rootfs.sqsh &&
		test -s etc/modules.load &&
		while read -r m; do grep -q \" \${m#/}\$\" list || exit 1; done <etc/modules.load"

	# rdsquashfs -d (the recursive listing) shows exactly the reference rootfs tree, with
	# normalised modes and root ownership whatever the checkout's umask was.
	(cd "$SRC/pkgs/rootfs" && find . -mindepth 1 -printf '%y %P\n' |
		sed 's/^d /dir /; s/^f /file /' | sort) >"$T/$arch/want"
	rdsquashfs -d "$T/$arch/rootfs.sqsh" 2>&1 | awk '{ print $1, $2 }' | sort >"$T/$arch/got"
	check "$arch: rdsquashfs lists exactly pkgs/rootfs" diff "$T/$arch/want" "$T/$arch/got"
	check "$arch: rootfs entries are 0:0 with modes 0755/0644" \
		awk '$4 != 0 || $5 != 0 || ($1 == "dir" && $3 != "0755") || ($1 == "file" && $3 != "0644") { exit 1 }' \
		<(rdsquashfs -d "$T/$arch/rootfs.sqsh")
	check "$arch: rootfs marker content" \
		sh -c "rdsquashfs -c /etc/imager-rootfs '$T/$arch/rootfs.sqsh' | cmp - '$SRC/pkgs/rootfs/etc/imager-rootfs'"
	# squashfs superblock: u16 compression id at offset 20, 6 = zstd (squashfs format doc)
	expect_eq "$arch: rootfs.sqsh is zstd compressed" \
		"$(od -An -tu2 -j20 -N2 "$T/$arch/rootfs.sqsh" | tr -d ' ')" 6
done
