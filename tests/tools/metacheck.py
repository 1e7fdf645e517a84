#!/usr/bin/env python3
"""An independent reader of META partitions (Talos "ADV"), written from DESIGN.md §7 only
(stdlib, so the tests do not judge our META code by our own decoder).

  metacheck.py IMG [OFFSET]   prints "0xK=VALUE" per record of the first valid copy, in
                              the order stored; exit 1 when neither copy checks out, or a
                              copy's records are not in ascending tag order.

A copy is 256 KiB (copies at 0 and 256 KiB of the 1 MiB partition): BE u32 magic
0x5a4b3c2d, records {BE u32 tag, BE u32 len, bytes} ending at tag 0, zero fill, the SHA-256
of the whole copy (with the hash field zeroed) at len-36, BE u32 0xa5b4c3d2 at len-4.
"""
import hashlib
import struct
import sys

COPY = 256 * 1024
MAGIC, MAGIC_END = 0x5A4B3C2D, 0xA5B4C3D2


def parse(c):
    if struct.unpack_from(">I", c, 0)[0] != MAGIC or struct.unpack_from(">I", c, COPY - 4)[0] != MAGIC_END:
        return None
    z = bytearray(c)
    z[COPY - 36 : COPY - 4] = bytes(32)
    if hashlib.sha256(z).digest() != c[COPY - 36 : COPY - 4]:
        return None
    out, at, last = [], 4, 0
    while at + 8 <= COPY - 36:
        tag, n = struct.unpack_from(">II", c, at)
        if tag == 0:
            return out
        if tag <= last or at + 8 + n > COPY - 36:
            return None
        out.append((tag, c[at + 8 : at + 8 + n]))
        last, at = tag, at + 8 + n
    return None


def main():
    off = int(sys.argv[2], 0) if len(sys.argv) > 2 else 0
    with open(sys.argv[1], "rb") as f:
        f.seek(off)
        data = f.read(2 * COPY)
    for i in range(2):
        recs = parse(data[i * COPY : (i + 1) * COPY]) if len(data) >= (i + 1) * COPY else None
        if recs is not None:
            for tag, v in recs:
                print(f"0x{tag:x}={v.decode('utf-8', 'backslashreplace')}")
            return 0
    print("metacheck.py: no valid META copy", file=sys.stderr)
    return 1


sys.exit(main())
