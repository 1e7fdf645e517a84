#!/usr/bin/env bash
# VM and cloud disk formats (issue 12), written in-process from the extent stream: every
# built-in platform profile builds (amd64, and arm64 where Talos ships it); independent
# readers agree (qemu-img check/compare for qcow2, VHD, VMDK; sha256sum and xmllint for the
# OVA; GNU tar for GCP's disk.raw); the qcow2 boots directly under SeaBIOS and OVMF and
# the VHD via format=vpc, into slot A; a 100 GiB disk costs what a 2 GiB one costs; two
# builds are byte-identical; bad inputs fail with one line and leave nothing.
. "$(dirname "$0")/lib.sh"

export SOURCE_DATE_EPOCH=1700000000
K=(--extra-kernel-arg console=ttyS0)

# same_sparse A B: the two files have the same size and bytes, reading only their data
# extents (cmp would read gigabytes of holes)
same_sparse() {
	python3 -c '
import os, sys
fa, fb = (os.open(p, os.O_RDONLY) for p in sys.argv[1:3])
size = os.fstat(fa).st_size
if size != os.fstat(fb).st_size:
    sys.exit(1)
def extents(fd):
    pos = 0
    while pos < size:
        try:
            d = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            return
        h = os.lseek(fd, d, os.SEEK_HOLE)
        yield d, h
        pos = h
for fd in (fa, fb):
    for d, h in extents(fd):
        while d < h:
            n = min(h - d, 1 << 20)
            if os.pread(fa, n, d) != os.pread(fb, n, d):
                sys.exit(1)
            d += n' "$1" "$2"
}

# 1. Every platform profile builds, under the Talos name.
declare -A NAME=(
	[aws]=raw.zst [gcp]=raw.tar.gz [azure]=vhd.zst [digital-ocean]=raw.gz [nocloud]=raw.zst
	[openstack]=raw.zst [vmware]=ova [hcloud]=raw.zst [oracle]=qcow2.zst [exoscale]=qcow2.zst
	[scaleway]=raw.zst [vultr]=raw.zst [upcloud]=raw.zst [akamai]=raw.gz [metal]=raw.zst)
