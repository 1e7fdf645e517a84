#!/usr/bin/env bash
# imager core: profiles, the kernel command line, META, and the kernel/initramfs/cmdline
# output kinds through the CLI.
. "$(dirname "$0")/lib.sh"

o="$T/out"
base="talos.platform=metal console=tty0 init_on_alloc=1 init_on_free=1 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on"

"$IMAGER" metal --arch amd64 --output-kind cmdline -o "$o" -q
expect_eq "metal amd64 cmdline, in the spec's order" "$(cat "$o/cmdline-metal-amd64")" "$base"
"$IMAGER" metal --arch amd64 --output-kind cmdline -o "$o" -q --extra-kernel-arg console=ttyS0 \
	--extra-kernel-arg -pti --extra-kernel-arg foo=1
expect_eq "console replaced, pti dropped, foo=1 appended" "$(cat "$o/cmdline-metal-amd64")" \
	"talos.platform=metal console=ttyS0 init_on_alloc=1 init_on_free=1 slab_nomerge consoleblank=0 printk.devkmsg=on foo=1"
"$IMAGER" aws --arch arm64 --output-kind cmdline -o "$o" -q
expect_eq "aws arm64 cmdline" "$(cat "$o/cmdline-aws-arm64")" \
	"talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 nvme_core.io_timeout=4294967295 init_on_alloc=1 init_on_free=1 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on"

# The effective profile goes to stderr (as Talos does) and loads again.
"$IMAGER" metal --output-kind cmdline -o "$o" 2>"$T/effective.yaml" >/dev/null
sed -i '/^imager: wrote/d' "$T/effective.yaml"
check "effective profile printed to stderr" grep -q '^platform: metal' "$T/effective.yaml"
check "the effective profile is a loadable profile" "$IMAGER" "$T/effective.yaml" -o "$T/o2" -q
check "built-in profiles listed" sh -c "'$IMAGER' profiles --names | grep -qx secureboot-metal-uki"
check "profile from stdin" sh -c "printf 'arch: arm64\nplatform: nocloud\noutput: {kind: cmdline}\n' |
	'$IMAGER' - -o '$T/o3' -q && grep -q 'talos.platform=nocloud' '$T/o3/cmdline-nocloud-arm64'"

# META travels on the command line for kinds without a META partition.
printf 'network:\n  hostname: imager-test\n' >"$T/net.yaml"
"$IMAGER" metal --output-kind cmdline -o "$o" -q --meta "0xa=@$T/net.yaml" --meta 12=user
line=$(cat "$o/cmdline-metal-amd64")
b64=$(echo "$line" | sed -n 's/.*talos.environment=INSTALLER_META_BASE64=\([^ ]*\).*/\1/p')
check "META on the command line" test -n "$b64"
expect_eq "META decodes back (0xa from @file, 12 as 0xc)" "$("$IMAGER" meta decode "$b64")" \
	"$(printf '0xa=network:\n  hostname: imager-test\n\n0xc=user')"

# kernel and initramfs outputs are the inputs, under Talos's names.
"$IMAGER" metal --output-kind kernel -o "$o" -q
check "kernel-amd64 is the payload kernel" cmp "$o/kernel-amd64" "$INSTALL/amd64/vmlinuz"
"$IMAGER" metal --arch arm64 --output-kind initramfs -o "$o" -q
check "initramfs-arm64.xz is the payload initramfs" cmp "$o/initramfs-arm64.xz" "$INSTALL/arm64/initramfs.xz"
"$IMAGER" metal --output-kind kernel -o "$T/o4" -q --inputs "$INSTALL/arm64"
check "--inputs names the inputs folder" cmp "$T/o4/kernel-amd64" "$INSTALL/arm64/vmlinuz"
IMAGER_INPUTS="$INSTALL/arm64" "$IMAGER" metal --output-kind kernel -o "$T/o5" -q
check "\$IMAGER_INPUTS names the inputs folder" cmp "$T/o5/kernel-amd64" "$INSTALL/arm64/vmlinuz"

# Errors: one line, documented exit code, nothing written.
printf 'arch: amd64\noutput:\n  kind: cmdline\n  imageOptions:\n    diskFromat: raw\n' >"$T/bad.yaml"
expect_fail "unknown key names file:line:col" 2 "^imager: $T/bad.yaml:5:5: unknown key \"diskFromat\"" \
	"$T/o6" "$IMAGER" "$T/bad.yaml" -o "$T/o6" -q
printf 'secureboot: [1]\noutput: {kind: cmdline}\n' >"$T/bad2.yaml"
expect_fail "wrong type names file:line:col" 2 "^imager: $T/bad2.yaml:1:13: " \
	"$T/o6" "$IMAGER" "$T/bad2.yaml" -o "$T/o6" -q
expect_fail "unknown platform" 2 "^imager: .*\"moon\"" "$T/o6" \
	"$IMAGER" metal --platform moon --output-kind cmdline -o "$T/o6" -q
expect_fail "META key out of range" 2 "^imager: .*256" "$T/o6" \
	"$IMAGER" metal --output-kind cmdline --meta 256=x -o "$T/o6" -q
expect_fail "META @file missing" 5 "^imager: .*$T/none.yaml" "$T/o6" \
	"$IMAGER" metal --output-kind cmdline --meta "0xa=@$T/none.yaml" -o "$T/o6" -q
expect_fail "missing inputs folder" 5 "^imager: $T/empty: inputs folder not found" "$T/o6" \
	"$IMAGER" metal --output-kind kernel --inputs "$T/empty" -o "$T/o6" -q
mkdir -p "$T/empty"
expect_fail "missing kernel input" 5 "^imager: $T/empty/vmlinuz" "$T/o6" \
	"$IMAGER" metal --output-kind kernel --inputs "$T/empty" -o "$T/o6" -q
expect_fail "unknown profile" 5 "^imager: .*nosuch" "$T/o6" "$IMAGER" nosuch -o "$T/o6" -q
expect_fail "unknown flag" 2 "^imager: unknown or incomplete flag" "$T/o6" "$IMAGER" metal --bogus -o "$T/o6"
