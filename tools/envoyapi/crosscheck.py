#!/usr/bin/env python3
"""Compares an embedded schema with the .proto files of an Envoy source commit.

    tools/envoyapi/crosscheck.py ENVOY_GIT_DIR COMMIT envoy/apidata/envoy-V.txt.gz

For every message and enum under api/envoy/ at COMMIT (the frozen v2 API left
out, as in the schema) it wants the same field or value names in the schema,
and it lists the envoy.* schema entries that have no .proto. Exit status 1 when
anything differs. Not run by CI (it needs an Envoy checkout); a measurement of
whether go-control-plane/envoy vX.Y.0 carries exactly Envoy vX.Y.0's API. The
.proto reading is a tokenizer, not a full parser: enough for Envoy's api/ tree.
"""
import gzip
import re
import subprocess
import sys

repo, commit, schema = sys.argv[1:4]
git = lambda *a: subprocess.run(["git", "-C", repo, *a], capture_output=True, text=True, check=True).stdout
files = [f for f in git("ls-tree", "-r", "--name-only", commit, "api/envoy/").split() if f.endswith(".proto")]
tok = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\])*"|[{};=<>\[\]]|\S+?(?=[{};=<>\[\]\s])|\S+', re.S)
found = {"M": {}, "E": {}}


def skip(toks, i, until):
    """Index after the `until` token that closes the statement at toks[i]."""
    depth = 0
    while i < len(toks):
        t = toks[i]
        depth += t in "[{" and len(t) == 1
        depth -= t in "]}" and len(t) == 1
        if (until == ";" and t == ";" and depth == 0) or (until == "}" and t == "}" and depth == 0):
            return i + 1
        i += 1
    return i


for f in files:
    src = git("show", f"{commit}:{f}")
    pkg = re.search(r"^package\s+([\w.]+);", src, re.M).group(1)
    toks = [t for t in tok.findall(src) if not t.startswith(("//", "/*"))]
    stack, i = [], 0
    while i < len(toks):
        t = toks[i]
        opens = i + 2 < len(toks) and toks[i + 2] == "{"
        if t in ("service", "extend") and opens:
            i = skip(toks, i + 2, "}")
        elif t in ("message", "enum", "oneof") and opens:
            stack.append((t, toks[i + 1]))
            if t != "oneof":
                found["M" if t == "message" else "E"][pkg + "." + ".".join(n for k, n in stack if k != "oneof")] = set()
            i += 3
        elif t == "}":
            stack.pop()
            i += 1
        elif t in ("option", "reserved", "import", "syntax", "package"):
            i = skip(toks, i, ";")
        elif stack and i + 2 < len(toks) and toks[i + 1] == "=" and re.match(r"^-?\d", toks[i + 2]):
            owner = [(k, n) for k, n in stack if k != "oneof"]
            found["M" if owner[-1][0] == "message" else "E"][pkg + "." + ".".join(n for _, n in owner)].add(t)
            i = skip(toks, i, ";")
        else:
            i += 1

have = {}
for line in gzip.open(schema, "rt").read().splitlines()[1:]:
    kind, name, *names = line.split()
    have[(kind, name)] = set(names)
frozen = re.compile(r"^envoy\.(type|type\.matcher|api\.v2(\..*)?|.*\.v[12](alpha[0-9]*)?)$")
compared = differ = 0
for kind, d in found.items():
    for name, names in sorted(d.items()):
        if frozen.match(".".join(p for p in name.split(".") if not p[:1].isupper())):
            continue
        compared += 1
        got = have.get((kind, name))
        if got != names:
            differ += 1
            print(f"{kind} {name}: only in .proto {sorted(names - (got or set()))}, only in schema {sorted((got or set()) - names)}" + (" (type missing from schema)" if got is None else ""))
extra = sorted(n for k, n in have if n.startswith("envoy.") and n not in found[k])
for n in extra:
    print(f"{n}: only in schema")
print(f"{commit}: {compared} messages and enums compared, {differ} differ, {len(extra)} schema entries without a .proto")
sys.exit(1 if differ or extra else 0)
