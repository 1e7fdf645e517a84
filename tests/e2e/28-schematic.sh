#!/usr/bin/env bash
# Image Factory schematics: `imager schematic id` gives Image Factory's IDs (the vectors of
# siderolabs/image-factory pkg/schematic/schematic_test.go), and `--schematic` lays a
# schematic's customization onto a build. Quick: no QEMU.
. "$(dirname "$0")/lib.sh"

EMPTY=376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba
ARGS=9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c

printf 'customization: {}\n' >"$T/empty.yaml"
expect_eq "empty schematic (customization: {})" "$("$IMAGER" schematic id "$T/empty.yaml")" "$EMPTY"
expect_eq "empty schematic ({}) from stdin" "$(echo '{}' | "$IMAGER" schematic id -)" "$EMPTY"
printf 'customization:\n  extraKernelArgs: [noapic, nolapic]\n' >"$T/args.yaml"
expect_eq "extraKernelArgs [noapic, nolapic]" "$("$IMAGER" schematic id "$T/args.yaml")" "$ARGS"
expect_eq "same from stdin" "$("$IMAGER" schematic id - <"$T/args.yaml")" "$ARGS"
expect_eq "canonical form: 4-space indent, lists under their key" \
	"$("$IMAGER" schematic canonical "$T/args.yaml")" \
	"$(printf 'customization:\n    extraKernelArgs:\n        - noapic\n        - nolapic')"
expect_eq "the ID is the SHA-256 of the canonical form" \
	"$("$IMAGER" schematic canonical "$T/args.yaml" | sha256sum | cut -d' ' -f1)" "$ARGS"
expect_eq "Image Factory's meta vector" \
	"$(echo '{"customization": {"meta": [{"key": 10, "value": "foo"}]}}' | "$IMAGER" schematic id -)" \
	d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f
expect_eq "Image Factory's overlay vector" \
	"$(printf 'overlay:\n  name: rpi_generic\n  image: siderolabs/sbc-raspberrypi\n' | "$IMAGER" schematic id -)" \
	ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9
expect_eq "Image Factory's secureboot vector" \
	"$(echo 'customization: {secureboot: {includeWellKnownCertificates: true}}' | "$IMAGER" schematic id -)" \
	fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6

# Key order, indentation, flow vs block style and quoting do not change the ID.
cat >"$T/a.yaml" <<'Y'
customization:
  extraKernelArgs: [console=ttyS0, noapic]
  meta:
    - key: 0xa
      value: |
        hostname: a
  bootloader: sd-boot
overlay:
  name: rpi_generic
  image: siderolabs/sbc-raspberrypi
  options: {configTxtAppend: "dtoverlay=x", b: 2}
Y
cat >"$T/b.yaml" <<'Y'
# the same schematic, written differently
overlay:
        options:
                b: 2
                configTxtAppend: dtoverlay=x
        image: "siderolabs/sbc-raspberrypi"
        name: 'rpi_generic'
customization:
        bootloader: sd-boot
        meta: [{value: "hostname: a\n", key: 10}]
        extraKernelArgs:
        - "console=ttyS0"
        - noapic
Y
ida=$("$IMAGER" schematic id "$T/a.yaml")
expect_eq "keys in another order, other indentation: same ID" "$("$IMAGER" schematic id "$T/b.yaml")" "$ida"
if [ "$ida" != "$EMPTY" ] && [ "$ida" != "$ARGS" ] && [[ $ida =~ ^[0-9a-f]{64}$ ]]; then
	ok "that ID is a new one"
else
	not_ok "that ID is a new one" "got: $ida"
fi
printf 'customization:\n  extraKernelArgs: [nolapic, noapic]\n' >"$T/swapped.yaml"
if [ "$("$IMAGER" schematic id "$T/swapped.yaml")" != "$ARGS" ]; then
	ok "list order is content: swapped kernel args give another ID"
else
	not_ok "list order is content: swapped kernel args give another ID"
fi

# Bad schematics: exit 2, one line naming FILE:LINE:COL, nothing written.
printf 'customization:\n  extraKernelArgs: [a]\n  extraKernelArg: [x]\n' >"$T/unknown.yaml"
expect_fail "unknown field: refused with its line:col" 2 \
	"^imager: $T/unknown.yaml:3:3: unknown field \"extraKernelArg\" in customization" "" \
	"$IMAGER" schematic id "$T/unknown.yaml"
expect_fail "unknown field on stdin" 2 '^imager: <stdin>:1:1: unknown field "customisation"' "" \
	sh -c "echo 'customisation: {}' | '$IMAGER' schematic id -"
