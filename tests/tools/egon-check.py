#!/usr/bin/env python3
"""egon-check.py FILE [OFFSET]: validate an Allwinner eGON.BT0 boot header (the SPL the
boot ROM loads from byte 8192 of an SD card) found at OFFSET of FILE (default 0).

OFFSET: bytes (decimal or 0x hex), or with a suffix: 8K / 8KiB, 1M / 1MiB, 16s (sectors
of 512 bytes). Checks what the boot ROM checks, per the linux-sunxi description of eGON:
  0x00  branch instruction over the header (ARM `b`, or RISC-V `jal` on D1-type SoCs)
  0x04  magic "eGON.BT0"
  0x0c  checksum: the 32-bit little-endian sum of all words of the first `length` bytes,
        computed with this field replaced by the stamp 0x5F0A6C39
  0x10  length: multiple of 512 (SD/eMMC; NAND wants 8 KiB), covered by the file
U-Boot's own fields are reported when present: "SPL" + version at 0x14, the default
device tree name at the offset stored at 0x20.
Prints one line; exits 0 when valid, 1 when not (or unreadable), 2 on bad usage.
"""
import struct
import sys

import blobcheck

MAGIC = b"eGON.BT0"
STAMP = 0x5F0A6C39


def check(data, avail):
    """Return (ok, message) for header bytes `data` (as many as the header claims, or
    what the file holds) of which `avail` bytes exist from the offset on."""
    if len(data) < 32:
        return False, "only %d bytes at the offset, an eGON header needs 32" % len(data)
    branch, magic, stored, length = struct.unpack_from("<I8sII", data, 0)
    if magic != MAGIC:
        if magic == b"eGON.BT1":
            return False, "magic eGON.BT1 (a boot1 image), the boot ROM wants eGON.BT0"
        return False, "no eGON.BT0 magic at +4 (found %r)" % magic
    arm_b = (branch >> 24) == 0xEA
    riscv_jal = (branch & 0x7F) == 0x6F
    if not (arm_b or riscv_jal):
        return False, "first word 0x%08x is not a branch over the header" % branch
    if length < 32 or length % 512:
        return False, "length %d is not a non-zero multiple of 512" % length
    if length > avail:
        return False, "length %d runs past the end of the file (%d bytes from the offset)" % (length, avail)
    words = struct.unpack_from("<%dI" % (length // 4), data, 0)
    total = (sum(words) - stored + STAMP) & 0xFFFFFFFF
    if total != stored:
        return False, "checksum 0x%08x stored, 0x%08x computed (length %d)" % (stored, total, length)
    extra = ""
    if data[0x14:0x17] == b"SPL":
        extra = " spl=v%d" % data[0x17]
        dt_off = struct.unpack_from("<I", data, 0x20)[0]
        if data[0x17] >= 2 and 0x20 < dt_off < length:
            name = data[dt_off:dt_off + 64].split(b"\0", 1)[0]
            if name and all(32 < c < 127 for c in name):
                extra += " dt=" + name.decode()
    return True, "eGON.BT0 length=%d checksum=0x%08x%s" % (length, stored, extra)


def check_file(f, offset, avail):
    f.seek(offset)
    head = f.read(32)
    length = struct.unpack_from("<I", head, 16)[0] if len(head) >= 32 else 0
    # read what the header claims (bounded: eGON images are tens of KiB)
    f.seek(offset)
    return check(f.read(min(avail, max(32, min(length, 1 << 20)))), avail)


def main(argv):
    return blobcheck.run(argv, "egon-check", check_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
