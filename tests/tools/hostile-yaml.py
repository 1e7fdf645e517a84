# hostile-yaml.py KIND OUT [PREFIX]: a hostile YAML document (bomb, deep, deepmap, huge,
# utf8, nul) after PREFIX (backslash escapes allowed), for tests/e2e/73-bad-inputs.sh
import sys
kind, out = sys.argv[1], sys.argv[2]
pre = sys.argv[3].encode().decode("unicode_escape").encode("latin-1") if len(sys.argv) > 3 else b""
if kind == "bomb":
    s = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 10):
        s += "a%d: &a%d [%s]\n" % (i, i, ",".join(["*a%d" % (i - 1)] * 9))
    data = pre + s.encode()
elif kind == "deep":
    data = pre + b"x: " + b"[" * 100000 + b"]" * 100000 + b"\n"
elif kind == "deepmap":
    data = pre + b"".join(b"  " * i + b"k:\n" for i in range(5000))
elif kind == "huge":
    data = pre + b'"' + b"x" * (64 << 20) + b'"\n'
elif kind == "utf8":
    data = pre + b"\xff\xfe\x80\n"
elif kind == "nul":
    data = pre + b"x\x00y\n"
open(out, "wb").write(data)
