#!/usr/bin/env python3
"""Draws the committed benchmark results as SVG charts, with no dependency
beyond Python (CI has no matplotlib): scripts/bench runs it after each
benchmark run, and it can be run alone on the JSON in benchmarks/results/.

  plot.py RESULTS_DIR PLOTS_DIR

Reads latest.json (lockstep's herds, notify and poll) and peers.json (the
same herd run with dbmate, node-pg-migrate, Sqitch and Alembic) where they
exist, and writes:
  herd_wall.svg    wall time until the last process is ready, by herd size, per tool
  herd_failed.svg  processes that exited non-zero, by herd size, per tool
  wake_latency.svg followers' wake latency (p50 and p99) by herd size, notify and poll
"""
import json
import math
import pathlib
import sys
from xml.sax.saxutils import escape

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
W, H = 720, 400
LEFT, RIGHT, TOP, BOTTOM = 70, 230, 40, 50


def nice_ticks(top, log=False):
    """Axis ticks from 0 (or 1 on a log axis) to at least top."""
    if log:
        ticks, t = [], 1.0
        while True:
            ticks.append(t)
            if t >= top:
                return ticks
            t *= 10
    step = 10 ** math.floor(math.log10(max(top, 1e-9) / 5))
    for m in (1, 2, 2.5, 5, 10):
        if top / (step * m) <= 6:
            step *= m
            break
    n = math.ceil(top / step)
    return [i * step for i in range(n + 1)]


def chart(title, xlabel, ylabel, series, log_y=False):
    """series: [(label, [(x, y), ...], dashed)]. x is categorical (herd sizes)."""
    xs = sorted({x for _, pts, _ in series for x, _ in pts})
    top = max([y for _, pts, _ in series for _, y in pts] + [1])
    ticks = nice_ticks(top, log_y)
    lo, hi = ticks[0], ticks[-1]
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x):
        return LEFT + (pw * (xs.index(x) + 0.5) / len(xs))

    def py(y):
        if log_y:
            y = max(y, lo)
            return TOP + ph - ph * (math.log10(y) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return TOP + ph - ph * (y - lo) / (hi - lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>']
    for t in ticks:
        y = py(t)
        label = f"{t:g}" if t < 10000 else f"{t / 1000:g}k"
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{TOP + ph + 18}" text-anchor="middle">{x}</text>')
    out.append(f'<line x1="{LEFT}" y1="{TOP + ph}" x2="{LEFT + pw}" y2="{TOP + ph}" stroke="black"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + ph}" stroke="black"/>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 12}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(16 {TOP + ph / 2}) rotate(-90)" text-anchor="middle">'
               f'{escape(ylabel)}</text>')
    for i, (label, pts, dashed) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        pts = sorted(pts)
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{colour}">'
                       f'<title>{escape(label)}: {x} -> {y:g}</title></circle>')
        ly = TOP + 10 + 18 * i
        out.append(f'<line x1="{W - RIGHT + 12}" y1="{ly}" x2="{W - RIGHT + 36}" y2="{ly}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{W - RIGHT + 42}" y="{ly + 4}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def herds(latest, mode):
    """lockstep's herds of one wait mode in latest.json: {size: entry}."""
    found = {}
    for key, v in latest.items():
        if key.startswith("herd_") and key.endswith("_" + mode) and isinstance(v, dict):
            found[int(v["processes"])] = v
    return found


def points(herd, key, scale=1):
    """One series' (herd size, value) points from {size: entry}."""
    return [(n, r[key] / scale) for n, r in herd.items()]


def main():
    results, plots = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    plots.mkdir(parents=True, exist_ok=True)
    latest_path, peers_path = results / "latest.json", results / "peers.json"
    latest = json.loads(latest_path.read_text()) if latest_path.exists() else {}
    peers = json.loads(peers_path.read_text()) if peers_path.exists() else {}

    wall, failed, wake = [], [], []
    for tool, v in peers.get("tools", {}).items():
        h = {int(n): r for n, r in v.get("herds", {}).items()}
        if h:
            wall.append((f"{tool} (peers run)", points(h, "wall_ms", 1000), False))
            failed.append((tool, points(h, "failed"), False))
    for mode in ("notify", "poll"):
        h = herds(latest, mode)
        if h:
            wall.append((f"lockstep --wait {mode}", points(h, "wall_ms", 1000), True))
            failed.append((f"lockstep --wait {mode}", points(h, "failed"), True))
            wake.append((f"{mode} p50", points(h, "wake_p50_ms"), False))
            wake.append((f"{mode} p99", points(h, "wake_p99_ms"), True))

    herd_axis = "processes started at once (200 migrations)"
    charts = [
        ("herd_wall.svg", wall, "Herd: wall time until the last process is ready", "seconds (log scale)", True),
        ("herd_failed.svg", failed, "Herd: processes that exited with an error", "failed processes", False),
        ("wake_latency.svg", wake, "Followers' wake latency: leader's last commit to ready",
         "milliseconds (log scale)", True),
    ]
    written = []
    for name, series, title, ylabel, log_y in charts:
        if series:
            (plots / name).write_text(chart(title, herd_axis, ylabel, series, log_y=log_y))
            written.append(str(plots / name))
    print("plots: " + (", ".join(written) or "none (no results)"))


if __name__ == "__main__":
    main()
