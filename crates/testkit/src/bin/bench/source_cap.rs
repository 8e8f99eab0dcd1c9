//! Protecting the source: 4 workers read DynamoDB through a counting proxy, first with no cap,
//! then with `source.max_reads_per_sec` set to half the rate they reached. Each worker takes its
//! share of the cap from the live worker count (`worker.fleet_poll_secs`); the rate is counted
//! at the proxy, per second, once two poll periods have passed (until then a worker that has
//! just started may not yet know the others), and over the whole run.
//!
//! Pages are small here (`dynamodb.page_size` 10) so that the reads, not the writes, are the
//! work: 8 C1s of 40 threads x 200 messages per run (BENCH_CAP_MESSAGES in all, 64000).

use crate::report::Row;
use crate::windows::Window;
use crate::{env_usize, seed_many, spec, worker, Bench};
use conversations_sim::model::C1Spec;
use migrator_testkit::dynamo_proxy::DynamoProxy;
use migrator_testkit::process::kill9;
use std::time::{Duration, Instant};

/// Reads per second seen by the proxy during one run.
struct Rates {
    /// Mean over the steady part (after two poll periods, until the reads stop).
    steady: f64,
    /// Highest 5-second mean in the steady part.
    steady_max5: f64,
    /// Highest 5-second mean over the whole run, start included.
    max5: f64,
}

impl Bench {
    /// The source-cap figure.
    pub async fn source_cap(&mut self) -> anyhow::Result<()> {
        let proxy = DynamoProxy::start(self.env.settings.dynamodb.endpoint.as_str()).await;
        let free = self.capped_run(&proxy, "free", 0).await?;
        let cap = (free.steady / 2.0).round().max(1.0) as u32;
        let capped = self.capped_run(&proxy, "capped", cap).await?;
        proxy.stop().await;
        self.say(&format!(
            "source reads/s: free {:.0} (5 s max {:.0}); capped at {cap}: {:.0} (steady 5 s max \
             {:.0}, whole run 5 s max {:.0})",
            free.steady, free.max5, capped.steady, capped.steady_max5, capped.max5
        ));
        self.rows.push(Row(
            format!(
                "4 workers, `source.max_reads_per_sec` = {cap} (half the uncapped rate): \
                 DynamoDB reads/s, steady mean (highest 5 s; highest 5 s from the start)"
            ),
            format!(
                "{:.0} ({:.0}; {:.0})",
                capped.steady, capped.steady_max5, capped.max5
            ),
            format!("{cap} (the cap; uncapped {:.0})", free.steady),
            format!("{:.2}", capped.steady_max5 / cap as f64),
        ));
        Ok(())
    }

    async fn capped_run(
        &mut self,
        proxy: &DynamoProxy,
        label: &str,
        cap: u32,
    ) -> anyhow::Result<Rates> {
        let total = env_usize("BENCH_CAP_MESSAGES", 64_000);
        let per = (total / 8 / 40).max(1);
        let c1s: Vec<C1Spec> = (0..8)
            .map(|i| spec(&format!("b-cap-{label}-{i}"), 40, per, 900 + i))
            .collect();
        for s in &c1s {
            self.env.create_account(&s.shopper_id, "Bench").await;
        }
        seed_many(&self.env, &c1s).await;
        let mut s = self.env.settings.clone();
        s.dynamodb.endpoint = proxy.url.clone();
        s.dynamodb.page_size = 10;
        s.source.max_reads_per_sec = cap;
        let mut fleet: Vec<_> = (0..4).map(|_| worker(&s)).collect();
        let warmup = Duration::from_secs(2 * s.worker.fleet_poll_secs.max(1));
        let win = Window::open(if cap == 0 {
            "source-free"
        } else {
            "source-capped"
        });
        let start = Instant::now();
        for c in &c1s {
            self.env.post(&c.shopper_id, "/migrate", None).await;
        }
        // reads seen in each second
        let mut per_sec: Vec<u64> = Vec::new();
        let mut last = proxy.counts().0;
        let mut idle = 0;
        let mut done = false;
        // until every C1 is completed (its verification's reads included) and the reads stopped
        while !(done && idle >= 3) && start.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep_until(
                (start + Duration::from_secs(per_sec.len() as u64 + 1)).into(),
            )
            .await;
            let now = proxy.counts().0;
            per_sec.push(now - last);
            idle = if now == last { idle + 1 } else { 0 };
            last = now;
            if !done && idle > 0 {
                done = true;
                for c in &c1s {
                    let v = self.env.admin_view(&c.shopper_id).await;
                    done &= v["migration_status"] == "completed";
                }
            }
        }
        anyhow::ensure!(done, "the {label} C1s did not complete");
        self.cpu.push(win.close());
        for w in &mut fleet {
            kill9(w);
        }
        let busy = &per_sec[..per_sec.len().saturating_sub(idle)];
        let skip = (warmup.as_secs() as usize).min(busy.len().saturating_sub(1));
        // the last second is partial (the reads ended inside it)
        let steady = &busy[skip..busy.len().saturating_sub(1).max(skip + 1)];
        let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
        let max5 = |v: &[u64]| {
            v.windows(5.min(v.len()).max(1))
                .map(mean)
                .fold(0.0, f64::max)
        };
        let r = Rates {
            steady: mean(steady),
            steady_max5: max5(steady),
            max5: max5(busy),
        };
        self.say(&format!(
            "{label}: {} reads in {} s; steady {:.0}/s",
            busy.iter().sum::<u64>(),
            busy.len(),
            r.steady
        ));
        Ok(r)
    }
}
