//! The herd, open loop: C1s open the app at a fixed rate, whatever the service answers, while
//! one large C1 migrates in the background. Each arrival is sent at its scheduled instant (not
//! after the previous one finished), polls its status like the app does, and is timed from
//! just before its `POST /migrate` to its run's own `channels_migrated_at` and `completed_at`.
//!
//! The rate steps up (BENCH_OPEN_RATES, C1s/s, default `8,16,32,64`) for BENCH_OPEN_SECS each
//! (default 20), each step measured on its own after the previous one drained. A step is
//! sustained when every C1 completed within BENCH_OPEN_DRAIN_SECS (default 120) of the last
//! arrival and the time to `completed` did not grow through the step: the p90 of the last
//! quarter of arrivals within twice the first quarter's (+1 s). The background C1 has
//! BENCH_OPEN_BACKGROUND messages (default 300000, seeded in ~80 s; 1000000 keeps it busy
//! through every step but its seeding takes ~4.5 minutes); the row says when it completed.

use crate::figures::wait_verified;
use crate::report::{percentile, since, Row};
use crate::windows::Window;
use crate::{env_usize, seed_many, spec, worker, Bench};
use conversations_sim::model::C1Spec;
use migrator_testkit::dynamo_proxy::DynamoProxy;
use migrator_testkit::process::kill9;
use std::time::{Duration, Instant};

/// One arrival's times, in ms from its POST.
struct Timed {
    inbox: f64,
    completed: f64,
}

/// One step's figures.
pub(crate) struct Step {
    rate: usize,
    /// DynamoDB requests and Conversations REST calls per C1 (its verification included).
    reads: f64,
    /// Pages read per C1 by purpose, as the workers count them: copy, catch-up, verification.
    purposes: [f64; 3],
    rest: f64,
    pub inbox: (f64, f64),
    completed: (f64, f64),
    growth: f64,
    sustained: bool,
}

