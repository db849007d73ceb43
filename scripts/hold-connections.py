"""Holds stalled signed uploads and half-sent request heads open against a server, for
the hostile-load figures in docs/benchmarks/results.md.

    hold-connections.py HOST PORT STALLED HALF_SENT BUCKET SECONDS

Each stalled upload is a PUT signed for the key BOBKEY / bob-secret-key (configure it)
that declares 16 MiB, sends 64 KiB and stops; each half-sent head stops mid-header.
"""
import socket, sys, time
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

host, port, stalled, idle, bucket = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
creds = Credentials("BOBKEY", "bob-secret-key")
socks = []
for n in range(stalled):
    url = f"http://{host}:{port}/{bucket}/stalled-{n}"
    req = AWSRequest(method="PUT", url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-length": str(16 << 20)})
    SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    head = f"PUT /{bucket}/stalled-{n} HTTP/1.1\r\nhost: {host}:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in req.headers.items()) + "\r\n"
    s = socket.create_connection((host, port)); s.sendall(head.encode() + b"x" * 65536); socks.append(s)
for n in range(idle):
    s = socket.create_connection((host, port)); s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-half: "); socks.append(s)
print(f"holding {stalled} stalled uploads and {idle} half-sent heads", flush=True)
time.sleep(float(sys.argv[6]))
