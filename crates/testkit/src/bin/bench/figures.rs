//! Each figure of the table: the workload, what is measured, and its row.

use crate::raw::{pgbench_tps, raw_copy_rate, raw_query_rate, wrk_status};
use crate::report::{percentile, secs_between, since, Row};
use crate::windows::Window;
use crate::{seed_many, spec, worker, Bench};
use conversations_sim::model::C1Spec;
use migrator_testkit::process::{kill9, peak_rss_kb};
use std::process::Child;
use std::time::{Duration, Instant};

impl Bench {
    /// The all-messages phase of one large C1 on one worker, against the raw Query and COPY
    /// rates of the same messages. Returns our rate.
    pub async fn all_messages(&mut self, n: usize) -> anyhow::Result<f64> {
        let env = &self.env;
        self.say(&format!("seeding {n} messages"));
        let big = spec("b-all", n / 100, 100, 1);
        env.add_c1(&big).await;
        let win = Window::open("raw-query");
        let d = &env.settings;
        let query =
            raw_query_rate(env, &big, d.dynamodb.page_size, d.worker.thread_concurrency).await;
        self.cpu.push(win.close());
        let copy = raw_copy_rate(env.settings.database.url.as_str(), &big).await?;
        let mut s = env.settings.clone();
        // every message goes through the all-messages phase, which is what is measured; its
        // verification (a second read of the C1) would run on into the next figures
        s.worker.recent_max_threads = 0;
        s.verify.after_migration = false;
        let mut w = worker(&s);
        let win = Window::open("all-messages");
        env.post("b-all", "/migrate", None).await;
        let v = env
            .wait_admin_status("b-all", "completed", Duration::from_secs(900))
            .await;
        self.cpu.push(win.close());
        kill9(&mut w);
        let ours = n as f64 / secs_between(&v, "recent_messages_migrated_at", "completed_at");
        let raw = query.min(copy);
        self.say(&format!(
            "all-messages {ours:.0}/s; raw Query {query:.0}/s, raw COPY {copy:.0}/s"
        ));
        self.rows.push(Row(
            "all-messages phase, messages/s, one worker".into(),
            format!("{ours:.0}"),
            format!("{raw:.0} (Query {query:.0}, COPY {copy:.0})"),
            format!("{:.2}", ours / raw),
        ));
        Ok(ours)
    }

