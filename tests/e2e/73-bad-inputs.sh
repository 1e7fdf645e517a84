#!/usr/bin/env bash
# Issue 17: the catalogue of hostile inputs, doc/bad-inputs.md, is this test's table. Each
# row `| id | surface | input | exit | message |` is backed by a function case_<id> (dashes
# as underscores) that makes the input in $W/in and runs one command through `try`. The
# row passes when the command exits with the row's code, prints exactly one stderr line
# holding the row's message, leaves nothing in its output folder ($W/out), its TMPDIR, its
# HOME or its working directory, and changes nothing else under the test's folder (inputs
# and disks included: size, mtime and mode of every file) nor makes anything in /tmp or
# /var/tmp. A row without a function, or a function without a row, fails the test.
. "$(dirname "$0")/lib.sh"

DOC=$SRC/doc/bad-inputs.md
TOOLS=$SRC/tests/tools
export SOURCE_DATE_EPOCH=1700000000
if [ ! -e "$INSTALL/amd64/vmlinuz" ]; then
	not_ok "bad inputs" "needs make payload ($INSTALL/amd64)"
	exit 0
fi

# --- the sandbox of one row -------------------------------------------------------------
W=
MOUNTED=()
cleanup_mounts() {
	local m
	for m in "${MOUNTED[@]}"; do umount "$m" 2>/dev/null; done
}
trap 'cleanup_mounts; cleanup_e2e' EXIT

# state of everything a command could touch outside its output folder
outside_state() {
	# the sandbox folders themselves are checked empty afterwards, not compared
	find "$T" \( -path "$W/out" -o -path "$W/res" -o -path "$W/tmp" -o -path "$W/home" \
		-o -path "$W/cwd" \) -prune -o -printf '%p %s %T@ %m\n' | sort
	find /tmp /var/tmp -mindepth 1 -maxdepth 1 ! -name 'imager-e2e.*' ! -name 'bash_*' \
		-printf '%p\n' 2>/dev/null | sort
}

# try CMD...: run the row's command in its sandbox (own cwd, TMPDIR and HOME)
try() {
	outside_state >"$W/res/before"
	(cd "$W/cwd" && env TMPDIR="$W/tmp" HOME="$W/home" "$@") </dev/null >"$W/res/stdout" 2>"$W/res/stderr"
	echo $? >"$W/res/rc"
	outside_state >"$W/res/after"
}

# mount_tmpfs DIR OPTIONS: a small tmpfs as the output folder (rows that need one)
mount_tmpfs() {
	mount -t tmpfs -o "$2" imager-bad-inputs "$1" && MOUNTED+=("$1")
}

# run_row ID EXIT MESSAGE SURFACE
run_row() {
	local id=$1 want=$2 msg=$3 fn=case_${1//-/_} desc="$4: $1"
	W=$T/rows/$id
	mkdir -p "$W/in" "$W/out" "$W/tmp" "$W/home" "$W/cwd" "$W/res"
	"$fn"
	local rc lines left changed
	rc=$(cat "$W/res/rc" 2>/dev/null || echo none)
	lines=$(grep -c '' "$W/res/stderr" 2>/dev/null)
	left=$(find "$W/out" "$W/tmp" "$W/home" "$W/cwd" -mindepth 1 2>/dev/null | head -3 | tr '\n' ' ')
	changed=$(diff "$W/res/before" "$W/res/after" 2>/dev/null | grep '^[<>]' | head -3 | tr '\n' ' ')
	local m
	for m in "${MOUNTED[@]}"; do umount "$m" 2>/dev/null; done
	MOUNTED=()
	if [ "$rc" != "$want" ]; then
		not_ok "$desc" "exit $rc, want $want" "stderr: $(head -c 400 "$W/res/stderr" 2>/dev/null)"
	elif [ "$lines" != 1 ] || ! grep -qF -- "$msg" "$W/res/stderr"; then
		not_ok "$desc" "want one stderr line holding: $msg" "stderr: $(head -c 400 "$W/res/stderr")"
	elif [ -n "$left" ]; then
		not_ok "$desc" "left behind: $left"
	elif [ -n "$changed" ]; then
		not_ok "$desc" "changed outside the output folder: $changed"
	else
		ok "$desc"
	fi
}

# --- shared inputs, made once -----------------------------------------------------------
S=$T/shared
mkdir -p "$S"
garbage() { # FILE BYTES: deterministic non-format bytes
	python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 13) % 251 for i in range(int(sys.argv[1]))))' \
		"$2" >"$1"
}
"$IMAGER" keys --output "$S/keys" --common-name "Bad Inputs" >/dev/null 2>&1
"$SRC/extensions/hello-world/build.sh" "$S/ext" amd64 >/dev/null
HELLO=$S/ext/hello-world-amd64
printf 'baseProfileName: metal\noutput:\n  kind: image\n  outFormat: raw\n  imageOptions: {bootloader: dual-boot}\n' \
	>"$S/raw.yaml"
