//! `make api-check`: the api's own OpenAPI document, checked against the running api by
//! schemathesis (PyPI), once with an app token and once with an operator token: no 5xx, every
//! status code, content type, header and body as the document says, invalid input refused. The
//! api runs in this process against fresh services (as the tests do), with a migrated C1 so
//! the app's endpoints have data to answer with.
//!
//! Usage: `apicheck <path to st> [extra st arguments]`.

use conversations_sim::model::{generate, GenOptions};
use migrator_testkit::TestEnv;
use std::process::Command;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let st = args.next().unwrap_or_else(|| "st".into());
    let extra: Vec<String> = args.collect();
    let env = TestEnv::start().await;
    let spec = generate("apicheck", &GenOptions::new(6, 4, 11).attachments(3, 1));
    env.add_c1(&spec).await;
    env.post("apicheck", "/migrate", None).await;
    env.wait_admin_status("apicheck", "completed", Duration::from_secs(120))
        .await;
    let schema = format!("{}/openapi.json", env.api_url);
    let mut failed = Vec::new();
    for (who, token) in [
        ("app", env.app_token("apicheck")),
        ("operator", env.admin_token()),
    ] {
        eprintln!("[api-check] schemathesis as the {who}");
        // one worker: schemathesis's own generator is not thread-safe in every version
        let config = migrator_testkit::workspace().join("scripts/schemathesis.toml");
        let status = Command::new(&st)
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(&schema)
            .args(["--checks", "all", "--workers", "1"])
            // longer than the longest wait a request may ask for (`POST …/verify?wait_secs=30`);
            // schemathesis's own response-time limit (10 s) is shorter than that wait
            .args(["--request-timeout", "40", "--max-response-time", "35"])
            .arg("--header")
            .arg(format!("Authorization: Bearer {token}"))
            .args(&extra)
            .status()?;
        if !status.success() {
            failed.push(who);
        }
    }
    env.shutdown().await;
    anyhow::ensure!(failed.is_empty(), "schemathesis failed as: {failed:?}");
    Ok(())
}
