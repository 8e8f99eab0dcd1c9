//! `make bench`: seeds the DynamoDB emulator through the simulator's seeder, runs the api
//! (in this process) and release worker processes, and prints one table of our figures against
//! raw limits measured in the same run. Sizes: BENCH_ALL_MESSAGES (100000), BENCH_RSS_MESSAGES
//! (1000000), BENCH_C1S (1000); the open-loop figure's in [`arrivals`]. BENCH_ONLY=a,b runs a
//! subset of the figures: `all-messages`, `channels`, `recent`, `status`, `rss`, `fleet`,
//! `source-cap`, `open`, `campaign`, `scale`, `import`, `settle`, `attachments`
//! (BENCH_ONLY_ALL_MESSAGES: all-messages alone).
//!
//! - [`arrivals`]: the open-loop herd (C1s opening the app at fixed rates);
//! - [`figures`]: each figure's workload and row;
//! - [`raw`]: the raw limits measured in the same run;
//! - [`windows`]: CPU by role over each measured window, perf profiles, peak RSS;
//! - [`source_cap`]: the fleet-wide DynamoDB read cap, measured at a counting proxy;
//! - [`report`]: the table;
//! - [`statements`]: Postgres statements per account (`pg_stat_statements`);
//! - [`scale`], [`scale_fill`]: the fleet's bookkeeping at 2M accounts beside 20k;
//! - [`campaign`]: app opens beside a campaign running flat out, against app opens alone;
//! - [`import`]: two million accounts through `POST /admin/accounts/batch`, against SQL alone;
//! - [`settle`]: what the catch-ups of the settle window cost a C1, with and without late items;
//! - [`attachments`]: the attachment path into files and into S3, against raw writes.

mod arrivals;
mod attachments;
mod campaign;
mod figures;
mod import;
mod raw;
mod report;
mod scale;
mod scale_charts;
mod scale_fill;
mod settle;
mod source_cap;
mod statements;
mod windows;

use conversations_sim::model::{generate, C1Spec, GenOptions};
use migrator_runtime::settings::Settings;
use migrator_testkit::process::{command, kill9};
use migrator_testkit::{EnvOptions, TestEnv};
use report::{print_table, Row};
use std::process::{Child, Stdio};
use std::time::Instant;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// A synthetic C1 without attachments or malformed items.
fn spec(shopper: &str, threads: usize, messages: usize, seed: u64) -> C1Spec {
    generate(shopper, &GenOptions::new(threads, messages, seed))
}

/// The workers run with the shipped defaults, not the tests' fast retries.
fn production_like(s: &mut Settings) {
    let d = Settings::load_from(&migrator_testkit::workspace().join("config")).expect("defaults");
    let listen = s.worker.listen.clone();
    s.worker = d.worker;
    s.worker.listen = listen; // several workers on one machine: any port
    s.dynamodb.page_size = d.dynamodb.page_size;
    s.database.pool_size = d.database.pool_size;
}

async fn seed_many(env: &TestEnv, specs: &[C1Spec]) {
    use futures::StreamExt;
    futures::stream::iter(specs)
        .for_each_concurrent(16, |s| async move { env.seed(s).await })
        .await;
}

/// A release worker process; BENCH_WORKER_LOG=path keeps its logs (with WORKER_LOG as its
/// RUST_LOG).
fn worker(s: &Settings) -> Child {
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

/// One run of the harness: the environment, the rows so far, the CPU of each window.
pub struct Bench {
    env: TestEnv,
    rows: Vec<Row>,
    cpu: Vec<String>,
    t0: Instant,
    /// The fleet figure's closed-loop C1s a second, for the campaign figure's row.
    fleet_rate: Option<f64>,
}

impl Bench {
    /// Progress on stderr.
    fn say(&self, m: &str) {
        eprintln!("[bench {:>5.0}s] {m}", self.t0.elapsed().as_secs_f64());
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let all_n = env_usize("BENCH_ALL_MESSAGES", 100_000);
    let rss_n = env_usize("BENCH_RSS_MESSAGES", 1_000_000);
    let c1s = env_usize("BENCH_C1S", 1000);
    let opts = EnvOptions::no_workers();
    let mut b = Bench {
        env: TestEnv::start_with(opts, production_like).await,
        rows: Vec::new(),
        cpu: Vec::new(),
        t0: Instant::now(),
        fleet_rate: None,
    };
    let only: Option<Vec<String>> = match std::env::var("BENCH_ONLY") {
        Ok(v) => Some(v.split(',').map(|s| s.trim().to_string()).collect()),
        Err(_) if std::env::var("BENCH_ONLY_ALL_MESSAGES").is_ok() => {
            Some(vec!["all-messages".into()])
        }
        Err(_) => None,
    };
    let runs = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|n| n == name));
    let one_worker = if runs("all-messages") {
        Some(b.all_messages(all_n).await?)
    } else {
        None
    };
    if runs("channels") || runs("recent") {
        // one worker with default settings for the next figures
        let mut w = worker(&b.env.settings);
        if runs("channels") {
            b.channels_burst().await;
        }
        if runs("recent") {
            b.recent().await;
        }
        kill9(&mut w);
    }
    if runs("status") {
        b.status()?;
    }
    if runs("fleet") {
        b.fleet(c1s, one_worker).await?;
    }
    if runs("source-cap") {
        b.source_cap().await?;
    }
    if runs("open") {
        b.arrivals().await?;
    }
    if runs("campaign") {
        b.campaign().await?;
    }
    if runs("scale") {
        b.scale().await?;
    }
    if runs("import") {
        b.import().await?;
    }
    if runs("settle") {
        b.settle().await?;
    }
    if runs("attachments") {
        b.attachments().await?;
    }
    // last: its million messages stay in the in-memory emulator, which slows with what it
    // holds (the figures before it read a smaller one)
    if runs("rss") {
        b.rss(rss_n).await;
    }
    print_table(&b.rows, &b.cpu);
    b.env.shutdown().await;
    Ok(())
}