"$IMAGER" "$S/raw.yaml" -o "$S/disk" -q --no-build-record 2>"$S/disk.err"
DISK=$S/disk/metal-amd64.raw
printf 'baseProfileName: metal\narch: arm64\noutput:\n  kind: image\n  outFormat: raw\n' >"$S/raw64.yaml"
part_start() { # NAME: the first byte of the base disk's partition NAME
	sfdisk -d "$DISK" | awk -v n="name=\"$1\"" 'index($0, n) { gsub(",", "", $4); printf "%.0f\n", $4 * 512 }'
}
if [ -e "$DISK" ] && [ -d "$S/keys" ]; then
	ok "shared inputs: Secure Boot keys, hello-world extension, a dual-boot raw disk"
else
	not_ok "shared inputs" "$(cat "$S/disk.err")"
fi
META_AT=$(part_start META)
ESP_AT=$(part_start EFI)
STUB=$INSTALL/amd64/systemd-stub.efi
SDBOOT=$INSTALL/amd64/systemd-boot.efi

# the inputs folder with one input replaced: INPUTS NAME FILE
inputs_with() {
	cp -a "$INSTALL/amd64" "$1"
	rm -f "$1/$2"
	cp "$3" "$1/$2"
}
disk_copy() { cp --sparse=always "$DISK" "$W/in/disk.img"; }
overwrite() { # FILE OFFSET SOURCE-FILE
	dd if="$3" of="$1" bs=512 seek="$(($2 / 512))" conv=notrunc status=none
}
keys_with() { # NAME FILE: a copy of the keys folder with NAME replaced by FILE
	cp -a "$S/keys" "$W/in/keys"
	if [ -n "$2" ]; then cp "$2" "$W/in/keys/$1"; else rm -f "$W/in/keys/$1"; fi
}
ext_tar() { # KIND: a hostile extension tar (tests/tools/hostile-tar.py)
	python3 "$TOOLS/hostile-tar.py" "$W/in/ext.tar" "$HELLO/manifest.yaml" "$1"
}
ext_build() { # EXTENSION: the initramfs output with it
	try "$IMAGER" metal --output-kind initramfs -q -o "$W/out" --system-extension-image "$1"
}
good_tar() { # COMPRESSION-FLAG OUT: the hello-world extension as a tar
	bsdtar -C "$HELLO" $1 -cf "$2" manifest.yaml rootfs
}
half() { head -c $(($(stat -c %s "$1") / 2)) "$1" >"$2"; }
profile_build() { # PROFILE-FILE [FLAGS...]
	local p=$1
	shift
	try "$IMAGER" "$p" -q -o "$W/out" "$@"
}
yaml_profile() { # KIND: a hostile profile (tests/tools/hostile-yaml.py) after a valid head
	python3 "$TOOLS/hostile-yaml.py" "$1" "$W/in/p.yaml" 'baseProfileName: metal\n'
}
disk_size() { # SIZE: a metal raw image of diskSize SIZE
	printf 'baseProfileName: metal\noutput:\n  kind: image\n  outFormat: raw\n  imageOptions: {diskSize: %s}\n' \
		"$1" >"$W/in/p.yaml"
	profile_build "$W/in/p.yaml"
}

