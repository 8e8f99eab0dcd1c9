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

db="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
if cargo deny --locked check advisories 2>/tmp/deny-advisories.$$; then
  rm -f /tmp/deny-advisories.$$
  echo "[deny] advisories checked against the RustSec database of $(git -C "$db" log -1 --format=%cs)"
  exit 0
fi
if ! grep -q "failed to fetch advisory database" /tmp/deny-advisories.$$; then
  cat /tmp/deny-advisories.$$ >&2
  rm -f /tmp/deny-advisories.$$
  exit 1
fi
rm -f /tmp/deny-advisories.$$
[ "${DENY_ADVISORIES:-}" = required ] && {
  echo "[deny] the RustSec database could not be fetched and DENY_ADVISORIES=required" >&2
  exit 1
}
if [ -d "$db/.git" ]; then
  echo "[deny] WARNING: RustSec database unreachable; checking against the copy on disk of" \
    "$(git -C "$db" log -1 --format=%cs)"
  cargo deny --locked --offline check advisories
else
  echo "[deny] WARNING: advisories NOT checked: the RustSec database (github.com) is" \
    "unreachable and there is no copy in $db" >&2
fi
