#!/usr/bin/env python3
"""deploy/compose.yaml by the rules `docker compose up` on an empty volume depends on, where no
Docker engine runs (the schema itself: `docker-compose config -q`, in scripts/deploy-check.sh).

  python3 scripts/compose-check.py deploy/compose.yaml deploy/Dockerfile

Rules (each failure is one line naming the service):
- every api and worker either applies the migrations at its start (they take the Postgres
  migration lock, so any number may) or waits for a `migrate` service that completes;
- a service a `depends_on` waits `service_healthy` for has a healthcheck, one waited
  `service_completed_successfully` for runs once (restart "no" or on-failure);
- a replicated service publishes no fixed host port (the replicas would collide);
- a named volume mounted into one of our images is at a path the Dockerfile creates and gives
  to the image's user (a fresh volume is filled from the image, ownership included);
- DynamoDB Local shares one store across access keys (-sharedDb): the worker reads with the
  temporary keys STS hands it, the simulator writes with its own;
- a service of ours on the development profile mounts config/development.toml, which the image
  does not hold.
"""
import re
import sys

import yaml


def main(compose_path, dockerfile_path):
    compose = yaml.safe_load(open(compose_path))
    dockerfile = open(dockerfile_path).read()
    services = compose.get("services", {})
    problems = []

    def env_of(svc):
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        return env

    def ours(svc):
        return isinstance(svc.get("build"), dict) and "Dockerfile" in svc["build"].get("dockerfile", "")

    def command(svc):
        c = svc.get("command") or []
        return c if isinstance(c, list) else c.split()

    # an api or worker either migrates at start or waits for a migrate service that completes
    for name, svc in services.items():
        cmd = command(svc)
        if not ours(svc) or not cmd or cmd[0] not in ("migrator-api", "migrator-worker"):
            continue
        if cmd[1:2] == ["migrate"]:
            continue
        migrates = str(env_of(svc).get("MIGRATOR__DATABASE__MIGRATE_AT_START", "true")).lower() == "true"
        deps = svc.get("depends_on") or {}
        waits_for_migrate = any(
            isinstance(deps, dict)
            and (d.get("condition") == "service_completed_successfully")
            and command(services.get(dep, {}))[1:2] == ["migrate"]
            for dep, d in (deps.items() if isinstance(deps, dict) else [])
        )
        if not migrates and not waits_for_migrate:
            problems.append(f"{name}: neither migrates at start nor waits for a migrate service that completes")

    # depends_on conditions are met by their targets
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, d in deps.items():
            target = services.get(dep)
            if target is None:
                problems.append(f"{name}: depends on {dep}, which is not a service")
                continue
            cond = d.get("condition")
            if cond == "service_healthy" and not target.get("healthcheck"):
                problems.append(f"{name}: waits for {dep} to be healthy, which has no healthcheck")
            if cond == "service_completed_successfully" and target.get("restart", "no") not in ("no", "on-failure"):
                problems.append(f"{name}: waits for {dep} to complete, which restarts always")

    # replicas and host ports
    for name, svc in services.items():
        replicas = (svc.get("deploy") or {}).get("replicas", 1)
        if replicas > 1:
            for p in svc.get("ports") or []:
                if ":" in str(p):
                    problems.append(f"{name}: {replicas} replicas publish the fixed host port {p}")

    # named volumes at paths the image creates for its user
    owned = set()
    for m in re.finditer(r"chown -R (\d+):(\d+) (\S+)", dockerfile):
        owned.add(m.group(3))
    created = set(re.findall(r"mkdir -p (\S+)", dockerfile))
    named = set((compose.get("volumes") or {}).keys())
    for name, svc in services.items():
        if not ours(svc):
            continue
        for v in svc.get("volumes") or []:
            src, _, rest = str(v).partition(":")
            target = rest.split(":")[0]
            if src not in named:
                continue
            if target not in created or not any(target == o or target.startswith(o + "/") for o in owned):
                problems.append(
                    f"{name}: volume {src} at {target}, which the Dockerfile does not create for the image's user"
                )

    # DynamoDB Local: one store for every access key
    for name, svc in services.items():
        if "dynamodb-local" in str(svc.get("image", "")) and "-sharedDb" not in command(svc):
            problems.append(f"{name}: DynamoDB Local without -sharedDb keeps one store per access key")

    for name, svc in services.items():
        if ours(svc) and env_of(svc).get("MIGRATOR_ENV") == "development":
            mounts = [str(v) for v in svc.get("volumes") or []]
            if not any(m.endswith(":/app/config/development.toml:ro") and "config/development.toml" in m for m in mounts):
                problems.append(f"{name}: on the development profile without config/development.toml mounted")

    for p in problems:
        print(f"compose-check: {compose_path}: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"compose-check: {compose_path}: {len(services)} services keep the start-up rules")


if __name__ == "__main__":
    main(*sys.argv[1:3])
