#!/usr/bin/env python3
"""Runs issue 4's benchmark table as medians of several runs, a size x concurrency sweep,
and draws the sweep as SVG plots. Python standard library only.

    cargo build --release --bin rucket
    python3 scripts/bench-matrix.py                 # everything, 3 runs per row
    python3 scripts/bench-matrix.py --only put4k    # one row

Every row gets fresh servers on free loopback ports and fresh data dirs under --work,
removed afterwards. Writes <out>/matrix.json (every run), <out>/latest.md (the table)
and <out>/throughput.svg, <out>/latency.svg (the sweep).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "rucket")
KEY, SECRET = "BENCHKEY", "benchsecret"
ENV = dict(os.environ, RUCKET_ACCESS_KEY_ID=KEY, RUCKET_SECRET_ACCESS_KEY=SECRET)

# name, workload, target text, (metric, target value), servers, bench arguments
ROWS = [
    ("put4k", "4 KiB PUT, 64 concurrent", "≥ 10,000 ops/s and ≥ 2× fdatasync rate", ("ops", 10_000),
     ["strict", "relaxed"], ["--op", "put", "--size", "4KiB", "--concurrency", "64"]),
    ("get4k", "4 KiB GET, 64 concurrent", "≥ 20,000 ops/s", ("ops", 20_000),
     ["strict"], ["--op", "get", "--size", "4KiB", "--concurrency", "64", "--objects", "2000"]),
    ("stat4k", "4 KiB HEAD, 64 concurrent", "(reported)", ("ops", None),
     ["strict"], ["--op", "stat", "--size", "4KiB", "--concurrency", "64", "--objects", "2000"]),
    ("mixed4k", "mixed 4 KiB, 64 concurrent", "≥ 15,000 ops/s", ("ops", 15_000),
     ["strict", "relaxed"], ["--op", "mixed", "--size", "4KiB", "--concurrency", "64", "--objects", "2000"]),
    ("put1m", "1 MiB PUT, 16 concurrent, signed", "≥ 0.6 GB/s", ("gbps", 0.6),
     ["strict", "relaxed"], ["--op", "put", "--size", "1MiB", "--concurrency", "16"]),
    ("put1mu", "1 MiB PUT, 16 concurrent, unsigned", "≥ 0.9 GB/s", ("gbps", 0.9),
     ["strict", "relaxed"], ["--op", "put", "--size", "1MiB", "--concurrency", "16", "--unsigned-payload"]),
    ("put64m", "64 MiB PUT, one stream, unsigned", "≥ 0.45 GB/s", ("gbps", 0.45),
     ["strict"], ["--op", "put", "--size", "64MiB", "--concurrency", "1", "--unsigned-payload"]),
    ("get64m", "64 MiB GET, 4 concurrent", "≥ 1.2 GB/s", ("gbps", 1.2),
     ["strict"], ["--op", "get", "--size", "64MiB", "--concurrency", "4", "--objects", "16"]),
    ("list", "ListObjectsV2 over 100,000 keys, one stream", "≥ 50,000 keys/s", ("keys", 50_000),
     ["strict"], ["--op", "list", "--size", "16", "--objects", "100000", "--concurrency", "1", "--count", "3"]),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir, durability="strict", fresh=True):
        self.data_dir = data_dir
        if fresh:
            shutil.rmtree(data_dir, ignore_errors=True)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        args = [BIN, "--listen", f"127.0.0.1:{self.port}", "--data-dir", data_dir, "--durability", durability]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ready_after = self.wait_ready()

    def wait_ready(self):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server on {self.data_dir} exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.endpoint + "/_rucket/health/ready", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - self.started
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("server did not become ready")

    def peak_rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def stop(self, remove=True):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if remove:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def bench(endpoint, bucket, extra, duration):
    args = [BIN, "bench", "--endpoint", endpoint, "--bucket", bucket, "--json"] + extra
    if "--count" not in extra:
        args += ["--duration", duration]
    out = subprocess.run(args, env=ENV, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def value(report, metric):
    if metric == "ops":
        return report["ops_per_second"]
    if metric == "gbps":
        return report["megabytes_per_second"] / 1000
    if metric == "keys":  # one op is a whole listing of `--objects` keys
        return report["ops_per_second"] * report["_keys"]
    raise ValueError(metric)


def run_row(row, work, runs, duration, results):
    name, workload, target_text, (metric, target), servers, extra = row
    for durability in servers:
        label = f"{name}-{durability}"
        samples = []
        for i in range(runs):
            server = Server(os.path.join(work, label), durability)
            try:
                report = bench(server.endpoint, f"{name}-{i}", extra, duration)
            finally:
                server.stop()
            if "--objects" in extra:
                report["_keys"] = int(extra[extra.index("--objects") + 1])
            if report["errors"]:
                print(f"  {label} run {i}: {report['errors']} errors, first: {report['first_error']}", file=sys.stderr)
            samples.append(report)
            print(f"  {label} run {i + 1}: {value(report, metric):,.3f} {metric}", file=sys.stderr)
        results["rows"].append({
            "name": name, "workload": workload, "durability": durability, "target_text": target_text,
            "metric": metric, "target": target, "runs": samples,
            "median": statistics.median(value(r, metric) for r in samples),
            "p50_ms": statistics.median(r["latency_ms"]["p50"] for r in samples),
            "p99_ms": statistics.median(r["latency_ms"]["p99"] for r in samples),
            "client_cpu_s": statistics.median(r["client_cpu_seconds"] for r in samples),
            "errors": sum(r["errors"] for r in samples),
        })


def run_memory(work, runs, results):
    peaks, rates = [], []
    for i in range(runs):
        server = Server(os.path.join(work, "memory"))
        try:
            report = bench(server.endpoint, f"mem-{i}", ["--op", "put", "--size", "1GiB", "--concurrency", "16",
                                                       "--count", "16", "--unsigned-payload"], "0s")
            peaks.append(server.peak_rss_mib())
            rates.append(report["megabytes_per_second"])
        finally:
            server.stop()
        print(f"  memory run {i + 1}: peak RSS {peaks[-1]:.0f} MiB at {rates[-1]:.0f} MB/s", file=sys.stderr)
    results["memory"] = {"peak_rss_mib": peaks, "mb_per_second": rates, "median_peak_rss_mib": statistics.median(peaks)}


def run_restart(big, runs, results):
    if not os.path.isdir(big):
        print(f"  no {big}: restart row skipped (see docs/benchmarks/replay.md)", file=sys.stderr)
        return
    times = []
    for i in range(runs):
        server = Server(big, fresh=False)
        times.append(server.ready_after)
        server.stop(remove=False)
        print(f"  restart run {i + 1}: ready in {times[-1]:.2f} s", file=sys.stderr)
    results["restart"] = {"data_dir": big, "ready_seconds": times, "median": statistics.median(times)}


SWEEP_SIZES = ["4KiB", "64KiB", "1MiB", "16MiB"]
SWEEP_CONCURRENCY = [1, 4, 16, 64]


def run_sweep(work, duration, results):
    sweep = []
    for size in SWEEP_SIZES:
        n = int(size[:-3]) * (1024 if size.endswith("KiB") else 1 << 20)
        objects = max(8, min(500, (256 << 20) // n))
        server = Server(os.path.join(work, "sweep"))
        try:
            for op in ["put", "get"]:
                for c in SWEEP_CONCURRENCY:
                    extra = ["--op", op, "--size", size, "--concurrency", str(c)]
                    if op == "get":
                        extra += ["--objects", str(objects)]
                    r = bench(server.endpoint, f"sw-{op}-{size.lower()}-{c}", extra, duration)
                    sweep.append({"op": op, "size": size, "concurrency": c, "mb_per_second": r["megabytes_per_second"],
                                  "ops_per_second": r["ops_per_second"], "p50_ms": r["latency_ms"]["p50"],
                                  "p99_ms": r["latency_ms"]["p99"], "errors": r["errors"]})
                    print(f"  sweep {op} {size} c{c}: {r['megabytes_per_second']:.1f} MB/s, p50 {r['latency_ms']['p50']:.2f} ms",
                          file=sys.stderr)
        finally:
            server.stop()
    results["sweep"] = sweep


COLORS = ["#1b6ca8", "#e07b00", "#2a9d3a", "#c0392b"]


def svg_plot(sweep, field, title, unit, log_y, path):
    """Two panels (PUT, GET): x = concurrency, one line per object size."""
    import math
    w, h, pad, gap = 900, 380, 60, 40
    pw = (w - 2 * pad - gap) / 2
    ph = h - 2 * pad
    values = [p[field] for p in sweep if p[field] > 0]
    lo, hi = min(values), max(values)
    if log_y:
        lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
        ticks = [10 ** e for e in range(int(math.log10(lo)), int(math.log10(hi)) + 1)]
        ypos = lambda v: pad + ph - (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph
    else:
        lo, hi = 0, hi * 1.1
        step = 10 ** math.floor(math.log10(hi / 5))
        ticks = [k * step for k in range(0, int(hi / step) + 1, max(1, int(hi / step) // 6))]
        ypos = lambda v: pad + ph - (v - lo) / (hi - lo) * ph
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 30}" font-family="sans-serif" font-size="12">',
           f'<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="15">{title}</text>']
    for panel, op in enumerate(["put", "get"]):
        x0 = pad + panel * (pw + gap)
        xpos = lambda i: x0 + 20 + i * (pw - 40) / (len(SWEEP_CONCURRENCY) - 1)
        out.append(f'<rect x="{x0}" y="{pad}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
        out.append(f'<text x="{x0 + pw / 2}" y="{pad - 8}" text-anchor="middle">{op.upper()}</text>')
        for t in ticks:
            y = ypos(t)
            out.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
        for i, c in enumerate(SWEEP_CONCURRENCY):
            out.append(f'<text x="{xpos(i):.1f}" y="{pad + ph + 16}" text-anchor="middle">{c}</text>')
        out.append(f'<text x="{x0 + pw / 2}" y="{pad + ph + 34}" text-anchor="middle">concurrency</text>')
        for k, size in enumerate(SWEEP_SIZES):
            pts = [(xpos(i), ypos(p[field])) for i, c in enumerate(SWEEP_CONCURRENCY)
                   for p in sweep if p["op"] == op and p["size"] == size and p["concurrency"] == c]
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{line}" fill="none" stroke="{COLORS[k]}" stroke-width="2"/>')
            out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLORS[k]}"/>' for x, y in pts]
    out.append(f'<text x="14" y="{pad + ph / 2}" transform="rotate(-90 14 {pad + ph / 2})" text-anchor="middle">{unit}</text>')
    for k, size in enumerate(SWEEP_SIZES):
        x = pad + k * 110
        out.append(f'<rect x="{x}" y="{h + 8}" width="12" height="12" fill="{COLORS[k]}"/>')
        out.append(f'<text x="{x + 16}" y="{h + 18}">{size}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def fmt(metric, v):
    return {"ops": f"{v:,.0f} ops/s", "gbps": f"{v:.2f} GB/s", "keys": f"{v:,.0f} keys/s"}[metric]


def write_table(results, path):
    base = results.get("baseline", {})
    fsync = base.get("append_fdatasync_4k_per_second")
    lines = [f"# Latest benchmark table ({results['date']}, {results['runs']} runs per row, medians)", "",
             "Written by `scripts/bench-matrix.py`; every run is in matrix.json.", ""]
    if base:
        lines += ["| baseline (same run, same disk) | value |", "|---|---|",
                  f"| 4 KiB append + fdatasync | {fsync:,.0f} /s |",
                  f"| MD5, one core | {base['md5_gb_per_second']:.2f} GB/s |",
                  f"| SHA-256, one core | {base['sha256_gb_per_second']:.2f} GB/s |", ""]
    lines += ["| workload | durability | target | runs | median | p50 / p99 ms (median) | met |", "|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        runs = " · ".join(fmt(r["metric"], value(x, r["metric"])).split()[0] for x in r["runs"])
        median = fmt(r["metric"], r["median"])
        if r["name"] == "put4k" and fsync:
            median += f" ({r['median'] / fsync:.2f}× fdatasync)"
        met = "" if r["target"] is None or r["durability"] != "strict" else ("yes" if r["median"] >= r["target"] else "no")
        lines.append(f"| {r['workload']} | {r['durability']} | {r['target_text']} | {runs} | {median} | "
                     f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} | {met} |")
    if "memory" in results:
        m = results["memory"]
        peaks = " · ".join(f"{p:.0f}" for p in m["peak_rss_mib"])
        lines.append(f"| server peak RSS, 16 concurrent 1 GiB PUTs | strict | ≤ 256 MiB | {peaks} MiB | "
                     f"{m['median_peak_rss_mib']:.0f} MiB | | {'yes' if m['median_peak_rss_mib'] <= 256 else 'no'} |")
    if "restart" in results:
        s = results["restart"]
        times = " · ".join(f"{t:.2f}" for t in s["ready_seconds"])
        lines.append(f"| restart with 1,000,000 applied events | strict | ready ≤ 10 s | {times} s | {s['median']:.2f} s | | "
                     f"{'yes' if s['median'] <= 10 else 'no'} |")
    if "sweep" in results:
        lines += ["", "Sweep (one run per point, strict, signed payload): throughput.svg and latency.svg.", "",
                  "| op | size | " + " | ".join(f"c{c} MB/s" for c in SWEEP_CONCURRENCY) + " |",
                  "|---|---|" + "---|" * len(SWEEP_CONCURRENCY)]
        for op in ["put", "get"]:
            for size in SWEEP_SIZES:
                cells = [next(p for p in results["sweep"] if p["op"] == op and p["size"] == size and p["concurrency"] == c)
                         for c in SWEEP_CONCURRENCY]
                lines.append(f"| {op.upper()} | {size} | " + " | ".join(f"{p['mb_per_second']:.1f}" for p in cells) + " |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", default="8s")
    ap.add_argument("--sweep-duration", default="3s")
    ap.add_argument("--work", default=None, help="scratch dir for data dirs (default: a new dir under /tmp)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks"))
    ap.add_argument("--big", default="/tmp/big", help="a data dir with 1,000,000 events for the restart row")
    ap.add_argument("--only", nargs="*", help="row names, or memory, restart, sweep")
    args = ap.parse_args()
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} is missing: run `cargo build --release --bin rucket` first")
    os.makedirs(args.out, exist_ok=True)
    work = args.work or tempfile.mkdtemp(prefix="rucket-bench-")
    wanted = lambda name: not args.only or name in args.only
    results = {"date": time.strftime("%Y-%m-%d"), "runs": args.runs, "duration": args.duration, "rows": []}
    base = subprocess.run([BIN, "bench", "baseline", "--dir", work, "--json"], env=ENV, check=True,
                          capture_output=True, text=True).stdout
    results["baseline"] = json.loads(base)
    print(f"baseline: {results['baseline']}", file=sys.stderr)
    for row in ROWS:
        if wanted(row[0]):
            print(f"{row[1]}:", file=sys.stderr)
            run_row(row, work, args.runs, args.duration, results)
    if wanted("memory"):
        print("memory:", file=sys.stderr)
        run_memory(work, args.runs, results)
    if wanted("restart"):
        print("restart:", file=sys.stderr)
        run_restart(args.big, args.runs, results)
    if wanted("sweep"):
        print("sweep:", file=sys.stderr)
        run_sweep(work, args.sweep_duration, results)
        svg_plot(results["sweep"], "mb_per_second", "Throughput by object size and concurrency (strict)", "MB/s",
                 True, os.path.join(args.out, "throughput.svg"))
        svg_plot(results["sweep"], "p50_ms", "Median latency by object size and concurrency (strict)", "p50 ms",
                 True, os.path.join(args.out, "latency.svg"))
    shutil.rmtree(work, ignore_errors=True)
    suffix = "" if not args.only else "-" + "-".join(args.only)
    with open(os.path.join(args.out, f"matrix{suffix}.json"), "w") as f:
        json.dump(results, f, indent=1)
    write_table(results, os.path.join(args.out, f"latest{suffix}.md"))
    print(f"wrote {args.out}/latest{suffix}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