impl Bench {
    /// The open-loop figure: a row per rate, and the highest rate sustained.
    pub async fn arrivals(&mut self) -> anyhow::Result<()> {
        let rates: Vec<usize> = std::env::var("BENCH_OPEN_RATES")
            .unwrap_or_else(|_| "8,16,32,64".into())
            .split(',')
            .filter_map(|r| r.trim().parse().ok())
            .filter(|r| *r > 0)
            .collect();
        let secs = env_usize("BENCH_OPEN_SECS", 20);
        let drain = Duration::from_secs(env_usize("BENCH_OPEN_DRAIN_SECS", 120) as u64);
        let background = env_usize("BENCH_OPEN_BACKGROUND", 300_000);
        let env = &self.env;
        self.say(&format!(
            "seeding the background C1 ({background} messages)"
        ));
        let big = spec("b-open-big", (background / 100).max(1), 100, 77);
        env.add_c1(&big).await;
        // the workers read DynamoDB through a counting proxy: reads per C1
        let proxy = DynamoProxy::start(env.settings.dynamodb.endpoint.as_str()).await;
        let mut s = env.settings.clone();
        s.dynamodb.endpoint = proxy.url.clone();
        let mut fleet: Vec<_> = (0..4).map(|_| worker(&s)).collect();
        let bg_start = chrono::Utc::now();
        env.post("b-open-big", "/migrate", None).await;
        let mut steps = Vec::new();
        let mut measured = Duration::ZERO;
        for (n, &rate) in rates.iter().enumerate() {
            let c1s: Vec<C1Spec> = (0..rate * secs)
                .map(|i| {
                    // 10 to 40 threads of 5 messages, spread over the last 120 days
                    let threads = 10 + (i * 7919 + n * 31) % 31;
                    spec(
                        &format!("b-o{n}-{i}"),
                        threads,
                        5,
                        5000 + (n * 10_000 + i) as u64,
                    )
                })
                .collect();
            self.say(&format!("{rate}/s for {secs} s: seeding {} C1s", c1s.len()));
            for s in &c1s {
                self.env.create_account(&s.shopper_id, "Bench").await;
            }
            seed_many(&self.env, &c1s).await;
            let win = Window::open(format!("open-{rate}"));
            let t = Instant::now();
            let (reads, rest) = (proxy.counts().0, rest_calls(&self.env).await);
            let by_purpose = reads_by_purpose(&self.env).await?;
            let mut step = self.step(rate, &c1s, drain).await?;
            // the step's verifications too, then its source calls per C1
            wait_verified(&self.env, &format!("b-o{n}-%")).await;
            step.reads = (proxy.counts().0 - reads) as f64 / c1s.len() as f64;
            step.rest = (rest_calls(&self.env).await - rest) as f64 / c1s.len() as f64;
            // the workers add their counts with their heartbeat: one more goes by
            let beat = s.worker.fleet_poll_secs.max(1) + 1;
            tokio::time::sleep(Duration::from_secs(beat)).await;
            let after = reads_by_purpose(&self.env).await?;
            for (k, (a, b)) in after.iter().zip(by_purpose).enumerate() {
                step.purposes[k] = (a - b) as f64 / c1s.len() as f64;
            }
            let [copy, catch_up, verification] = step.purposes;
            self.say(&format!(
                "{rate}/s: per C1 {:.1} DynamoDB requests ({copy:.1} copy, {catch_up:.1} catch-up, \
                 {verification:.1} verification, as the workers count them), {:.1} REST calls \
                 (the background C1's reads during the step too)",
                step.reads, step.rest
            ));
            measured += t.elapsed();
            self.cpu.push(win.close());
            let stop = !step.sustained;
            steps.push(step);
            if stop {
                break; // a higher rate would not be sustained either
            }
        }
        let bg = self.env.admin_view("b-open-big").await;
        let behind = match bg["run"]["completed_at"].as_str() {
            Some(_) => format!(
                "completed {:.0} s after its POST",
                since(bg_start, &bg["run"]["completed_at"]) / 1000.0
            ),
            None => {
                // cancelled, so that no hop of it runs into a later figure
                let path = "/admin/accounts/b-open-big/cancel";
                let (st, v) = self.env.admin(reqwest::Method::POST, path, None).await;
                anyhow::ensure!(st.is_success(), "cancelling the background C1: {st} {v}");
                "still migrating at the end, then cancelled".into()
            }
        };
        self.say(&format!(
            "background C1: {} messages moved, {behind}; the steps took {:.0} s (seeding between \
             them aside)",
            bg["run"]["figures"]["messages_migrated"],
            measured.as_secs_f64()
        ));
        for w in &mut fleet {
            kill9(w);
        }
        proxy.stop().await;
        for s in &steps {
            self.rows.push(Row(
                format!(
                    "open loop, {}/s for {secs} s, 4 workers, {background}-message C1 behind \
                     ({behind}): to `channels-migrated` p50 / p99 ms; to `completed` p50 / p99 ms",
                    s.rate
                ),
                format!(
                    "{:.0} / {:.0}; {:.0} / {:.0}",
                    s.inbox.0, s.inbox.1, s.completed.0, s.completed.1
                ),
                "—".into(),
                format!(
                    "growth {:.2}{}; per C1 {:.0} DynamoDB reads ({:.1} copy, {:.1} catch-up, \
                     {:.1} verification), {:.1} REST calls",
                    s.growth,
                    if s.sustained { "" } else { " (not sustained)" },
                    s.reads,
                    s.purposes[0],
                    s.purposes[1],
                    s.purposes[2],
                    s.rest
                ),
            ));
        }
        let best = steps.iter().filter(|s| s.sustained).map(|s| s.rate).max();
        self.rows.push(Row::plain(
            "open loop: highest rate sustained (C1s of 10-40 threads per second)",
            best.map_or("below the lowest rate tried".into(), |r| format!("{r}/s")),
        ));
        Ok(())
    }

