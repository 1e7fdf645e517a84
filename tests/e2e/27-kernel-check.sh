#!/usr/bin/env bash
# imager kernel-check and the builds' kernel check (issue 16): Debian's kernels from the
# payload against kernel-config/, broken configurations, kernels with and without an
# embedded IKCONFIG, --strict-kernel, and the --json report. No QEMU boots.
. "$(dirname "$0")/lib.sh"

# The reviewed lists: what Debian 12's kernel (6.1) lacks of kernel-config/, everything
# recommended (KSPP's stricter settings Debian does not take: debug checks with a cost,
# attack-surface cuts such as kexec and hibernation, GCC plugins Debian does not build
# with, MODULE_SIG_FORCE which Debian leaves to lockdown). Nothing required is missing,
# none of base.config. A change of the fragments or of the payload's kernel shows here.
common="hardening.config DEBUG_SG recommended missing
hardening.config DEBUG_NOTIFIERS recommended missing
hardening.config INIT_ON_FREE_DEFAULT_ON recommended missing
hardening.config SLAB_MERGE_DEFAULT recommended wrong
hardening.config KFENCE recommended missing
hardening.config STATIC_USERMODEHELPER recommended missing
hardening.config SECURITY_SELINUX_DEVELOP recommended wrong
hardening.config EFI_DISABLE_PCI_DMA recommended missing
hardening.config UBSAN_BOUNDS recommended missing
hardening.config PAGE_TABLE_CHECK recommended missing
hardening.config ZERO_CALL_USED_REGS recommended missing
hardening.config LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY recommended missing
hardening.config MODULE_SIG_SHA512 recommended missing
hardening.config MODULE_SIG_ALL recommended missing
hardening.config MODULE_FORCE_LOAD recommended wrong
hardening.config PANIC_ON_OOPS recommended missing
hardening.config PANIC_TIMEOUT recommended wrong
hardening.config DEVMEM recommended wrong
hardening.config KEXEC recommended wrong
hardening.config HIBERNATION recommended wrong
hardening.config PROC_KCORE recommended wrong
hardening.config BINFMT_MISC recommended wrong
hardening.config INET_DIAG recommended wrong
hardening.config LDISC_AUTOLOAD recommended wrong
hardening.config COMPAT recommended wrong
hardening.config DEBUG_FS recommended wrong
hardening.config RANDSTRUCT_FULL recommended missing
hardening.config GCC_PLUGIN_STACKLEAK recommended missing
secureboot.config MODULE_SIG_FORCE recommended missing"
want_amd64="amd64.config IA32_EMULATION recommended wrong
amd64.config MODIFY_LDT_SYSCALL recommended wrong
amd64.config X86_MSR recommended wrong
amd64.config X86_KERNEL_IBT recommended missing
amd64.config IOMMU_DEFAULT_DMA_STRICT recommended missing
amd64.config INTEL_IOMMU_DEFAULT_ON recommended missing
$common"
want_arm64="arm64.config DEFAULT_MMAP_MIN_ADDR recommended wrong
arm64.config ARM64_BTI_KERNEL recommended missing
arm64.config ARM64_SW_TTBR0_PAN recommended missing
arm64.config SHADOW_CALL_STACK recommended missing
$common"

# report.json -> "fragment OPTION level state" lines
options() {
	python3 -c 'import json,sys
for o in json.load(open(sys.argv[1]))["options"]:
    print(o["fragment"], o["option"][7:], o["level"], o["state"])' "$1"
}