    /// `POST /migrate` -> `channels-migrated` for 50 C1s at once.
    pub async fn channels_burst(&mut self) {
        let env = &self.env;
        let small: Vec<C1Spec> = (0..50)
            .map(|i| spec(&format!("b-ch{i}"), 10, 5, 10 + i))
            .collect();
        for s in &small {
            env.create_account(&s.shopper_id, "Bench").await;
        }
        let warm = spec("b-ch-warm", 2, 2, 9);
        env.create_account(&warm.shopper_id, "Bench").await;
        seed_many(env, &[warm]).await;
        seed_many(env, &small).await;
        // a worker that has just started is still connecting: one C1 first, unmeasured, as a
        // fleet in service would have been busy before the burst
        env.post("b-ch-warm", "/migrate", None).await;
        env.wait_admin_status("b-ch-warm", "completed", Duration::from_secs(60))
            .await;
        // each C1 polls like the app (every 100 ms) until its inbox is ready; the latency is
        // from just before its POST to the run's own `channels_migrated_at` (same clock)
        let mut lat = futures::future::join_all(small.iter().map(|s| async move {
            let sent = chrono::Utc::now();
            env.post(&s.shopper_id, "/migrate", None).await;
            loop {
                let (_, v) = env.get(&s.shopper_id, "/check-migration-status").await;
                if v["inbox_ready"] == true {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let v = env.admin_view(&s.shopper_id).await;
            let inbox = since(sent, &v["run"]["channels_migrated_at"]);
            (inbox, since(sent, &v["run"]["started_at"]))
        }))
        .await;
        // where the time goes: to the run's start (the api's part), then to the inbox
        let (mut lat, mut api): (Vec<f64>, Vec<f64>) = lat.drain(..).unzip();
        self.say(&format!(
            "POST -> run started p50 {:.0} ms, p99 {:.0} ms",
            percentile(&mut api, 0.5),
            percentile(&mut api, 0.99)
        ));
        let (p50, p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));
        self.say(&format!(
            "channels-migrated p50 {p50:.0} ms p99 {p99:.0} ms"
        ));
        self.rows.push(Row::plain(
            "`POST /migrate` -> `channels-migrated`, 50 C1s at once, p50 / p99 ms",
            format!("{p50:.0} / {p99:.0}"),
        ));
        for s in &small {
            env.wait_admin_status(&s.shopper_id, "completed", Duration::from_secs(300))
                .await;
        }
        wait_verified(env, "b-ch%").await;
    }

    /// Time from the run's start to its recent phase's end for 200 recent threads of 25
    /// messages.
    pub async fn recent(&mut self) {
        let env = &self.env;
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
        env.add_c1(&recent).await;
        env.post("b-recent", "/migrate", None).await;
        // timed by the run's own stamps: a C1 whose recent threads are all its threads goes
        // from channels-migrated to completed, its recent phase stamped all the same
        env.wait_status("b-recent", "completed", Duration::from_secs(300))
            .await;
        let v = env.admin_view("b-recent").await;
        let secs = super::report::secs_between(&v, "started_at", "recent_messages_migrated_at");
        self.say(&format!("recent-messages-migrated in {secs:.2}s"));
        self.rows.push(Row::plain(
            "`recent-messages-migrated` for 200 threads x 25 messages, s (the run's own stamps)",
            format!("{secs:.2}"),
        ));
        wait_verified(env, "b-recent").await;
    }

    /// `GET /check-migration-status` under heavy polling against `pgbench -S`.
    pub fn status(&mut self) -> anyhow::Result<()> {
        let win = Window::open("status-wrk");
        let (rps, p99) = wrk_status(&self.env.api_url, &self.env.app_token("b-recent"))?;
        self.cpu.push(win.close());
        let tps = pgbench_tps(&mut self.cpu)?;
        self.say(&format!(
            "status {rps:.0} req/s p99 {p99:.1} ms; pgbench -S {tps:.0} tps"
        ));
        self.rows.push(Row(
            "`GET /check-migration-status` req/s at 64 connections (p99 ms)".into(),
            format!("{rps:.0} ({p99:.1} ms)"),
            format!("{tps:.0} (`pgbench -S`, 64 clients)"),
            format!("{:.2}", rps / tps),
        ));
        Ok(())
    }

    /// A worker's peak RSS migrating a large C1 against a small one.
    pub async fn rss(&mut self, big: usize) {
        let mut rss = Vec::new();
        for (name, n) in [("b-rss-small", 10_000usize), ("b-rss-big", big)] {
            self.say(&format!("seeding {n} messages for the RSS figure"));
            let s = spec(name, n / 500, 500, 5);
            let env = &self.env;
            env.create_account(name, "Bench").await;
            env.seed(&s).await;
            // the copy's RSS is measured, not the verifier's (which would outlive the figure)
            let mut s = env.settings.clone();
            s.verify.after_migration = false;
            let mut w = worker(&s);
            env.post(name, "/migrate", None).await;
            env.wait_admin_status(name, "completed", Duration::from_secs(1800))
                .await;
            rss.push(peak_rss_kb(&w));
            kill9(&mut w);
            self.say(&format!(
                "{name}: peak RSS {} MiB",
                rss[rss.len() - 1] / 1024
            ));
        }
        self.rows.push(Row(
            format!("worker peak RSS, {big}-message C1 vs 10k-message C1, MiB"),
            format!("{} vs {}", rss[1] / 1024, rss[0] / 1024),
            "—".into(),
            format!("{:.2}", rss[1] as f64 / rss[0].max(1) as f64),
        ));
    }

    /// Four workers moving many small C1s, against the one-worker rate of figure 1.
    pub async fn fleet(&mut self, c1s: usize, one_worker: Option<f64>) -> anyhow::Result<()> {
        let env = &self.env;
        self.say(&format!("seeding {c1s} C1s"));
        let many: Vec<C1Spec> = (0..c1s)
            .map(|i| spec(&format!("b-m{i}"), 5, 10, 1000 + i as u64))
            .collect();
        for s in &many {
            env.create_account(&s.shopper_id, "Bench").await;
        }
        seed_many(env, &many).await;
        let mut stats_db = env.db().await;
        let counted = super::statements::reset(&mut stats_db).await;
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
        wait_completed(env, "b-m%", many.len(), start).await?;
        let agg = total as f64 / start.elapsed().as_secs_f64();
        self.fleet_rate = Some(c1s as f64 / start.elapsed().as_secs_f64());
        self.cpu.push(win.close());
        // statements per account include each account's verification, which follows it
        wait_verified(env, "b-m%").await;
        for w in &mut fleet {
            kill9(w);
        }
        self.say(&format!("4 workers, {c1s} C1s: {agg:.0} messages/s"));
        if counted {
            let st = super::statements::read(&mut stats_db).await?;
            let (per, n) = (st.calls as f64 / c1s as f64, c1s as f64);
            self.say(&format!(
                "Postgres statements per account: {per:.1} ({} for {c1s}), executing {:.2} ms; costliest:",
                st.calls,
                st.ms / n
            ));
            for (calls, ms, q) in st.top {
                self.say(&format!(
                    "  {:>6.2}/account {:>6.3} ms  {q}",
                    calls as f64 / n,
                    ms / n
                ));
            }
            self.rows.push(Row::plain(
                "4 workers: Postgres statements per account, its verification included (`pg_stat_statements`)",
                format!("{per:.1}"),
            ));
        } else {
            self.say("pg_stat_statements is not loaded: statements per account not counted");
        }
        self.rows.push(Row(
            format!("4 workers, {c1s} C1s: aggregate messages/s"),
            format!("{agg:.0}"),
            one_worker.map_or("— (figure 1 not run)".into(), |o| {
                format!("{o:.0} (one worker, figure 1)")
            }),
            one_worker.map_or("—".into(), |o| format!("{:.2}", agg / o)),
        ));
        Ok(())
    }
}

/// Waits until the verifications of the accounts `LIKE pattern` are finished: a figure's
/// verifications must not run on into the next figure's window.
pub async fn wait_verified(env: &migrator_testkit::TestEnv, pattern: &str) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use migrator_store::schema::{accounts as a, verifications as v};
    let mut db = env.db().await;
    let start = Instant::now();
    loop {
        let open: i64 = v::table
            .inner_join(a::table.on(a::id.eq(v::account_id)))
            .filter(a::shopper_id.like(pattern))
            .filter(v::status.eq_any(["pending", "running"]))
            .count()
            .get_result(&mut db)
            .await
            .expect("verifications");
        if open == 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{open} verifications of {pattern} still open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `n` accounts whose shopper id is `LIKE pattern` are completed.
async fn wait_completed(
    env: &migrator_testkit::TestEnv,
    pattern: &str,
    n: usize,
    start: Instant,
) -> anyhow::Result<()> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use migrator_core::MigrationStatus;
    use migrator_store::schema::accounts as a;
    let mut db = env.db().await;
    loop {
        let done: i64 = a::table
            .filter(a::shopper_id.like(pattern))
            .filter(a::migration_status.eq(MigrationStatus::Completed))
            .count()
            .get_result(&mut db)
            .await?;
        if done as usize == n {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(900),
            "fleet stuck at {done}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