    /// Sends `c1s` at `rate` per second, then waits for all of them to complete.
    pub(crate) async fn step(
        &mut self,
        rate: usize,
        c1s: &[C1Spec],
        drain: Duration,
    ) -> anyhow::Result<Step> {
        let env = &self.env;
        let start = Instant::now();
        let every = Duration::from_secs_f64(1.0 / rate as f64);
        let deadline = start + every * c1s.len() as u32 + drain;
        let timed = futures::future::join_all(c1s.iter().enumerate().map(|(i, s)| async move {
            tokio::time::sleep_until((start + every * i as u32).into()).await;
            let sent = chrono::Utc::now();
            env.post(&s.shopper_id, "/migrate", None).await;
            // the app: every 500 ms until the inbox is ready, then every 2 s
            let mut pause = Duration::from_millis(500);
            loop {
                let (_, v) = env.get(&s.shopper_id, "/check-migration-status").await;
                if v["migration_status"] == "completed" {
                    break;
                }
                if v["inbox_ready"] == true {
                    pause = Duration::from_secs(2);
                }
                if Instant::now() + pause > deadline {
                    return None;
                }
                tokio::time::sleep(pause).await;
            }
            let v = env.admin_view(&s.shopper_id).await;
            Some(Timed {
                inbox: since(sent, &v["run"]["channels_migrated_at"]),
                completed: since(sent, &v["run"]["completed_at"]),
            })
        }))
        .await;
        let late = timed.iter().filter(|t| t.is_none()).count();
        let timed: Vec<Timed> = timed.into_iter().flatten().collect();
        anyhow::ensure!(!timed.is_empty(), "no C1 of the {rate}/s step completed");
        let mut inbox: Vec<f64> = timed.iter().map(|t| t.inbox).collect();
        let mut done: Vec<f64> = timed.iter().map(|t| t.completed).collect();
        let q = (done.len() / 4).max(1);
        let mut first: Vec<f64> = done[..q].to_vec();
        let mut last: Vec<f64> = done[done.len() - q..].to_vec();
        let (f90, l90) = (percentile(&mut first, 0.9), percentile(&mut last, 0.9));
        let growth = l90 / f90.max(1.0);
        let step = Step {
            rate,
            reads: 0.0,
            purposes: [0.0; 3],
            rest: 0.0,
            inbox: (percentile(&mut inbox, 0.5), percentile(&mut inbox, 0.99)),
            completed: (percentile(&mut done, 0.5), percentile(&mut done, 0.99)),
            growth,
            sustained: late == 0 && l90 <= 2.0 * f90 + 1000.0,
        };
        self.say(&format!(
            "{rate}/s: inbox p50 {:.0} p99 {:.0} ms; completed p50 {:.0} p99 {:.0} ms; \
             last/first quarter p90 {l90:.0}/{f90:.0} ms; {late} not completed in time{}",
            step.inbox.0,
            step.inbox.1,
            step.completed.0,
            step.completed.1,
            if step.sustained {
                ""
            } else {
                ": not sustained"
            }
        ));
        Ok(step)
    }
}

/// Conversations REST calls so far (eligibility and configs-migration).
async fn rest_calls(env: &migrator_testkit::TestEnv) -> u64 {
    let s = env.sim_stats().await;
    s.eligibility_calls + s.configs_calls
}

/// DynamoDB pages read so far by purpose (copy, catch-up, verification), as the workers
/// counted them into the fleet's minutes.
async fn reads_by_purpose(env: &migrator_testkit::TestEnv) -> anyhow::Result<[i64; 3]> {
    #[derive(diesel::QueryableByName)]
    struct Sum {
        #[diesel(sql_type = diesel::sql_types::Text)]
        series: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = env.db().await;
    let sums: Vec<Sum> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT series, sum(n)::bigint AS n FROM fleet_minutes \
             WHERE series LIKE 'dynamodb\\_reads\\_%' GROUP BY series",
        ),
        &mut c,
    )
    .await?;
    let get = |name: &str| sums.iter().find(|s| s.series == name).map_or(0, |s| s.n);
    Ok([
        get("dynamodb_reads_copy"),
        get("dynamodb_reads_catch_up"),
        get("dynamodb_reads_verification"),
    ])
}
