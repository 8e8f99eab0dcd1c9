#!/usr/bin/env bash
# A release, in its order (docs/operations.md, Releasing):
#
#   scripts/release.sh staging|production          release what the overlay's release.env names
#   scripts/release.sh staging|production --plan   render, check and print the two steps; touch
#                                                  no cluster (needs python3 with PyYAML)
#
# 1. Render the overlay (kubectl kustomize) and check it as a release (scripts/overlay-check.py
#    when PyYAML is there).
# 2. Apply the settings ConfigMap and the release's migrate Job (selected by label), and wait
#    for the Job: the schema migrations (under the Postgres migration lock; a CONCURRENTLY index
#    build never deadlocks with a waiting process) and then the queue policies. A failed Job
#    stops the release here: nothing else has changed.
# 3. Apply everything, then wait for the api's and the worker's rollouts; the Jobs of older
#    releases are deleted.
#
# Rollback: set release.env back to the previous version and run this again. Migrations only
# add, so the previous release runs on the newer schema and its Job finds nothing to apply.
#
# Environment: KUBECTL (kubectl), JOB_TIMEOUT_SECS (900), ROLLOUT_TIMEOUT (10m).
set -euo pipefail
cd "$(dirname "$0")/.."
overlay="${1:?usage: scripts/release.sh staging|production [--plan]}"
mode="${2:-apply}"
kubectl="${KUBECTL:-kubectl}"
dir="deploy/k8s/overlays/$overlay"
[ -f "$dir/release.env" ] || { echo "release: no overlay $dir (release.env missing)" >&2; exit 2; }
version="$(sed -n 's/^MIGRATOR_VERSION=//p' "$dir/release.env")"
[ -n "$version" ] || { echo "release: $dir/release.env names no MIGRATOR_VERSION" >&2; exit 2; }
job="migrator-migrate-$version"
# the objects of step 2: the settings and the migrate Job (labels set in deploy/k8s/base)
step2='app.kubernetes.io/name in (migrator-config,migrator-migrate)'

rendered="$(mktemp)"
trap 'rm -f "$rendered"' EXIT
"$kubectl" kustomize "$dir" > "$rendered"
namespace="$(sed -n 's/^  namespace: //p' "$rendered" | head -1)"
python="${PYTHON:-python3}"
[ -x "${MIGRATOR_TOOLS_DIR:-.local}/venv/bin/python" ] && python="${MIGRATOR_TOOLS_DIR:-.local}/venv/bin/python"
if "$python" -c 'import yaml' 2>/dev/null; then
  "$python" scripts/overlay-check.py "$overlay" "$namespace" < "$rendered"
else
  echo "release: WARNING: PyYAML missing, the rendered overlay was not checked (scripts/overlay-check.py)" >&2
fi
echo "release: $overlay, version $version, namespace $namespace, migrate Job $job"

if [ "$mode" = "--plan" ]; then
  "$python" - "$rendered" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
first = [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/name") in ("migrator-config", "migrator-migrate")]
print("step 2 (apply, then wait for the Job):", ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in first))
kinds = sorted(d["kind"] for d in first)
if kinds != ["ConfigMap", "Job"]:
    sys.exit(f"release: step 2 would apply {kinds}, not the settings and the migrate Job alone")
print("step 3 (apply, then wait for the rollouts):", len(docs), "objects, among them",
      ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in docs if d["kind"] == "Deployment"))
EOF
  exit 0
fi
[ "$mode" = "apply" ] || { echo "release: unknown mode $mode" >&2; exit 2; }

echo "== step 2: the settings and the migrate Job"
"$kubectl" apply -f "$rendered" -l "$step2"
deadline=$(( $(date +%s) + ${JOB_TIMEOUT_SECS:-900} ))
while :; do
  succeeded="$("$kubectl" -n "$namespace" get job "$job" -o jsonpath='{.status.succeeded}')"
  failed="$("$kubectl" -n "$namespace" get job "$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')"
  [ "${succeeded:-0}" -ge 1 ] && break
  if [ "$failed" = "True" ]; then
    echo "release: the migrate Job $job failed; nothing else was applied. Its logs:" >&2
    "$kubectl" -n "$namespace" logs "job/$job" --all-containers --tail=50 >&2 || true
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "release: the migrate Job $job did not complete in ${JOB_TIMEOUT_SECS:-900} s; nothing else was applied" >&2
    exit 1
  fi
  sleep 5
done
echo "   $job completed"

echo "== step 3: everything, then the rollouts"
"$kubectl" apply -f "$rendered"
for d in migrator-api migrator-worker; do
  "$kubectl" -n "$namespace" rollout status "deployment/$d" --timeout="${ROLLOUT_TIMEOUT:-10m}"
done
"$kubectl" -n "$namespace" get jobs -l app.kubernetes.io/name=migrator-migrate -o name \
  | grep -v "^job.batch/$job\$" | xargs -r "$kubectl" -n "$namespace" delete
echo "release: $overlay is at $version"