ARM64="aws gcp azure hcloud metal nocloud openstack oracle scaleway vmware"
want=() got=() lanes=("" "")
for p in $(printf '%s\n' "${!NAME[@]}" | sort); do
	for a in amd64 arm64; do
		[ $a = amd64 ] || [[ " $ARM64 " == *" $p "* ]] || continue
		want+=("$p-$a.${NAME[$p]}")
		lanes[${#want[@]} % 2]+=" $p:$a"
	done
done
build_lane() { # PROFILE:ARCH...: one build after the other (two lanes run side by side)
	local pa
	for pa; do
		check "imager ${pa%:*} --arch ${pa#*:}" "$IMAGER" "${pa%:*}" --arch "${pa#*:}" -o "$T/p" -q "${K[@]}"
	done
}
in_parallel "build_lane ${lanes[0]}" "build_lane ${lanes[1]}"
got=$(cd "$T/p" && ls | grep -v '\.build\.json$' | sort | tr '\n' ' ')
expect_eq "outputs are named <platform>-<arch>.<format>[.compression]" "$got" \
	"$(printf '%s\n' "${want[@]}" | sort | tr '\n' ' ')"
check "imager profiles: every image profile has a disk format and its real size" sh -c \
	"'$IMAGER' profiles | grep -q '^metal .* raw .zst 3246MiB\$' &&
	 '$IMAGER' profiles | grep -q '^vmware .* ova raw 10192MiB\$'"

# raw_of PROFILE ARCH: the raw image of the same profile (the reference for the readers)
raw_of() {
	printf 'baseProfileName: %s\noutput:\n  outFormat: raw\n  imageOptions:\n    diskFormat: raw\n' \
		"$1" >"$T/raw-$1.yaml"
	"$IMAGER" "$T/raw-$1.yaml" --arch "$2" -o "$T/r" -q "${K[@]}" && echo "$T/r/$1-$2.raw"
}

echo "# $SECONDS s"
# 2. Independent readers, amd64 and arm64.
for a in amd64 arm64; do
	P=$T/p
	r=$(raw_of oracle $a) || not_ok "$a: raw oracle image"
	zstd -dqf "$P/oracle-$a.qcow2.zst" -o "$T/oracle-$a.qcow2"
	check "$a: oracle qcow2 (8 KiB clusters): qemu-img check clean" qemu-img check -q "$T/oracle-$a.qcow2"
	check "$a: oracle qcow2 = raw (qemu-img compare)" qemu-img compare -q -f raw -F qcow2 "$r" "$T/oracle-$a.qcow2"
	expect_eq "$a: oracle qcow2 has 8 KiB clusters" \
		"$(qemu-img info --output=json "$T/oracle-$a.qcow2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster-size"])')" 8192
	r=$(raw_of azure $a) || not_ok "$a: raw azure image"
	zstd -dqf "$P/azure-$a.vhd.zst" -o "$T/azure-$a.vhd"
	check "$a: azure fixed VHD = raw (qemu-img compare -F vpc)" qemu-img compare -q -f raw -F vpc "$r" "$T/azure-$a.vhd"
	check "$a: azure VHD: conectix footer, fixed, whole MiB + 512" python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
f = b[-512:]
ok = f[:8] == b"conectix" and int.from_bytes(f[60:64], "big") == 2
ok = ok and (len(b) - 512) % (1 << 20) == 0 and int.from_bytes(f[48:56], "big") == len(b) - 512
s = sum(f[:64]) + sum(f[68:])
ok = ok and (~s & 0xffffffff) == int.from_bytes(f[64:68], "big")
sys.exit(0 if ok else 1)' "$T/azure-$a.vhd"
	rm -f "$T/azure-$a.vhd" "$T/oracle-$a.qcow2"
	r=$(raw_of vmware $a) || not_ok "$a: raw vmware image"
	d=$T/ova-$a
	mkdir -p "$d" && tar -xf "$P/vmware-$a.ova" -C "$d"
	expect_eq "$a: OVA members: .ovf, .vmdk, .mf in that order" "$(tar -tf "$P/vmware-$a.ova" | tr '\n' ' ')" \
		"vmware-$a.ovf vmware-$a.vmdk vmware-$a.mf "
	check "$a: OVA .mf SHA256 lines match the members" sh -c "cd '$d' && [ \$(wc -l < vmware-$a.mf) = 2 ] &&
		sed 's/^SHA256(\(.*\))= \(.*\)\$/\2  \1/' vmware-$a.mf | sha256sum -c --status"
	check "$a: OVA .ovf is well-formed XML (xmllint)" xmllint --noout "$d/vmware-$a.ovf"
	check "$a: OVA .ovf names the vmdk's size and the disk's capacity" sh -c \
		"grep -q 'ovf:size=\"'\$(stat -c %s '$d/vmware-$a.vmdk')'\"' '$d/vmware-$a.ovf' &&
		 grep -q 'ovf:capacity=\"'\$(stat -c %s '$r')'\"' '$d/vmware-$a.ovf'"
	check "$a: VMDK stream-optimized: qemu-img check clean" qemu-img check -q "$d/vmware-$a.vmdk"
	check "$a: VMDK = raw (qemu-img compare)" qemu-img compare -q -f raw -F vmdk "$r" "$d/vmware-$a.vmdk"
	rm -rf "$d"
	r=$(raw_of gcp $a) || not_ok "$a: raw gcp image"
	expect_eq "$a: GCP tarball lists exactly disk.raw" \
		"$(tar -tzf "$P/gcp-$a.raw.tar.gz" | tr '\n' ' ')" "disk.raw "
	check "$a: GCP tarball is GNU tar (an old-GNU sparse member)" python3 -c '
import gzip, sys
h = gzip.open(sys.argv[1]).read(512)
sys.exit(0 if h[257:265] == b"ustar  \0" and h[156:157] == b"S" else 1)' "$P/gcp-$a.raw.tar.gz"
	mkdir -p "$T/gx" && tar -xSzf "$P/gcp-$a.raw.tar.gz" -C "$T/gx"
	check "$a: GCP disk.raw = raw" same_sparse "$T/gx/disk.raw" "$r"
	check "$a: GCP tar -tvzf lists disk.raw with the raw image's size" sh -c \
		"tar -tvzf '$P/gcp-$a.raw.tar.gz' | grep -q \" \$(stat -c %s '$r') .* disk.raw\$\""
	rm -rf "$T/gx" "$T/r"
done
# vhd-dynamic: the dynamic subformat (diskFormat vhd-dynamic)
printf 'baseProfileName: azure\noutput:\n  outFormat: raw\n  imageOptions:\n    diskFormat: vhd-dynamic\n' >"$T/dyn.yaml"
r=$(raw_of azure amd64)
check "imager azure with diskFormat vhd-dynamic" "$IMAGER" "$T/dyn.yaml" -o "$T/dyn" -q "${K[@]}"
check "dynamic VHD = raw (qemu-img compare -F vpc)" qemu-img compare -q -f raw -F vpc "$r" "$T/dyn/azure-amd64.vhd"
check "dynamic VHD is sparse as a file" test "$(stat -c %s "$T/dyn/azure-amd64.vhd")" -lt $((200 << 20))
rm -rf "$T/r"

echo "# $SECONDS s"
# 3. Boots: a 64 KiB-cluster qcow2 directly under SeaBIOS and OVMF; the fixed VHD (format=vpc).
printf 'baseProfileName: nocloud\noutput:\n  outFormat: raw\n  imageOptions:\n    diskFormat: qcow2\n' >"$T/q.yaml"
printf 'baseProfileName: azure\noutput:\n  outFormat: raw\n' >"$T/v.yaml"
check "imager nocloud as qcow2 (64 KiB clusters)" "$IMAGER" "$T/q.yaml" -o "$T/b" -q "${K[@]}"
check "imager azure as an uncompressed VHD" "$IMAGER" "$T/v.yaml" -o "$T/b" -q "${K[@]}"
Q=$T/b/nocloud-amd64.qcow2 V=$T/b/azure-amd64.vhd
check "nocloud qcow2: qemu-img check clean" qemu-img check -q "$Q"
qemu_run "$T/qbios.log" 150 qemu-system-x86_64 -M pc -m 1024 -net none -drive file="$Q",format=qcow2,snapshot=on &
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$T/qv.fd"
qemu_run "$T/quefi.log" 150 qemu-system-x86_64 -M q35 -m 1024 -net none \
	-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
	-drive if=pflash,format=raw,unit=1,file="$T/qv.fd" -drive file="$Q",format=qcow2,if=virtio,snapshot=on &
wait
qemu_run "$T/vbios.log" 150 qemu-system-x86_64 -M pc -m 1024 -net none -drive file="$V",format=vpc,snapshot=on
for l in qbios quefi vbios; do
	expect_booted "$l" "boots to the init report" "$T/$l.log" A
done
expect_eq "quefi: booted with EFI" "$(report "$T/quefi.log" efi)" 1
expect_eq "qbios: booted without EFI" "$(report "$T/qbios.log" efi)" 0

echo "# $SECONDS s"
# 5. Byte-identical twice, every format (compressed forms of the first round included).
for p in oracle azure vmware gcp akamai; do
	check "$p amd64: two builds are byte-identical" sh -c "'$IMAGER' $p -o '$T/p2' -q ${K[*]} &&
		cmp '$T/p/$p-amd64.${NAME[$p]}' '$T/p2/$p-amd64.${NAME[$p]}'"
done
"$IMAGER" "$T/q.yaml" -o "$T/b2" -q "${K[@]}" && "$IMAGER" "$T/v.yaml" -o "$T/b2" -q "${K[@]}" &&
	"$IMAGER" "$T/dyn.yaml" -o "$T/b2d" -q "${K[@]}"
check "qcow2: two builds are byte-identical" cmp "$Q" "$T/b2/nocloud-amd64.qcow2"
check "fixed VHD (uncompressed): two builds are byte-identical" same_sparse "$V" "$T/b2/azure-amd64.vhd"
check "dynamic VHD: two builds are byte-identical" cmp "$T/dyn/azure-amd64.vhd" "$T/b2d/azure-amd64.vhd"
rm -rf "$T/p" "$T/p2" "$T/b" "$T/b2" "$T/b2d" "$T/dyn"

echo "# $SECONDS s"
# 4. Cost independent of the disk size: raw .zst, qcow2 and VHD (.zst), 2 GiB and 100 GiB,
# best of 5 wall-clock runs each (monotonic), the 100 GiB one at most 1.2x; the outputs do
# not grow beyond format metadata: qcow2 not at all (one L1 cluster holds both tables),
# zstd by its block headers (RFC 8878 §3.1.1.2: a block holds at most 128 KiB, 4 bytes
# for a block of zeros), nothing else.
build_ms() { # YAML OUTDIR
	python3 -c 'import subprocess, sys, time
t = time.monotonic()
r = subprocess.run(["timeout", "120"] + sys.argv[1:])
print(int((time.monotonic() - t) * 1000))
sys.exit(r.returncode)' "$IMAGER" "$1" -o "$2" -q
}
for f in raw.zst qcow2 vhd.zst; do
	case $f in
	raw.zst) base=nocloud fmt=raw out=.zst ;;
	qcow2) base=nocloud fmt=qcow2 out=raw ;;
	vhd.zst) base=azure fmt=vhd out=.zst ;;
	esac
	for s in 2 100; do
		printf 'baseProfileName: %s\noutput:\n  outFormat: %s\n  imageOptions:\n    diskSize: %sGiB\n    diskFormat: %s\n' \
			$base $out $s $fmt >"$T/c$s.yaml"
	done
	best2=0 best100=0 okb=1
	for i in 1 2 3 4 5; do
		t2=$(build_ms "$T/c2.yaml" "$T/c2") || okb=0
		t100=$(build_ms "$T/c100.yaml" "$T/c100") || okb=0
		[ $best2 -eq 0 ] || [ "$t2" -lt $best2 ] && best2=$t2
		[ $best100 -eq 0 ] || [ "$t100" -lt $best100 ] && best100=$t100
	done
	o2=$T/c2/$base-amd64.$f o100=$T/c100/$base-amd64.$f
	if [ $okb = 1 ] && [ -e "$o2" ] && [ -e "$o100" ]; then
		# A disk written or read byte by byte would take tens of seconds more; on a
		# machine busy with other work the sub-second timings jitter by tens of ms, so
		# a difference under 100 ms also passes (it says so).
		if [ $((best100 * 10)) -le $((best2 * 12)) ]; then
			ok "$f: 100 GiB diskSize in at most 1.2x the time of 2 GiB (${best100} ms vs ${best2} ms)"
		elif [ $((best100 - best2)) -le 100 ]; then
			ok "$f: 100 GiB diskSize within 100 ms of 2 GiB on a loaded machine (${best100} ms vs ${best2} ms)"
		else
			not_ok "$f: 100 GiB diskSize in at most 1.2x the time of 2 GiB" "best of 5: ${best100} ms vs ${best2} ms"
		fi
		s2=$(stat -c %s "$o2") s100=$(stat -c %s "$o100")
		case $f in
		qcow2) expect_eq "qcow2: 100 GiB and 2 GiB images have the same size" "$s100" "$s2" ;;
		*) extra=$(( (98 << 30) / (128 << 10) * 4 + 4096 ))
			check "$f: the 100 GiB output is larger by at most the zstd block headers ($((s100 - s2)) <= $extra bytes)" \
				test $((s100 - s2)) -le $extra ;;
		esac
	else
		not_ok "$f: 2 GiB and 100 GiB builds" "times: ${t2:-?} ms, ${t100:-?} ms"
	fi
	rm -rf "$T/c2" "$T/c100"
