#!/usr/bin/env python3
"""What server access logging costs on one node: 4 KiB PUT and GET at concurrency 16 on
a bucket without and with logging on (delivered every second), three 5 s runs each on a
fresh server (release build, strict durability), data dirs under /var/tmp.

    cargo build --release --bin rucket
    target/venv/bin/python scripts/bench-access-log.py     # boto3 from the test venv
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile

import boto3
from botocore.config import Config

BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target", "release", "rucket")
KEY, SECRET = "BENCHKEY", "benchsecret-long-enough-for-rucket"
ENV = dict(os.environ, RUCKET_ACCESS_KEY_ID=KEY, RUCKET_SECRET_ACCESS_KEY=SECRET, RUCKET_LOG="warn",
           RUCKET_ACCESS_LOG_FLUSH_MS="1000")

def serve(work):
    proc = subprocess.Popen([BIN, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "data")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV, text=True)
    for line in proc.stdout:
        m = re.match(r"rucket listening on http://(\S+)", line)
        if m:
            return proc, "http://" + m.group(1)
    raise RuntimeError("no start")

def bench(endpoint, bucket, extra):
    out = subprocess.run([BIN, "bench", "--endpoint", endpoint, "--bucket", bucket, "--json", "--duration", "5s"] + extra,
                         env=ENV, check=True, capture_output=True, text=True).stdout
    return json.loads(out)

rows = [("4 KiB PUT c16", ["--op", "put", "--size", "4KiB", "--concurrency", "16"]),
        ("4 KiB GET c16", ["--op", "get", "--size", "4KiB", "--concurrency", "16", "--objects", "1000"])]
for mode in ["logging off", "logging on"]:
    for row, extra in rows:
        rates = []
        for run in range(3):
            work = tempfile.mkdtemp(prefix="rbl-", dir="/var/tmp")
            proc, endpoint = serve(work)
            try:
                s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                                  region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
                s3.create_bucket(Bucket="bench-b")
                if mode == "logging on":
                    s3.create_bucket(Bucket="bench-logs")
                    s3.put_bucket_logging(Bucket="bench-b", BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "bench-logs", "TargetPrefix": "l/"}})
                r = bench(endpoint, "bench-b", extra)
                rates.append(round(r["ops_per_second"]))
            finally:
                proc.terminate(); proc.wait(timeout=60)
                shutil.rmtree(work, ignore_errors=True)
        print(f"{mode:12} {row}: median {statistics.median(rates):,.0f} ops/s of {rates}", flush=True)
