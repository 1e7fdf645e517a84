import io, sys, tarfile
# hostile-tar.py OUT MANIFEST KIND: an extension tar (manifest.yaml + rootfs/) with one
# hostile member of KIND, for tests/e2e/73-bad-inputs.sh
out, manifest, kind = sys.argv[1:4]
def add(t, name, type=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
    m = tarfile.TarInfo(name); m.type = type; m.mode = mode; m.linkname = link
    m.size = len(data) if type == tarfile.REGTYPE else 0
    t.addfile(m, io.BytesIO(data) if type == tarfile.REGTYPE else None)
with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
    add(t, "manifest.yaml", data=open(manifest, "rb").read())
    add(t, "rootfs", tarfile.DIRTYPE, mode=0o755)
    add(t, "rootfs/usr", tarfile.DIRTYPE, mode=0o755)
    add(t, "rootfs/usr/local", tarfile.DIRTYPE, mode=0o755)
    k = kind
    if k == "dotdot": add(t, "rootfs/usr/../../../evil", data=b"x")
    elif k == "abs": add(t, "/etc/evil", data=b"x")
    elif k == "symabs": add(t, "rootfs/usr/local/l", tarfile.SYMTYPE, link="/etc/shadow")
    elif k == "symup": add(t, "rootfs/usr/local/l", tarfile.SYMTYPE, link="../../../../etc/shadow")
    elif k == "hardout": add(t, "rootfs/usr/local/h", tarfile.LNKTYPE, link="../../etc/shadow")
    elif k == "hardabs": add(t, "rootfs/usr/local/h", tarfile.LNKTYPE, link="/etc/shadow")
    elif k == "chr": m = tarfile.TarInfo("rootfs/usr/local/null"); m.type = tarfile.CHRTYPE; m.devmajor=1; m.devminor=3; t.addfile(m)
    elif k == "blk": m = tarfile.TarInfo("rootfs/usr/local/sda"); m.type = tarfile.BLKTYPE; m.devmajor=8; m.devminor=0; t.addfile(m)
    elif k == "fifo": add(t, "rootfs/usr/local/fifo", tarfile.FIFOTYPE)
    elif k == "suid": add(t, "rootfs/usr/local/suid", data=b"#!/bin/sh\n", mode=0o4755)
    elif k == "suidww": add(t, "rootfs/usr/local/suid", data=b"#!/bin/sh\n", mode=0o4777)
    elif k == "sgid": add(t, "rootfs/usr/local/sgid", data=b"#!/bin/sh\n", mode=0o2755)
    elif k == "extra": add(t, "README", data=b"x")
