//! Raw limits of the machine, measured in the same run as our figures: the emulator's Query
//! rate at the worker's read concurrency, Postgres's binary COPY rate, `pgbench -S`, and the
//! load generator for the status endpoint.

use crate::windows::Window;
use anyhow::Context;
use conversations_sim::model::C1Spec;
use migrator_testkit::TestEnv;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Paginated Query of every message of `spec` with the Rust SDK, `concurrency` threads at a
/// time (the worker's `thread_concurrency`), each thread's pages in order: the emulator's raw
/// rate for the worker's read pattern.
pub async fn raw_query_rate(env: &TestEnv, spec: &C1Spec, page: i32, concurrency: usize) -> f64 {
    use aws_sdk_dynamodb::types::AttributeValue;
    use futures::StreamExt;
    let start = Instant::now();
    let n: usize = futures::stream::iter(&spec.threads)
        .map(|t| async move {
            let (mut n, mut key) = (0, None);
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
                    return n;
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .fold(0, |a, b| async move { a + b })
        .await;
    n as f64 / start.elapsed().as_secs_f64()
}

/// One row of `messages` as the COPY writes it.
type CopyRow = (
    uuid::Uuid,
    uuid::Uuid,
    uuid::Uuid,
    String,
    String,
    String,
    Option<String>,
    Option<Vec<u8>>,
    chrono::DateTime<chrono::Utc>,
    bool,
    Option<serde_json::Value>,
    bool,
);

/// Binary `COPY … FROM STDIN` through tokio-postgres of the same rows (built before the clock
/// starts) into a table shaped like `messages`: Postgres's raw write rate.
pub async fn raw_copy_rate(db_url: &str, spec: &C1Spec) -> anyhow::Result<f64> {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::{ToSql, Type};
    let (client, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (LIKE messages \
             INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)",
        )
        .await?;
    let account = uuid::Uuid::new_v4();
    let mut rows: Vec<CopyRow> = Vec::new();
    for t in &spec.threads {
        let conv = uuid::Uuid::new_v4();
        for m in &t.messages {
            rows.push((
                uuid::Uuid::new_v4(),
                account,
                conv,
                m.message_id.clone(),
                m.sort_key(),
                m.direction.clone(),
                m.author_name.clone(),
                m.body.as_ref().map(|b| b.as_bytes().to_vec()),
                chrono::DateTime::from_timestamp_millis(m.sent_at).unwrap(),
                m.starred.unwrap_or(false),
                m.telephony.clone(),
                false,
            ));
        }
    }
    let types = [
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BYTEA,
        Type::TIMESTAMPTZ,
        Type::BOOL,
        Type::JSON,
        Type::BOOL,
    ];
    let start = Instant::now();
    let sink = client
        .copy_in(
            "COPY bench_copy (id, account_id, conversation_id, source_id, source_sort, direction, \
             author_name, body, sent_at, starred, metadata, native) FROM STDIN (FORMAT binary)",
        )
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures::pin_mut!(writer);
    for r in &rows {
        let values: [&(dyn ToSql + Sync); 12] = [
            &r.0, &r.1, &r.2, &r.3, &r.4, &r.5, &r.6, &r.7, &r.8, &r.9, &r.10, &r.11,
        ];
        writer.as_mut().write(&values).await?;
    }
    let written = writer.finish().await?;
    let rate = written as f64 / start.elapsed().as_secs_f64();
    client.batch_execute("DROP TABLE bench_copy").await?;
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
