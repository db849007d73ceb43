#!/usr/bin/env python3
"""Three nodes against one: 4 KiB PUT and GET and 1 MiB PUT through a single node, through
a cluster's leader and through one of its followers, as medians of several runs. Python
standard library only.

    cargo build --release --bin rucket
    python3 scripts/bench-cluster.py               # 3 runs of 8 s per row
    python3 scripts/bench-cluster.py --runs 1 --duration 3s

Nodes run as in the README (127.0.0.1-3, strict durability) on fresh data dirs under
--work, removed afterwards; each row of each run gets a fresh cluster. Prints a Markdown
table and writes every run to <work>/cluster.json.
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
KEY, SECRET = "BENCHKEY", "benchsecret-long-enough-for-rucket"
ENV = dict(os.environ, RUCKET_ACCESS_KEY_ID=KEY, RUCKET_SECRET_ACCESS_KEY=SECRET)

# name, bench arguments
ROWS = [
    ("4 KiB PUT c16", ["--op", "put", "--size", "4KiB", "--concurrency", "16"]),
    ("4 KiB GET c16", ["--op", "get", "--size", "4KiB", "--concurrency", "16", "--objects", "1000"]),
    ("1 MiB PUT c4", ["--op", "put", "--size", "1MiB", "--concurrency", "4"]),
]


def free_port(ip):
    while True:
        with socket.socket() as s:
            try:
                s.bind((ip, 20000 + int.from_bytes(os.urandom(2), "big") % 12000))
            except OSError:
                continue
            return s.getsockname()[1]


def get(url, timeout=1):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


class Nodes:
    """One node (n=1, no cluster flags) or a cluster of n nodes on 127.0.0.1..n."""

    def __init__(self, work, n):
        self.work = os.path.join(work, f"nodes-{n}")
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.procs, self.endpoints = {}, {}
        cluster = {i: f"127.0.0.{i}:{free_port(f'127.0.0.{i}')}" for i in range(1, n + 1)} if n > 1 else {}
        secret = os.path.join(self.work, "cluster.secret")
        with open(secret, "w") as f:
            f.write(os.urandom(24).hex() + "\n")
        peers = ",".join(f"{i}={a}" for i, a in cluster.items())
        for i in range(1, n + 1):
            ip = f"127.0.0.{i}"
            port = free_port(ip)
            self.endpoints[i] = f"http://{ip}:{port}"
            args = [BIN, "serve", "--listen", f"{ip}:{port}", "--data-dir", os.path.join(self.work, f"data-{i}")]
            if cluster:
                args += ["--node-id", str(i), "--cluster-listen", cluster[i], "--peers", peers,
                         "--cluster-secret-file", secret]
            log = open(os.path.join(self.work, f"node-{i}.log"), "w")
            self.procs[i] = subprocess.Popen(args, env=ENV, stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        for i, endpoint in self.endpoints.items():
            while True:
                if self.procs[i].poll() is not None:
                    raise RuntimeError(f"node {i} exited; see {self.work}/node-{i}.log")
                try:
                    if get(endpoint + "/_rucket/health/ready")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"node {i} did not become ready")
                time.sleep(0.05)

    def leader(self):
        if len(self.endpoints) == 1:
            return 1
        out = subprocess.run([BIN, "cluster", "status", "--json", "--endpoint", self.endpoints[1]],
                             env=ENV, check=True, capture_output=True, text=True).stdout
        return json.loads(out)["leader"]

    def stop(self):
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def bench(endpoint, bucket, extra, duration):
    args = [BIN, "bench", "--endpoint", endpoint, "--bucket", bucket, "--json", "--duration", duration] + extra
    out = subprocess.run(args, env=ENV, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", default="8s")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "rucket-bench-cluster"))
    args = parser.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is missing: cargo build --release --bin rucket")
    targets = [("one node", 1, lambda nodes: 1),
               ("cluster, through the leader", 3, lambda nodes: nodes.leader()),
               ("cluster, through a follower", 3, lambda nodes: next(i for i in nodes.endpoints if i != nodes.leader()))]
    results = []
    for row, extra in ROWS:
        for label, n, pick in targets:
            samples = []
            for run in range(args.runs):
                nodes = Nodes(args.work, n)
                try:
                    report = bench(nodes.endpoints[pick(nodes)], f"bench-{run}", extra, args.duration)
                finally:
                    nodes.stop()
                if report["errors"]:
                    print(f"  {row} / {label}: {report['errors']} errors, first: {report['first_error']}", file=sys.stderr)
                samples.append(report)
                print(f"  {row} / {label} run {run + 1}: {report['ops_per_second']:,.0f} ops/s, "
                      f"{report['megabytes_per_second']:,.1f} MB/s, p99 {report['latency_ms']['p99']:.1f} ms",
                      file=sys.stderr)
            results.append({"row": row, "target": label, "runs": samples})
    os.makedirs(args.work, exist_ok=True)
    with open(os.path.join(args.work, "cluster.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"| | {' | '.join(r for r, _ in ROWS)} |")
    print("|---" * (len(ROWS) + 1) + "|")
    for label, _, _ in targets:
        cells = []
        for row, extra in ROWS:
            runs = next(r["runs"] for r in results if r["row"] == row and r["target"] == label)
            ops = statistics.median(r["ops_per_second"] for r in runs)
            mbs = statistics.median(r["megabytes_per_second"] for r in runs)
            p99 = statistics.median(r["latency_ms"]["p99"] for r in runs)
            rate = f"{mbs:,.0f} MB/s" if "1MiB" in extra else f"{ops:,.0f} ops/s"
            cells.append(f"{rate}, p99 {p99:.1f} ms")
        print(f"| {label} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
