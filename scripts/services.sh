#!/usr/bin/env bash
# Installs (once) and starts (if not running) the local services the project needs.
# Idempotent: running it twice is fine.
#
# DynamoDB: dynalite (npm) -- faithful validation errors and GSIs, ~35k items/s of
#   paginated Query here; it has no STS.
# STS: moto server (PyPI, in a project-local virtualenv) -- answers AssumeRole. Moto also
#   speaks DynamoDB but ~13x slower, so it is used for STS only.
# schemathesis (PyPI, same virtualenv): checks the api against its OpenAPI document;
#   kubernetes-validate (PyPI, same virtualenv): checks deploy/k8s against the API schemas.
# PostgreSQL and RabbitMQ are the machine's own (installed from Debian packages when missing);
# they are started if they are down, and RabbitMQ's management plugin is enabled (the api
# applies the queues' policies through it).
set -euo pipefail
# Debian keeps the servers' commands (rabbitmq-server, pg_ctlcluster's helpers) in sbin, which a
# non-root PATH often lacks
export PATH="$PATH:/usr/sbin:/sbin:/usr/lib/rabbitmq/bin"
here="$(cd "$(dirname "$0")/.." && pwd)"
tools="${MIGRATOR_TOOLS_DIR:-$here/.local}"
run="$tools/run"
mkdir -p "$tools" "$run"
DYNAMO_PORT="${DYNAMO_PORT:-8000}"
STS_PORT="${STS_PORT:-5055}"

log() { printf '[services] %s\n' "$*" >&2; }

wait_port() { # host port name
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  log "$3 did not come up on $1:$2"; return 1
}

# --- Debian packages on a bare machine ---------------------------------------
# PostgreSQL, RabbitMQ, promtool (the `prometheus` package) and the console's test browser
# (Debian's chromium and chromium-driver: /usr/bin/chromium, /usr/bin/chromedriver) are
# installed when missing, so
# a machine with only a Rust toolchain, Node.js and Python needs nothing else.
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
apt_updated=""
apt_install() {
  log "installing $* (Debian packages)"
  [ -n "$apt_updated" ] || { $sudo apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
# the newest PostgreSQL version installed (there may be several)
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -1; }
if ! command -v pg_ctlcluster >/dev/null; then
  apt_install postgresql
  # a fresh local cluster: the tests connect as postgres over 127.0.0.1 without a password;
  # a cluster the install already started reads the change on reload
  v="$(pg_version)"
  $sudo sed -i -E 's#^(host\s+all\s+all\s+127\.0\.0\.1/32\s+)\S+#\1trust#' \
    "/etc/postgresql/$v/main/pg_hba.conf"
  $sudo pg_ctlcluster --skip-systemctl-redirect "$v" main reload 2>/dev/null || true
fi
command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
if ! command -v promtool >/dev/null; then
  # Debian ships promtool only inside the `prometheus` package, whose server we do not want
  # running (:9090): a policy-rc.d keeps the install from starting it, and systemd from
  # starting it at boot
  $sudo sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
  apt_install prometheus || { $sudo rm -f /usr/sbin/policy-rc.d; exit 1; }
  $sudo rm -f /usr/sbin/policy-rc.d
  if [ -d /run/systemd/system ]; then $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
fi
# npm and the venv module are packages of their own on Debian, beside Node.js and Python
command -v npm >/dev/null || apt_install npm
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
[ -x /usr/bin/chromedriver ] && [ -x /usr/bin/chromium ] || apt_install chromium chromium-driver
# the compose file's schema check (`docker-compose config`, no Docker engine needed)
command -v docker-compose >/dev/null || apt_install docker-compose

# --- PostgreSQL -----------------------------------------------------------
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start
fi
wait_port 127.0.0.1 5432 PostgreSQL

# --- RabbitMQ -------------------------------------------------------------
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  log "starting RabbitMQ"
  rabbitmq-server -detached || true
  for _ in $(seq 1 150); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 0.2; done
fi
wait_port 127.0.0.1 5672 RabbitMQ
# the management API: the api applies the queues' policies through it (amqp.management_url)
if ! (exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null; then
  log "enabling RabbitMQ's management plugin"
  rabbitmq-plugins enable rabbitmq_management >/dev/null
fi
wait_port 127.0.0.1 15672 "RabbitMQ management"

# --- installs (npm and pip side by side on a fresh machine) ---------------
pids=()
if [ ! -x "$tools/node_modules/.bin/dynalite" ]; then
  log "installing dynalite (npm)"
  (cd "$tools" && npm install --no-audit --no-fund --silent dynalite@3 >/dev/null) &
  pids+=($!)
fi
if [ ! -x "$tools/venv/bin/moto_server" ] || [ ! -x "$tools/venv/bin/st" ] ||
   [ ! -x "$tools/venv/bin/kubernetes-validate" ]; then
  log "installing moto server, schemathesis and kubernetes-validate (PyPI) into $tools/venv"
  ( ([ -x "$tools/venv/bin/pip" ] || python3 -m venv "$tools/venv") &&
    "$tools/venv/bin/pip" install --quiet --disable-pip-version-check \
      'moto[server]>=5,<6' 'schemathesis==4.32.5' 'kubernetes-validate==1.37.0') &
  pids+=($!)
fi
for p in "${pids[@]}"; do wait "$p" || { log "an install failed"; exit 1; }; done

# --- dynalite -------------------------------------------------------------
if ! (exec 3<>"/dev/tcp/127.0.0.1/$DYNAMO_PORT") 2>/dev/null; then
  log "starting dynalite on :$DYNAMO_PORT (in memory)"
  nohup "$tools/node_modules/.bin/dynalite" --port "$DYNAMO_PORT" \
    --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 \
    >"$run/dynalite.log" 2>&1 &
  echo $! >"$run/dynalite.pid"
fi
wait_port 127.0.0.1 "$DYNAMO_PORT" dynalite

# --- moto (STS) -----------------------------------------------------------
if ! (exec 3<>"/dev/tcp/127.0.0.1/$STS_PORT") 2>/dev/null; then
  log "starting moto (STS) on :$STS_PORT"
  nohup "$tools/venv/bin/moto_server" -H 127.0.0.1 -p "$STS_PORT" \
    >"$run/moto.log" 2>&1 &
  echo $! >"$run/moto.pid"
fi
wait_port 127.0.0.1 "$STS_PORT" moto

log "ready: postgres :5432, rabbitmq :5672, dynalite :$DYNAMO_PORT, sts :$STS_PORT"