for arch in amd64 arm64; do
	cfg="$INSTALL/$arch/config"
	check "$arch: the payload has the kernel's .config" test -s "$cfg"
	"$IMAGER" kernel-check --arch "$arch" --json "$cfg" >"$T/$arch.json" 2>"$T/$arch.err"
	expect_eq "$arch: Debian's config: exit 0 (every required option holds)" "$?" 0
	"$IMAGER" kernel-check --arch "$arch" --json "$cfg" >"$T/$arch.2.json" 2>/dev/null
	check "$arch: the report is deterministic" cmp "$T/$arch.json" "$T/$arch.2.json"
	want=want_$arch
	expect_eq "$arch: what Debian lacks is the reviewed list" "$(options "$T/$arch.json")" "${!want}"
	check "$arch: nothing of base.config is missing" \
		sh -c "! grep -q '\"fragment\": \"base.config\"' '$T/$arch.json'"
	# Default: the inputs folder's kernel; the payload's has no IKCONFIG, so its config.
	"$IMAGER" kernel-check --inputs "$INSTALL/$arch" --arch "$arch" >"$T/$arch.txt" 2>&1
	expect_eq "$arch: default (inputs folder): exit 0" "$?" 0
	check "$arch: default falls back to the inputs folder's config" \
		grep -q "^kernel-check: $INSTALL/$arch/config (.config), arch $arch" "$T/$arch.txt"
	expect_fail "$arch: the payload's kernel has no embedded config (one line, names --config)" 5 \
		"^imager: .*/vmlinuz: kernel image \((bzImage, xz|arm64 Image)\) has no embedded configuration .*--config FILE" \
		"" "$IMAGER" kernel-check --arch "$arch" "$INSTALL/$arch/vmlinuz"
done

"$IMAGER" kernel-check "$INSTALL/arm64/config" >"$T/auto.txt" 2>&1
check "without --arch: the configuration's own arch (arm64)" \
	grep -q "^kernel-check: $INSTALL/arm64/config (.config), arch arm64, .* arm64.config" "$T/auto.txt"
expect_fail "--arch amd64 on an arm64 configuration: exit 2, one line" 2 \
	"^imager: $INSTALL/arm64/config: the configuration of an arm64 kernel, not amd64 \(--arch\)$" \
	"" "$IMAGER" kernel-check --arch amd64 "$INSTALL/arm64/config"

