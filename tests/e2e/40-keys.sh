#!/usr/bin/env bash
# imager keys: the files, their modes and contents as openssl sees them, the refusal to
# overwrite, and the .auth files parsed here by hand (EFI_VARIABLE_AUTHENTICATION_2 + ESL)
# with their PKCS#7 verified by openssl against the parent certificate.
. "$(dirname "$0")/lib.sh"

if ! "$IMAGER" keys --help >/dev/null 2>&1; then
	skip "imager keys" "the keys verb is not wired into $IMAGER"
	exit 0
fi

K=$T/keys
export SOURCE_DATE_EPOCH=1700000000 # 2023-11-14 22:13:20 UTC
check "keys: generate" "$IMAGER" keys --output "$K" --common-name "E2E Test"

files="uki-signing-key.pem uki-signing-cert.pem uki-signing-cert.der pcr-signing-key.pem
pk-signing-key.pem pk-signing-cert.pem kek-signing-key.pem kek-signing-cert.pem
PK.auth KEK.auth db.auth"
modes=""
for f in $files; do modes+="$f=$(stat -c %a "$K/$f" 2>/dev/null) "; done
expect_eq "keys: files and modes (keys 0600)" "$modes" \
	"uki-signing-key.pem=600 uki-signing-cert.pem=644 uki-signing-cert.der=644 pcr-signing-key.pem=600 pk-signing-key.pem=600 pk-signing-cert.pem=644 kek-signing-key.pem=600 kek-signing-cert.pem=644 PK.auth=644 KEK.auth=644 db.auth=644 "

subj() { openssl x509 -noout -subject -nameopt RFC2253 -in "$K/$1" 2>&1; }
expect_eq "keys: UKI certificate CN" "$(subj uki-signing-cert.pem)" "subject=CN=E2E Test"
expect_eq "keys: PK certificate CN" "$(subj pk-signing-cert.pem)" "subject=CN=E2E Test PK"
expect_eq "keys: KEK certificate CN" "$(subj kek-signing-cert.pem)" "subject=CN=E2E Test KEK"
bits() { openssl pkey -in "$K/$1" -noout -text 2>&1 | sed -n '1s/.*(\([0-9]*\) bit.*/\1/p'; }
expect_eq "keys: key sizes (uki pcr pk kek)" \
	"$(bits uki-signing-key.pem) $(bits pcr-signing-key.pem) $(bits pk-signing-key.pem) $(bits kek-signing-key.pem)" \
	"4096 2048 2048 2048"
