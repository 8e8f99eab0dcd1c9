#!/usr/bin/env bash
# `make bench`: release build, local services, then the benchmark harness
# (crates/testkit/src/bin/bench.rs). Prints one markdown table; docs/benchmarks.md keeps results.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
command -v wrk >/dev/null || { echo "[bench] installing wrk (Debian)"; apt-get install -y -q wrk >/dev/null; }
command -v pgbench >/dev/null || { echo "pgbench is missing (postgresql-client)"; exit 1; }
cargo build --release --quiet --bin migrator-worker --bin bench
echo "[bench] $(date -u +%FT%TZ) on $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
RUST_LOG=${RUST_LOG:-error} target/release/bench
