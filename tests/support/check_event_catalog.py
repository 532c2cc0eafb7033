#!/usr/bin/env python3
"""The events and fields the code defines (lockstep/events/types.hpp, printed
by event_catalog) are the ones docs/schema/events.schema.json defines and the
events table (docs/events.md) documents: same event names; per event the
same fields, the same JSON types and the same required ones in the schema;
in the table, every field of an event named in its row, as required or
optional as the code has it (the five shared fields are described once).

usage: check_event_catalog.py SOURCE_DIR EVENT_CATALOG_PROGRAM
The table is docs/events.md's under '## Events': first column the exact
names, second the fields, the optional ones after "optional:".
"""
import json
import pathlib
import re
import subprocess
import sys

SHARED = {"event", "ts", "elapsed_ms", "pid", "host"}
NAME = re.compile(r"`([a-z_]+)`")


def table_rows(doc: str) -> dict:
    """event name -> (required part, optional part) of its fields cell, from
    the table under '## Events': the fields before "optional:" and after."""
    section = re.split(r"\n##+ ", doc.split("\n## Events\n", 1)[1], maxsplit=1)[0]
    rows = {}
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        cells = row.split("|")
        required, _, optional = cells[2].partition("optional:")
        for name in NAME.findall(cells[1]):
            rows[name] = (required, optional)
    # "optional: the lock holder's backend fields as in `progress`": that
    # row's optional fields are this one's too.
    for name, (required, optional) in rows.items():
        for other in re.findall(r"as in `([a-z_]+)`", optional):
            rows[name] = (required, optional + rows.get(other, ("", ""))[1])
    return rows


def main() -> int:
    src = pathlib.Path(sys.argv[1])
    code = json.loads(subprocess.run([sys.argv[2]], check=True, capture_output=True, text=True).stdout)
    schema = json.loads((src / "docs" / "schema" / "events.schema.json").read_text())["$defs"]
    where = "docs/events.md"
    text = (src / where).read_text()
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
            if name in rows and field not in SHARED:
                part = rows[name][0] if field in must else rows[name][1]
                if field not in NAME.findall(part):
                    problems.append(f"{name}.{field}: not named among the {'required' if field in must else 'optional'} "
                                    f"fields of its row in {where}'s events table")
    print(f"{len(code)} events, {sum(len(f) for f in code.values())} fields checked against the schema and {where}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
