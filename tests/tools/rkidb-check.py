#!/usr/bin/env python3
"""rkidb-check.py FILE [OFFSET]: validate a Rockchip boot-ROM "idbloader" header at
OFFSET of FILE (default 0; on an SD card the ROM reads it at sector 64 = 32 KiB).

OFFSET: bytes (decimal or 0x hex), or 32K / 32KiB, 1M / 1MiB, 64s (512-byte sectors).

Two formats (as written by U-Boot's mkimage -T rksd/rkspi and Rockchip's tools):
 v1 (rk3036 ... rk3399, px30, rk3308, rv1126; what Debian's idbloader.img holds): a
    512-byte header block scrambled with RC4 under the well-known Rockchip key. After
    unscrambling: LE u32 magic 0x0FF0AA55 at 0, u32 "disable RC4" flag at 8 (1: the
    payload is plain, 0: every 512-byte block of it is RC4-scrambled too), u16 init
    offset at 12, u16 init size at 506 and u16 init+boot size at 508 (all in 512-byte
    blocks, relative to the header). The init stage (TPL, or SPL alone) starts with the
    4-byte SoC tag (RK30, RK31, RK32, RK33, RK11, 110B ...), the boot stage (SPL, run by
    the ROM after the TPL returns to it) follows. v1 carries no checksum.
 v2 (rk3528, rk3568, rk3576, rk3588): a plain 2048-byte header, magic "RKNS" at 0, u32 at
    8 = (image count << 16) | offset of the header hash in 4-byte words, u32 at 12 low
    nibble = hash type (0 none, 1 SHA-256, 2 SHA-512), up to 4 image entries of 88 bytes
    from byte 120 (u32 (sectors << 16) | sector offset, address, flag, counter, 8
    reserved, 64-byte hash); the header hash covers the bytes before it.
Checks: magic, sizes and offsets inside the file, the SoC tag (v1), the hashes (v2).
Prints one line; exits 0 when valid, 1 when not (or unreadable), 2 on bad usage.
"""
import hashlib
import struct
import sys

import blobcheck

BLK = 512
V1_MAGIC = 0x0FF0AA55
V2_MAGIC = b"RKNS"
RC4_KEY = bytes((124, 78, 3, 4, 85, 5, 9, 7, 45, 44, 123, 56, 23, 13, 23, 17))
# SoC tags the boot ROMs expect at the start of the init stage (v1)
SOC_TAGS = {b"RK30": "rk3036/rk3066", b"RK31": "rk3128/rk3188", b"RK32": "rk322x/rk3288/rk3328",
            b"RK33": "rk3308/rk3368/rk3399/px30", b"RK11": "rv1108", b"110B": "rv1126",
            b"RK35": "rk35xx"}


def rc4(data, key=RC4_KEY):
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) & 0xFF
        s[i], s[j] = s[j], s[i]
    out = bytearray(len(data))
    i = j = 0
    for n, byte in enumerate(data):
        i = (i + 1) & 0xFF
        j = (j + s[i]) & 0xFF
        s[i], s[j] = s[j], s[i]
        out[n] = byte ^ s[(s[i] + s[j]) & 0xFF]
    return bytes(out)


