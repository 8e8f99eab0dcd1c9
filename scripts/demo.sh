#!/usr/bin/env bash
# The main job end to end: services up, build, simulator + api + worker started, a synthetic C1
# seeded, then the demo client acts as the mobile app and shows the migration's progress, and
# says where the operators' console shows the same C1.
#
#   scripts/demo.sh          (make demo)       run the demo; api, worker and simulator keep
#                                              running afterwards for the console
#   scripts/demo.sh stop     (make demo-stop)  stop them
#
# The demo never hangs: a process it started that exits, or a fleet with no live worker, stops
# it with one line naming the process and its log (var/log/), and a non-zero status.
# DEMO_KEEP=0 stops the processes at the end of a successful run too.
set -euo pipefail
cd "$(dirname "$0")/.."
pids_file=var/run/demo.pids

stop_demo() {
  [ -f "$pids_file" ] || return 0
  while read -r name pid; do
    kill "$pid" 2>/dev/null && echo "== stopped the demo's $name (pid $pid)" || true
  done < "$pids_file"
  # the worker finishes the hop in hand (at most worker.max_hop_secs) before it exits
  for _ in $(seq 1 100); do
    alive=0
    while read -r _ pid; do kill -0 "$pid" 2>/dev/null && alive=1; done < "$pids_file"
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  rm -f "$pids_file"
}

if [ "${1:-}" = "stop" ]; then
  stop_demo
  exit 0
fi

scripts/services.sh
cargo build --quiet --bin migrator-api --bin migrator-worker --bin conversations-sim --bin demo \
  --bin migratorctl
mkdir -p var/log var/run
stop_demo   # a previous demo's processes hold the ports
db_url="${MIGRATOR__DATABASE__URL:-postgres://postgres@127.0.0.1:5432/reamaze_migrator}"
db_name="${db_url##*/}"
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db_name'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$db_name\""

# local runs take the development profile (config/development.toml: the DEV-ONLY keys)
export MIGRATOR_ENV=development
# the operators' listener on loopback: the console and migratorctl's address
admin_listen="${DEMO_ADMIN_LISTEN:-127.0.0.1:9090}"
export MIGRATOR__API__ADMIN_LISTEN="$admin_listen"

watch=()
: > "$pids_file"
start() { # name log command...
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  echo "$name $!" >> "$pids_file"
  watch+=(--watch "$name=$!=$log")
}
on_exit() {
  local rc=$?
  if [ "$rc" != 0 ] || [ "${DEMO_KEEP:-1}" = 0 ]; then stop_demo; fi
  exit "$rc"
}
trap on_exit EXIT

shopper="demo-$(date +%H%M%S)"
start simulator var/log/sim.log target/debug/conversations-sim serve
start api var/log/api.log target/debug/migrator-api
start worker var/log/worker.log target/debug/migrator-worker
echo "== seeding $shopper in the Conversations simulator (DynamoDB: dynalite, STS: moto)"
target/debug/conversations-sim seed --shopper-id "$shopper" --threads "${DEMO_THREADS:-300}" --messages "${DEMO_MESSAGES:-40}"
target/debug/demo "$shopper" --admin-api "http://$admin_listen" "${watch[@]}"
# the worker says where its port is (127.0.0.1:9091 unless another process has it)
worker_addr=$(grep -o '"message":"worker http port listening","addr":"[^"]*"' var/log/worker.log \
  | tail -1 | sed 's/.*"addr":"\([^"]*\)"/\1/')
worker_metrics="http://${worker_addr:-127.0.0.1:9091}/metrics"
echo "== the worker's $worker_metrics, highlights (all of it: docs/operations.md, Metrics)"
curl -fs "$worker_metrics" | grep -E '^migrator_(hops_finished_total|messages_written_total|threads_written_total|attachments_total|rejects_total|dynamodb_pages_total|lease_losses_total|time_to_inbox_seconds_(sum|count)|migration_duration_seconds_(sum|count))' \
  | sort || echo "(the worker's metrics port did not answer)"
echo "== the fleet's gauges, read by the api when scraped (http://$admin_listen/metrics)"
curl -fs "http://$admin_listen/metrics" | grep -E '^migrator_(accounts\{|outbox_backlog|parked_runs)' \
  | sort || echo "(the api's metrics did not answer)"
echo "== logs in var/log/{sim,api,worker}.log"
if [ "${DEMO_KEEP:-1}" != 0 ]; then
  echo "== the simulator, the api and the worker keep running for the console: stop them with" \
    "\`make demo-stop\`"
fi
