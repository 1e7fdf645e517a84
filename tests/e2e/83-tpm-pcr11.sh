#!/usr/bin/env bash
# PCR 11 proven on a TPM (issue 14): two signed UKIs that differ only in one kernel argument
# boot under OVMF with a software TPM 2.0 (swtpm, banks sha1 sha256 sha384 sha512, tpm-crb).
# systemd-stub measures the UKI sections into PCR 11; the reference init runs no
# systemd-pcrphase, so the PCR 11 it reads from sysfs must equal `imager inspect`'s "stub"
# prediction for that UKI, in every bank, and differ from the other UKI's.
. "$(dirname "$0")/lib.sh"

BANKS=(sha1 sha256 sha384 sha512)
export XDG_CONFIG_HOME="$T/xdg" # swtpm_setup's per-user files stay in $T

k="$T/keys"
"$IMAGER" keys --output "$k" >/dev/null
for v in a b; do
	"$IMAGER" secureboot-metal-uki --secureboot-keys "$k" -o "$T/$v" -q \
		--extra-kernel-arg console=ttyS0 --extra-kernel-arg "imager.pcrtest=$v"
done
uki() { echo "$T/$1/metal-amd64-secureboot-uki.efi"; }
check "the UKIs are signed" sh -c "sbverify --cert '$k/uki-signing-cert.pem' '$(uki a)' &&
	sbverify --cert '$k/uki-signing-cert.pem' '$(uki b)'"

# predicted V BANK PHASE: imager inspect's PCR 11 prediction (lower-case hex)
for v in a b; do "$IMAGER" inspect "$(uki $v)" >"$T/$v.inspect"; done
predicted() {
	awk -v b="${2^^}" -v p="$3:" '$1 == b && $2 == p { print $3 }' "$T/$1.inspect"
}
for b in "${BANKS[@]}"; do
	pa=$(predicted a "$b" stub) pb=$(predicted b "$b" stub)
	if [ "${#pa}" -lt 40 ] || [ "$pa" == "$pb" ]; then
		not_ok "$b: inspect predicts PCR 11 after the stub, other cmdline other value" \
			"a: $pa" "b: $pb"
	else
		ok "$b: inspect predicts PCR 11 after the stub, other cmdline other value"
	fi
	expect_eq "$b: the stub value is not the enter-initrd one" \
		"$([ "$pa" != "$(predicted a "$b" enter-initrd)" ] && echo differ)" differ
done

# tpm_boot V: boot UKI V from an ESP under OVMF with its own swtpm (serial log $T/V.log)
tpm_boot() {
	local v=$1 st="$T/tpm-$1" sp
	mkdir -p "$st"
	if ! swtpm_setup --tpm2 --tpmstate "$st" --config /dev/null \
		--pcr-banks "$(IFS=,; echo "${BANKS[*]}")" >"$st.setup" 2>&1; then
		echo "swtpm_setup failed: $(tail -3 "$st.setup")" >"$T/$v.log"
		return 1
	fi
	timeout --kill-after=5 200 swtpm socket --tpm2 --tpmstate dir="$st" \
		--ctrl type=unixio,path="$st.sock" >"$st.log" 2>&1 &
	sp=$!
	for ((i = 0; i < 40; i++)); do [ -S "$st.sock" ] && break; sleep 0.1; done
	esp_with "$(uki "$v")" BOOTX64.EFI "$T/$v.esp"
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$T/$v.vars"
	qemu_run "$T/$v.log" 150 qemu-system-x86_64 -M q35 -m 1024 -net none \
		-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
		-drive if=pflash,format=raw,unit=1,file="$T/$v.vars" \
		-drive file="$T/$v.esp",format=raw,if=virtio \
		-chardev socket,id=chrtpm,path="$st.sock" -tpmdev emulator,id=tpm0,chardev=chrtpm \
		-device tpm-crb,tpmdev=tpm0
	stop_timeout_child "$sp" # swtpm normally ends with QEMU; never outlives the test
}
tpm_boot a &
tpm_boot b &
wait

for v in a b; do
	log="$T/$v.log" o=$([ $v == a ] && echo b || echo a)
	if ! grep -q "IMAGER-REPORT done" "$log"; then
		not_ok "$v: signed UKI boots under OVMF with swtpm" "$(log_tail "$log")"
		continue
	fi
	ok "$v: signed UKI boots under OVMF with swtpm"
	check "$v: the booted cmdline is the UKI's" grep -q "IMAGER-REPORT cmdline=.*imager.pcrtest=$v" "$log"
	expect_eq "$v: the init finds a TPM 2.0" "$(report "$log" tpm)" 2
	for b in "${BANKS[@]}"; do
		got=$(report "$log" "pcr11-$b")
		want=$(predicted "$v" "$b" stub)
		expect_eq "$v: booted PCR 11 $b equals the prediction" "$got" "$want"
		if [ -n "$got" ] && [ "$got" == "$(predicted "$o" "$b" stub)" ]; then
			not_ok "$v: booted PCR 11 $b differs from the other UKI's prediction" "$got"
		else
			ok "$v: booted PCR 11 $b differs from the other UKI's prediction"
		fi
		echo "# $v PCR 11 $b: measured ${got:-none}, predicted $want"
	done
done