def check_v1(f, offset, avail):
    f.seek(offset)
    hdr = rc4(f.read(BLK))
    magic, plain, init_off = struct.unpack_from("<I4xIH", hdr, 0)
    init_size, init_boot = struct.unpack_from("<HH", hdr, 506)
    if magic != V1_MAGIC:
        return False, "no Rockchip header: magic 0x%08x after RC4, want 0x%08x (nor RKNS)" % (magic, V1_MAGIC)
    if plain not in (0, 1):
        return False, "RC4 flag %d is neither 0 nor 1" % plain
    if init_off < 1 or init_size == 0:
        return False, "init offset %d / init size %d blocks are not usable" % (init_off, init_size)
    if init_boot < init_size:
        return False, "init+boot size %d < init size %d blocks" % (init_boot, init_size)
    # init_boot may be a placeholder maximum when there is no boot stage; what must be in
    # the file is at least the init stage
    end_init = (init_off + init_size) * BLK
    if end_init > avail:
        return False, "init stage ends at %d, past the end of the file (%d bytes from the offset)" % (end_init, avail)
    f.seek(offset + init_off * BLK)
    first = f.read(BLK)
    if not plain:
        first = rc4(first)
    tag = first[:4]
    if tag not in SOC_TAGS:
        if tag == b"RSAK":
            tag_desc = "RSAK (signed)"
        else:
            return False, "init stage does not start with a SoC tag (found %r)" % tag
    else:
        tag_desc = "%s (%s)" % (tag.decode(), SOC_TAGS[tag])
    boot_size = init_boot - init_size
    end_all = (init_off + init_boot) * BLK
    boot = "boot=%d" % (boot_size * BLK)
    if boot_size:
        if end_all > avail:
            return False, "boot stage ends at %d, past the end of the file (%d bytes from the offset)" % (end_all, avail)
        f.seek(offset + (init_off + init_size) * BLK)
        b = f.read(BLK)
        if b.count(0) == len(b) or b.count(0xFF) == len(b):
            return False, "boot stage at block %d is blank" % (init_off + init_size)
    return True, "rksd v1 tag=%s rc4=%s init=@%d+%d %s" % (
        tag_desc, "no" if plain else "yes", init_off * BLK, init_size * BLK, boot)


def check_v2(f, offset, avail):
    f.seek(offset)
    hdr = f.read(2048)
    if len(hdr) < 2048:
        return False, "RKNS header truncated (%d of 2048 bytes)" % len(hdr)
    size_nimg, flag = struct.unpack_from("<II", hdr, 8)
    nimg, hash_words = size_nimg >> 16, size_nimg & 0xFFFF
    htype = flag & 0xF
    algo = {0: None, 1: "sha256", 2: "sha512"}.get(htype, "bad")
    if algo == "bad":
        return False, "RKNS hash type %d unknown" % htype
    if not 1 <= nimg <= 4:
        return False, "RKNS image count %d not in 1..4" % nimg
    hash_at = hash_words * 4
    if not 120 + 88 * nimg <= hash_at <= 2048 - 64:
        return False, "RKNS header hash offset %d out of range" % hash_at
    if algo:
        want = hashlib.new(algo, hdr[:hash_at]).digest()
        if hdr[hash_at:hash_at + len(want)] != want:
            return False, "RKNS header %s mismatch" % algo
    parts = []
    for i in range(nimg):
        size_off, = struct.unpack_from("<I", hdr, 120 + 88 * i)
        sectors, sec_off = size_off >> 16, size_off & 0xFFFF
        if sectors == 0 or sec_off < 4:
            return False, "RKNS image %d: %d sectors at sector %d" % (i, sectors, sec_off)
        end = (sec_off + sectors) * BLK
        if end > avail:
            return False, "RKNS image %d ends at %d, past the end of the file (%d bytes)" % (i, end, avail)
        if algo:
            f.seek(offset + sec_off * BLK)
            got = hashlib.new(algo, f.read(sectors * BLK)).digest()
            stored = hdr[120 + 88 * i + 24:120 + 88 * i + 24 + len(got)]
            if got != stored:
                return False, "RKNS image %d %s mismatch" % (i, algo)
        parts.append("@%d+%d" % (sec_off * BLK, sectors * BLK))
    return True, "RKNS v2 hash=%s images=%s" % (algo or "none", ",".join(parts))


def check_file(f, offset, avail):
    if avail < BLK:
        return False, "only %d bytes at the offset, a header needs 512" % avail
    f.seek(offset)
    if f.read(4) == V2_MAGIC:
        return check_v2(f, offset, avail)
    return check_v1(f, offset, avail)


def main(argv):
    return blobcheck.run(argv, "rkidb-check", check_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
