#!/usr/bin/env bash
# The main job end to end: services up, build, simulator + api + worker started, a synthetic C1
# seeded, then the demo client acts as the mobile app and shows the migration's progress.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo build --quiet --bin migrator-api --bin migrator-worker --bin conversations-sim --bin demo
mkdir -p var/log
db_url="${MIGRATOR__DATABASE__URL:-postgres://postgres@127.0.0.1:5432/reamaze_migrator}"
db_name="${db_url##*/}"
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db_name'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$db_name\""

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

shopper="demo-$(date +%H%M%S)"
target/debug/conversations-sim serve >var/log/sim.log 2>&1 & pids+=($!)
target/debug/migrator-api >var/log/api.log 2>&1 & pids+=($!)
target/debug/migrator-worker >var/log/worker.log 2>&1 & pids+=($!)
for _ in $(seq 1 100); do
  curl -fs http://127.0.0.1:8080/healthz >/dev/null 2>&1 && curl -fs http://127.0.0.1:8090/healthz >/dev/null 2>&1 && break
  sleep 0.2
done
echo "== seeding $shopper in the Conversations simulator (DynamoDB: dynalite, STS: moto)"
target/debug/conversations-sim seed --shopper-id "$shopper" --threads "${DEMO_THREADS:-300}" --messages "${DEMO_MESSAGES:-40}"
target/debug/demo "$shopper"
# the worker says where its port is (127.0.0.1:9091 unless another process has it)
worker_addr=$(grep -o '"message":"worker http port listening","addr":"[^"]*"' var/log/worker.log \
  | tail -1 | sed 's/.*"addr":"\([^"]*\)"/\1/')
worker_metrics="http://${worker_addr:-127.0.0.1:9091}/metrics"
echo "== the worker's $worker_metrics, highlights (all of it: docs/operations.md, Metrics)"
curl -fs "$worker_metrics" | grep -E '^migrator_(hops_finished_total|messages_written_total|threads_written_total|attachments_total|rejects_total|dynamodb_pages_total|lease_losses_total|time_to_inbox_seconds_(sum|count)|migration_duration_seconds_(sum|count))' \
  | sort || echo "(the worker's metrics port did not answer)"
echo "== the fleet's gauges, read by the api when scraped (http://127.0.0.1:8080/metrics)"
curl -fs http://127.0.0.1:8080/metrics | grep -E '^migrator_(accounts\{|outbox_backlog|parked_runs)' \
  | sort || echo "(the api's metrics did not answer)"
echo "== logs in var/log/{sim,api,worker}.log"