# --- PE ---------------------------------------------------------------------------------
case_pe_garbage() { garbage "$W/in/x.efi" 4096; try "$IMAGER" inspect "$W/in/x.efi"; }
case_pe_truncated() { head -c 3000 "$STUB" >"$W/in/x.efi"; try "$IMAGER" inspect "$W/in/x.efi"; }
case_pe_empty() { : >"$W/in/x.efi"; try "$IMAGER" inspect "$W/in/x.efi"; }
case_uki_stub_garbage() {
	garbage "$W/in/stub.efi" 65536
	inputs_with "$W/in/inputs" systemd-stub.efi "$W/in/stub.efi"
	try "$IMAGER" metal-uki -q -o "$W/out" --inputs "$W/in/inputs"
}
case_uki_stub_truncated() {
	head -c 20000 "$STUB" >"$W/in/stub.efi"
	inputs_with "$W/in/inputs" systemd-stub.efi "$W/in/stub.efi"
	try "$IMAGER" metal-uki -q -o "$W/out" --inputs "$W/in/inputs"
}
case_sdboot_garbage_signed() {
	garbage "$W/in/b.efi" 65536
	inputs_with "$W/in/inputs" systemd-boot.efi "$W/in/b.efi"
	try "$IMAGER" secureboot-iso -q -o "$W/out" --inputs "$W/in/inputs" --secureboot-keys "$S/keys"
}
case_sdboot_truncated_signed() {
	head -c 20000 "$SDBOOT" >"$W/in/b.efi"
	inputs_with "$W/in/inputs" systemd-boot.efi "$W/in/b.efi"
	try "$IMAGER" secureboot-iso -q -o "$W/out" --inputs "$W/in/inputs" --secureboot-keys "$S/keys"
}
case_sign_garbage() {
	garbage "$W/in/x.efi" 4096
	try "$IMAGER" sign --key "$S/keys/uki-signing-key.pem" --cert "$S/keys/uki-signing-cert.pem" \
		"$W/in/x.efi" "$W/out/x.efi"
}

# --- keys -------------------------------------------------------------------------------
sb_uki() { try "$IMAGER" secureboot-metal-uki -q -o "$W/out" --secureboot-keys "$W/in/keys"; }
case_key_garbage() { garbage "$W/in/k" 1700; keys_with uki-signing-key.pem "$W/in/k"; sb_uki; }
case_key_encrypted() {
	openssl genrsa -aes128 -passout pass:secret -out "$W/in/k" 2048 2>/dev/null
	keys_with uki-signing-key.pem "$W/in/k"
	sb_uki
}
case_cert_garbage() { garbage "$W/in/c" 1200; keys_with uki-signing-cert.pem "$W/in/c"; sb_uki; }
case_cert_other_key() {
	keys_with uki-signing-cert.pem "$S/keys/pk-signing-cert.pem"
	sb_uki
}
case_key_ec_uki() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$W/in/k" 2>/dev/null
	keys_with uki-signing-key.pem "$W/in/k"
	sb_uki
}
case_pcr_key_ec() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$W/in/k" 2>/dev/null
	keys_with pcr-signing-key.pem "$W/in/k"
	sb_uki
}
case_pcr_key_missing() { keys_with pcr-signing-key.pem ""; sb_uki; }
case_key_is_cert() { keys_with uki-signing-key.pem "$S/keys/uki-signing-cert.pem"; sb_uki; }
case_sign_cert_mismatch() {
	try "$IMAGER" sign --key "$S/keys/uki-signing-key.pem" --cert "$S/keys/pk-signing-cert.pem" \
		"$STUB" "$W/out/x.efi"
}

