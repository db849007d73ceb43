#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit and integration tests, which start the real
# binary on loopback), then the client smoke tests (boto3 and awscli from a venv this
# script creates on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

# Machine tools the tests drive: rclone (client smoke tests; there is no PyPI package)
# and iproute2 (`ip`, for the cluster's partition test) from Debian.
missing=()
command -v rclone >/dev/null || missing+=(rclone)
command -v ip >/dev/null || missing+=(iproute2)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The gateway's integration tests build target/debug/rucket, which the smoke tests use.
cargo test --locked --workspace

# boto3, awscli, s3cmd, minio: a venv, refreshed whenever requirements.txt changes.
venv="${RUCKET_VENV:-target/venv}"
requirements=gateway/tests/clients/requirements.txt
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/pytest" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$wanted" > "$stamp"
fi
PATH="$PWD/$venv/bin:$PATH" RUCKET_BIN="$PWD/target/debug/rucket" \
  "$venv/bin/pytest" -q gateway/tests/clients
