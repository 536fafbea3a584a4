#!/usr/bin/env python3
"""Plots ack latency (p50, p90, p99) against offered rate from the CSV that
scripts/bench-pipeline.sh writes, as a self-contained SVG (no plotting
library needed: the chart is a few lines and a log-scale axis).

usage: plot-latency.py LATENCY_CSV OUT_SVG [SUBTITLE]
"""
import csv
import math
import sys
from xml.sax.saxutils import escape

rows = list(csv.DictReader(open(sys.argv[1])))
out_path = sys.argv[2]
subtitle = sys.argv[3] if len(sys.argv) > 3 else ""
if not rows:
    sys.exit("plot-latency: no rows in " + sys.argv[1])

W, H = 720, 420
left, right, top, bottom = 70, 150, 50, 60
pw, ph = W - left - right, H - top - bottom
rates = [float(r["offered_rate"]) for r in rows]
series = [("p50", "p50_ms", "#1f77b4"), ("p90", "p90_ms", "#2ca02c"), ("p99", "p99_ms", "#d62728")]
values = [float(r[key]) for _, key, _ in series for r in rows]
y_lo = 10 ** math.floor(math.log10(max(min(values), 0.1)))
y_hi = 10 ** math.ceil(math.log10(max(max(values), 50.0)))
x_hi = max(rates) * 1.05


def x(rate):
    return left + pw * rate / x_hi


def y(ms):
    ms = min(max(ms, y_lo), y_hi)
    return top + ph * (1 - (math.log10(ms) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo)))


svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{left}" y="22" font-size="15">ferrotrace: ack latency against offered load (OTLP/gRPC, open loop)</text>',
       f'<text x="{left}" y="38" fill="#555">{escape(subtitle)}</text>']
# Axes, log-scale grid on y, linear ticks on x.
decade = y_lo
while decade <= y_hi:
    for m in (1, 2, 5):
        v = decade * m
        if y_lo <= v <= y_hi:
            svg.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>')
            svg.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    decade *= 10
step = 10 ** math.floor(math.log10(x_hi / 2))
if x_hi / step > 12:
    step *= 5
elif x_hi / step > 6:
    step *= 2
t = 0.0
while t <= x_hi:
    svg.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{top + ph}" stroke="#f3f3f3"/>')
    svg.append(f'<text x="{x(t):.1f}" y="{top + ph + 18}" text-anchor="middle">{t / 1000:g}k</text>')
    t += step
svg.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="black"/>')
svg.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="black"/>')
svg.append(f'<text x="{left + pw / 2}" y="{H - 15}" text-anchor="middle">offered load, spans per second</text>')
svg.append(f'<text x="18" y="{top + ph / 2}" text-anchor="middle" transform="rotate(-90 18 {top + ph / 2})">'
           'ack latency, ms (log scale)</text>')
# The 50 ms target.
svg.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(50):.1f}" y2="{y(50):.1f}" stroke="#999" stroke-dasharray="4 4"/>')
svg.append(f'<text x="{left + pw + 6}" y="{y(50) + 4:.1f}" fill="#777">p99 target 50 ms</text>')
for i, (name, key, colour) in enumerate(series):
    points = " ".join(f"{x(float(r['offered_rate'])):.1f},{y(float(r[key])):.1f}" for r in rows)
    svg.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
    for r in rows:
        svg.append(f'<circle cx="{x(float(r["offered_rate"])):.1f}" cy="{y(float(r[key])):.1f}" r="3" fill="{colour}"/>')
    svg.append(f'<line x1="{left + pw + 10}" x2="{left + pw + 30}" y1="{top + 10 + 18 * i}" y2="{top + 10 + 18 * i}" '
               f'stroke="{colour}" stroke-width="2"/>')
    svg.append(f'<text x="{left + pw + 36}" y="{top + 14 + 18 * i}">{name}</text>')
# Rates the collector could not keep up with (achieved < 95 % of offered).
for r in rows:
    if float(r["achieved_rate"]) < 0.95 * float(r["offered_rate"]):
        svg.append(f'<text x="{x(float(r["offered_rate"])):.1f}" y="{top + 12}" text-anchor="middle" fill="#d62728">'
                   f'{float(r["achieved_rate"]) / 1000:.0f}k</text>')
svg.append(f'<text x="{left + pw + 10}" y="{top + 80}" fill="#d62728" font-size="10">red: achieved</text>')
svg.append(f'<text x="{left + pw + 10}" y="{top + 92}" fill="#d62728" font-size="10">rate when below</text>')
svg.append(f'<text x="{left + pw + 10}" y="{top + 104}" fill="#d62728" font-size="10">95 % of offered</text>')
svg.append("</svg>")
with open(out_path, "w") as f:
    f.write("\n".join(svg) + "\n")
print(f"plot-latency: wrote {out_path}")
