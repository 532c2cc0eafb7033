#!/usr/bin/env python3
"""Checks every event and `status --json` document the integration suite saw
against the shipped JSON Schemas (docs/schema/), with a real validator
(python3-jsonschema, Draft 2020-12). That the schema and the events table
define exactly the events and fields of the code is check_event_catalog.py's
job (ctest events.schema_and_table_match_code).

usage: validate_events.py SOURCE_DIR DUMP_DIR [--min-events N]
DUMP_DIR holds the <pid>.jsonl files tests/support/event_dump.hpp wrote.
--min-events (default: $LOCKSTEP_EVENTS_MIN, else 0): fewer events, or no
status document when N > 0, fails: the whole suite ran, so the dump must
have worked. scripts/test and scripts/test-matrix set it for full runs; a
run of a few tests (ctest -R herd) checks what it produced.
"""
import argparse
import collections
import json
import os
import pathlib
import sys

import jsonschema


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("dump")
    ap.add_argument("--min-events", type=int, default=int(os.environ.get("LOCKSTEP_EVENTS_MIN", "0")))
    a = ap.parse_args()
    src = pathlib.Path(a.source)
    schemas = {}
    for kind in ("events", "status"):
        schema = json.loads((src / "docs" / "schema" / f"{kind}.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        schemas[kind] = jsonschema.Draft202012Validator(schema)

    failures = 0
    defined = set(schemas["events"].schema["$defs"])

    seen = collections.Counter()
    statuses = 0
    for path in sorted(pathlib.Path(a.dump).glob("*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            doc = json.loads(line)
            kind = "events" if "event" in doc else "status"
            errors = sorted(schemas[kind].iter_errors(doc), key=lambda e: list(e.absolute_path))
            if kind == "events":
                seen[doc["event"]] += 1
                # oneOf reports every branch; the one named by "event" is the useful one.
                if errors and doc["event"] in defined:
                    errors = list(jsonschema.Draft202012Validator(
                        schemas["events"].schema["$defs"][doc["event"]]).iter_errors(doc))
            else:
                statuses += 1
            for e in errors[:3]:
                failures += 1
                where = "/".join(str(p) for p in e.absolute_path) or "(top)"
                print(f"{path.name}:{number}: {kind} {doc.get('event', '')} at {where}: {e.message}\n  {line[:300]}")

    total = sum(seen.values())
    print(f"{total} events of {len(seen)} kinds and {statuses} status documents checked")
    for name in sorted(defined):
        print(f"  {name:24} {seen[name]}")
    unseen = sorted(defined - set(seen))
    if unseen:
        print(f"never produced by the suite (schema not exercised): {', '.join(unseen)}")
    if total < a.min_events:
        print(f"only {total} events: fewer than {a.min_events}, so the suite's events were not collected")
        failures += 1
    if statuses == 0 and a.min_events > 0:
        print("no status --json document was collected")
        failures += 1
    if failures:
        print(f"FAILED: {failures} problem(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
