#!/usr/bin/env python3
"""GPT surgery for the hostile-input tests, written from UEFI 2.10 §5.3 (stdlib only, so
it judges our code independently of libfdisk). 512-byte sectors.

  gptedit.py IMG entry-end N LBA   set partition N's (1-based) EndingLBA in both copies,
                                    with both headers' CRC32s made right again
  gptedit.py IMG corrupt-primary   damage the primary header (its CRC no longer matches)
  gptedit.py IMG check-primary     exit 0 when the primary header and array check out
"""
import struct
import sys
import zlib

SS = 512


def read_hdr(f, lba):
    f.seek(lba * SS)
    return bytearray(f.read(SS))


def hdr_ok(h):
    size = struct.unpack_from("<I", h, 12)[0]
    crc = struct.unpack_from("<I", h, 16)[0]
    z = bytearray(h[:size])
    z[16:20] = b"\0\0\0\0"
    return h[:8] == b"EFI PART" and zlib.crc32(bytes(z)) == crc


def fix_hdr(h, entries):
    struct.pack_into("<I", h, 88, zlib.crc32(bytes(entries)))
    size = struct.unpack_from("<I", h, 12)[0]
    struct.pack_into("<I", h, 16, 0)
    struct.pack_into("<I", h, 16, zlib.crc32(bytes(h[:size])))


def copies(f):
    f.seek(0, 2)
    last = f.tell() // SS - 1
    for lba in (1, last):
        h = read_hdr(f, lba)
        if h[:8] == b"EFI PART":
            yield lba, h


def main():
    img, op = sys.argv[1], sys.argv[2]
    with open(img, "r+b") as f:
        if op == "check-primary":
            h = read_hdr(f, 1)
            n, esz = struct.unpack_from("<II", h, 80)
            f.seek(struct.unpack_from("<Q", h, 72)[0] * SS)
            ok = hdr_ok(h) and zlib.crc32(f.read(n * esz)) == struct.unpack_from("<I", h, 88)[0]
            sys.exit(0 if ok else 1)
        if op == "corrupt-primary":
            h = read_hdr(f, 1)
            h[56] ^= 0xFF  # a byte of the disk GUID: the header CRC no longer matches
            f.seek(SS)
            f.write(h)
            return
        if op == "entry-end":
            part, end = int(sys.argv[3]), int(sys.argv[4])
            for lba, h in copies(f):
                elba, n, esz = struct.unpack_from("<QII", h, 72)
                f.seek(elba * SS)
                entries = bytearray(f.read(n * esz))
                struct.pack_into("<Q", entries, (part - 1) * esz + 40, end)
                f.seek(elba * SS)
                f.write(entries)
                fix_hdr(h, entries)
                f.seek(lba * SS)
                f.write(h)
            return
    sys.exit(f"gptedit.py: unknown operation {op}")


main()
