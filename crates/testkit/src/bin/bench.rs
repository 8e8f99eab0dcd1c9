//! `make bench`: seeds the DynamoDB emulator through the simulator's seeder, runs the api
//! (in this process) and release worker processes, and prints one table of our figures against
//! raw limits measured in the same run. Sizes: BENCH_ALL_MESSAGES (100000), BENCH_RSS_MESSAGES
//! (1000000), BENCH_C1S (1000).

use anyhow::Context;
use conversations_sim::model::{generate, C1Spec, GenOptions};
use migrator_core::settings::Settings;
use migrator_testkit::process::{command, kill9};
use migrator_testkit::{EnvOptions, TestEnv};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn spec(shopper: &str, threads: usize, messages: usize, seed: u64) -> C1Spec {
    generate(
        shopper,
        &GenOptions {
            threads,
            messages_per_thread: messages,
            attachment_every: 0,
            gone_attachments: 0,
            malformed: 0,
            seed,
            now_ms: chrono::Utc::now().timestamp_millis(),
        },
    )
}

fn production_like(s: &mut Settings) {
    let d = Settings::load_from(&migrator_testkit::workspace().join("config")).expect("defaults");
    s.worker = d.worker;
    s.dynamodb.page_size = d.dynamodb.page_size;
    s.database.pool_size = d.database.pool_size;
}

struct Row(String, String, String, String);

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn seed_many(env: &TestEnv, specs: &[C1Spec]) {
    use futures::StreamExt;
    futures::stream::iter(specs)
        .for_each_concurrent(16, |s| async move { env.seed(s).await })
        .await;
}

fn secs_between(v: &serde_json::Value, a: &str, b: &str) -> f64 {
    let t = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(
            v["run"][k].as_str().unwrap_or_else(|| panic!("{k} in {v}")),
        )
        .unwrap()
    };
    (t(b) - t(a)).num_milliseconds() as f64 / 1000.0
}

fn worker(s: &Settings) -> Child {
    // BENCH_WORKER_LOG=path keeps the workers' logs (with WORKER_LOG as their RUST_LOG)
    let log = || match std::env::var("BENCH_WORKER_LOG") {
        Ok(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("log file"),
        ),
        Err(_) => Stdio::null(),
    };
    command(s)
        .stdout(log())
        .stderr(log())
        .spawn()
        .expect("worker")
}

/// Peak resident set size of a live process (`VmHWM`, the counter `/usr/bin/time -v` reports
/// as "Maximum resident set size"), in KiB.
fn peak_rss_kb(c: &Child) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", c.id()))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Paginated Query of every message of `spec` with the Rust SDK: the emulator's raw rate.
async fn raw_query_rate(env: &TestEnv, spec: &C1Spec, page: i32) -> f64 {
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
fn raw_copy_rate(db_url: &str, spec: &C1Spec) -> anyhow::Result<f64> {
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

fn wrk_status(url: &str, token: &str) -> anyhow::Result<(f64, f64)> {
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

fn pgbench_tps(cpu: &mut Vec<String>) -> anyhow::Result<f64> {
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

/// CPU seconds (user + system) used so far by the processes on the machine, by role, from
/// `/proc/<pid>/stat` (live processes only), and the machine's total from `/proc/stat`. Roles
/// by command name: dynalite runs on node.
fn cpu_by_role() -> std::collections::BTreeMap<&'static str, f64> {
    let tick = 100.0; // USER_HZ on Linux
    let mut m = std::collections::BTreeMap::new();
    // the whole machine (every process, exited ones included): busy jiffies from /proc/stat
    if let Some(cpu) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
    {
        let v: Vec<f64> = cpu
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|i| v.get(*i)).sum();
        m.insert("machine", busy / tick);
    }
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        let secs = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / tick;
        // fields after the comm: state is index 0, utime index 11, stime index 12
        let used = secs(11) + secs(12);
        let role = match comm {
            "node" => "dynalite",
            "postgres" => "postgres",
            "beam.smp" | "erl_child_setup" | "epmd" => "rabbitmq",
            "migrator-worker" => "workers",
            "bench" => "api+harness",
            // wrk and pgbench exit inside their windows: they count in `machine` only
            _ => continue,
        };
        *m.entry(role).or_insert(0.0) += used;
    }
    m
}

/// CPU use over a measured window, per role, in cores (1.0 = one core busy throughout); with
/// `BENCH_PROFILE=dir`, also a system-wide `perf record` of the window to `dir/<name>.data`.
struct Window {
    name: &'static str,
    start: Instant,
    cpu: std::collections::BTreeMap<&'static str, f64>,
    perf: Option<Child>,
}

impl Window {
    fn open(name: &'static str) -> Self {
        let perf = std::env::var("BENCH_PROFILE").ok().map(|dir| {
            std::fs::create_dir_all(&dir).expect("profile dir");
            Command::new("perf")
                .args(["record", "-a", "-e", "cpu-clock", "-F", "999", "-q", "-o"])
                .arg(format!("{dir}/{name}.data"))
                .stdout(Stdio::null())
                .spawn()
                .expect("perf (Debian linux-perf)")
        });
        Window {
            name,
            start: Instant::now(),
            cpu: cpu_by_role(),
            perf,
        }
    }

    /// "dynalite 0.97, postgres 0.55, …" (cores), busiest first.
    fn close(self) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        let end = cpu_by_role();
        if let Some(mut p) = self.perf {
            let _ = Command::new("kill")
                .args(["-INT", &p.id().to_string()])
                .status();
            let _ = p.wait();
        }
        let mut v: Vec<(&str, f64)> = end
            .iter()
            .map(|(k, e)| (*k, (e - self.cpu.get(k).copied().unwrap_or(0.0)) / secs))
            .filter(|(_, c)| *c >= 0.01)
            .collect();
        v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
        let list: Vec<String> = v.iter().map(|(k, c)| format!("{k} {c:.2}")).collect();
        format!("{}: {}", self.name, list.join(", "))
    }
}