# --- disks the installer reads (a copy of a dual-boot raw image) ------------------------
meta_garbage() { disk_copy; garbage "$W/in/g" 1048576; overwrite "$W/in/disk.img" "$META_AT" "$W/in/g"; }
esp_garbage() { disk_copy; garbage "$W/in/g" 512; overwrite "$W/in/disk.img" "$ESP_AT" "$W/in/g"; }
case_meta_garbage_status() { meta_garbage; try "$INSTALLER" status --disk "$W/in/disk.img"; }
case_meta_garbage_upgrade() {
	meta_garbage
	try "$INSTALLER" upgrade --assets "$INSTALL/amd64" --disk "$W/in/disk.img"
}
case_meta_garbage_get() { meta_garbage; try "$INSTALLER" meta get 0xa --disk "$W/in/disk.img"; }
case_meta_garbage_set() { meta_garbage; try "$INSTALLER" meta set 0xa x --disk "$W/in/disk.img"; }
case_esp_garbage_status() { esp_garbage; try "$INSTALLER" status --disk "$W/in/disk.img"; }
case_esp_garbage_upgrade() {
	esp_garbage
	try "$INSTALLER" upgrade --assets "$INSTALL/amd64" --disk "$W/in/disk.img"
}
case_fat_bpb_larger_than_esp() {
	disk_copy
	# BPB_TotSec32 (offset 32) claims 4 GiB of sectors in a 100 MiB ESP
	printf '\x00\x00\x80\x00' | dd of="$W/in/disk.img" bs=1 seek=$((ESP_AT + 32)) conv=notrunc status=none
	try "$INSTALLER" upgrade --assets "$INSTALL/amd64" --disk "$W/in/disk.img"
}
case_gpt_both_crc() {
	disk_copy
	local size
	size=$(stat -c %s "$W/in/disk.img")
	printf 'X' | dd of="$W/in/disk.img" bs=1 seek=$((512 + 40)) conv=notrunc status=none
	printf 'X' | dd of="$W/in/disk.img" bs=1 seek=$((size - 512 + 40)) conv=notrunc status=none
	try "$INSTALLER" status --disk "$W/in/disk.img"
}
case_gpt_truncated() {
	head -c $((3 << 20)) "$DISK" >"$W/in/disk.img"
	try "$INSTALLER" status --disk "$W/in/disk.img"
}
case_gpt_garbage() { garbage "$W/in/disk.img" $((4 << 20)); try "$INSTALLER" status --disk "$W/in/disk.img"; }
case_gpt_entry_past_end() {
	disk_copy
	python3 "$TOOLS/gptedit.py" "$W/in/disk.img" entry-end 5 $(($(stat -c %s "$DISK") / 512 + 100))
	try "$INSTALLER" upgrade --assets "$INSTALL/amd64" --disk "$W/in/disk.img"
}
case_gpt_overlap() {
	disk_copy
	local b
	b=$(part_start BOOT-B)
	python3 "$TOOLS/gptedit.py" "$W/in/disk.img" entry-end 3 $((b / 512 + 1000))
	try "$INSTALLER" upgrade --assets "$INSTALL/amd64" --disk "$W/in/disk.img"
}
case_disk_missing() { try "$INSTALLER" status --disk "$W/in/nothing.img"; }

# --- extensions -------------------------------------------------------------------------
case_tar_dotdot() { ext_tar dotdot; ext_build "$W/in/ext.tar"; }
case_tar_absolute() { ext_tar abs; ext_build "$W/in/ext.tar"; }
case_tar_symlink_absolute() { ext_tar symabs; ext_build "$W/in/ext.tar"; }
case_tar_symlink_escaping() { ext_tar symup; ext_build "$W/in/ext.tar"; }
case_tar_hardlink_outside() { ext_tar hardout; ext_build "$W/in/ext.tar"; }
case_tar_hardlink_absolute() { ext_tar hardabs; ext_build "$W/in/ext.tar"; }
case_tar_chardev() { ext_tar chr; ext_build "$W/in/ext.tar"; }
case_tar_blockdev() { ext_tar blk; ext_build "$W/in/ext.tar"; }
case_tar_fifo() { ext_tar fifo; ext_build "$W/in/ext.tar"; }
case_tar_setuid_world_writable() { ext_tar suidww; ext_build "$W/in/ext.tar"; }
case_tar_extra_top() { ext_tar extra; ext_build "$W/in/ext.tar"; }
case_tar_truncated() { good_tar "" "$W/in/g.tar"; half "$W/in/g.tar" "$W/in/ext.tar"; ext_build "$W/in/ext.tar"; }
case_tar_garbage() { garbage "$W/in/ext.tar" 10240; ext_build "$W/in/ext.tar"; }
case_gzip_truncated() { good_tar -z "$W/in/g"; half "$W/in/g" "$W/in/ext.tar.gz"; ext_build "$W/in/ext.tar.gz"; }
case_gzip_garbage() {
	{ printf '\x1f\x8b\x08\x00'; garbage /dev/stdout 4096; } >"$W/in/ext.tar.gz"
	ext_build "$W/in/ext.tar.gz"
}
case_zstd_truncated() { good_tar --zstd "$W/in/g"; half "$W/in/g" "$W/in/ext.tar.zst"; ext_build "$W/in/ext.tar.zst"; }
case_zstd_garbage() {
	{ printf '\x28\xb5\x2f\xfd'; garbage /dev/stdout 4096; } >"$W/in/ext.tar.zst"
	ext_build "$W/in/ext.tar.zst"
}
case_xz_truncated() { good_tar -J "$W/in/g"; half "$W/in/g" "$W/in/ext.tar.xz"; ext_build "$W/in/ext.tar.xz"; }
case_xz_garbage() {
	{ printf '\xfd7zXZ\x00'; garbage /dev/stdout 4096; } >"$W/in/ext.tar.xz"
	ext_build "$W/in/ext.tar.xz"
}
case_squashfs_truncated() {
	try_mksq "$W/in/g.sqsh" && half "$W/in/g.sqsh" "$W/in/ext.sqsh"
	ext_build "$W/in/ext.sqsh"
}
try_mksq() { "$IMAGER" mksquashfs "$HELLO" "$1" >/dev/null 2>&1; }
case_squashfs_bad_super() {
	{ printf 'hsqs'; garbage /dev/stdout 8192; } >"$W/in/ext.sqsh"
	ext_build "$W/in/ext.sqsh"
}
case_squashfs_garbage() { garbage "$W/in/ext.sqsh" 8192; ext_build "$W/in/ext.sqsh"; }

