#!/usr/bin/env python3
"""Every C++ and CMake snippet in the docs is compiled code.

Each ```cpp / ```cmake block in README.md, docs/*.md and examples/*/README.md
must be preceded by a marker naming a region of a file that CI builds:

    <!-- snippet: examples/minimal/main.cpp#run -->

and its text must equal that region, delimited in the source by
`// [snippet:run]` ... `// [/snippet:run]` (`# [snippet:...]` in CMake).

  check_snippets.py SOURCE_DIR
"""
import glob
import os
import re
import sys
import textwrap

src = os.path.abspath(sys.argv[1])
docs = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md"))) + \
    sorted(glob.glob(os.path.join(src, "examples", "*", "README.md")))
failures, checked = [], 0


def region(path, name):
    lines = open(os.path.join(src, path)).read().splitlines()
    start = [i for i, l in enumerate(lines) if re.search(r"(//|#) \[snippet:" + re.escape(name) + r"\]", l)]
    end = [i for i, l in enumerate(lines) if re.search(r"(//|#) \[/snippet:" + re.escape(name) + r"\]", l)]
    if len(start) != 1 or len(end) != 1 or end[0] <= start[0]:
        return None
    body = [l for l in lines[start[0] + 1:end[0]] if not re.search(r"(//|#) \[/?snippet:", l)]
    return textwrap.dedent("\n".join(body)).strip("\n")


for doc in docs:
    text = open(doc).read().splitlines()
    rel = os.path.relpath(doc, src)
    for i, line in enumerate(text):
        m = re.match(r"^\s*```(cpp|c\+\+|cmake)\s*$", line)
        if not m:
            continue
        end = next(j for j in range(i + 1, len(text)) if text[j].strip() == "```")
        block = textwrap.dedent("\n".join(text[i + 1:end])).strip("\n")
        marker = re.match(r"^\s*<!-- snippet: (\S+)#(\S+) -->\s*$", text[i - 1]) if i > 0 else None
        where = f"{rel}:{i + 1}"
        if not marker:
            failures.append(f"{where}: a {m.group(1)} block without a <!-- snippet: file#region --> marker")
            continue
        expected = region(marker.group(1), marker.group(2))
        if expected is None:
            failures.append(f"{where}: region {marker.group(2)} not found once in {marker.group(1)}")
        elif expected != block:
            failures.append(f"{where}: differs from {marker.group(1)}#{marker.group(2)}")
        else:
            checked += 1

for f in failures:
    print("FAIL " + f)
print(f"{checked} snippets match compiled code, {len(failures)} problems")
sys.exit(1 if failures or checked == 0 else 0)