expect_fail "--schematic with an unknown field: nothing in the output folder" 2 \
	"^imager: $T/unknown.yaml:3:3: unknown field" "$T/o-bad/*" \
	"$IMAGER" metal --output-kind cmdline --schematic "$T/unknown.yaml" -o "$T/o-bad" -q
printf 'overlay:\n  name: x\n  path: /y\n' >"$T/unknown2.yaml"
expect_fail "unknown overlay field" 2 "^imager: $T/unknown2.yaml:3:3: unknown field \"path\" in overlay" "" \
	"$IMAGER" schematic id "$T/unknown2.yaml"
expect_fail "META key out of uint8" 2 '^imager: <stdin>:1:30: customization.meta.key' "" \
	sh -c "echo 'customization: {meta: [{key: 256, value: x}]}' | '$IMAGER' schematic id -"
expect_fail "empty schematic text" 2 '^imager: <stdin>: empty schematic' "" \
	sh -c "'$IMAGER' schematic id - </dev/null"
expect_fail "missing file" 5 "^imager: schematic $T/nope.yaml: " "" "$IMAGER" schematic id "$T/nope.yaml"
expect_fail "unknown subcommand" 2 '^imager: schematic: unknown subcommand' "" \
	"$IMAGER" schematic hash "$T/args.yaml"
printf 'customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/gvisor]\n' >"$T/ext.yaml"
check "officialExtensions still have an ID" "$IMAGER" schematic id "$T/ext.yaml"
expect_fail "--schematic with officialExtensions: unsupported here (exit 3), nothing written" 3 \
	'officialExtensions.*--system-extension-image' "$T/o-ext/*" \
	"$IMAGER" metal --output-kind cmdline --schematic "$T/ext.yaml" -o "$T/o-ext" -q

# --schematic applies the customization: kernel args (before later --extra-kernel-arg
# flags, in command-line order), META on the command line, the bootloader.
o="$T/o"
"$IMAGER" metal --output-kind cmdline --schematic "$T/args.yaml" --extra-kernel-arg late=1 -o "$o" -q
expect_eq "extraKernelArgs in the cmdline output" "$(cat "$o/cmdline-metal-amd64")" \
	"talos.platform=metal console=tty0 init_on_alloc=1 init_on_free=1 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on noapic nolapic late=1"
printf 'customization:\n  extraKernelArgs: [console=ttyS1]\n  meta: [{key: 0xc, value: from-schematic}]\n' |
	"$IMAGER" metal --output-kind cmdline --schematic - -o "$o" -q
line=$(cat "$o/cmdline-metal-amd64")
check "a schematic's console= replaces the platform's" grep -q 'talos.platform=metal console=ttyS1 ' <<<"$line"
b64=$(grep -o 'INSTALLER_META_BASE64=[^ ]*' <<<"$line" | cut -d= -f2-)
expect_eq "schematic META on the command line" "$("$IMAGER" meta decode "$b64")" "0xc=from-schematic"
# The overlay: its name and options reach the board overlay (pine64 declares no option, so
# an option from the schematic is refused by the overlay itself).
printf 'overlay: {name: pine64, image: siderolabs/sbc-allwinner}\ncustomization: {bootloader: grub}\n' >"$T/board.yaml"
check "schematic overlay name + bootloader: arm64 board cmdline builds" \
	"$IMAGER" metal --arch arm64 --output-kind cmdline --overlay-image "$SRC/overlays/pine64" \
	--schematic "$T/board.yaml" -o "$T/o-board" -q
"$IMAGER" metal --arch arm64 --output-kind cmdline --overlay-image "$SRC/overlays/pine64" \
	--schematic "$T/board.yaml" -o "$T/o-board" 2>"$T/eff.yaml" >/dev/null
check "the effective profile has the schematic's overlay name and bootloader" \
	sh -c "grep -q 'name: pine64' '$T/eff.yaml' && grep -q 'bootloader: grub' '$T/eff.yaml'"
printf 'overlay: {name: pine64, image: x, options: {configTxtAppend: y}}\n' >"$T/board-opt.yaml"
expect_fail "schematic overlay options reach the overlay (pine64 has none)" 2 \
	'^imager: overlay pine64: unknown option "configTxtAppend"' "$T/o-opt/*" \
	"$IMAGER" metal --arch arm64 --output-kind cmdline --overlay-image "$SRC/overlays/pine64" \
	--schematic "$T/board-opt.yaml" -o "$T/o-opt" -q
printf 'overlay: {name: pine64, options: {a: {nested: 1}}}\n' >"$T/board-nested.yaml"
expect_fail "a nested overlay option cannot be applied: exit 3" 3 'overlay.options.a: only scalar' \
	"$T/o-nest/*" "$IMAGER" metal --output-kind cmdline --schematic "$T/board-nested.yaml" -o "$T/o-nest" -q
