#!/usr/bin/env python3
"""The programs under examples/ use lockstep's public API only: no file there
includes a header under lockstep/detail/ (issue #32, item 6: `lockstep` is
installed as bin/lockstep, the first user of the public API, so whatever it
needs is public and documented, or lives in the program).

KNOWN lists includes still to be removed, each with why; one that is gone
fails too (remove it from the list), so the list only shrinks.
Usage: public_headers_only.py SOURCE_DIR
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"](lockstep/detail/[^>"]+)[>"]')

# (file under examples/, header) -> why it is still there.
KNOWN = {
}


def main() -> int:
    src = pathlib.Path(sys.argv[1])
    problems, seen = [], set()
    for path in sorted(src.glob("examples/**/*")):
        if path.suffix not in (".cpp", ".hpp", ".h", ".cc") or not path.is_file():
            continue
        rel = path.relative_to(src).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            if (rel, m.group(1)) in KNOWN:
                seen.add((rel, m.group(1)))
                continue
            problems.append(f"{rel}:{number}: includes {m.group(1)}: make what it needs public (and document it) "
                            f"or move it into the program")
    for key in sorted(set(KNOWN) - seen):
        problems.append(f"known include no longer there (remove it from KNOWN): {key[0]}: {key[1]}")
    print(f"examples/ checked: {len(seen)} known detail/ include(s) left")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
