//! The campaign figure (issue 21): C1s open the app at 8/s (BENCH_CAMPAIGN_RATE) for
//! BENCH_CAMPAIGN_SECS (20), once alone and once while a campaign runs at its highest rate
//! (`rate_per_sec` 10,000, `max_in_flight` 200, the default: the workers' campaign slots and the
//! driver's give-way bound it) over BENCH_CAMPAIGN_C1S (2000) not-started C1s shaped like the
//! fleet figure's (5 threads of 10 messages), on 4 workers in the same run, with
//! `campaign.max_inbox_p99_ms` at 1.2 × the app's p99 alone (the operators' objective). Target:
//! time to inbox p99 with the campaign ≤ 1.2 × without it. The campaign's C1s/s (its
//! selection over the time to `done`) is printed beside the fleet's closed-loop rate.

use crate::report::Row;
use crate::windows::Window;
use crate::{env_usize, seed_many, spec, worker, Bench};
use conversations_sim::model::C1Spec;
use migrator_testkit::process::kill9;
use reqwest::Method;
use std::time::{Duration, Instant};

impl Bench {
    /// The campaign figure.
    pub async fn campaign(&mut self) -> anyhow::Result<()> {
        let rate = env_usize("BENCH_CAMPAIGN_RATE", 8);
        let secs = env_usize("BENCH_CAMPAIGN_SECS", 20);
        let n = env_usize("BENCH_CAMPAIGN_C1S", 2000);
        let drain = Duration::from_secs(120);
        let opens = |tag: &str| -> Vec<C1Spec> {
            (0..rate * secs)
                .map(|i| {
                    spec(
                        &format!("b-ca{tag}-{i}"),
                        10 + (i * 7919) % 31,
                        5,
                        70_000 + i as u64,
                    )
                })
                .collect()
        };
        let (alone, beside) = (opens("a"), opens("b"));
        let backlog: Vec<C1Spec> = (0..n)
            .map(|i| spec(&format!("b-cc-{i}"), 5, 10, 90_000 + i as u64))
            .collect();
        self.say(&format!(
            "campaign figure: seeding {} app C1s and {n} campaign C1s",
            alone.len() + beside.len()
        ));
        for s in alone.iter().chain(&beside).chain(&backlog) {
            self.env.create_account(&s.shopper_id, "Bench").await;
        }
        seed_many(&self.env, &alone).await;
        seed_many(&self.env, &beside).await;
        seed_many(&self.env, &backlog).await;
        let mut fleet: Vec<_> = (0..4).map(|_| worker(&self.env.settings)).collect();

        // the app alone (the campaign's C1s wait in not-started)
        let win = Window::open("campaign-alone");
        let without = self.step(rate, &alone, drain).await?;
        self.cpu.push(win.close());
        // the operators' objective for the app's inbox while a campaign runs: 1.2 × alone,
        // which the driver gives way to (campaign.max_inbox_p99_ms)
        for w in &mut fleet {
            kill9(w);
        }
        let slo = (without.inbox.1 * 1.2).ceil().max(1.0) as u64;
        let mut s = self.env.settings.clone();
        s.campaign.max_inbox_p99_ms = slo;
        let mut fleet: Vec<_> = (0..4).map(|_| worker(&s)).collect();
        // the same rate of app opens while the campaign runs flat out
        let body = serde_json::json!({
            "statuses": ["not-started"],
            "rate_per_sec": 10_000,
            "max_in_flight": 200,
            "deadline": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
            "shopper_ids": backlog.iter().map(|s| s.shopper_id.clone()).collect::<Vec<_>>(),
        });
        let (st, c) = self
            .env
            .admin(Method::POST, "/admin/campaigns", Some(body))
            .await;
        anyhow::ensure!(st.as_u16() == 201, "campaign not started: {st} {c}");
        let id = c["id"].as_str().unwrap_or_default().to_string();
        let started = Instant::now();
        // its first accounts in flight before the app's C1s come
        tokio::time::sleep(Duration::from_secs(2)).await;
        let win = Window::open("campaign-beside");
        let with = self.step(rate, &beside, drain).await?;
        self.cpu.push(win.close());
        let v = loop {
            let (_, v) = self
                .env
                .admin(Method::GET, &format!("/admin/campaigns/{id}"), None)
                .await;
            if v["state"] == "done" || started.elapsed() > Duration::from_secs(1800) {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        anyhow::ensure!(v["state"] == "done", "campaign not done in 30 min: {v}");
        let took = started.elapsed().as_secs_f64();
        let per_sec = n as f64 / took;
        for w in &mut fleet {
            kill9(w);
        }
        let ratio = with.inbox.1 / without.inbox.1.max(1.0);
        self.say(&format!(
            "campaign: {n} C1s in {took:.0} s ({per_sec:.1}/s); app at {rate}/s: inbox p99 {:.0} ms \
             beside it, {:.0} ms alone ({ratio:.2}×; campaign.max_inbox_p99_ms {slo})",
            with.inbox.1, without.inbox.1
        ));
        self.rows.push(Row(
            format!(
                "campaign over {n} C1s at its highest rate beside app opens at {rate}/s, 4 workers: \
                 time to inbox p50 / p99 ms (target p99 ≤ 1.2 × alone)"
            ),
            format!("{:.0} / {:.0}", with.inbox.0, with.inbox.1),
            format!("{:.0} / {:.0} (app alone)", without.inbox.0, without.inbox.1),
            format!("{ratio:.2}"),
        ));
        self.rows.push(Row(
            format!(
                "campaign: C1s/s (5 threads × 10 messages, {n}, app opens at {rate}/s beside it)"
            ),
            format!("{per_sec:.1}"),
            self.fleet_rate
                .map_or("— (fleet figure not run)".into(), |f| {
                    format!("{f:.1} (4 workers, closed loop, fleet figure)")
                }),
            self.fleet_rate
                .map_or("—".into(), |f| format!("{:.2}", per_sec / f)),
        ));
        Ok(())
    }
}
