//! The web chat initiative's accounts in bulk: `POST /admin/accounts/batch` creates 100,000 in
//! one streamed request (each with its brand and web chat channel, counted in the program's
//! figures, audited a batch at a time), refuses bad lines alone, and creates nothing the second
//! time; `migratorctl accounts import` sends a CSV file the same way.

use migrator_testkit::process::binary;
use migrator_testkit::TestEnv;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::Write;

const N: usize = 100_000;

async fn import(env: &TestEnv, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = env
        .http
        .post(format!("{}/admin/accounts/batch", env.admin_url))
        .bearer_auth(env.admin_token())
        .header("content-type", content_type)
        .body(body)
        .timeout(std::time::Duration::from_secs(300))
        .send()
        .await
        .expect("the api answers");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_thousand_accounts_in_one_request_idempotent_on_shopper_id() {
    let env = TestEnv::start().await;
    let mut body = Vec::new();
    for i in 0..N {
        writeln!(
            body,
            r#"{{"shopper_id":"imp-{i:06}","name":"Shop {i}, Inc."}}"#
        )
        .unwrap();
    }
    let (st, v) = import(&env, "application/x-ndjson", body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["received"], N, "{v}");
    assert_eq!(v["created"], N, "{v}");
    assert_eq!(v["existing"], 0, "{v}");
    assert_eq!(v["rejected"], 0, "{v}");
    // the program counts them (from the summaries the trigger keeps)
    let (_, program) = env.admin(Method::GET, "/admin/program", None).await;
    assert_eq!(program["accounts"]["not-started"], N, "{program}");
    // one of them as the app sees it: its brand and web chat channel
    let (st, acc) = env.get("imp-054321", "/accounts").await;
    assert_eq!(st, StatusCode::OK, "{acc}");
    let a = &acc["accounts"][0];
    assert_eq!(a["name"], "Shop 54321, Inc.");
    assert_eq!(a["brands"][0]["channels"][0]["kind"], "webchat", "{acc}");
    // audited a batch at a time, by the operator
    let (_, log) = env
        .admin(Method::GET, "/admin/audit-log?per_page=100", None)
        .await;
    let batches: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "import_accounts")
        .collect();
    assert_eq!(batches.len(), N / 5_000);
    assert!(batches.iter().all(|e| e["actor"] == "operator"));

    // one more line is past api.import_max_accounts: 413, the rest goes in another request
    let mut over = body.clone();
    over.extend_from_slice(b"{\"shopper_id\":\"imp-over\",\"name\":\"x\"}\n");
    let (st, v) = import(&env, "application/x-ndjson", over).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_many_accounts"))
    );

    // refused alone: nothing else changes
    let mut bad = Vec::new();
    bad.extend_from_slice(b"{\"shopper_id\":\"bad id!\",\"name\":\"x\"}\n");
    bad.extend_from_slice(b"{\"shopper_id\":\"imp-blank\",\"name\":\"   \"}\n");
    bad.extend_from_slice(b"not json\n\n");
    bad.extend_from_slice(
        format!(
            "{{\"shopper_id\":\"imp-long\",\"name\":\"{}\"}}\n",
            "x".repeat(5000)
        )
        .as_bytes(),
    );
    bad.extend_from_slice(b"{\"shopper_id\":\"imp-good\",\"name\":\"Good\"}");
    let (st, v) = import(&env, "application/x-ndjson", bad).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["received"].as_u64(),
            v["created"].as_u64(),
            v["rejected"].as_u64()
        ),
        (Some(5), Some(1), Some(4)),
        "{v}"
    );
    let errors: Vec<&str> = v["rejects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        [
            "invalid_shopper_id",
            "invalid_name",
            "invalid_json",
            "line_too_long"
        ]
    );
    assert_eq!(v["rejects"][3]["line"], 4);
    let (st, _) = env.get("imp-long", "/accounts").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "a rejected line wrote nothing");

    // again: nothing created, every one counted as existing
    let (st, v) = import(&env, "application/x-ndjson", body).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (v["created"].as_u64(), v["existing"].as_u64()),
        (Some(0), Some(N as u64))
    );
    let (_, program) = env.admin(Method::GET, "/admin/program", None).await;
    // imp-good made one more; the app's look at imp-054321 moved it on (nothing to migrate)
    assert_eq!(program["total"], N + 1, "{program}");
    assert_eq!(program["accounts"]["completed"], 1, "{program}");

    // the JSON form, and a single account made the one-at-a-time way counts as existing
    let (st, v) = import(
        &env,
        "application/json",
        serde_json::to_vec(&json!({"accounts": [
            {"shopper_id": "imp-json-1", "name": "Json One"},
            {"shopper_id": "imp-000001", "name": "renamed? no"},
            {"shopper_id": "imp-json-1", "name": "twice in one batch"}
        ]}))
        .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["created"].as_u64(), v["existing"].as_u64()),
        (Some(1), Some(2)),
        "{v}"
    );
    let (_, acc) = env.get("imp-000001", "/accounts").await;
    assert_eq!(
        acc["accounts"][0]["name"], "Shop 1, Inc.",
        "an existing account is left alone"
    );

    let (st, v) = import(&env, "text/csv", b"shopper_id,name\n".to_vec()).await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    let (st, v) = import(&env, "application/x-ndjson", b"\n\n".to_vec()).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("no_accounts"))
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migratorctl_imports_a_csv_file_a_request_at_a_time() {
    let env = TestEnv::start().await;
    let path = std::env::temp_dir().join(format!("{}-accounts.csv", env.settings.amqp.prefix));
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "shopper_id,name").unwrap();
    for i in 0..2_500 {
        writeln!(f, "csv-{i:05},\"Plumbing, Heating & Co {i}\"").unwrap();
    }
    writeln!(f, "bad id,Nope").unwrap();
    drop(f);
    let run = || {
        std::process::Command::new(binary("migratorctl"))
            .args(["-o", "json", "accounts", "import"])
            .arg(&path)
            .args(["--per-request", "1000"])
            .env("MIGRATOR_ADMIN_URL", &env.admin_url)
            .env("MIGRATOR_ADMIN_TOKEN", env.admin_token())
            .output()
            .unwrap()
    };
    let out = run();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(1), "a rejected line: exit 1; {v}");
    assert_eq!(
        (v["created"].as_u64(), v["rejected"].as_u64()),
        (Some(2_500), Some(1)),
        "{v}"
    );
    assert_eq!(
        v["rejects"][0]["line"], 2_501,
        "the file's line (after the header): {v}"
    );
    let (_, acc) = env.get("csv-01234", "/accounts").await;
    assert_eq!(acc["accounts"][0]["name"], "Plumbing, Heating & Co 1234");
    let again = run();
    let v: Value = serde_json::from_slice(&again.stdout).unwrap_or(Value::Null);
    assert_eq!(
        (v["created"].as_u64(), v["existing"].as_u64()),
        (Some(0), Some(2_500)),
        "{v}"
    );
    let _ = std::fs::remove_file(&path);
    env.shutdown().await;
}
