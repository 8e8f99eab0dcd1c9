//! Operable in a real cluster: `migratorctl` steering the fleet through the admin API (pause,
//! resume, throttle, cancel, retry, lists, counts, audit), and the api's and a worker's
//! `/metrics` as Prometheus reads them (`promtool check metrics`). Against the real services.

use conversations_sim::model::{generate, C1Spec, GenOptions};
use migrator_testkit::dynamo_proxy::ProxyFaults;
use migrator_testkit::process::{binary, kill9, spawn_worker};
use migrator_testkit::{verify, EnvOptions, TestEnv};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

fn spec(shopper: &str, threads: usize, messages: usize) -> C1Spec {
    generate(shopper, &GenOptions::new(threads, messages, 17))
}

/// Runs `migratorctl` against `url` with an operator token: (exit status, stdout, the JSON
/// answer: stdout's on success, stderr's after its status line otherwise).
fn ctl_at(env: &TestEnv, url: &str, args: &[&str]) -> (i32, String, Value) {
    let out = Command::new(binary("migratorctl"))
        .args(args)
        .env("MIGRATOR_ADMIN_URL", url)
        .env("MIGRATOR_ADMIN_TOKEN", env.admin_token())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("migratorctl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = if out.status.success() {
        stdout.clone()
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        err.lines().skip(1).collect::<Vec<_>>().join("\n")
    };
    (
        out.status.code().unwrap_or(-1),
        stdout,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// `migratorctl` against the env's admin listener: (success, JSON answer).
fn ctl(env: &TestEnv, args: &[&str]) -> (bool, Value) {
    let (code, _, v) = ctl_at(env, &env.admin_url, args);
    (code == 0, v)
}

/// Its exit status and JSON answer.
fn ctl_code(env: &TestEnv, args: &[&str]) -> (i32, Value) {
    let (code, _, v) = ctl_at(env, &env.admin_url, args);
    (code, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operators_steer_the_fleet_from_the_command_line() {
    let opts = EnvOptions {
        dynamo_proxy: true,
        ..Default::default()
    };
    let env = TestEnv::start_with(opts, |s| s.worker.fleet_poll_secs = 1).await;
    let one = spec("ctl-one", 8, 5);
    env.add_c1(&one).await;

    // paused: a migration asked for waits; resumed: it runs
    let (ok, f) = ctl(&env, &["fleet", "pause"]);
    assert!(ok && f["paused"] == true, "{f}");
    tokio::time::sleep(Duration::from_secs(3)).await; // two polls of the steering
    env.post("ctl-one", "/migrate", None).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, st) = env.get("ctl-one", "/check-migration-status").await;
    assert_eq!(
        st["migration_status"], "migrating",
        "no hop taken while paused"
    );
    let (ok, f) = ctl(&env, &["fleet", "resume"]);
    assert!(ok && f["paused"] == false, "{f}");
    env.wait_admin_status("ctl-one", "completed", T).await;

    let (ok, c) = ctl(&env, &["counts"]);
    assert!(ok, "{c}");
    let completed = c["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["status"] == "completed")
        .unwrap();
    assert_eq!(completed["count"], 1, "{c}");
    let (ok, s) = ctl(&env, &["status", "ctl-one"]);
    assert!(ok && s["migration_status"] == "completed", "{s}");
    let (_, l) = ctl(&env, &["list", "--status", "completed"]);
    assert_eq!(l["total_count"], 1, "{l}");
    let (_, t) = ctl(&env, &["fleet", "throttle", "--reads", "7"]);
    assert_eq!(t["max_reads_per_sec"], 7, "{t}");
    let (_, t) = ctl(&env, &["fleet", "throttle"]);
    assert!(t["max_reads_per_sec"].is_null(), "{t}");
    let (ok, f) = ctl(&env, &["fleet", "show"]);
    assert!(
        ok && f["paused"] == false && f["updated_by"] == "operator",
        "{f}"
    );

    // cancel a running migration (a slow source keeps it running), then retry it
    let two = spec("ctl-two", 60, 5);
    env.add_c1(&two).await;
    env.proxy.as_ref().unwrap().set(ProxyFaults {
        delay_ms: 400,
        ..Default::default()
    });
    env.post("ctl-two", "/migrate", None).await;
    env.wait_admin_status("ctl-two", "recent-messages-migrated", T)
        .await;
    // a cancel without --yes and without a terminal to ask on does nothing (usage, 2)
    let (code, _) = ctl_code(&env, &["cancel", "ctl-two"]);
    assert_eq!(code, 2);
    assert_ne!(
        env.admin_view("ctl-two").await["migration_status"],
        "messages-failure"
    );
    let (ok, c) = ctl(&env, &["cancel", "ctl-two", "--yes"]);
    assert!(ok && c["migration_status"] == "messages-failure", "{c}");
    let (code, _) = ctl_code(&env, &["cancel", "ctl-two", "--yes"]);
    assert_eq!(code, 4, "nothing left to cancel: a conflict");
    // bulk, by filter: a dry run names the targets and does nothing
    let (ok, b) = ctl(&env, &["bulk", "unpark", "--dry-run"]);
    assert!(ok && b["targets"] == json!(["ctl-two"]), "{b}");
    let (_, l) = ctl(&env, &["list", "--error", "CANCELLED by"]);
    assert_eq!(l["accounts"][0]["shopper_id"], "ctl-two", "{l}");
    let (_, p) = ctl(&env, &["parked", "list"]);
    assert_eq!(p["parked"][0]["shopper_id"], "ctl-two", "{p}");
    // a cancelled run is at rest, failed, not stuck: stuck lists only runs in progress
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, l) = ctl(&env, &["list", "--status", "messages-failure"]);
    assert_eq!(l["accounts"][0]["shopper_id"], "ctl-two", "{l}");
    let (_, l) = ctl(
        &env,
        &["list", "--status", "messages-failure", "--stuck-for", "1s"],
    );
    assert_eq!(l["total_count"], 0, "{l}");
    let (_, l) = ctl(&env, &["list", "--stuck-for", "1s"]);
    assert_eq!(l["total_count"], 0, "{l}");
    let (code, e) = ctl_code(&env, &["dead-letters", "replay", "999999"]);
    assert!(code == 3 && e["error"] == "not_found", "{e}");
    env.proxy.as_ref().unwrap().set(ProxyFaults::default());
    let (ok, r) = ctl(&env, &["retry", "ctl-two"]);
    assert!(ok && r["migration_status"] == "messages-failure", "{r}");
    env.wait_admin_status("ctl-two", "completed", T).await;
    verify::destination_equals_source(&env, &two, |_| false).await;

    let (ok, _) = ctl(&env, &["remigrate", "ctl-one", "--yes"]);
    assert!(ok);
    env.wait_admin_status("ctl-one", "completed", T).await;
    let (ok, r) = ctl(&env, &["repair"]);
    assert!(ok && r["enqueued"] == 0, "{r}");
    let (ok, d) = ctl(&env, &["dead-letters", "list"]);
    assert!(ok && d["total_count"].is_i64(), "{d}");
    let (ok, a) = ctl(&env, &["audit"]);
    assert!(ok, "{a}");
    let actions: Vec<&str> = a["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "fleet_pause",
        "fleet_resume",
        "fleet_throttle",
        "cancel",
        "retry",
        "remigrate",
        "repair",
    ] {
        assert!(actions.contains(&want), "{want} audited: {actions:?}");
    }
    // refused input is an error exit (1), never another account
    let (code, e) = ctl_code(&env, &["remigrate", "ctl-one/../x", "--yes"]);
    assert!(code == 1 && e["error"] == "invalid_shopper_id", "{e}");
    // bulk verify of the completed accounts, at a rate: one request each, each audited
    let (ok, b) = ctl(
        &env,
        &["bulk", "verify", "--status", "completed", "--rate", "50"],
    );
    assert!(ok && b["targets"] == 2, "{b}");
    let acted: u64 = b["outcomes"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(acted, 2, "{b}");
    // a table on request; completions and the manual need no api
    let (code, table, _) = ctl_at(&env, &env.admin_url, &["-o", "table", "counts"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("completed") && table.contains('│'),
        "{table}"
    );
    let (code, bash, _) = ctl_at(&env, "http://127.0.0.1:1", &["completions", "bash"]);
    assert!(code == 0 && bash.contains("migratorctl"), "{bash}");
    let (code, man, _) = ctl_at(&env, "http://127.0.0.1:1", &["man"]);
    assert!(code == 0 && man.contains(".TH"), "{man}");
    // an api that does not answer: 6
    let (code, _, _) = ctl_at(&env, "http://127.0.0.1:1", &["counts"]);
    assert_eq!(code, 6);
    env.shutdown().await;
}

/// `make demo`'s client, as the demo runs it, against a live env: it must drive a C1 to
/// `completed` with the tokens it signs itself (app and operator keys kept apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_client_drives_a_migration_to_completed() {
    let env = TestEnv::with_workers(1).await;
    env.seed(&spec("demo-client", 12, 4)).await;
    let path = migrator_testkit::process::settings_file(&env.settings);
    env.settings.write_json(&path).unwrap();
    let out = tokio::process::Command::new(binary("demo"))
        .arg("demo-client")
        .env("MIGRATOR_ENV_FILE", &path)
        .env("DEMO_API", &env.api_url)
        .output()
        .await
        .expect("demo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("201 Created"), "{text}");
    assert!(text.contains("completed"), "{text}");
    assert!(text.contains("== inbox: 12 conversations"), "{text}");
    env.shutdown().await;
}

/// With `telemetry.otlp_endpoint` set, a worker exports its hop spans over OTLP/HTTP to the
/// collector (here a stand-in that keeps what it is sent), flushed when it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_exports_its_hop_spans_to_an_otlp_collector() {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Vec<u8>)>>>;
    let seen: Seen = Default::default();
    let data = web::Data::new(seen.clone());
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).default_service(web::to(
            |req: HttpRequest, body: web::Bytes, seen: web::Data<Seen>| async move {
                let ct = req
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                seen.lock()
                    .unwrap()
                    .push((req.path().to_string(), ct, body.to_vec()));
                HttpResponse::Ok().finish()
            },
        ))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let collector = format!("http://{}/v1/traces", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);

    let mut env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    env.settings.telemetry.otlp_endpoint = collector;
    env.add_c1(&spec("traced", 4, 3)).await;
    let mut w = spawn_worker(&env.settings);
    env.post("traced", "/migrate", None).await;
    env.wait_admin_status("traced", "completed", T).await;
    assert!(migrator_testkit::process::term(&mut w).success());
    let got = seen.lock().unwrap().clone();
    assert!(!got.is_empty(), "the collector received nothing");
    let body: Vec<u8> = got.iter().flat_map(|(_, _, b)| b.clone()).collect();
    let has = |needle: &str| body.windows(needle.len()).any(|w| w == needle.as_bytes());
    for (path, ct, _) in &got {
        assert_eq!(path, "/v1/traces");
        assert_eq!(ct, "application/x-protobuf");
    }
    assert!(has("migrator-worker"), "the service is named");
    assert!(has("hop"), "hop spans are exported");
    assert!(has("traced"), "a hop span carries its shopper id");
    handle.stop(false).await;
    env.shutdown().await;
}

/// A free local port (bound, then released for the worker to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn promtool_check(text: &str) {
    use std::io::Write;
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/services.sh installs it)");
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_and_a_worker_expose_their_metrics_as_prometheus_reads_them_on_operators_ports() {
    let opts = EnvOptions::no_workers();
    let port = free_port();
    // operators' endpoints and /metrics on a listener of their own, as in production
    let mut env = TestEnv::start_with(opts, |s| s.api.admin_listen = "127.0.0.1:0".into()).await;
    assert_ne!(env.admin_url, env.api_url);
    env.settings.worker.listen = format!("127.0.0.1:{port}");
    let s = generate("metered", &GenOptions::new(6, 4, 3).attachments(4, 1));
    env.add_c1(&s).await;
    let mut w = spawn_worker(&env.settings);
    env.post("metered", "/migrate", None).await;
    env.wait_admin_status("metered", "completed", T).await;
    env.get("metered", "/check-migration-status").await;
    let get = |url: String| {
        let http = env.http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let worker_url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    let worker = loop {
        let m = get(format!("{worker_url}/metrics")).await;
        if m.contains("migrator_hops_finished_total{phase=\"all-messages\",outcome=\"done\"}") {
            break m;
        }
        assert!(start.elapsed() < T, "{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for name in [
        "migrator_hops_started_total",
        "migrator_hop_duration_seconds_bucket",
        "migrator_messages_written_total",
        "migrator_dynamodb_pages_total{table=\"messages\",purpose=\"copy\"}",
        "migrator_attachments_total{outcome=\"stored\"}",
        "migrator_attachments_total{outcome=\"failed\"}",
        "migrator_time_to_inbox_seconds_bucket",
        "migrator_migration_duration_seconds_bucket",
        "migrator_fleet_paused 0",
        "migrator_build_info{",
        "migrator_db_pool_connections{state=\"in_use\"}",
        "migrator_db_pool_max_connections",
        "migrator_db_pool_wait_seconds_bucket",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(
            worker.contains(name),
            "worker /metrics has {name}:\n{worker}"
        );
    }
    promtool_check(&worker);
    assert!(get(format!("{worker_url}/readyz")).await.contains("true"));
    kill9(&mut w);

    let api = get(format!("{}/metrics", env.admin_url)).await;
    assert!(
        api.contains("route=\"/check-migration-status\""),
        "route templates as labels:\n{api}"
    );
    // the fleet's gauges are read when scraped: right at once, whoever holds the sweeper lock
    for line in [
        "migrator_accounts{status=\"completed\"} 1",
        "migrator_accounts{status=\"not-started\"} 0",
        "migrator_outbox_backlog 0",
        "migrator_parked_runs 0",
        "migrator_outbox_oldest_age_seconds 0",
    ] {
        assert!(
            api.lines().any(|l| l == line),
            "api /metrics has {line}:\n{api}"
        );
    }
    assert!(api.contains("migrator_http_request_duration_seconds_bucket"));
    // the sweeper's lock, held by the in-process worker, and the build's identity
    assert!(
        api.lines()
            .any(|l| l == "migrator_fleet_lock_held{lock=\"sweeper\"} 1"),
        "api /metrics has the sweeper's lock:\n{api}"
    );
    let build = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(
        api.lines()
            .any(|l| l.starts_with("migrator_build_info{") && l.contains(&build)),
        "api /metrics has its build:\n{api}"
    );
    promtool_check(&api);

    // the public listener serves the app and probes, never operators' endpoints or metrics
    let status = |url: String, token: Option<String>| {
        let http = env.http.clone();
        async move {
            let mut r = http.get(url);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    let (public, admin) = (env.api_url.clone(), env.admin_url.clone());
    let op = || Some(env.admin_token());
    assert_eq!(status(format!("{public}/admin/counts"), op()).await, 404);
    assert_eq!(
        status(format!("{public}/admin/fleet/pause"), op()).await,
        404
    );
    assert_eq!(status(format!("{public}/metrics"), None).await, 404);
    assert_eq!(status(format!("{admin}/admin/counts"), op()).await, 200);
    assert_eq!(status(format!("{admin}/admin/counts"), None).await, 401);
    let app = Some(env.app_token("metered"));
    assert_eq!(status(format!("{public}/accounts"), app.clone()).await, 200);
    assert_eq!(status(format!("{admin}/accounts"), app).await, 404);
    for base in [&public, &admin] {
        assert_eq!(status(format!("{base}/healthz"), None).await, 200);
        assert_eq!(status(format!("{base}/readyz"), None).await, 200);
        assert_eq!(status(format!("{base}/openapi.json"), None).await, 200);
    }
    env.shutdown().await;
}