done

echo "# $SECONDS s"
# 6. Bad inputs: exit code, one line, nothing left.
mkdir -p "$T/bad"
bad() { # NAME YAML CODE REGEX
	printf "$2" >"$T/bad.yaml"
	expect_fail "$1" "$3" "$4" "$T/bad/*" "$IMAGER" "$T/bad.yaml" -o "$T/bad" -q
}
bad "unknown diskFormat" 'baseProfileName: metal\noutput:\n  imageOptions:\n    diskFormat: vdi\n' 2 \
	'diskFormat: invalid value "vdi" \(allowed: raw, qcow2, vhd, ova, vhd-dynamic\)'
bad "diskSize not a multiple of the sector size" 'baseProfileName: oracle\noutput:\n  imageOptions:\n    diskSize: 1000001\n' 2 \
	'diskSize 1000001 is not a multiple of the sector size 512'
bad "diskSize too small for the partitions" 'baseProfileName: vmware\noutput:\n  imageOptions:\n    diskSize: 10MiB\n    bootloader: sd-boot\n' 2 \
	'vmware-amd64.ova: disk of 10485760 bytes is smaller than the sd-boot layout'
bad "VHD larger than 2040 GiB" 'baseProfileName: azure\noutput:\n  imageOptions:\n    diskSize: 2040GiB\n' 2 \
	'azure-amd64.vhd.zst: 2090960 MiB is larger than a VHD can hold \(at most 2040 GiB\)'
bad "unknown qcow2 option" 'baseProfileName: oracle\noutput:\n  imageOptions:\n    diskFormatOptions: cluster_size=3k\n' 2 \
	'cluster_size "3k": expected a power of two from 512 to 2M'
bad ".tar.gz of a qcow2" 'baseProfileName: gcp\noutput:\n  imageOptions:\n    diskFormat: qcow2\n' 2 \
	'outFormat .tar.gz holds a raw disk \(disk.raw\), not diskFormat qcow2'
echo "# $SECONDS s"
