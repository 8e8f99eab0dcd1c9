//! Safe to expose: hostile media (other hosts, redirects, lying and endless bodies) is never
//! fetched from elsewhere nor held whole; stored files are served inert; a production start on
//! development values is refused; credentials are sealed for their account; operators' writes
//! are audited. Against the real services.

use conversations_sim::model::{generate, C1Spec, GenOptions};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use migrator_store::crypto::{Keyring, Sealed};
use migrator_testkit::hostile::Hostile;
use migrator_testkit::process::{binary, kill9, peak_rss_kb, spawn_worker};
use migrator_testkit::{verify, EnvOptions, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

/// (media url, declared size, content type) of each message's attachment, in order.
fn hostile_spec(evil: &str, elsewhere: &str, sim: &str) -> C1Spec {
    let cases: Vec<(String, u64, &str)> = vec![
        (format!("{elsewhere}/direct.png"), 100, "image/png"),
        (format!("{evil}/redirect"), 100, "image/png"),
        (format!("{evil}/big"), 1000, "image/png"),
        (format!("{evil}/liar"), 1000, "image/png"),
        (format!("{evil}/endless"), 1000, "image/png"),
        (format!("{evil}/page.html"), 30, "text/html"),
        (format!("{evil}/image.svg"), 80, "image/svg+xml"),
        (format!("{evil}/ok.png"), 64, "image/png"),
        (
            format!("{sim}/media/m-declared-huge"),
            100 << 20,
            "image/png",
        ),
    ];
    let mut s = generate(
        "hostile",
        &GenOptions::new(1, cases.len(), 4).attachments(1, 0),
    );
    let msgs = &mut s.threads[0].messages;
    for (m, (url, size, ct)) in msgs.iter_mut().zip(cases) {
        let a = &mut m.attachments[0];
        a.media_id = url;
        a.size_bytes = size;
        a.content_type = ct.into();
        a.file_name = format!("evil \"name\";\r\n{}", a.file_name);
    }
    s
}

/// Every attachment of the C1's one conversation, from the app's message list.
async fn attachments(env: &TestEnv) -> Vec<Value> {
    let convs = verify::all_pages(env, "hostile", "/conversations", "conversations").await;
    let id = convs[0]["id"].as_str().unwrap();
    let path = format!("/conversations/{id}/messages");
    let msgs = verify::all_pages(env, "hostile", &path, "messages").await;
    msgs.iter().map(|m| m["attachments"][0].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_media_is_refused_capped_and_served_inert() {
    let elsewhere = Hostile::start("http://127.0.0.1:9/").await;
    let evil = Hostile::start(&format!("{}/stolen", elsewhere.url)).await;
    let opts = EnvOptions::no_workers();
    let evil_origin = evil.url.clone();
    let mut env = TestEnv::start_with(opts, |s| {
        s.media.allowed_origins = vec![s.conversations.base_url.clone(), evil_origin];
        s.worker.max_call_retries = 0;
    })
    .await;
    // the conversations base URL is only known once the simulator runs
    env.settings.media.allowed_origins[0] = env.sim.base_url.clone();
    let s = hostile_spec(&evil.url, &elsewhere.url, &env.sim.base_url);
    env.add_c1(&s).await;
    let mut worker = spawn_worker(&env.settings);
    env.post("hostile", "/migrate", None).await;
    env.wait_admin_status("hostile", "completed", T).await;
    let start = Instant::now();
    loop {
        let (_, v) = env.get("hostile", "/check-migration-status").await;
        if v["progress"]["attachments_pending"] == 0 {
            break;
        }
        assert!(start.elapsed() < T, "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_mib = peak_rss_kb(&worker) / 1024;
    kill9(&mut worker);

    let got = attachments(&env).await;
    let codes: Vec<&str> = got
        .iter()
        .map(|a| {
            a["failure"]
                .as_str()
                .unwrap_or(a["status"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        codes,
        [
            "forbidden_origin",
            "redirected",
            "too_large",
            "too_large",
            "too_large",
            "stored",
            "stored",
            "stored",
            "too_large"
        ]
    );
    for a in &got {
        assert!(
            a.get("failure_reason").is_none(),
            "the app sees codes only: {a}"
        );
    }
    // another host was never contacted, not directly, not through the redirect
    assert_eq!(elsewhere.total(), 0, "no request reached another origin");
    assert_eq!(evil.seen("/redirect").0, 1, "the redirect was not retried");
    // nothing whole in memory: 64 MiB and endless bodies against a 25 MiB cap
    assert!(rss_mib < 160, "worker peak RSS {rss_mib} MiB");
    let leftovers: Vec<_> = walk(&env.settings.blobs.dir)
        .into_iter()
        .filter(|p| p.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "abandoned files: {leftovers:?}");
    if env.settings.blobs.backend == migrator_runtime::settings::BlobBackend::S3 {
        // object storage: no upload left open, one object per stored attachment, no other
        let objects =
            migrator_testkit::object_store::settled_contents(&env.settings.blobs.s3).await;
        let stored = got.iter().filter(|a| a["status"] == "stored").count();
        assert_eq!(objects.len(), stored, "{objects:?}");
    }

    // served inert: never sniffed, sandboxed, HTML and SVG as downloads, PNG inline
    for (a, inline) in [(&got[5], false), (&got[6], false), (&got[7], true)] {
        let resp = env
            .http
            .get(format!("{}{}", env.api_url, a["url"].as_str().unwrap()))
            .bearer_auth(env.app_token("hostile"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["content-security-policy"], "sandbox");
        let disposition = h["content-disposition"].to_str().unwrap();
        let kind = if inline { "inline;" } else { "attachment;" };
        assert!(disposition.starts_with(kind), "{disposition}");
        assert!(disposition.contains("filename*=UTF-8''evil%20%22name%22%3B%0D%0A"));
    }
    let (_, failed) = env
        .admin(
            Method::GET,
            "/admin/accounts/hostile/attachments?status=failed",
            None,
        )
        .await;
    assert_eq!(failed["total_count"], 6, "{failed}");
    let reasons: Vec<&str> = failed["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["failure_reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("outside allowed origins")),
        "{reasons:?}"
    );
    env.shutdown().await;
    evil.stop().await;
    elsewhere.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

/// Starts `bin` on the checked-in configuration with `env` set (no environment file): it must
/// refuse, exit 78 (`EX_CONFIG`); returns what it printed on stderr.
fn refused_start(bin: &str, env: &[(&str, Option<&str>)]) -> String {
    let mut c = std::process::Command::new(binary(bin));
    c.current_dir(migrator_testkit::workspace())
        .env_remove("MIGRATOR_ENV_FILE")
        .env(
            "MIGRATOR_CONFIG_DIR",
            migrator_testkit::workspace().join("config"),
        );
    for (k, v) in env {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let out = c.output().expect("run");
    assert_eq!(out.status.code(), Some(78), "{bin} refuses: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The development values by hand (a profile file or variables), as a mistaken deployment
/// would carry them.
const DEV_VALUES: [(&str, &str); 6] = [
    ("MIGRATOR__API__JWT_SECRET", "DEV-ONLY-jwt-secret-change-me"),
    (
        "MIGRATOR__API__ADMIN_JWT_SECRET",
        "DEV-ONLY-admin-jwt-secret-change-me-too",
    ),
    (
        "MIGRATOR__CONVERSATIONS__TOKEN",
        "DEV-ONLY-conversations-service-token",
    ),
    (
        "MIGRATOR__MEDIA__SIGNING_KEY_PATH",
        "config/dev-keys/DEV-ONLY-media-signing-private.pem",
    ),
    ("MIGRATOR__CRYPTO__ACTIVE_KEY", "dev-1"),
    (
        "MIGRATOR__CRYPTO__CREDENTIALS_KEYS__DEV-1",
        "ZGV2LW9ubHktY3JlZGVudGlhbHMta2V5LTMyYnl0ZXM=",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_production_start_on_development_values_is_refused_for_what_each_process_reads() {
    let dev_file = migrator_testkit::workspace().join("config/development.toml");
    for (bin, named, never) in [
        (
            "migrator-api",
            &[
                "api.jwt_secret",
                "api.admin_jwt_secret",
                "conversations.token",
                "api.jwt_issuer",
                "api.jwt_audience",
            ][..],
            &["media.", "crypto."][..],
        ),
        (
            "migrator-worker",
            &[
                "crypto.credentials_keys.dev-1",
                "conversations.token",
                "media.signing_key_path",
            ][..],
            &["api."][..],
        ),
    ] {
        let err = refused_start(
            bin,
            &[
                ("MIGRATOR_ENV", Some("production")),
                ("MIGRATOR_ENV_FILE", dev_file.to_str()),
            ],
        );
        for key in named {
            let line = format!("refusing to start in production: {key}");
            assert!(err.contains(&line), "{bin} names {key}:\n{err}");
        }
        for key in never {
            assert!(!err.contains(&format!("production: {key}")), "{bin}: {err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn development_values_on_a_public_listener_without_the_development_profile_are_refused() {
    for (bin, listen, keys) in [
        (
            "migrator-api",
            "MIGRATOR__API__LISTEN",
            &[
                "api.jwt_secret",
                "api.admin_jwt_secret",
                "conversations.token",
            ][..],
        ),
        (
            "migrator-api",
            "MIGRATOR__API__ADMIN_LISTEN",
            &["api.jwt_secret", "conversations.token"][..],
        ),
        (
            "migrator-worker",
            "MIGRATOR__WORKER__LISTEN",
            &["conversations.token", "media.signing_key_path"][..],
        ),
    ] {
        let mut env: Vec<(&str, Option<&str>)> =
            vec![("MIGRATOR_ENV", None), (listen, Some("0.0.0.0:0"))];
        env.extend(DEV_VALUES.iter().map(|(k, v)| (*k, Some(*v))));
        let err = refused_start(bin, &env);
        for key in keys {
            assert!(
                err.contains(&format!("refusing to start: {key}")) && err.contains("0.0.0.0:0"),
                "{bin} with {listen} names {key} and the listener:\n{err}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_without_a_profile_names_the_secrets_it_lacks() {
    for (bin, keys) in [
        (
            "migrator-api",
            &["api.jwt_secret", "api.admin_jwt_secret"][..],
        ),
        (
            "migrator-worker",
            &["crypto.credentials_keys", "media.signing_key_path"][..],
        ),
    ] {
        let err = refused_start(bin, &[("MIGRATOR_ENV", None)]);
        for key in keys {
            assert!(
                err.contains(&format!("refusing to start: {key}: must be set"))
                    && err.contains("MIGRATOR_ENV=development"),
                "{bin} names {key}:\n{err}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_are_sealed_for_their_account_and_operator_writes_are_audited() {
    use migrator_store::schema::{accounts as a, channels as c};
    let env = TestEnv::start().await;
    let s = generate("sealed", &GenOptions::new(2, 2, 5));
    env.add_c1(&s).await;
    env.post("sealed", "/migrate", None).await;
    env.wait_admin_status("sealed", "completed", T).await;
    let mut db = env.db().await;
    let account: migrator_core::ids::AccountId = a::table
        .filter(a::shopper_id.eq("sealed"))
        .select(a::id)
        .first(&mut db)
        .await
        .unwrap();
    let rows: Vec<(uuid::Uuid, Option<Vec<u8>>, Option<String>)> = c::table
        .filter(c::account_id.eq(account))
        .filter(c::kind.eq("sms"))
        .select((c::id, c::credentials_enc, c::credentials_key_id))
        .load(&mut db)
        .await
        .unwrap();
    assert!(!rows.is_empty());
    let ring = Keyring::from_settings(&env.settings.crypto).unwrap();
    let want = &s.brands[0]
        .channels
        .iter()
        .find(|c| c.kind == "sms")
        .unwrap()
        .credentials;
    let (channel, bytes, key_id) = &rows[0];
    let sealed = Sealed {
        key_id: key_id.clone().expect("key id stored"),
        bytes: bytes.clone().expect("sealed"),
    };
    let (plain, _) = ring.open_credentials(&sealed, &account.0, channel).unwrap();
    assert_eq!(&serde_json::from_slice::<Value>(&plain).unwrap(), want);
    let other = uuid::Uuid::new_v4();
    assert!(
        ring.open_credentials(&sealed, &other, channel).is_err(),
        "a swapped row does not open"
    );

    let (st, _) = env
        .admin(Method::POST, "/admin/accounts/sealed/remigrate", None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    env.wait_admin_status("sealed", "completed", T).await;
    verify::destination_equals_source(&env, &s, |_| false).await;
    let (_, log) = env.admin(Method::GET, "/admin/audit-log", None).await;
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("operator", "remigrate", "sealed"),
            ("operator", "create_account", "sealed")
        ]
    );
    assert!(entries[0]["detail"]["outcome"]["run_id"].is_string());
    env.shutdown().await;
}
