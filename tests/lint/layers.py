#!/usr/bin/env python3
"""The layers of lib/ (doc/architecture.md), checked: prints TAP lines, exits 1 on a failure.

- the order is read from the "Layers (lowest first):" line of doc/architecture.md;
- no .c file directly in lib/; every lib/<group>/ has include/imager/<group>/ and an
  umbrella header include/imager/<group>.h whose first line says its purpose;
- every `#include "imager/<group>/..."` in lib/, include/ points to its own or a lower layer;
- a private header lib/<group>/x.h is included only from lib/<group>/;
- with OBJDIR (the built objects, OBJDIR/lib/..., OBJDIR/imager/...): no two source files
  call each other (a circle) and no lib/ call goes up a layer, found from the symbols each
  object defines and references (nm).
"""
import os
import re
import subprocess
import sys

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.chdir(SRC)
results = []


def check(desc, problems):
    results.append(not problems)
    if problems:
        print(f"not ok - {desc}")
        for p in problems[:20]:
            print(f"#   {p}")
    else:
        print(f"ok - {desc}")


def layers():
    with open("doc/architecture.md", encoding="utf-8") as f:
        for line in f:
            m = re.search(r"Layers \(lowest first\):\s*(.*)", line)
            if m:
                return [g.strip(" `") for g in m.group(1).split("<")]
    return []


order = layers()
check("doc/architecture.md states the layer order", [] if order else ["no 'Layers (lowest first):' line"])
rank = {g: i for i, g in enumerate(order)}

flat = sorted(f for f in os.listdir("lib") if f.endswith(".c"))
check("no .c file directly in lib/", [f"lib/{f}" for f in flat])

groups = sorted(d for d in os.listdir("lib") if os.path.isdir(f"lib/{d}"))
bad = []
for g in groups:
    if g not in rank:
        bad.append(f"lib/{g}/ is not in the stated order")
    if not os.path.isdir(f"include/imager/{g}"):
        bad.append(f"include/imager/{g}/ missing")
    umb = f"include/imager/{g}.h"
    if not os.path.exists(umb):
        bad.append(f"{umb} missing")
    else:
        with open(umb, encoding="utf-8") as f:
            first = f.readline()
            text = first + f.read()
        if not first.startswith(f"/* imager/{g}: ") or not first.rstrip().endswith("."):
            bad.append(f"{umb}: first line must be '/* imager/{g}: <purpose, one line>.'")
        for h in sorted(os.listdir(f"include/imager/{g}")) if os.path.isdir(f"include/imager/{g}") else []:
            if h.endswith(".h") and f'#include "imager/{g}/{h}"' not in text:
                bad.append(f"{umb}: does not include imager/{g}/{h}")
for g in rank:
    if g not in groups:
        bad.append(f"stated layer {g} has no lib/{g}/")
check("each sub-library has its headers and a purpose line", bad)

inc_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
bad, private = [], []
files = []
for top in ("lib", "include/imager"):
    for root, _, names in os.walk(top):
        files += [os.path.join(root, n) for n in names if n.endswith((".c", ".h"))]
for path in sorted(files):
    parts = path.split("/")
    g = parts[1] if parts[0] == "lib" else (parts[2] if len(parts) > 3 else None)
    if g is None:  # an umbrella header: only its own group
        g = os.path.basename(path)[:-2]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for inc in inc_re.findall(text):
        m = re.match(r"imager/(\w+)/", inc)
        if m:
            h = m.group(1)
            if h not in rank:
                bad.append(f"{path}: includes {inc}: unknown layer {h}")
            elif g in rank and rank[h] > rank[g]:
                bad.append(f"{path}: {g} includes {inc} of the higher layer {h}")
        elif "/" not in inc and parts[0] == "lib" and not os.path.exists(os.path.join(os.path.dirname(path), inc)):
            private.append(f"{path}: includes {inc}, not a header of lib/{g}/")
check("includes go from higher to lower layers only", bad)
check("private headers are included from their own sub-library only", private)

objdir = sys.argv[1] if len(sys.argv) > 1 else None
if objdir:
    defs, refs = {}, {}
    objs = []
    for root, _, names in os.walk(objdir):
        objs += [os.path.join(root, n) for n in names if n.endswith(".o")]
    for o in sorted(objs):
        out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
        d, r = set(), set()
        for line in out.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "TDBR":
                d.add(f[2])
            elif len(f) == 2 and f[0] == "U":
                r.add(f[1])
        key = os.path.relpath(o, objdir)[:-2] + ".c"
        defs[key], refs[key] = d, r
    owner = {s: k for k, ds in defs.items() for s in ds}
    calls = {k: {owner[s] for s in rs if s in owner and owner[s] != k} for k, rs in refs.items()}
    circles = sorted({" <-> ".join(sorted((a, b))) for a in calls for b in calls[a] if a in calls.get(b, ())})
    check("no two source files call each other (lib/, imager/, installer/)", circles)
    bad = []
    for a in calls:
        for b in calls[a]:
            if not (a.startswith("lib/") and b.startswith("lib/")):
                continue
            ga, gb = a.split("/")[1], b.split("/")[1]
            if ga in rank and gb in rank and rank[gb] > rank[ga]:
                bad.append(f"{a} ({ga}) calls into {b} ({gb})")
    check("calls go from higher to lower layers only", sorted(bad))

sys.exit(0 if all(results) else 1)