check "keys: UKI key matches certificate" bash -c "
	[ \"\$(openssl pkey -in '$K/uki-signing-key.pem' -pubout)\" = \
	  \"\$(openssl x509 -in '$K/uki-signing-cert.pem' -noout -pubkey)\" ]"
check "keys: DER certificate = PEM certificate" bash -c \
	"cmp <(openssl x509 -in '$K/uki-signing-cert.pem' -outform DER) '$K/uki-signing-cert.der'"
expect_eq "keys: certificate starts at SOURCE_DATE_EPOCH" \
	"$(openssl x509 -noout -startdate -enddate -in "$K/uki-signing-cert.pem")" \
	"notBefore=Nov 14 22:13:20 2023 GMT
notAfter=Dec 31 23:59:59 9999 GMT"

# --- refusal -----------------------------------------------------------------------------
sums=$(cd "$K" && sha256sum $files)
expect_fail "keys: refuses to overwrite without --force" 2 \
	"^imager: $K/uki-signing-key.pem: already exists; pass --force to overwrite it$" "" \
	"$IMAGER" keys --output "$K"
expect_eq "keys: refusal changed nothing" "$(cd "$K" && sha256sum $files)" "$sums"
expect_fail "keys: --output is required" 2 "^imager: keys: --output DIR is required" "" \
	"$IMAGER" keys

# --- .auth files -------------------------------------------------------------------------
u32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
hexbytes() { od -An -t x1 -v "$@" | tr -d ' \n'; }
# bytes HEX: write raw bytes
bytes() { local h=$1 i; for ((i = 0; i < ${#h}; i += 2)); do printf "\\x${h:i:2}"; done; }
der_len() { # DER length octets for N (N < 65536)
	if [ "$1" -lt 128 ]; then printf '%02x' "$1"
	elif [ "$1" -lt 256 ]; then printf '81%02x' "$1"
	else printf '82%04x' "$1"; fi
}
GLOBAL=61dfe48bca93d211aa0d00e098032b8c # EFI_GLOBAL_VARIABLE, stored form
SECDB=cbb219d73a3d9645a3bcdad00e67656f  # EFI_IMAGE_SECURITY_DATABASE_GUID
X509=a159c0a5e494a74a87b5ab155c2bf072   # EFI_CERT_X509_GUID
PKCS7=9dd2af4adf68ee498aa9347d375665a7  # EFI_CERT_TYPE_PKCS7_GUID

# auth_check NAME VAR VENDOR CERT PARENT
auth_check() {
	local f=$K/$1 var=$2 vendor=$3 cert=$K/$4 parent=$K/$5 d=$T/auth.$2 dw sdl esl n16 i
	mkdir -p "$d"
	dw=$(u32 "$f" 16)
	# EFI_TIME of SOURCE_DATE_EPOCH, then WIN_CERTIFICATE_UEFI_GUID {dwLength, 0x0200, 0x0EF1,
	# EFI_CERT_TYPE_PKCS7_GUID}
	expect_eq "$1: EFI_TIME + header" "$(hexbytes -N 16 "$f") $(hexbytes -j 20 -N 20 "$f")" \
		"e7070b0e160d14000000000000000000 0002f10e$PKCS7"
	# ESL after the signature: one X.509 entry whose data is the certificate
	esl=$((16 + dw))
	tail -c +$((esl + 1)) "$f" >"$d/esl"
	openssl x509 -in "$cert" -outform DER >"$d/cert.der"
	n16=$(($(stat -c %s "$d/cert.der") + 16))
	expect_eq "$1: EFI_SIGNATURE_LIST header" \
		"$(hexbytes -N 16 "$d/esl") $(u32 "$d/esl" 16) $(u32 "$d/esl" 20) $(u32 "$d/esl" 24)" \
		"$X509 $((n16 + 28)) 0 $n16"
	check "$1: ESL holds $4" cmp <(tail -c +45 "$d/esl") "$d/cert.der"
	# payload = VariableName (UTF-16LE) ‖ VendorGuid ‖ Attributes ‖ TimeStamp ‖ ESL
	{
		for ((i = 0; i < ${#var}; i++)); do printf '%s\0' "${var:i:1}"; done
		bytes "$vendor"
		bytes 27000000
		head -c 16 "$f"
		cat "$d/esl"
	} >"$d/payload"
	# CertData is a bare SignedData: wrap it in a ContentInfo for openssl
	sdl=$((dw - 24))
	local oid=06092a864886f70d010702 a0 inner
	a0="a0$(der_len "$sdl")"
	inner=$((11 + ${#a0} / 2 + sdl))
	{
		bytes "30$(der_len "$inner")$oid$a0"
		head -c $((40 + sdl)) "$f" | tail -c "$sdl"
	} >"$d/p7.der"
	check "$1: PKCS#7 verifies against $5" openssl cms -verify -binary -inform DER \
		-in "$d/p7.der" -content "$d/payload" -CAfile "$parent" -purpose any -out /dev/null
	expect_eq "$1: no signed attributes (no signingTime)" "$(openssl cms -cmsout -print \
		-inform DER -in "$d/p7.der" | grep -A1 '^ *signedAttrs:' | tr -d ' \n')" \
		"signedAttrs:<ABSENT>"
}
auth_check PK.auth PK "$GLOBAL" pk-signing-cert.pem pk-signing-cert.pem
auth_check KEK.auth KEK "$GLOBAL" kek-signing-cert.pem pk-signing-cert.pem
auth_check db.auth db "$SECDB" uki-signing-cert.pem kek-signing-cert.pem
check "db.auth does not verify against the PK (it is KEK-signed)" bash -c \
	"! openssl cms -verify -binary -inform DER -in '$T/auth.db/p7.der' \
	   -content '$T/auth.db/payload' -CAfile '$K/pk-signing-cert.pem' -purpose any \
	   -out /dev/null 2>/dev/null"

# --- --force -----------------------------------------------------------------------------
check "keys: --force regenerates" "$IMAGER" keys --output "$K" --force
check "keys: --force made a new UKI key" bash -c \
	"[ \"\$(cd '$K' && sha256sum uki-signing-key.pem)\" != \"$(echo "$sums" | grep uki-signing-key.pem)\" ]"

# --- the certificate signs UKIs: sbsign + sbverify -----------------------------------------
efi=$INSTALL/amd64/systemd-boot.efi
if command -v sbsign >/dev/null && [ -f "$efi" ]; then
	check "keys: sbsign + sbverify with the UKI key" bash -c "
		sbsign --key '$K/uki-signing-key.pem' --cert '$K/uki-signing-cert.pem' \
			--output '$T/signed.efi' '$efi' &&
		sbverify --cert '$K/uki-signing-cert.pem' '$T/signed.efi'"
else
	skip "keys: sbsign + sbverify with the UKI key" "needs sbsigntool and $efi (make payload)"
fi
