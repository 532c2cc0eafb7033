#!/usr/bin/env python3
"""docs/promises.md stays true: the promise matrix has no empty cell, and every
test it names exists.

The matrix is a Markdown table: one row per promise, one column per path. A
cell holds test ids (`T12`, several separated by commas) or a reason id for
"not applicable" (`n/a N3`). Below it, two lists define the ids:

    - **T12** `tests/integration/herd_test.cpp` "herd of 16 processes"
    - **N3** the progress monitor only reads pg_stat_activity; it writes nothing

A test id must name a file under the source tree and a quoted string that
occurs in that file (a TEST_CASE or SUBCASE name, a chaos invariant's
message, a ctest name in a CMakeLists.txt). The check fails on an empty cell,
an undefined id, a test that does not exist, or an id defined but never used.

  check_promises.py SOURCE_DIR
"""
import os
import re
import sys

src = os.path.abspath(sys.argv[1])
doc = os.path.join(src, "docs", "promises.md")
text = open(doc, encoding="utf-8").read()
failures = []

# --- the matrix: the first table whose header row starts with "promise" -------
lines = text.splitlines()
start = next((i for i, l in enumerate(lines) if re.match(r"^\|\s*promise\s*\|", l, re.I)), None)
if start is None:
    sys.exit("check_promises: docs/promises.md has no table whose first column is 'promise'")
header = [c.strip() for c in lines[start].strip().strip("|").split("|")]
rows = []
for l in lines[start + 2:]:
    if not l.startswith("|"):
        break
    rows.append([c.strip() for c in l.strip().strip("|").split("|")])

used = set()
for r in rows:
    if len(r) != len(header):
        failures.append(f"row '{r[0]}' has {len(r)} cells, the header {len(header)}")
        continue
    for path, cell in zip(header[1:], r[1:]):
        ids = re.findall(r"\b([TN]\d+)\b", cell)
        if not ids:
            failures.append(f"empty cell: promise '{r[0]}' on path '{path}' names no test and no n/a reason")
        if re.search(r"n/a", cell, re.I) and not any(i.startswith("N") for i in ids):
            failures.append(f"promise '{r[0]}' on path '{path}': n/a without a reason id")
        if any(i.startswith("N") for i in ids) and not re.search(r"n/a", cell, re.I):
            failures.append(f"promise '{r[0]}' on path '{path}': a reason id outside 'n/a'")
        used.update(ids)

# --- the definitions ---------------------------------------------------------
defined = {}
for m in re.finditer(r"^- \*\*([TN]\d+)\*\* (.+)$", text, re.M):
    key, body = m.group(1), m.group(2)
    if key in defined:
        failures.append(f"{key} is defined twice")
    defined[key] = body
    if key.startswith("N"):
        if len(body.strip()) < 15:
            failures.append(f"{key}: a reason must say why ('{body}')")
        continue
    t = re.match(r"`([^`]+)`\s+\"(.+)\"\s*$", body)
    if not t:
        failures.append(f"{key}: expected `path` \"test name\", got: {body}")
        continue
    path, name = t.group(1), t.group(2)
    full = os.path.join(src, path)
    if not os.path.isfile(full):
        failures.append(f"{key}: {path} does not exist")
        continue
    content = open(full, encoding="utf-8", errors="replace").read()
    if name not in content:
        failures.append(f"{key}: \"{name}\" is not in {path} (renamed or removed? update docs/promises.md)")

for key in sorted(used - defined.keys()):
    failures.append(f"{key} is used in the matrix but not defined")
for key in sorted(defined.keys() - used):
    failures.append(f"{key} is defined but no cell uses it")

cells = sum(len(r) - 1 for r in rows)
if failures:
    print("docs/promises.md:", *failures, sep="\n  ")
    sys.exit(1)
print(f"check_promises: {len(rows)} promises x {len(header) - 1} paths = {cells} cells, "
      f"{sum(1 for k in defined if k.startswith('T'))} tests, all present")
