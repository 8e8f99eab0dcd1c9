"""Checks one rendered kustomize overlay (`kubectl kustomize deploy/k8s/overlays/<name>`), read
from stdin, for what a release needs beyond each object being valid (scripts/deploy-check.sh
validates the core objects against the Kubernetes schemas):

- every object that lives in a namespace is in the overlay's namespace;
- every container image is ours at an exact tag or digest (never `:latest`, never untagged);
- the settings ConfigMap carries kustomize's content hash, and every pod that reads settings
  reads that very name (a settings change rolls the pods);
- the schema migration Job is named after the release (release.env's MIGRATOR_VERSION), every
  image is that release's, and Argo CD's sync waves put the settings first, then the Job, then
  the Deployments (scripts/release.sh keeps the same order by labels);
- a pod's ServiceAccount (its IAM role) is defined in the overlay, and no pod mounts a
  Kubernetes API token; each Secret a pod reads (envFrom, env, volumes, projected volumes) is
  one the component is meant to read (the api never mounts the media signing key), and every
  ConfigMap it reads is the hashed settings.

Usage: python3 scripts/overlay-check.py <overlay name> <namespace> < rendered.yaml
Exit 1 with every finding on stderr.
"""

import re
import sys

import yaml

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
# the Secrets each component may read (docs/operations.md, Secrets)
SECRETS = {
    "migrator-api": {"migrator-secrets", "migrator-api-secrets"},
    "migrator-worker": {"migrator-secrets", "migrator-worker-secrets", "migrator-media-key"},
    "migrator-migrate": {"migrator-secrets"},
}


def pods(doc):
    """(component, pod spec) of a Deployment or a Job."""
    if doc["kind"] in ("Deployment", "Job"):
        name = doc["metadata"]["name"]
        component = "migrator-migrate" if name.startswith("migrator-migrate") else name
        yield component, doc["spec"]["template"]["spec"]


def reads(component, kind, name, configs):
    """Findings for `component` reading the ConfigMap or Secret `name`."""
    if kind == "ConfigMap" and name not in configs:
        return [f"{component}: reads ConfigMap {name!r}, not the hashed settings {configs}"]
    if kind == "Secret" and name not in SECRETS.get(component, set()):
        return [f"{component}: reads Secret {name!r}"]
    return []


def main():
    overlay, namespace = sys.argv[1], sys.argv[2]
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    errors = []
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for d in docs:
        kind, meta = d["kind"], d["metadata"]
        if kind not in CLUSTER_SCOPED and meta.get("namespace") != namespace:
            errors.append(f"{kind}/{meta['name']}: namespace {meta.get('namespace')!r}")
    configs = [n for k, n in names if k == "ConfigMap" and n.startswith("migrator-config")]
    if len(configs) != 1 or not re.fullmatch(r"migrator-config-[a-z0-9]{10}", configs[0]):
        errors.append(f"settings ConfigMap without its content hash: {configs}")
    jobs = [d for d in docs if d["kind"] == "Job"]
    release = [c for c in docs if c["kind"] == "ConfigMap" and c["metadata"]["name"] == "migrator-release"]
    if release:
        errors.append("the release's local-config ConfigMap was rendered (it is not for the cluster)")
    if len(jobs) != 1 or not re.fullmatch(r"migrator-migrate-\d+\.\d+\.\d+[\w.-]*", jobs[0]["metadata"]["name"]):
        errors.append(f"migrate Job not named after the release: {[j['metadata']['name'] for j in jobs]}")
    else:
        # Argo CD's sync waves: the settings, then the Job (waited for), then the Deployments
        def wave(d):
            return int(d["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))
        config = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] in configs]
        deployments = [d for d in docs if d["kind"] == "Deployment"]
        if not config or not (wave(config[0]) < wave(jobs[0]) < min(wave(d) for d in deployments)):
            errors.append("sync waves do not order the settings, then the migrate Job, then the Deployments")
        if config and config[0]["metadata"].get("labels", {}).get("app.kubernetes.io/name") != "migrator-config":
            errors.append("the settings ConfigMap lacks the label scripts/release.sh selects it by")
        version = jobs[0]["metadata"]["name"][len("migrator-migrate-"):]
        for d in docs:
            for component, spec in pods(d):
                for c in spec.get("initContainers", []) + spec["containers"]:
                    if not c["image"].startswith(f"reamaze/migrator:{version}"):
                        errors.append(f"{component}/{c['name']}: image {c['image']!r} is not release {version}")
    for d in docs:
        for component, spec in pods(d):
            account = spec.get("serviceAccountName")
            if account is not None and ("ServiceAccount", account) not in names:
                errors.append(f"{component}: ServiceAccount {account!r} not in the overlay")
            if spec.get("automountServiceAccountToken") is not False:
                errors.append(f"{component}: mounts a Kubernetes API token")
            read_config = False
            for c in spec.get("initContainers", []) + spec["containers"]:
                image = c["image"]
                # a tag, a digest, or both (kustomize renders `newTag` + `digest` as tag@digest)
                pinned = re.fullmatch(r"reamaze/migrator(:\d+\.\d+\.\d+[\w.-]*)?(@sha256:[0-9a-f]{64})?", image)
                if not pinned or not (pinned.group(1) or pinned.group(2)):
                    errors.append(f"{component}/{c['name']}: image {image!r} not pinned")
                refs = [("ConfigMap", e["configMapRef"]["name"]) for e in c.get("envFrom", []) if "configMapRef" in e]
                refs += [("Secret", e["secretRef"]["name"]) for e in c.get("envFrom", []) if "secretRef" in e]
                for e in c.get("env", []):
                    source = e.get("valueFrom", {})
                    if "configMapKeyRef" in source:
                        refs.append(("ConfigMap", source["configMapKeyRef"]["name"]))
                    if "secretKeyRef" in source:
                        refs.append(("Secret", source["secretKeyRef"]["name"]))
                for kind, name in refs:
                    read_config |= kind == "ConfigMap" and name in configs
                    errors += reads(component, kind, name, configs)
            for v in spec.get("volumes", []):
                sources = [v] + v.get("projected", {}).get("sources", [])
                for src in sources:
                    if "secret" in src:
                        errors += reads(component, "Secret", src["secret"].get("secretName") or src["secret"].get("name"), configs)
                    if "configMap" in src:
                        errors += reads(component, "ConfigMap", src["configMap"]["name"], configs)
            if not read_config:
                errors.append(f"{component}: does not read the settings ConfigMap")
    for e in errors:
        print(f"overlay-check {overlay}: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"overlay-check {overlay}: {len(docs)} objects in {namespace}, images pinned, "
          f"{configs[0]} read by every pod, {jobs[0]['metadata']['name']} between the settings and the Deployments")


if __name__ == "__main__":
    main()