oci_good() { good_tar -z "$W/in/layer.tar.gz"; oci_layout "$W/in/oci" "$W/in/layer.tar.gz"; }
oci_hostile() { # KIND: the layer is a hostile tar
	ext_tar "$1"
	gzip -n <"$W/in/ext.tar" >"$W/in/layer.tar.gz"
	oci_layout "$W/in/oci" "$W/in/layer.tar.gz" >/dev/null
	ext_build "$W/in/oci"
}
case_oci_index_not_json() { oci_good >/dev/null; echo '{"schemaVersion": 2,' >"$W/in/oci/index.json"; ext_build "$W/in/oci"; }
case_oci_no_manifests() { oci_good >/dev/null; echo '{"schemaVersion":2,"manifests":[]}' >"$W/in/oci/index.json"; ext_build "$W/in/oci"; }
case_oci_missing_blob() { local d; d=$(oci_good); rm "$W/in/oci/blobs/sha256/$d"; ext_build "$W/in/oci"; }
case_oci_corrupt_blob() {
	local d
	d=$(oci_good)
	printf 'X' | dd of="$W/in/oci/blobs/sha256/$d" bs=1 seek=100 conv=notrunc status=none
	ext_build "$W/in/oci"
}
case_oci_layer_dotdot() { oci_hostile dotdot; }
case_oci_layer_device() { oci_hostile chr; }
case_oci_layer_symlink_absolute() { oci_hostile symabs; }

# --- YAML -------------------------------------------------------------------------------
case_yaml_alias_bomb() { yaml_profile bomb; profile_build "$W/in/p.yaml"; }
case_yaml_deep_nesting() { yaml_profile deep; profile_build "$W/in/p.yaml"; }
case_yaml_huge_scalar() { yaml_profile huge; profile_build "$W/in/p.yaml"; }
case_yaml_invalid_utf8() { yaml_profile utf8; profile_build "$W/in/p.yaml"; }
case_yaml_nul() { yaml_profile nul; profile_build "$W/in/p.yaml"; }
case_yaml_unknown_key() { printf 'baseProfileName: metal\ncolour: red\n' >"$W/in/p.yaml"; profile_build "$W/in/p.yaml"; }
case_schematic_unknown_field() {
	printf 'customization:\n  extraKernelArgs: [a]\n  colour: red\n' >"$W/in/s.yaml"
	try "$IMAGER" schematic id "$W/in/s.yaml"
}
case_schematic_alias_bomb() {
	python3 "$TOOLS/hostile-yaml.py" bomb "$W/in/s.yaml"
	try "$IMAGER" schematic id "$W/in/s.yaml"
}
case_overlay_yaml_deep() {
	mkdir -p "$W/in/ovl"
	python3 "$TOOLS/hostile-yaml.py" deep "$W/in/ovl/overlay.yaml" 'name: x\narch: arm64\n'
	try "$IMAGER" metal --arch arm64 -q -o "$W/out" --overlay-image "$W/in/ovl"
}
case_manifest_nul() {
	cp -a "$HELLO" "$W/in/ext"
	printf 'version: v1alpha1\x00\n' >"$W/in/ext/manifest.yaml"
	ext_build "$W/in/ext"
}

