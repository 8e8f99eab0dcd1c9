#!/usr/bin/env bash
# The dependency graph against deny.toml (cargo-deny): licenses, duplicate versions, sources,
# and the RustSec advisories. Run by `make lint`.
#
# cargo-deny is installed at the version pinned below when missing (`cargo install --locked`
# into $CARGO_HOME/bin, a few minutes once; a CI cache keeps it).
#
# Advisories need the RustSec database, cloned from github.com into
# $CARGO_HOME/advisory-dbs. Where github.com cannot be reached (this project's build machines
# reach the package registries only) the database on disk is used as it is, and its date is
# printed; with no database on disk at all the advisories are NOT checked and this says so
# loudly. DENY_ADVISORIES=required turns both of those into failures (a CI that can reach
# github.com should set it).
set -euo pipefail
cd "$(dirname "$0")/.."
version="0.20.2"
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $version" ]; then
  echo "[deny] installing cargo-deny $version (cargo install --locked)"
  cargo install --locked --quiet cargo-deny --version "$version"
fi

cargo deny --locked check licenses bans sources

# cargo-deny's own place for the default database (the suffix is its hash of the URL)
db="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if cargo deny --locked check advisories 2>"$log"; then
  cat "$log" >&2
  echo "[deny] advisories checked against the RustSec database of $(git -C "$db" log -1 --format=%cs 2>/dev/null)"
  exit 0
fi
if ! grep -q "failed to fetch advisory database" "$log"; then
  cat "$log" >&2
  exit 1
fi
if [ "${DENY_ADVISORIES:-}" = required ]; then
  echo "[deny] the RustSec database could not be fetched and DENY_ADVISORIES=required" >&2
  exit 1
fi
if [ ! -d "$db/.git" ]; then
  echo "[deny] WARNING: advisories NOT checked: the RustSec database (github.com) is" \
    "unreachable and there is no copy in $db" >&2
  exit 0
fi
echo "[deny] WARNING: RustSec database unreachable; checking against the copy on disk of" \
  "$(git -C "$db" log -1 --format=%cs)"
if cargo deny --locked --offline check advisories 2>"$log"; then
  cat "$log" >&2
elif grep -qi "stale" "$log"; then
  # cargo-deny refuses a copy last fetched more than 90 days ago (maximum-db-staleness)
  cat "$log" >&2
  echo "[deny] WARNING: advisories NOT checked: the copy on disk is older than cargo-deny" \
    "accepts and github.com is unreachable" >&2
else
  cat "$log" >&2
  exit 1
fi
