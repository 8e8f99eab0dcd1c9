//! The scale figure (`BENCH_ONLY=scale`): the fleet's bookkeeping at 2,000,000 accounts
//! (BENCH_SCALE_ACCOUNTS) beside 20,000, in the same run. Each database is filled by SQL
//! ([`super::scale_fill`]); every operator list (page 1 and a cursor half way down), the
//! counts, each sweep step, the status read, the inbox and the console's chart reads are timed as the code issues them
//! (the store's own functions, median of 5 after a warm-up). The ratio large/small is the
//! figure: flat is ≤ 2. Then each table's prune rate at the large size against its growth at
//! the top row of docs/capacity.md (1,000 opens/s), with the 3× margin.

use super::scale_fill::{fill, sizes};
use super::Bench;
use crate::report::Row;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use migrator_core::ids::{ConversationId, ShopperId};
use migrator_core::status::MigrationStatus;
use migrator_store::queries::operators::listing::{self, ListFilter};
use migrator_store::queries::operators::overview;
use migrator_store::queries::operators::retention::{self, Table};
use migrator_store::queries::page::{micros, Key, Start};
use migrator_store::queries::workflow::campaigns::{self, NewCampaign, Selection};
use migrator_store::queries::{
    destination::accounts, destination::inbox, operators::program, workflow::campaign_drive,
    workflow::sweeps,
};
use std::time::{Duration, Instant};