# --- sizes ------------------------------------------------------------------------------
case_disksize_near_2_64() { disk_size 18446744073709551104; }
case_disksize_2_63() { disk_size 9223372036854775808; }
case_disksize_unaligned() { disk_size 18446744073709551615; }
case_disksize_too_big_number() { disk_size 99999999999999999999999; }
case_disksize_negative() { disk_size -1; }
case_blob_offset_past_disk() {
	mkdir -p "$W/in/ovl"
	garbage "$W/in/ovl/blob.bin" 4096
	printf 'name: x\narch: arm64\nblobs:\n  - from: overlay:blob.bin\n    offset: 18446744073709549568\n' \
		>"$W/in/ovl/overlay.yaml"
	try "$IMAGER" "$S/raw64.yaml" -q -o "$W/out" --overlay-image "$W/in/ovl"
}
case_blob_overlaps_partition() {
	mkdir -p "$W/in/ovl"
	garbage "$W/in/ovl/blob.bin" 4096
	printf 'name: x\narch: arm64\nblobs:\n  - from: overlay:blob.bin\n    offset: 1MiB\n' >"$W/in/ovl/overlay.yaml"
	try "$IMAGER" "$S/raw64.yaml" -q -o "$W/out" --overlay-image "$W/in/ovl"
}
case_meta_value_too_big() {
	# text that compresses little (META on the command line is gzip'd), within META's 256 KiB
	python3 -c 'import base64, random, sys; sys.stdout.buffer.write(base64.b64encode(random.Random(1).randbytes(150000)))' >"$W/in/v"
	try "$IMAGER" metal --output-kind iso -q -o "$W/out" --meta "0xa=@$W/in/v"
}
case_meta_file_nul() {
	printf 'net\0work' >"$W/in/v"
	try "$IMAGER" metal --output-kind iso -q -o "$W/out" --meta "0xa=@$W/in/v"
}

# --- output folder ----------------------------------------------------------------------
case_output_is_file() {
	echo "a file" >"$W/in/file"
	try "$IMAGER" metal --output-kind initramfs -q -o "$W/in/file"
}
case_output_read_only() {
	mount_tmpfs "$W/out" ro,size=1m
	try "$IMAGER" metal --output-kind initramfs -q -o "$W/out"
}
case_output_full() {
	mount_tmpfs "$W/out" size=256k
	try "$IMAGER" metal --output-kind initramfs -q -o "$W/out"
}
case_output_parent_missing() {
	try "$IMAGER" metal --output-kind cmdline -q -o "$W/in/no/such/dir"
}

# --- the table --------------------------------------------------------------------------
rows=$T/rows.txt
# | id | surface | input | exit | message |  (message in backticks)
awk -F' \\| ' '/^\| [a-z0-9-]+ \| / && !/^\| id \|/ {
	id = substr($1, 3); msg = $5; sub(/ \|$/, "", msg)
	sub(/^`/, "", msg); sub(/`$/, "", msg)
	print id "\t" $4 "\t" $2 "\t" msg }' "$DOC" >"$rows"
n=$(wc -l <"$rows")
expect_eq "doc/bad-inputs.md has at least 60 rows ($n)" "$((n >= 60))" 1
declare -A seen
while IFS=$'\t' read -r id code surface msg; do
	seen[$id]=1
	if ! declare -F "case_${id//-/_}" >/dev/null; then
		not_ok "$surface: $id" "no case_${id//-/_} in $(basename "$0")"
		continue
	fi
	run_row "$id" "$code" "$msg" "$surface" </dev/null
done <"$rows"
for fn in $(declare -F | awk '$3 ~ /^case_/ {print $3}'); do
	id=${fn#case_}
	id=${id//_/-}
	[ -n "${seen[$id]:-}" ] || not_ok "$fn has a row in doc/bad-inputs.md"
done
