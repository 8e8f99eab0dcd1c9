//! The console's charts at scale (part of `BENCH_ONLY=scale`): the history tables filled as a
//! busy fleet leaves them — three days of `fleet_minutes` (20 series in 4 shards a minute)
//! and `completions` (2 lanes in 8 shards), 400 days of program burn-down samples (hourly, and
//! five-minutely for the last week, of which the sweeper prunes all but three days) and 20 campaigns' month each — the same at every
//! population size, and the reads of the overview's charts timed: their cost must not move
//! with the accounts.

use chrono::Utc;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_store::queries::operators::series::{self, Window, PROGRAM};

/// The history tables' fill (one statement each; a fifth of each older than its retention,
/// for the prune rates).
const FILL: [&str; 4] = [
    "INSERT INTO fleet_minutes (series, minute, shard, n) \
     SELECT s, date_trunc('minute', now()) - make_interval(mins => m), sh, 1 + (m % 7) \
     FROM unnest(ARRAY['hops_ok','hops_retried','hops_failed','hops_dropped','dynamodb_reads_copy', \
       'refusals_media','refusals_rest','dead_letters','inbox_app_le_100','inbox_app_le_200', \
       'inbox_app_le_300','inbox_app_le_500','inbox_app_le_750','inbox_app_le_1000', \
       'inbox_app_le_1500','inbox_app_le_2000','inbox_campaign_le_500','inbox_campaign_le_1000', \
       'inbox_campaign_le_2000','inbox_campaign_le_5000']) s, \
       generate_series(0, 5399) m, generate_series(0, 3) sh \
     ON CONFLICT DO NOTHING",
    "INSERT INTO completions (minute, lane, shard, n) \
     SELECT date_trunc('minute', now()) - make_interval(mins => m), l, sh, 1 + (m % 5) \
     FROM unnest(ARRAY['app','campaign']) l, generate_series(0, 5399) m, generate_series(0, 7) sh \
     ON CONFLICT DO NOTHING",
    "INSERT INTO burn_down (scope_id, at, accounts, remaining) \
     SELECT '00000000-0000-0000-0000-000000000000'::uuid, date_trunc('hour', now()) - make_interval(hours => h), \
            2000000, 10 * h FROM generate_series(0, 9599) h \
     UNION ALL \
     SELECT '00000000-0000-0000-0000-000000000000'::uuid, \
            date_bin('5 minutes', now(), timestamptz 'epoch') - make_interval(mins => 5 * k), \
            2000000, k FROM generate_series(1, 2015) k \
     ON CONFLICT DO NOTHING",
    "INSERT INTO burn_down (scope_id, at, accounts, remaining) \
     SELECT ('00000000-0000-0000-0000-0000000000' || lpad(c::text, 2, '0'))::uuid, \
            date_trunc('hour', now()) - make_interval(hours => h + 24 * c), 100000, 100 * h \
     FROM generate_series(1, 20) c, generate_series(0, 719) h \
     ON CONFLICT DO NOTHING",
];

/// Fills the history tables.
pub async fn fill(c: &mut AsyncPgConnection) -> anyhow::Result<()> {
    for sql in FILL {
        diesel::sql_query(sql).execute(c).await?;
    }
    Ok(())
}

fn window(secs: i64, step: i64) -> Window {
    let to = (Utc::now().timestamp() / step + 1) * step;
    let at = |s| chrono::DateTime::from_timestamp(s, 0).expect("a time");
    Window {
        from: at(to - secs),
        to: at(to),
        step_secs: step,
    }
}

/// The overview's chart reads, as `GET /admin/program/history` issues them (the burn-down
/// over 400 days, completions over 48 hours, times to an inbox over 24, the fleet's last hour,
/// the campaigns' events); returns the buckets read.
pub async fn reads(c: &mut AsyncPgConnection) -> anyhow::Result<usize> {
    let year = window(400 * 86_400, 2 * 86_400);
    let since = Utc::now() - chrono::Duration::days(3);
    let mut rows = series::burn_down(c, PROGRAM, year).await?.len();
    rows += series::completions(c, window(48 * 3600, 3600), since)
        .await?
        .len();
    let day = window(86_400, 300);
    rows += series::fleet(c, day, since, &["inbox_app_*"]).await?.len();
    let hour = window(3600, 60);
    rows += series::fleet(
        c,
        hour,
        since,
        &["hops_*", "dynamodb_reads*", "refusals_*", "dead_letters"],
    )
    .await?
    .len();
    rows += series::campaign_events(c, None, year, 500).await?.len();
    Ok(rows)
}