/// Median milliseconds of 5 runs of `$e` after one warm-up.
macro_rules! timed {
    ($e:expr) => {{
        let mut v = Vec::new();
        for i in 0..6 {
            let t = Instant::now();
            let _ = $e;
            if i > 0 {
                v.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        crate::report::percentile(&mut v, 0.5)
    }};
}

/// A list's key `offset` rows down, read by SQL (`sql` selects a time and an id, in order).
async fn key_at(c: &mut AsyncPgConnection, order: &str, sql: &str) -> anyhow::Result<Start> {
    #[derive(QueryableByName)]
    struct K {
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        at: chrono::DateTime<chrono::Utc>,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: uuid::Uuid,
    }
    let k: K = diesel::sql_query(sql).get_result(c).await?;
    Ok(Start::After(Key::new(order, micros(k.at), k.id)))
}

/// Every figure at one size: (name, ms).
async fn measure(url: &str, n: u64) -> anyhow::Result<Vec<(String, f64)>> {
    let mut c = AsyncPgConnection::establish(url).await?;
    // the fill's leases are held by a live worker
    let mut alive = AsyncPgConnection::establish(url).await?;
    diesel::sql_query("SELECT pg_advisory_lock(727275, hashtext('scale-w'))")
        .execute(&mut alive)
        .await?;
    let mut out = Vec::new();
    let mut put = |name: &str, ms: f64| out.push((name.to_string(), ms));
    let shopper = ShopperId::parse("scale-95")?;
    put(
        "status read",
        timed!(overview::status_view(&mut c, &shopper).await?),
    );

    let lists: [(&str, ListFilter, &str, String); 6] = [
        ("list, no filter", ListFilter::default(), "changed",
         format!("SELECT updated_at AS at, id FROM accounts ORDER BY updated_at, id OFFSET {} LIMIT 1", n / 2)),
        ("list status=completed", ListFilter { status: Some(MigrationStatus::Completed), ..Default::default() }, "changed",
         format!("SELECT updated_at AS at, id FROM accounts WHERE migration_status = 'completed' ORDER BY updated_at, id OFFSET {} LIMIT 1", n * 35 / 200)),
        ("list stuck for 1h", ListFilter { stuck_for_secs: Some(3600), ..Default::default() }, "stuck",
         format!("SELECT updated_at AS at, id FROM migration_runs WHERE active AND updated_at < now() - interval '1 hour' ORDER BY updated_at, id OFFSET {} LIMIT 1", n * 3 / 200)),
        ("list error 'HTTP 503'", ListFilter { error: Some("HTTP 503".into()), ..Default::default() }, "error",
         format!("SELECT updated_at AS at, id FROM migration_runs WHERE last_error ILIKE '%HTTP 503%' ORDER BY updated_at, id OFFSET {} LIMIT 1", n / 200)),
        ("list verification=diff", ListFilter { verification: Some("diff".into()), ..Default::default() }, "verified",
         format!("SELECT updated_at AS at, id FROM migration_runs WHERE verification = 'diff' ORDER BY updated_at, id OFFSET {} LIMIT 1", n / 2000)),
        ("list error 'lease lost' (rare)", ListFilter { error: Some("lease lost".into()), ..Default::default() }, "error",
         format!("SELECT updated_at AS at, id FROM migration_runs WHERE last_error ILIKE '%lease lost%' ORDER BY updated_at, id OFFSET {} LIMIT 1", n / 2000)),
    ];
    for (name, f, order, deep) in lists {
        put(
            &format!("{name}, page 1"),
            timed!(listing::list(&mut c, &f, &Start::First, 50).await?),
        );
        let start = key_at(&mut c, order, &deep).await?;
        put(
            &format!("{name}, cursor half way"),
            timed!(listing::list(&mut c, &f, &start, 50).await?),
        );
    }
    let completed = ListFilter {
        status: Some(MigrationStatus::Completed),
        ..Default::default()
    };
    put(
        "list status=completed, page 20 (offset 950, the deepest page)",
        timed!(listing::list(&mut c, &completed, &Start::Offset(950), 50).await?),
    );
    put(
        "parked, page 1",
        timed!(listing::list_parked(&mut c, &Start::First, 50).await?),
    );
    let half = format!("SELECT parked_at AS at, id FROM migration_runs WHERE parked_at IS NOT NULL ORDER BY parked_at DESC, id OFFSET {} LIMIT 1", n * 15 / 1000);
    let start = key_at(&mut c, "parked", &half).await?;
    put(
        "parked, cursor half way",
        timed!(listing::list_parked(&mut c, &start, 50).await?),
    );
    put(
        "counts (and the gauges)",
        timed!(overview::counts(&mut c).await?),
    );

    let policy = migrator_runtime::settings::Settings::load_from(
        &migrator_testkit::workspace().join("config"),
    )?
    .worker
    .retry_policy();
    let stalled = sweeps::enqueue_stalled(&mut c, 120, policy, 5000).await?;
    anyhow::ensure!(
        stalled.is_empty(),
        "the fill left {} runs due",
        stalled.len()
    );
    put(
        "sweep: stalled runs",
        timed!(sweeps::enqueue_stalled(&mut c, 120, policy, 5000).await?),
    );
    let repairs = sweeps::enqueue_repairs(&mut c, 300, 5000).await?;
    anyhow::ensure!(
        repairs.is_empty(),
        "the fill left {} repairs due",
        repairs.len()
    );
    put(
        "sweep: repairs",
        timed!(sweeps::enqueue_repairs(&mut c, 300, 5000).await?),
    );
    put(
        "sweep: attachments due",
        timed!(
            migrator_store::queries::destination::attachments::due_after_migration(&mut c, 200)
                .await?
        ),
    );

    // the console's account page: the history and the rejects of one account
    let one = accounts::find_by_shopper(&mut c, &shopper).await?.id;
    let bounds = migrator_store::queries::operators::history::Bounds {
        runs: 20,
        audit: 50,
        dead_letters: 20,
    };
    put(
        "console: an account's history",
        timed!(
            migrator_store::queries::operators::history::of_account(
                &mut c,
                one,
                shopper.as_str(),
                bounds
            )
            .await?
        ),
    );
    put(
        "console: an account's rejects, page 1",
        timed!(
            migrator_store::queries::operators::history::rejects(&mut c, one, &Start::First, 20)
                .await?
        ),
    );

    let big = accounts::find_by_shopper(&mut c, &ShopperId::parse("scale-60")?)
        .await?
        .id;
    put(
        "inbox page 1",
        timed!(inbox::conversations_page(&mut c, big, &Start::First, 50).await?),
    );
    let convs = n / 10;
    let half = format!("SELECT last_message_at AS at, id FROM conversations WHERE account_id = '{}' ORDER BY last_message_at DESC, id OFFSET {} LIMIT 1", big, convs / 2);
    let start = key_at(&mut c, inbox::CONVERSATIONS, &half).await?;
    put(
        "inbox, cursor half way",
        timed!(inbox::conversations_page(&mut c, big, &start, 50).await?),
    );
    let page = (convs * 15 / 100) / 50;
    put(
        "inbox, page number 15 % down (offset)",
        timed!(inbox::conversations_page(&mut c, big, &Start::Offset(page as i64 * 50), 50).await?),
    );
    let conv: ConversationId = migrator_store::schema::conversations::table
        .filter(migrator_store::schema::conversations::account_id.eq(big))
        .select(migrator_store::schema::conversations::id)
        .first(&mut c)
        .await?;
    put(
        "messages page 1",
        timed!(inbox::messages_page(&mut c, big, conv, &Start::First, 100).await?),
    );
    campaign(&mut c, &mut put).await?;
    super::scale_charts::fill(&mut c).await?;
    put(
        "console: the overview's charts (five history reads)",
        timed!(super::scale_charts::reads(&mut c).await?),
    );
    Ok(out)
}

/// The program at this size: its view, a campaign's selection (each batch holds status moves
/// back), its figures, a driver tick's look and its starts.
async fn campaign(
    c: &mut AsyncPgConnection,
    put: &mut impl FnMut(&str, f64),
) -> anyhow::Result<()> {
    put("program view", timed!(program::read(c).await?));
    let new = NewCampaign {
        selection: Selection {
            statuses: vec![
                MigrationStatus::NotStarted,
                MigrationStatus::ChannelFailure,
                MigrationStatus::RecentMessagesFailure,
            ],
            created_before: None,
            shopper_ids: None,
        },
        rate_per_sec: 20.0,
        max_in_flight: 200,
        deadline: chrono::Utc::now() + chrono::Duration::days(30),
        created_by: "bench".into(),
    };
    let id = campaigns::create(c, &new).await?;
    let batch = migrator_runtime::settings::Settings::load_from(
        &migrator_testkit::workspace().join("config"),
    )?
    .campaign
    .select_batch;
    let (started, mut longest, mut batches) = (Instant::now(), 0.0f64, 0);
    loop {
        let t = Instant::now();
        let whole = campaigns::select_batch(c, id, batch).await?;
        longest = longest.max(t.elapsed().as_secs_f64() * 1000.0);
        batches += 1;
        if whole {
            break;
        }
    }
    let selected = campaigns::get(c, id).await?.selected;
    eprintln!(
        "[bench scale] campaign selection: {selected} accounts in {batches} batches, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    put(
        "campaign: longest selection batch (20,000 accounts)",
        longest,
    );
    put(
        "campaign: its figures",
        timed!(campaigns::members(c, id).await?),
    );
    put(
        "campaign: a driver tick's look (inbox p99)",
        timed!(campaign_drive::inbox_p99_ms(c).await?),
    );
    put(
        "campaign: a driver tick starting 200 accounts",
        timed!(campaign_drive::walk(c, id, 200).await?),
    );
    Ok(())
}

/// Rows a table's prune deletes a second, batches of 5,000 (three batches, or fewer when the
/// table runs out of rows to prune).
async fn prune_rate(url: &str, t: Table, kept: Duration) -> anyhow::Result<(usize, f64)> {
    let mut c = AsyncPgConnection::establish(url).await?;
    let (mut rows, mut secs) = (0, 0.0);
    for _ in 0..3 {
        let at = Instant::now();
        let n = retention::prune(&mut c, t, kept, 5000).await?;
        secs += at.elapsed().as_secs_f64();
        rows += n;
        if n < 5000 {
            break;
        }
    }
    Ok((rows, rows as f64 / secs.max(1e-9)))
}

/// Rows a second each table grows by at 1,000 opens/s (docs/capacity.md): three hops an open
/// in the outbox; at most one of anything else an open (verifications superseded, rejects,
/// dead letters, superseded runs, audit entries are each far fewer in the benchmarks' runs).
fn growth(t: Table) -> f64 {
    match t {
        Table::Outbox => 3000.0,
        // a row a minute per series and shard, whatever the opens: 38 series in 4 shards
        Table::FleetMinutes => 38.0 * 4.0 / 60.0,
        // a sample a scope every five minutes; a few events a campaign
        Table::BurnDown | Table::CampaignEvents => 1.0,
        _ => 1000.0,
    }
}

impl Bench {
    /// The scale figure.
    pub async fn scale(&mut self) -> anyhow::Result<()> {
        let large = std::env::var("BENCH_SCALE_ACCOUNTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000_000u64);
        let small = 20_000u64;
        let mut urls = Vec::new();
        for n in [small, large] {
            let t = Instant::now();
            let url = fill(&format!("bench_scale_{n}"), n, |m| self.say(m)).await?;
            self.say(&format!(
                "filled {n} accounts in {:.0} s",
                t.elapsed().as_secs_f64()
            ));
            urls.push(url);
        }
        let (a, b) = (
            measure(&urls[0], small).await?,
            measure(&urls[1], large).await?,
        );
        for ((name, s), (_, l)) in a.iter().zip(&b) {
            self.say(&format!(
                "{name}: {l:.2} ms at {large}, {s:.2} ms at {small}"
            ));
            self.rows.push(Row(
                format!("scale: {name}"),
                format!("{l:.2} ms at {large} accounts"),
                format!("{s:.2} ms at {small}"),
                format!("{:.2}", l / s),
            ));
        }
        for (table, bytes, rows) in sizes(&urls[1]).await? {
            if bytes > 1 << 20 {
                self.rows.push(Row::plain(
                    format!("scale: `{table}` at {large} accounts"),
                    format!(
                        "{:.0} MiB, {rows} rows ({:.0} B an account)",
                        bytes as f64 / 1048576.0,
                        bytes as f64 / large as f64
                    ),
                ));
            }
        }
        let settings = migrator_runtime::settings::Settings::load_from(
            &migrator_testkit::workspace().join("config"),
        )?;
        for t in Table::ALL {
            if t == Table::ConsoleSessions {
                // grows by operators' sign-ins, not by accounts
                continue;
            }
            let (rows, rate) = prune_rate(&urls[1], t, t.kept(&settings)).await?;
            // the sweeper prunes for at most half of each period
            let sustained = rate / 2.0;
            let need = 3.0 * growth(t);
            self.say(&format!(
                "prune {}: {rows} rows at {rate:.0} rows/s",
                t.as_str()
            ));
            self.rows.push(Row(
                format!(
                    "scale: prune `{}` (sustained: half of each sweep)",
                    t.as_str()
                ),
                format!("{sustained:.0} rows/s ({rate:.0} while pruning, {rows} rows)"),
                format!("3 × {:.0} rows/s growth at 1,000 opens/s", growth(t)),
                format!("{:.1}", sustained / need),
            ));
        }
        // BENCH_SCALE_KEEP=1 keeps both databases (to EXPLAIN a query)
        if std::env::var_os("BENCH_SCALE_KEEP").is_none() {
            for n in [small, large] {
                migrator_testkit::db::drop_database(&format!("bench_scale_{n}")).await?;
            }
        }
        Ok(())
    }
}
