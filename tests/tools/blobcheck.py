"""What egon-check.py and rkidb-check.py share: the OFFSET syntax and the command line
(FILE [OFFSET] -> one line "<prog>: ok|FAIL FILE@OFFSET: message", exit 0/1, 2 on bad
usage)."""
import sys


def parse_offset(text):
    """Bytes (decimal or 0x hex), or with a suffix: 8K / 8KiB, 1M / 1MiB, 16s (sectors of
    512 bytes)."""
    t = text.strip()
    units = (("KiB", 1024), ("MiB", 1 << 20), ("K", 1024), ("k", 1024), ("M", 1 << 20), ("s", 512))
    for suffix, mult in units:
        if t.endswith(suffix):
            return int(t[: -len(suffix)], 0) * mult
    return int(t, 0)


def run(argv, prog, check_file):
    """check_file(f, offset, avail) -> (ok, message): f open for reading, avail bytes
    from offset to the end of the file."""
    if len(argv) not in (2, 3) or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: %s.py FILE [OFFSET]\n" % prog)
        return 2
    path = argv[1]
    try:
        offset = parse_offset(argv[2]) if len(argv) == 3 else 0
    except ValueError:
        sys.stderr.write("%s.py: bad offset %r\n" % (prog, argv[2]))
        return 2
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            ok, msg = check_file(f, offset, max(0, f.tell() - offset))
    except OSError as e:
        ok, msg = False, e.strerror or str(e)
    print("%s: %s %s@%d: %s" % (prog, "ok" if ok else "FAIL", path, offset, msg))
    return 0 if ok else 1
