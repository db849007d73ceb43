#!/usr/bin/env python3
"""Draws the PUT rate of `rucket bench --op fill --json` runs against objects stored, as SVG.

usage: plot-fill.py OUT.svg LABEL=REPORT.json [LABEL=REPORT.json ...]
"""
import json
import sys

W, H, LEFT, BOTTOM, TOP, RIGHT = 640, 360, 70, 50, 30, 20
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def main():
    out, runs = sys.argv[1], []
    for arg in sys.argv[2:]:
        label, path = arg.split("=", 1)
        report = json.load(open(path))
        every = report["every"]
        points = [((i + 1) * every, rate) for i, rate in enumerate(report["put_rates"])]
        runs.append((label, points))
    max_x = max(x for _, pts in runs for x, _ in pts)
    max_y = max(y for _, pts in runs for _, y in pts) * 1.15
    sx = lambda x: LEFT + x / max_x * (W - LEFT - RIGHT)
    sy = lambda y: H - BOTTOM - y / max_y * (H - BOTTOM - TOP)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="black"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="black"/>']
    step = 10 ** (len(str(int(max_y))) - 1)
    y = 0
    while y <= max_y:
        svg.append(f'<line x1="{LEFT}" y1="{sy(y):.1f}" x2="{W - RIGHT}" y2="{sy(y):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:,}</text>')
        y += step
    for x, _ in runs[0][1]:
        svg.append(f'<text x="{sx(x):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{x // 1000:,}k</text>')
    svg.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 10}" text-anchor="middle">objects stored (4 KiB each)</text>')
    svg.append(f'<text x="14" y="{(TOP + H - BOTTOM) / 2}" text-anchor="middle" transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2})">PUT/s, c64, over the preceding interval</text>')
    for i, (label, pts) in enumerate(runs):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in pts:
            svg.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
        svg.append(f'<text x="{LEFT + 10}" y="{TOP + 14 + 16 * i}" fill="{color}">{label}</text>')
    svg.append("</svg>")
    open(out, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