fn print_table(rows: &[Row], cpu: &[String]) {
    println!("| figure | ours | raw limit (same run) | ratio |");
    println!("|---|---|---|---|");
    for Row(a, b, c, d) in rows {
        println!("| {a} | {b} | {c} | {d} |");
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("\nCPU during each measured window, in cores of {cores} (1.00 = one core busy throughout):\n");
    for l in cpu {
        println!("- {l}");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let all_n = env_usize("BENCH_ALL_MESSAGES", 100_000);
    let rss_n = env_usize("BENCH_RSS_MESSAGES", 1_000_000);
    let c1s = env_usize("BENCH_C1S", 1000);
    let env = TestEnv::start_with(
        EnvOptions {
            workers: 0,
            ..Default::default()
        },
        production_like,
    )
    .await;
    let mut rows: Vec<Row> = Vec::new();
    let mut cpu: Vec<String> = Vec::new();
    let t0 = Instant::now();
    let say = |m: &str| eprintln!("[bench {:>5.0}s] {m}", t0.elapsed().as_secs_f64());

    // 1. all-messages phase, one worker
    say(&format!("seeding {all_n} messages"));
    let big = spec("b-all", all_n / 100, 100, 1);
    env.create_account("b-all", "Bench").await;
    env.seed(&big).await;
    let win = Window::open("raw-query");
    let query = raw_query_rate(&env, &big, env.settings.dynamodb.page_size).await;
    cpu.push(win.close());
    let copy = raw_copy_rate(&env.settings.database.url, &big)?;
    let mut s1 = env.settings.clone();
    s1.worker.recent_max_threads = 0; // every message goes through the all-messages phase
    let mut w = worker(&s1);
    let win = Window::open("all-messages");
    env.post("b-all", "/migrate", None).await;
    let v = env
        .wait_admin_status("b-all", "completed", Duration::from_secs(900))
        .await;
    cpu.push(win.close());
    kill9(&mut w);
    let secs = secs_between(&v, "recent_messages_migrated_at", "completed_at");
    let ours = all_n as f64 / secs;
    let raw = query.min(copy);
    say(&format!(
        "all-messages {ours:.0}/s; raw Query {query:.0}/s, raw COPY {copy:.0}/s"
    ));
    rows.push(Row(
        "all-messages phase, messages/s, one worker".into(),
        format!("{ours:.0}"),
        format!("{raw:.0} (Query {query:.0}, COPY {copy:.0})"),
        format!("{:.2}", ours / raw),
    ));
    let one_worker = ours;
    if std::env::var("BENCH_ONLY_ALL_MESSAGES").is_ok() {
        print_table(&rows, &cpu);
        env.shutdown().await;
        return Ok(());
    }

    // the fleet for the next figures: one worker, default settings
    let mut w = worker(&env.settings);

    // 2. POST /migrate -> channels-migrated, 50 C1s at once
    let small: Vec<C1Spec> = (0..50)
        .map(|i| spec(&format!("b-ch{i}"), 10, 5, 10 + i))
        .collect();
    for s in &small {
        env.create_account(&s.shopper_id, "Bench").await;
    }
    seed_many(&env, &small).await;
    let lat = futures::future::join_all(small.iter().map(|s| {
        let env = &env;
        async move {
            let start = Instant::now();
            env.post(&s.shopper_id, "/migrate", None).await;
            loop {
                let (_, v) = env.get(&s.shopper_id, "/check-migration-status").await;
                let st = v["migration_status"].as_str().unwrap_or("");
                if st != "migrating" && st != "not-started" {
                    return start.elapsed().as_secs_f64() * 1000.0;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }))
    .await;
    let mut lat = lat;
    let (p50, p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));
    say(&format!(
        "channels-migrated p50 {p50:.0} ms p99 {p99:.0} ms"
    ));
    rows.push(Row(
        "`POST /migrate` -> `channels-migrated`, 50 C1s at once, p50 / p99 ms".into(),
        format!("{p50:.0} / {p99:.0}"),
        "—".into(),
        "—".into(),
    ));
    for s in &small {
        env.wait_admin_status(&s.shopper_id, "completed", Duration::from_secs(300))
            .await;
    }

    // 3. recent-messages-migrated for 200 threads x 25 messages
    let mut recent = spec("b-recent", 200, 25, 3);
    let now = chrono::Utc::now().timestamp_millis();
    for (i, t) in recent.threads.iter_mut().enumerate() {
        let shift = now - (i as i64 * 3_600_000) - t.last_message_at;
        t.last_message_at += shift;
        t.created_at += shift;
        for m in &mut t.messages {
            m.sent_at += shift;
        }
    }
    env.create_account("b-recent", "Bench").await;
    env.seed(&recent).await;
    let start = Instant::now();
    env.post("b-recent", "/migrate", None).await;
    env.wait_status(
        "b-recent",
        "recent-messages-migrated",
        Duration::from_secs(300),
    )
    .await;
    let recent_s = start.elapsed().as_secs_f64();
    say(&format!("recent-messages-migrated in {recent_s:.2}s"));
    rows.push(Row(
        "`recent-messages-migrated` for 200 threads x 25 messages, s".into(),
        format!("{recent_s:.2}"),
        "—".into(),
        "—".into(),
    ));
    env.wait_status("b-recent", "completed", Duration::from_secs(300))
        .await;

    // 4. status endpoint under heavy polling
    kill9(&mut w);
    let win = Window::open("status-wrk");
    let (rps, p99) = wrk_status(&env.api_url, &env.app_token("b-recent"))?;
    cpu.push(win.close());
    let tps = pgbench_tps(&mut cpu)?;
    say(&format!(
        "status {rps:.0} req/s p99 {p99:.1} ms; pgbench -S {tps:.0} tps"
    ));
    rows.push(Row(
        "`GET /check-migration-status` req/s at 64 connections (p99 ms)".into(),
        format!("{rps:.0} ({p99:.1} ms)"),
        format!("{tps:.0} (`pgbench -S`, 64 clients)"),
        format!("{:.2}", rps / tps),
    ));

    // 5. worker peak RSS: 1M-message C1 vs 10k-message C1
    let mut rss = Vec::new();
    for (name, n) in [("b-rss-small", 10_000usize), ("b-rss-big", rss_n)] {
        say(&format!("seeding {n} messages for the RSS figure"));
        let s = spec(name, n / 500, 500, 5);
        env.create_account(name, "Bench").await;
        env.seed(&s).await;
        let mut w = worker(&env.settings);
        env.post(name, "/migrate", None).await;
        env.wait_admin_status(name, "completed", Duration::from_secs(1800))
            .await;
        rss.push(peak_rss_kb(&w));
        kill9(&mut w);
        say(&format!(
            "{name}: peak RSS {} MiB",
            rss.last().unwrap() / 1024
        ));
    }
    rows.push(Row(
        format!(
            "worker peak RSS, {}-message C1 vs 10k-message C1, MiB",
            rss_n
        ),
        format!("{} vs {}", rss[1] / 1024, rss[0] / 1024),
        "—".into(),
        format!("{:.2}", rss[1] as f64 / rss[0].max(1) as f64),
    ));

    // 6. four workers, many C1s
    say(&format!("seeding {c1s} C1s"));
    let many: Vec<C1Spec> = (0..c1s)
        .map(|i| spec(&format!("b-m{i}"), 5, 10, 1000 + i as u64))
        .collect();
    for s in &many {
        env.create_account(&s.shopper_id, "Bench").await;
    }
    seed_many(&env, &many).await;
    let mut fleet: Vec<Child> = (0..4).map(|_| worker(&env.settings)).collect();
    let win = Window::open("fleet");
    let start = Instant::now();
    {
        use futures::StreamExt;
        futures::stream::iter(&many)
            .for_each_concurrent(32, |s| async {
                env.post(&s.shopper_id, "/migrate", None).await;
            })
            .await;
    }
    let total: usize = many
        .iter()
        .map(|s| s.threads.iter().map(|t| t.messages.len()).sum::<usize>())
        .sum();
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use migrator_core::db::schema::accounts as a;
        let mut db = env.db().await;
        loop {
            let done: i64 = a::table
                .filter(a::shopper_id.like("b-m%"))
                .filter(a::migration_status.eq("completed"))
                .count()
                .get_result(&mut db)
                .await?;
            if done as usize == many.len() {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(900),
                "fleet stuck at {done}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let agg = total as f64 / start.elapsed().as_secs_f64();
    cpu.push(win.close());
    for w in &mut fleet {
        kill9(w);
    }
    say(&format!("4 workers, {c1s} C1s: {agg:.0} messages/s"));
    rows.push(Row(
        format!("4 workers, {c1s} C1s: aggregate messages/s"),
        format!("{agg:.0}"),
        format!("{one_worker:.0} (one worker, figure 1)"),
        format!("{:.2}", agg / one_worker),
    ));

    print_table(&rows, &cpu);
    env.shutdown().await;
    Ok(())
}