# --- broken configurations ----------------------------------------------------------------
grep -v '^CONFIG_OVERLAY_FS=' "$INSTALL/amd64/config" >"$T/no-overlay.config"
sed 's/^CONFIG_SQUASHFS_ZSTD=y$/CONFIG_SQUASHFS_ZSTD=n/' "$INSTALL/amd64/config" >"$T/no-zstd.config"
check "fixtures differ from Debian's config" sh -c "! cmp -s '$T/no-overlay.config' '$INSTALL/amd64/config' && ! cmp -s '$T/no-zstd.config' '$INSTALL/amd64/config'"
for c in no-overlay:OVERLAY_FS:"is missing, needs y or m: extensions stack read-only above the root squashfs with overlayfs" \
	no-zstd:SQUASHFS_ZSTD:"is off, needs y: the imager writes every squashfs"; do
	f=${c%%:*} rest=${c#*:} opt=${rest%%:*} why=${rest#*:}
	"$IMAGER" kernel-check "$T/$f.config" >"$T/$f.out" 2>"$T/$f.err"
	expect_eq "$f: exit 2" "$?" 2
	check "$f: names CONFIG_$opt and its reason under base.config" \
		grep -Fq "  required    CONFIG_$opt $why" "$T/$f.out"
	check "$f: one stderr line" test "$(wc -l <"$T/$f.err")" -eq 1
	check "$f: the summary says FAIL" grep -q '^kernel-check: FAIL: 1 required' "$T/$f.out"
done

# The builds: a copy of the amd64 inputs with the broken config.
mkdir -p "$T/in"
for f in "$INSTALL/amd64"/*; do ln -s "$f" "$T/in/"; done
rm "$T/in/config"
cp "$T/no-overlay.config" "$T/in/config"
"$IMAGER" metal --output-kind kernel --inputs "$T/in" -o "$T/o1" --quiet 2>"$T/build.err"
expect_eq "build with it: succeeds (warning only)" "$?" 0
expect_eq "build with it: one warning line, naming the option and its reason" \
	"$(grep -c . "$T/build.err") $(grep -c '^imager: warning: kernel .*: CONFIG_OVERLAY_FS is missing, needs y or m (base.config: extensions stack' "$T/build.err")" "1 1"
check "build with it: the output is there" test -s "$T/o1/kernel-amd64"
expect_fail "--strict-kernel: refuses, exit 2, one line, nothing left" 2 \
	"^imager: --strict-kernel: $T/in/config lacks 1 required kernel options: CONFIG_OVERLAY_FS is missing" \
	"$T/o2/*" "$IMAGER" metal --output-kind kernel --inputs "$T/in" -o "$T/o2" --quiet --strict-kernel
cp "$T/no-zstd.config" "$T/in/config"
expect_fail "--strict-kernel (iso): SQUASHFS_ZSTD=n refused, nothing left" 2 \
	"^imager: --strict-kernel: .* CONFIG_SQUASHFS_ZSTD is off, needs y \(base.config" \
	"$T/o3/*" "$IMAGER" iso --inputs "$T/in" -o "$T/o3" --quiet --strict-kernel
cp "$INSTALL/arm64/config" "$T/in/config"
"$IMAGER" metal --output-kind kernel --inputs "$T/in" -o "$T/o7" --quiet 2>"$T/arch.err"
expect_eq "build with another arch's config: one warning, the check skipped" \
	"$?:$(grep -c . "$T/arch.err"):$(grep -c '^imager: warning: kernel check skipped: .*config: the configuration of an arm64 kernel, not amd64' "$T/arch.err")" "0:1:1"
expect_fail "--strict-kernel with another arch's config: exit 2, nothing left" 2 \
	"^imager: --strict-kernel: $T/in/config: the configuration of an arm64 kernel, not amd64" \
	"$T/o8/*" "$IMAGER" metal --output-kind kernel --inputs "$T/in" -o "$T/o8" --quiet --strict-kernel
"$IMAGER" metal --output-kind cmdline -o "$T/o4" --quiet --strict-kernel --inputs "$T/in" 2>"$T/cmdline.err"
expect_eq "cmdline (no kernel in it): not checked" "$?:$(grep -c . "$T/cmdline.err")" "0:0"

# secureboot.config counts for Secure Boot outputs only.
grep -v '^CONFIG_SECURITY_LOCKDOWN_LSM' "$INSTALL/amd64/config" >"$T/no-lockdown.config"
"$IMAGER" kernel-check --profile metal "$T/no-lockdown.config" >"$T/sb1.out" 2>/dev/null
expect_eq "no lockdown: --profile metal: exit 0" "$?" 0
check "no lockdown: --profile metal does not check secureboot.config" \
	sh -c "! grep -q secureboot.config '$T/sb1.out'"
"$IMAGER" kernel-check --profile secureboot-metal "$T/no-lockdown.config" >"$T/sb2.out" 2>/dev/null
expect_eq "no lockdown: --profile secureboot-metal: exit 2" "$?" 2
check "no lockdown: names CONFIG_SECURITY_LOCKDOWN_LSM" \
	grep -q "required    CONFIG_SECURITY_LOCKDOWN_LSM is missing, needs y: the lockdown LSM" "$T/sb2.out"
"$IMAGER" kernel-check --arch arm64 "$T/no-lockdown.config" >/dev/null 2>&1
expect_eq "no lockdown: without --profile secureboot.config is checked (exit 2)" "$?" 2

# --- kernels with an embedded configuration -----------------------------------------------
# A fake vmlinux: filler, IKCFG_ST, the gzip'd config, IKCFG_ED, filler; then a gzip'd
# Image.gz-style file, a bzImage around its xz... here the containers the test makes.
gzip -9n <"$T/no-overlay.config" >"$T/config.gz"
{ head -c 3000000 /dev/zero | tr '\0' 'k'; printf IKCFG_ST; cat "$T/config.gz"; printf IKCFG_ED
	head -c 2000000 /dev/zero | tr '\0' 'v'; } >"$T/vmlinux"
gzip -9n <"$T/vmlinux" >"$T/Image.gz"
zstd -q -19 <"$T/vmlinux" >"$T/vmlinux.zst"
# EFI zboot (drivers/firmware/efi/libstub/zboot-header.S) around the zstd payload.
python3 - "$T/vmlinux.zst" "$T/zboot.efi" <<'PY'
import struct, sys
p = open(sys.argv[1], "rb").read()
h = bytearray(4096)
h[0:8] = b"MZ\0\0zimg"
h[8:16] = struct.pack("<II", len(h), len(p))
h[24:31] = b"zstd22\0"
open(sys.argv[2], "wb").write(bytes(h) + p)
PY
for k in Image.gz:gzip zboot.efi:"EFI zboot, zstd"; do
	f=${k%%:*} fmt=${k#*:}
	env PATH=/nonexistent "$IMAGER" kernel-check "$T/$f" >"$T/$f.out" 2>/dev/null
	expect_eq "$f: embedded config read in-process (no PATH): exit 2" "$?" 2
	check "$f: from the kernel image ($fmt)" grep -q "^kernel-check: $T/$f ($fmt)" "$T/$f.out"
	check "$f: names CONFIG_OVERLAY_FS" grep -q "required    CONFIG_OVERLAY_FS is missing" "$T/$f.out"
done
"$IMAGER" kernel-check --config "$INSTALL/amd64/config" "$T/zboot.efi" >/dev/null 2>&1
expect_eq "--config wins over the kernel's embedded config" "$?" 0
# A build whose inputs folder has this kernel and no config: the embedded one is used.
mkdir -p "$T/in2"
for f in "$INSTALL/amd64"/*; do ln -s "$f" "$T/in2/"; done
rm "$T/in2/config" "$T/in2/vmlinux" 2>/dev/null
rm "$T/in2/vmlinuz" && cp "$T/Image.gz" "$T/in2/vmlinuz"
"$IMAGER" metal --output-kind kernel --inputs "$T/in2" -o "$T/o5" --quiet 2>"$T/build2.err"
expect_eq "build with a kernel carrying IKCONFIG: warns from the embedded config" \
	"$?:$(grep -c "^imager: warning: kernel $T/in2/vmlinuz: CONFIG_OVERLAY_FS is missing" "$T/build2.err")" "0:1"
# Without any configuration, builds check nothing and say nothing.
rm "$T/in2/vmlinuz" && ln -s "$INSTALL/amd64/vmlinuz" "$T/in2/vmlinuz"
"$IMAGER" metal --output-kind kernel --inputs "$T/in2" -o "$T/o6" --quiet --strict-kernel 2>"$T/build3.err"
expect_eq "no configuration known: the build is not checked" "$?:$(grep -c . "$T/build3.err")" "0:0"
expect_fail "not a kernel nor a .config: exit 2, one line" 2 "^imager: $T/junk: neither a kernel image" "" \
	sh -c "head -c 4096 /dev/urandom >'$T/junk'; printf '\0' >>'$T/junk'; exec '$IMAGER' kernel-check '$T/junk'"

# --- --json: the documented keys, in the documented order (doc/kernel-config.md) ---------
"$IMAGER" kernel-check --json "$T/no-overlay.config" >"$T/r.json" 2>/dev/null
expect_eq "--json: exit 2 for a failing required option" "$?" 2
expect_eq "--json: top-level keys" "$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))))' "$T/r.json")" \
	"version source sourceKind format arch profile secureboot fragments ok checked required recommended options"
expect_eq "--json: the failing option" "$(python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))
o = [o for o in r["options"] if o["level"] == "required"]
print(r["version"], r["ok"], r["required"], r["sourceKind"], r["format"], len(o), json.dumps(o[0]))' "$T/r.json")" \
	'1 False 1 config .config 1 {"fragment": "base.config", "option": "CONFIG_OVERLAY_FS", "level": "required", "state": "missing", "want": "m", "have": null, "reason": "extensions stack read-only above the root squashfs with overlayfs (DESIGN \u00a75)"}'
check "--json: one option per line" test "$(grep -c '^    {"fragment"' "$T/r.json")" -eq \
	"$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["options"]))' "$T/r.json")"
