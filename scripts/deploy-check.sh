#!/usr/bin/env bash
# The Kubernetes manifests against the API schemas of the cluster version we target
# (kubernetes-validate, PyPI, installed by scripts/services.sh), strictly: an unknown field is an
# error. KEDA's ScaledObject (a CRD) and the kustomization are not in those schemas.
# The dashboard and the manifests' settings are checked by crates/testkit/tests/deploy.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${MIGRATOR_TOOLS_DIR:-$PWD/.local}"
validate="$tools/venv/bin/kubernetes-validate"
[ -x "$validate" ] || { echo "kubernetes-validate missing: run scripts/services.sh" >&2; exit 1; }
files=(deploy/k8s/config.yaml deploy/k8s/blobs.yaml deploy/k8s/migrate-job.yaml
       deploy/k8s/api.yaml deploy/k8s/worker.yaml)
for f in deploy/k8s/*.yaml; do
  case " ${files[*]} deploy/k8s/kustomization.yaml " in
    *" $f "*) ;;
    *) echo "deploy-check: $f is neither validated nor listed as skipped" >&2; exit 1 ;;
  esac
done
"$validate" --strict --quiet --kubernetes-version "${K8S_VERSION:-1.31.0}" "${files[@]}"
echo "deploy-check: ${#files[@]} manifests valid for Kubernetes ${K8S_VERSION:-1.31.0}"
