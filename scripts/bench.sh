#!/usr/bin/env bash
# `make bench`: release build, local services, then the benchmark harness
# (crates/testkit/src/bin/bench.rs). Prints one markdown table; docs/benchmarks.md keeps results.
set -euo pipefail
cd "$(dirname "$0")/.."
# the in-memory DynamoDB emulator keeps the memory of every table it ever held: one that had
# served a day of tests read 1.8x slower here than a fresh one. Each run starts a fresh one.
dynalite_pid="${MIGRATOR_TOOLS_DIR:-.local}/run/dynalite.pid"
if [ -f "$dynalite_pid" ] && kill "$(cat "$dynalite_pid")" 2>/dev/null; then
  echo "[bench] restarting the DynamoDB emulator (a fresh one for every run)"
  while kill -0 "$(cat "$dynalite_pid")" 2>/dev/null; do sleep 0.2; done
fi
scripts/services.sh
command -v wrk >/dev/null || { echo "[bench] installing wrk (Debian)"; apt-get install -y -q wrk >/dev/null; }
command -v pgbench >/dev/null || { echo "pgbench is missing (postgresql-client)"; exit 1; }
# statements per account come from pg_stat_statements, which must be preloaded: load it (a
# restart of the local cluster) when it is not
if ! psql -h 127.0.0.1 -U postgres -tAc "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
  v="$(ls /etc/postgresql | head -1)"
  echo "[bench] loading pg_stat_statements into PostgreSQL $v (restart)"
  echo "shared_preload_libraries = 'pg_stat_statements'" > "/etc/postgresql/$v/main/conf.d/pg_stat_statements.conf"
  pg_ctlcluster --skip-systemctl-redirect "$v" main restart
fi
cargo build --release --quiet --bin migrator-worker --bin bench
echo "[bench] $(date -u +%FT%TZ) on $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
RUST_LOG=${RUST_LOG:-error} target/release/bench
