#!/usr/bin/env python3
"""The events and fields the code defines (lockstep/events/types.hpp, printed
by event_catalog) are the ones docs/schema/events.schema.json defines and the
events table documents: same event names; per event the same fields, the
same JSON types and the same required ones in the schema; every field of an
event named in its table row (the shared header fields and `background` are
described once, beside the table).

usage: check_event_catalog.py SOURCE_DIR EVENT_CATALOG_PROGRAM
The table is docs/events.md's first table when that file exists, else
README's under '## Events'.
"""
import json
import pathlib
import re
import subprocess
import sys

SHARED = {"event", "ts", "elapsed_ms", "pid", "host", "background"}


def table_rows(text: str) -> dict:
    """event name -> the rest of its row, from the first column's `names`."""
    rows = {}
    for row in text.splitlines():
        if not row.startswith("| `"):
            continue
        cells = row.split("|")
        for name in re.findall(r"`([a-z_]+)`", cells[1]):
            rows[name] = "|".join(cells[2:])
    # "the backend fields as in `progress`": that row's fields count too.
    for name, rest in rows.items():
        for other in re.findall(r"as in `([a-z_]+)`", rest):
            rows[name] = rest + rows.get(other, "")
    return rows


def main() -> int:
    src = pathlib.Path(sys.argv[1])
    code = json.loads(subprocess.run([sys.argv[2]], check=True, capture_output=True, text=True).stdout)
    schema = json.loads((src / "docs" / "schema" / "events.schema.json").read_text())["$defs"]
    events_md = src / "docs" / "events.md"
    if events_md.exists():
        where, text = "docs/events.md", events_md.read_text()
        text = text.split("\n\n| ", 1)[0] + "\n\n| " + text.split("\n\n| ", 1)[1].split("\n\n", 1)[0]
    else:
        where, text = "README.md", re.split(r"\n##+ ", (src / "README.md").read_text().split("\n## Events\n", 1)[1],
                                            maxsplit=1)[0]
    rows = table_rows(text)
    problems = []
    if set(code) != set(schema):
        problems.append(f"events in code and schema differ: only in code {sorted(set(code) - set(schema))}, "
                        f"only in the schema {sorted(set(schema) - set(code))}")
    if set(code) != set(rows):
        problems.append(f"events in code and {where}'s table differ: only in code {sorted(set(code) - set(rows))}, "
                        f"only in the table {sorted(set(rows) - set(code))}")
    for name, fields in code.items():
        if name not in schema:
            continue
        props = schema[name].get("properties", {})
        required = set(schema[name].get("required", []))
        names = {f for f, _, _ in fields}
        if names != set(props):
            problems.append(f"{name}: fields in code and schema differ: only in code {sorted(names - set(props))}, "
                            f"only in the schema {sorted(set(props) - names)}")
        must = {f for f, _, req in fields if req}
        if must != required:
            problems.append(f"{name}: required fields differ: code {sorted(must)}, schema {sorted(required)}")
        for field, kind, _ in fields:
            declared = props.get(field, {}).get("type")
            if declared is not None and kind not in (declared if isinstance(declared, list) else [declared]):
                problems.append(f"{name}.{field}: {kind} in code, {declared} in the schema")
            if name in rows and field not in SHARED and f"`{field}`" not in rows[name]:
                problems.append(f"{name}.{field}: not named in its row of {where}'s events table")
    print(f"{len(code)} events, {sum(len(f) for f in code.values())} fields checked against the schema and {where}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
