#!/usr/bin/env bash
# The Kubernetes manifests against the API schemas of the cluster version we target
# (kubernetes-validate, PyPI, installed by scripts/services.sh), strictly: an unknown field is an
# error. CRDs (KEDA's, the Prometheus Operator's) and kustomizations are not in those schemas;
# crates/testkit/tests/deploy.rs checks the kustomizations' references and image pins, the
# alert rules (promtool), the dashboard and the manifests' settings.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${MIGRATOR_TOOLS_DIR:-$PWD/.local}"
validate="$tools/venv/bin/kubernetes-validate"
[ -x "$validate" ] || { echo "kubernetes-validate missing: run scripts/services.sh" >&2; exit 1; }
files=(deploy/k8s/base/serviceaccounts.yaml
       deploy/k8s/base/migrate-job.yaml deploy/k8s/base/api.yaml deploy/k8s/base/worker.yaml
       deploy/k8s/base/networkpolicies.yaml)
skipped="deploy/k8s/base/kustomization.yaml deploy/k8s/base/keda.yaml"
for f in deploy/k8s/base/*.yaml; do
  case " ${files[*]} $skipped " in
    *" $f "*) ;;
    *) echo "deploy-check: $f is neither validated nor listed as skipped" >&2; exit 1 ;;
  esac
done
"$validate" --strict --quiet --kubernetes-version "${K8S_VERSION:-1.31.0}" "${files[@]}"
# the ServiceMonitor's headless Service is core Kubernetes too
"$validate" --strict --quiet --kubernetes-version "${K8S_VERSION:-1.31.0}" \
  <(python3 -c 'import sys; print(open(sys.argv[1]).read().split("\n---\n")[0])' deploy/k8s/monitoring/servicemonitor.yaml)
echo "deploy-check: ${#files[@]} manifests (and the worker's metrics Service) valid for Kubernetes ${K8S_VERSION:-1.31.0}"

# the compose file: its schema (docker-compose v1 reads it without an engine), then the rules a
# `docker compose up` on an empty volume depends on
command -v docker-compose >/dev/null \
  || { echo "deploy-check: docker-compose missing: run scripts/services.sh" >&2; exit 1; }
docker-compose -f deploy/compose.yaml config -q
"$tools/venv/bin/python" scripts/compose-check.py deploy/compose.yaml deploy/Dockerfile

# each overlay as a release renders it: kustomize (kubectl's own, or the kustomize binary), its
# core objects against the schemas, then what a release needs (scripts/overlay-check.py)
if command -v kubectl >/dev/null; then render=(kubectl kustomize)
elif command -v kustomize >/dev/null; then render=(kustomize build)
else
  echo "deploy-check: WARNING: overlays NOT rendered: neither kubectl nor kustomize is installed" \
    "(their structure is still checked by crates/testkit/tests/deploy.rs)" >&2
  exit 0
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for pair in staging:migrator-staging production:migrator; do
  overlay="${pair%%:*}"
  "${render[@]}" "deploy/k8s/overlays/$overlay" > "$out/$overlay.yaml"
  "$tools/venv/bin/python" scripts/overlay-check.py "$overlay" "${pair##*:}" < "$out/$overlay.yaml"
  # CRDs (KEDA's, the Prometheus Operator's) are not in the Kubernetes schemas
  "$tools/venv/bin/python" -c '
import sys, yaml
crds = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] not in crds]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))' "$out/$overlay.yaml" "$out/$overlay-core.yaml"
  "$validate" --strict --quiet --kubernetes-version "${K8S_VERSION:-1.31.0}" "$out/$overlay-core.yaml"
done
echo "deploy-check: overlays staging and production rendered (${render[*]}) and valid"
# the release's order: what scripts/release.sh applies first (the settings and the Job)
for overlay in staging production; do
  MIGRATOR_TOOLS_DIR="$tools" scripts/release.sh "$overlay" --plan >/dev/null
done
echo "deploy-check: scripts/release.sh plans both overlays"
