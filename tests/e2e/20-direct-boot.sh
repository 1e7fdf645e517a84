#!/usr/bin/env bash
# Direct kernel boots (-kernel/-initrd) of the reference payload on x86-64 and arm64 virt:
# the init reports boot=ok, the arch and the marker read from the root squashfs.
. "$(dirname "$0")/lib.sh"

marker=$(head -n1 "$SRC/pkgs/rootfs/etc/imager-rootfs")
for arch in amd64 arm64; do
	boot_direct $arch "$T/$arch.log" "$INSTALL/$arch/vmlinuz" "$INSTALL/$arch/initramfs.xz" \
		"imager.test=direct" &
done
wait
for arch in amd64 arm64; do
	log="$T/$arch.log"
	if ! grep -q "IMAGER-REPORT done" "$log"; then
		not_ok "$arch: direct boot reaches the init report" "$(log_tail "$log")"
		continue
	fi
	ok "$arch: direct boot reaches the init report"
	expect_eq "$arch: boot=ok" "$(report "$log" boot)" ok
	expect_eq "$arch: arch reported" "$(report "$log" arch)" $arch
	expect_eq "$arch: rootfs marker read from rootfs.sqsh" "$(report "$log" rootfs)" "$marker"
	check "$arch: cmdline reported" sh -c "grep -q 'IMAGER-REPORT cmdline=.*imager.test=direct' '$log'"
	expect_eq "$arch: efi=0 on a direct boot" "$(report "$log" efi)" 0
	expect_eq "$arch: tpm=absent without a TPM, no PCR line" \
		"$(report "$log" tpm)$(grep -c 'IMAGER-REPORT pcr11-' "$log")" absent0
done
