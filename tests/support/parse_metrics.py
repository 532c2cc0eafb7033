#!/usr/bin/env python3
"""Parses Prometheus text exposition (stdin) with prometheus_client's own
parser (Debian: python3-prometheus-client) and prints every sample as
`name{label="value",...} value`, labels sorted, value as a float, so a test
can look samples up. Exits 1 when the text does not parse, a family lacks
its TYPE, or a histogram is not cumulative or its +Inf bucket differs from
its _count."""
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
problems = []
lines = []
try:
    families = list(text_string_to_metric_families(text))
except Exception as e:  # the parser raises ValueError and others on bad input
    print(f"does not parse: {e}")
    sys.exit(1)
for family in families:
    if family.type == "unknown":
        problems.append(f"{family.name}: no TYPE line")
    if family.type == "histogram":
        series = {}
        for s in family.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            series.setdefault(key, {"buckets": [], "count": None})
            if s.name.endswith("_bucket"):
                series[key]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
        for key, h in series.items():
            values = [v for _, v in sorted(h["buckets"])]
            if values != sorted(values):
                problems.append(f"{family.name}{dict(key)}: buckets are not cumulative")
            if not h["buckets"] or sorted(h["buckets"])[-1][0] != float("inf"):
                problems.append(f"{family.name}{dict(key)}: no +Inf bucket")
            elif sorted(h["buckets"])[-1][1] != h["count"]:
                problems.append(f"{family.name}{dict(key)}: +Inf bucket differs from _count")
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        lines.append(f"{s.name}{{{labels}}} {float(s.value)!r}" if labels else f"{s.name} {float(s.value)!r}")
for p in problems:
    print(p)
print("\n".join(lines))
sys.exit(1 if problems else 0)
