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
files=(deploy/k8s/base/serviceaccounts.yaml deploy/k8s/base/blobs.yaml
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
