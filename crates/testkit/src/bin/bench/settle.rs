//! What settling costs a C1 (`spec/source-contract.md` section 5): BENCH_SETTLE_C1S (20) C1s
//! migrated by a release worker with a short settle window, their two catch-ups each counted
//! from their completion to the window's end — DynamoDB requests (at a counting proxy before
//! the emulator) and Postgres statements (`pg_stat_statements`) — for C1s where nothing landed
//! after the switch and for C1s where one message landed in one thread. The verification after
//! the window is left out (`verify.after_migration` off): this is the catch-ups' own cost.

use super::report::Row;
use super::{env_usize, production_like, spec, worker, Bench};
use diesel_async::RunQueryDsl;
use migrator_testkit::late::land_message;
use migrator_testkit::process::kill9;
use migrator_testkit::{EnvOptions, TestEnv};
use std::time::{Duration, Instant};

/// The short window of the figure: catch-ups at 2 s and 4 s after each switch.
const WINDOW_SECS: u64 = 4;

/// One group's cost per C1: (DynamoDB requests, Postgres statements).
struct Cost {
    requests: f64,
    statements: Option<f64>,
}

impl Bench {
    /// DynamoDB requests and Postgres statements per C1 of its catch-ups, with and without late
    /// items.
    pub async fn settle(&mut self) -> anyhow::Result<()> {
        let n = env_usize("BENCH_SETTLE_C1S", 20);
        let opts = EnvOptions {
            workers: 0,
            dynamo_proxy: true,
        };
        let env = TestEnv::start_with(opts, |s| {
            production_like(s);
            s.conversations.settle_window_secs = WINDOW_SECS;
            s.verify.after_migration = false;
        })
        .await;
        let mut w = worker(&env.settings);
        let measured = async {
            let quiet = group(&env, "st-q", n, false).await?;
            let late = group(&env, "st-l", n, true).await?;
            anyhow::Ok((quiet, late))
        }
        .await;
        kill9(&mut w);
        env.shutdown().await;
        let (quiet, late) = measured?;
        let statements = |c: &Cost| c.statements.map_or("—".into(), |s| format!("{s:.1}"));
        self.rows.push(Row::plain(
            format!("settling (2 catch-ups), nothing landed: DynamoDB requests / Postgres statements per C1 ({n} C1s)"),
            format!("{:.2} / {}", quiet.requests, statements(&quiet)),
        ));
        self.rows.push(Row::plain(
            format!("settling (2 catch-ups), a message landed in one thread: DynamoDB requests / Postgres statements per C1 ({n} C1s)"),
            format!("{:.2} / {}", late.requests, statements(&late)),
        ));
        self.say(&format!(
            "settling per C1: {:.2} requests, {} statements (nothing landed); {:.2}, {} (one late message)",
            quiet.requests,
            statements(&quiet),
            late.requests,
            statements(&late)
        ));
        Ok(())
    }
}

/// Migrates `n` C1s named `prefix…` to completion, then counts their settling (after landing a
/// message in one thread of each when `late`).
async fn group(env: &TestEnv, prefix: &str, n: usize, late: bool) -> anyhow::Result<Cost> {
    let mut specs: Vec<_> = (0..n)
        .map(|i| spec(&format!("{prefix}{i}"), 10, 5, 7000 + i as u64))
        .collect();
    for s in &specs {
        env.add_c1(s).await;
        env.post(&s.shopper_id, "/migrate", None).await;
    }
    for s in &specs {
        env.wait_status(&s.shopper_id, "completed", Duration::from_secs(120))
            .await;
    }
    let proxy = env.proxy.as_ref().expect("the counting proxy");
    let mut db = env.db().await;
    let counted = super::statements::reset(&mut db).await;
    let before = proxy.counts().0;
    if late {
        for s in &mut specs {
            land_message(env, s, 0, "landed after the switch").await;
        }
    }
    // polled in SQL marked `bench-poll` (left out of the statements counted)
    #[derive(diesel::QueryableByName)]
    struct Settled {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let done: Settled = diesel::sql_query(
            "SELECT count(*) AS n /* bench-poll */ FROM run_settling s \
             JOIN accounts a ON a.current_run_id = s.run_id \
             WHERE a.shopper_id LIKE $1 AND s.catch_ups = 2 AND s.catch_up_at IS NULL \
               AND s.plan IS NULL",
        )
        .bind::<diesel::sql_types::Text, _>(format!("{prefix}%"))
        .get_result(&mut db)
        .await?;
        if done.n as usize >= n {
            break;
        }
        anyhow::ensure!(Instant::now() < end, "{prefix}: {} of {n} settled", done.n);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let requests = (proxy.counts().0 - before) as f64 / n as f64;
    let statements = if counted {
        Some(super::statements::read(&mut db).await?.calls as f64 / n as f64)
    } else {
        None
    };
    Ok(Cost {
        requests,
        statements,
    })
}
