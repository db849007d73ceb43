#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit and integration tests, which start the real
# binary on loopback), then the client smoke tests (boto3 and awscli from a venv this
# script creates on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

# The gateway's integration tests build target/debug/rucket, which the smoke tests use.
cargo test --locked --workspace

venv="${RUCKET_VENV:-target/venv}"
if [ ! -x "$venv/bin/pytest" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r gateway/tests/clients/requirements.txt
fi
PATH="$PWD/$venv/bin:$PATH" RUCKET_BIN="$PWD/target/debug/rucket" \
  "$venv/bin/pytest" -q gateway/tests/clients
