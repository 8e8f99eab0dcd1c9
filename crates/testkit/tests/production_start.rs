//! The release as the manifests make it: the production overlay rendered (`kubectl kustomize`),
//! each process started under the production profile with exactly its pod's environment — the
//! rendered ConfigMap, the Secrets its Deployment reads (their keys from the production
//! checklist in docs/operations.md) — and nothing else. The worker never gets the api's token
//! keys nor the api the media key or the credentials keys, and both serve: a C1 migrates
//! through them. Then: every setting a process refuses in production is set by the overlay or
//! named in the checklist.
//!
//! What stands in for the cluster (and only that): loopback addresses and ports for the
//! listeners and services, the emulators' endpoints (moto's S3 for the overlay's bucket), a
//! temporary key file path, the test's queue prefix and tables, and AWS keys in the environment
//! where the pods' role (IRSA) would be.

use base64::Engine;
use conversations_sim::model::{generate, GenOptions};
use migrator_testkit::process::{binary, spawn_logged, LoggedWorker};
use migrator_testkit::{workspace, EnvOptions, TestEnv};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// The rendered production overlay, as JSON documents.
fn rendered() -> Vec<Value> {
    let yaml = Command::new("kubectl")
        .args(["kustomize", "deploy/k8s/overlays/production"])
        .current_dir(workspace())
        .output()
        .expect("kubectl must be installed: it renders the overlays (kubectl kustomize)");
    assert!(yaml.status.success(), "{yaml:?}");
    // scripts/services.sh's tools: MIGRATOR_TOOLS_DIR, else the checkout's .local
    let tools = std::env::var_os("MIGRATOR_TOOLS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace().join(".local"));
    let python = tools.join("venv/bin/python");
    let mut c = Command::new(&python)
        .args(["-c", "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the project's virtualenv (scripts/services.sh) has PyYAML");
    use std::io::Write;
    c.stdin.take().unwrap().write_all(&yaml.stdout).unwrap();
    let out = c.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The settings ConfigMap's data.
fn config_map(docs: &[Value]) -> BTreeMap<String, String> {
    let cm = docs
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap"
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("migrator-config"))
        })
        .expect("the settings ConfigMap");
    cm["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// The Secrets a Deployment's (or the Job's) pod reads: (name, mount path for a volume).
fn secrets_of(docs: &[Value], kind: &str, name_prefix: &str) -> Vec<(String, Option<String>)> {
    let d = docs
        .iter()
        .find(|d| {
            d["kind"] == kind
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(name_prefix))
        })
        .unwrap_or_else(|| panic!("{kind} {name_prefix}"));
    let spec = &d["spec"]["template"]["spec"];
    let mut out = Vec::new();
    let containers = spec["containers"].as_array().unwrap();
    for c in containers {
        for e in c["envFrom"].as_array().into_iter().flatten() {
            if let Some(n) = e["secretRef"]["name"].as_str() {
                out.push((n.to_string(), None));
            }
        }
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let vol = spec["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == m["name"])
                .unwrap();
            if let Some(n) = vol["secret"]["secretName"].as_str() {
                out.push((n.to_string(), m["mountPath"].as_str().map(String::from)));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The production checklist's Secrets table: Secret -> its keys.
fn checklist() -> (String, BTreeMap<String, Vec<String>>) {
    let ops = std::fs::read_to_string(workspace().join("docs/operations.md")).unwrap();
    let start = ops.find("## Production checklist").expect("the checklist");
    let end = ops[start..]
        .find("\n## Releasing")
        .map_or(ops.len(), |e| start + e);
    let section = ops[start..end].to_string();
    let mut table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() > 3 && cells[1].starts_with("`migrator-") {
            let secret = cells[1].trim_matches('`').to_string();
            for key in cells[2].split(',') {
                table
                    .entry(secret.clone())
                    .or_default()
                    .push(key.trim().trim_matches('`').to_string());
            }
        }
    }
    (section, table)
}

/// Test values for a Secret's keys (what the secret store would hold).
fn secret_values(key: &str, v: &Values) -> String {
    match key {
        "MIGRATOR__DATABASE__URL" => v.database_url.clone(),
        "MIGRATOR__AMQP__URL" => v.amqp_url.clone(),
        "MIGRATOR__CONVERSATIONS__TOKEN" => v.conversations_token.clone(),
        "MIGRATOR__API__JWT_SECRET" => v.jwt_secret.clone(),
        "MIGRATOR__API__ADMIN_JWT_SECRET" => v.admin_jwt_secret.clone(),
        "MIGRATOR__CRYPTO__ACTIVE_KEY" => "k1".into(),
        "MIGRATOR__CRYPTO__CREDENTIALS_KEYS__K1" => v.credentials_key.clone(),
        other => panic!("the checklist names {other}, which this test has no value for"),
    }
}

struct Values {
    database_url: String,
    amqp_url: String,
    conversations_token: String,
    jwt_secret: String,
    admin_jwt_secret: String,
    credentials_key: String,
    key_dir: std::path::PathBuf,
}

/// The environment of `component`'s pod (ConfigMap + its Secrets), then what stands in for
/// the cluster.
fn pod_env(
    docs: &[Value],
    kind: &str,
    component: &str,
    v: &Values,
    env: &TestEnv,
) -> BTreeMap<String, String> {
    let (_, table) = checklist();
    let mut out = config_map(docs);
    for (secret, mount) in secrets_of(docs, kind, component) {
        let keys = table
            .get(&secret)
            .unwrap_or_else(|| panic!("{component} reads Secret {secret}, not in the checklist"));
        match mount {
            Some(path) => {
                // a file Secret: the checklist names its file keys; the path stands in
                for key in keys {
                    let setting = out
                        .iter()
                        .find(|(_, val)| *val == &format!("{path}/{key}"))
                        .map(|(k, _)| k.clone())
                        .unwrap_or_else(|| panic!("no setting reads {path}/{key}"));
                    out.insert(setting, v.key_dir.join(key).display().to_string());
                }
            }
            None => {
                for key in keys {
                    out.insert(key.clone(), secret_values(key, v));
                }
            }
        }
    }
    let s = &env.settings;
    for (k, val) in [
        (
            "MIGRATOR_CONFIG_DIR",
            workspace().join("config").display().to_string(),
        ),
        ("MIGRATOR__API__LISTEN", "127.0.0.1:0".into()),
        ("MIGRATOR__API__ADMIN_LISTEN", "127.0.0.1:0".into()),
        ("MIGRATOR__WORKER__LISTEN", "127.0.0.1:0".into()),
        (
            "MIGRATOR__CONVERSATIONS__BASE_URL",
            env.sim.base_url.clone(),
        ),
        ("MIGRATOR__MEDIA__ALLOWED_ORIGINS", env.sim.base_url.clone()),
        ("MIGRATOR__DYNAMODB__ENDPOINT", s.dynamodb.endpoint.clone()),
        (
            "MIGRATOR__DYNAMODB__THREADS_TABLE",
            s.dynamodb.threads_table.clone(),
        ),
        (
            "MIGRATOR__DYNAMODB__MESSAGES_TABLE",
            s.dynamodb.messages_table.clone(),
        ),
        ("MIGRATOR__STS__ENDPOINT", s.sts.endpoint.clone()),
        ("MIGRATOR__AMQP__PREFIX", s.amqp.prefix.clone()),
        (
            "MIGRATOR__AMQP__MANAGEMENT_URL",
            s.amqp.management_url.clone(),
        ),
        // the overlay's bucket, on moto's S3 (path-style, as emulators need)
        ("MIGRATOR__BLOBS__S3__ENDPOINT", s.blobs.s3.endpoint.clone()),
        ("MIGRATOR__BLOBS__S3__FORCE_PATH_STYLE", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test-pod-role".into()),
        ("AWS_SECRET_ACCESS_KEY", "test-pod-role-secret".into()),
        ("RUST_LOG", "info".into()),
        ("LOG_FORMAT", "json".into()),
    ] {
        out.insert(k.into(), val);
    }
    out
}

fn command(bin: &str, env: &BTreeMap<String, String>) -> Command {
    let mut c = Command::new(binary(bin));
    c.env_clear()
        .envs(env)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir());
    c
}

async fn serving(p: &mut LoggedWorker, name: &str, message: &str) -> String {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = p.exited() {
            panic!("{name} exited ({st}):\n{}", p.log_so_far());
        }
        if let Some(addr) = p.logged_addr(message) {
            if reqwest::get(format!("http://{addr}/readyz"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return addr;
            }
        }
        assert!(
            Instant::now() < end,
            "{name} not serving:\n{}",
            p.log_so_far()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A broker user that is not `guest` (production refuses it), tagged as the checklist says.
async fn broker_user(env: &TestEnv, user: &str, password: &str, delete: bool) {
    let http = reqwest::Client::new();
    let m = &env.settings.amqp.management_url;
    let (method, body) = if delete {
        (reqwest::Method::DELETE, None)
    } else {
        (
            reqwest::Method::PUT,
            Some(json!({"password": password, "tags": "policymaker"})),
        )
    };
    let mut r = http
        .request(method, format!("{m}/api/users/{user}"))
        .basic_auth("guest", Some("guest"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    assert!(r.send().await.unwrap().status().is_success());
    if !delete {
        let r = http
            .put(format!("{m}/api/permissions/%2F/{user}"))
            .basic_auth("guest", Some("guest"))
            .json(&json!({"configure": ".*", "write": ".*", "read": ".*"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

fn sign(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_and_the_worker_start_in_production_with_only_their_manifests_secrets() {
    let token = format!("conversations-service-token-{}", uuid::Uuid::new_v4());
    let docs = rendered();
    let cm = config_map(&docs);
    assert_eq!(cm["MIGRATOR_ENV"], "production");
    assert_eq!(cm["MIGRATOR__BLOBS__BACKEND"], "s3", "object storage");
    assert!(
        !docs.iter().any(|d| d["kind"] == "PersistentVolumeClaim"),
        "no shared volume"
    );
    // the harness's own api reads the attachments where the pods write them
    let env = TestEnv::start_with(EnvOptions::no_workers(), |s| {
        s.conversations.token = token.clone().into();
        s.blobs.backend = migrator_runtime::settings::BlobBackend::S3;
        s.blobs.s3.endpoint =
            std::env::var("MIGRATOR_TEST_S3").unwrap_or("http://127.0.0.1:5055".into());
        s.blobs.s3.bucket = cm["MIGRATOR__BLOBS__S3__BUCKET"].clone();
        s.blobs.s3.prefix = cm["MIGRATOR__BLOBS__S3__PREFIX"].clone();
    })
    .await;

    let user = format!("{}-migrator", env.settings.amqp.prefix);
    let password = uuid::Uuid::new_v4().simple().to_string();
    broker_user(&env, &user, &password, false).await;
    let key_dir = std::env::temp_dir().join(format!("{}-media-key", env.settings.amqp.prefix));
    std::fs::create_dir_all(&key_dir).unwrap();
    // the key material is the development key's; what is checked is that the worker reads
    // the path its manifest mounts and nothing marked DEV-ONLY
    std::fs::copy(
        workspace().join("config/dev-keys/DEV-ONLY-media-signing-private.pem"),
        key_dir.join("signing.pem"),
    )
    .unwrap();
    let v = Values {
        database_url: env.settings.database.url.as_str().to_string(),
        amqp_url: format!("amqp://{user}:{password}@127.0.0.1:5672/%2f"),
        conversations_token: token.clone(),
        jwt_secret: uuid::Uuid::new_v4().simple().to_string().repeat(2),
        admin_jwt_secret: uuid::Uuid::new_v4().simple().to_string().repeat(2),
        credentials_key: base64::engine::general_purpose::STANDARD
            .encode(uuid::Uuid::new_v4().as_bytes().repeat(2)),
        key_dir: key_dir.clone(),
    };

    // the release's Job first, as scripts/release.sh runs it: migrate, then the queue policies
    let job = pod_env(&docs, "Job", "migrator-migrate", &v, &env);
    for step in [["migrate"], ["amqp-policies"]] {
        let out = command("migrator-api", &job).args(step).output().unwrap();
        assert!(out.status.success(), "the Job's {step:?}: {out:?}");
    }

    let api_env = pod_env(&docs, "Deployment", "migrator-api", &v, &env);
    let worker_env = pod_env(&docs, "Deployment", "migrator-worker", &v, &env);
    assert!(
        !worker_env
            .keys()
            .any(|k| k.starts_with("MIGRATOR__API__JWT_SECRET")
                || k.starts_with("MIGRATOR__API__ADMIN_JWT_SECRET")),
        "the worker's pod holds no token key"
    );
    assert!(
        !api_env.keys().any(|k| k.starts_with("MIGRATOR__CRYPTO__"))
            && api_env["MIGRATOR__MEDIA__SIGNING_KEY_PATH"] == "/etc/migrator/media/signing.pem",
        "the api's pod holds no credentials key and no media key file"
    );
    let mut api = spawn_logged(command("migrator-api", &api_env));
    let mut worker = spawn_logged(command("migrator-worker", &worker_env));
    let api_addr = serving(&mut api, "the api", "api listening").await;
    serving(&mut worker, "the worker", "worker http port listening").await;

    // a C1 migrates through them, with tokens as the production issuers make them
    let s = generate("prod-c1", &GenOptions::new(8, 4, 21).attachments(3, 0));
    env.add_c1(&s).await;
    let app = sign(
        &v.jwt_secret,
        json!({"sub": "prod-c1", "exp": chrono::Utc::now().timestamp() + 600,
               "iss": cm["MIGRATOR__API__JWT_ISSUER"], "aud": cm["MIGRATOR__API__JWT_AUDIENCE"]}),
    );
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{api_addr}/migrate"))
        .bearer_auth(&app)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let v: Value = http
            .get(format!("http://{api_addr}/check-migration-status"))
            .bearer_auth(&app)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["migration_status"] == "completed" {
            break;
        }
        assert!(
            Instant::now() < end,
            "not migrated: {v}\napi:\n{}\nworker:\n{}",
            api.log_so_far(),
            worker.log_so_far()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    migrator_testkit::verify::destination_equals_source(&env, &s, |_| false).await;
    for (name, p) in [("api", api), ("worker", worker)] {
        let (status, log) = p.term();
        assert!(status.success(), "{name} stops cleanly: {status:?}\n{log}");
    }
    broker_user(&env, &user, &password, true).await;
    let _ = std::fs::remove_dir_all(&key_dir);
    env.shutdown().await;
}

/// Every setting a process refuses in production is set by the overlay or named in the
/// checklist: started with the ConfigMap alone, each names only keys the checklist lists.
#[test]
fn every_setting_production_refuses_is_set_by_the_overlay_or_named_in_the_checklist() {
    let docs = rendered();
    let (section, _) = checklist();
    for bin in ["migrator-api", "migrator-worker"] {
        let mut env = config_map(&docs);
        env.insert(
            "MIGRATOR_CONFIG_DIR".into(),
            workspace().join("config").display().to_string(),
        );
        let out = command(bin, &env).output().unwrap();
        assert_eq!(out.status.code(), Some(78), "{bin}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let keys: Vec<&str> = err
            .lines()
            .filter_map(|l| l.strip_prefix("refusing to start in production: "))
            .filter_map(|l| l.split(':').next())
            .collect();
        assert!(!keys.is_empty(), "{bin}: {err}");
        for key in keys {
            let env_form = format!("MIGRATOR__{}", key.replace('.', "__").to_ascii_uppercase());
            assert!(
                section.contains(&format!("`{key}`"))
                    || section.contains(&env_form)
                    || section.contains(&format!("({key}")),
                "{bin} refuses {key}, which the checklist does not name:\n{err}"
            );
        }
    }
}
