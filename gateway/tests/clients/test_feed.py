"""The event feed through MinIO's Python SDK (its listen API, unchanged)."""

import queue
import threading
import time
from urllib.parse import urlparse

from minio import Minio

from conftest import ROOT_KEY, ROOT_SECRET


def test_minio_sdk_listen_bucket_notification(server, s3):
    s3.create_bucket(Bucket="listen-minio")
    host = urlparse(server["endpoint"]).netloc
    client = Minio(host, access_key=ROOT_KEY, secret_key=ROOT_SECRET, secure=False, region="us-east-1")
    received = queue.Queue()

    def listen():
        with client.listen_bucket_notification("listen-minio", prefix="p/",
                                               events=["s3:ObjectCreated:*"]) as events:
            for event in events:
                received.put(event)
                return

    threading.Thread(target=listen, daemon=True).start()
    # The listener connects when its thread first iterates: write until it sees a write.
    deadline = time.monotonic() + 30
    event = None
    n = 0
    while event is None and time.monotonic() < deadline:
        s3.put_object(Bucket="listen-minio", Key="skip/x", Body=b"x")
        s3.put_object(Bucket="listen-minio", Key=f"p/{n}", Body=b"hello")
        n += 1
        try:
            event = received.get(timeout=0.2)
        except queue.Empty:
            pass
    assert event is not None, "the minio SDK received no event"
    record = event["Records"][0]
    assert record["eventName"] == "s3:ObjectCreated:Put"  # MinIO keeps the prefix
    assert record["s3"]["bucket"]["name"] == "listen-minio"
    assert record["s3"]["object"]["key"].startswith("p/")
    assert record["s3"]["object"]["size"] == 5
