#!/usr/bin/env bash
# The api checked against its own OpenAPI document by schemathesis (installed by
# scripts/services.sh): no 5xx, status codes, content types, headers and bodies as documented,
# schema-invalid input refused, undeclared methods answered 405. Run once with an app token and
# once with an operator token, against an api started in the harness on fresh services.
# ST_EXAMPLES (50) sets the examples per operation.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tools="${MIGRATOR_TOOLS_DIR:-$here/.local}"
cd "$here"
exec cargo run -q -p migrator-testkit --bin apicheck -- "$tools/venv/bin/st" \
  --max-examples "${ST_EXAMPLES:-50}"
