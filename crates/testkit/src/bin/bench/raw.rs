//! Raw limits of the machine, measured in the same run as our figures: the emulator's Query
//! rate, Postgres's COPY rate, `pgbench -S`, and the load generator for the status endpoint.

use crate::windows::Window;
use anyhow::Context;
use conversations_sim::model::C1Spec;
use migrator_testkit::TestEnv;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Paginated Query of every message of `spec` with the Rust SDK: the emulator's raw rate.
pub async fn raw_query_rate(env: &TestEnv, spec: &C1Spec, page: i32) -> f64 {
    use aws_sdk_dynamodb::types::AttributeValue;
    let start = Instant::now();
    let mut n = 0usize;
    for t in &spec.threads {
        let mut key = None;
        loop {
            let out = env
                .dynamo
                .query()
                .table_name(&env.tables.messages)
                .key_condition_expression("thread_id = :t")
                .expression_attribute_values(":t", AttributeValue::S(t.thread_id.clone()))
                .set_exclusive_start_key(key)
                .limit(page)
                .send()
                .await
                .expect("query");
            n += out.items.map(|i| i.len()).unwrap_or(0);
            key = out.last_evaluated_key.filter(|k| !k.is_empty());
            if key.is_none() {
                break;
            }
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// `COPY … FROM STDIN (csv)` of the same rows into a table shaped like `messages`: Postgres's raw rate.
pub fn raw_copy_rate(db_url: &str, spec: &C1Spec) -> anyhow::Result<f64> {
    let psql = |sql: &str| {
        Command::new("psql")
            .arg(db_url)
            .args(["-qAtc", sql])
            .status()
    };
    psql("DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")?;
    let account = uuid::Uuid::new_v4();
    let mut csv = String::new();
    for t in &spec.threads {
        let conv = uuid::Uuid::new_v4();
        for m in &t.messages {
            let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            let body_hex = m
                .body
                .as_deref()
                .map(|b| {
                    format!(
                        "\\x{}",
                        b.bytes().map(|x| format!("{x:02x}")).collect::<String>()
                    )
                })
                .unwrap_or_default();
            csv.push_str(&format!(
                "{},{account},{conv},{},{},{},{},{},{},{},{},false\n",
                uuid::Uuid::new_v4(),
                q(&m.message_id),
                q(&m.sort_key()),
                m.direction,
                m.author_name.as_deref().map(q).unwrap_or_default(),
                body_hex,
                chrono::DateTime::from_timestamp_millis(m.sent_at)
                    .unwrap()
                    .to_rfc3339(),
                m.starred.unwrap_or(false),
                m.telephony
                    .as_ref()
                    .map(|t| q(&t.to_string()))
                    .unwrap_or_default(),
            ));
        }
    }
    let rows = spec.threads.iter().map(|t| t.messages.len()).sum::<usize>();
    let start = Instant::now();
    let mut child = Command::new("psql").arg(db_url)
        .args(["-qc", "COPY bench_copy (id, account_id, conversation_id, source_id, source_sort, direction, author_name, body, sent_at, starred, metadata, native) FROM STDIN WITH (FORMAT csv)"])
        .stdin(Stdio::piped()).spawn()?;
    child.stdin.take().unwrap().write_all(csv.as_bytes())?;
    anyhow::ensure!(child.wait()?.success(), "COPY failed");
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    psql("DROP TABLE bench_copy")?;
    Ok(rate)
}

pub fn wrk_status(url: &str, token: &str) -> anyhow::Result<(f64, f64)> {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", "-d10s", "--latency", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{url}/check-migration-status"))
        .output()
        .context("wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .map(|v| v.trim().parse().unwrap_or(0.0))
        .unwrap_or(0.0);
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| parse_ms(v.trim()))
        .unwrap_or(f64::NAN);
    let non2xx = text.lines().any(|l| l.contains("Non-2xx"));
    anyhow::ensure!(!non2xx, "wrk saw errors:\n{text}");
    Ok((rps, p99))
}

fn parse_ms(v: &str) -> f64 {
    let (num, unit): (String, String) = v.chars().partition(|c| c.is_ascii_digit() || *c == '.');
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit.as_str() {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => n,
    }
}

pub fn pgbench_tps(cpu: &mut Vec<String>) -> anyhow::Result<f64> {
    let db = format!("bench_pgbench_{}", std::process::id());
    let base = migrator_testkit::pg_server();
    Command::new("psql")
        .arg(format!("{base}/postgres"))
        .args(["-qc", &format!("CREATE DATABASE {db}")])
        .status()?;
    let url = format!("{base}/{db}");
    Command::new("pgbench")
        .args(["-i", "-q", "-s", "1"])
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let win = Window::open("pgbench");
    let out = Command::new("pgbench")
        .args(["-S", "-n", "-c", "64", "-j", "2", "-T", "10"])
        .arg(&url)
        .output()?;
    cpu.push(win.close());
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Command::new("psql")
        .arg(format!("{base}/postgres"))
        .args(["-qc", &format!("DROP DATABASE {db} WITH (FORCE)")])
        .status()?;
    Ok(tps)
}
