//! The program's and the fleet's history, as series over a window at a step: what the
//! console draws and `GET /admin/program/history` answers. Written cheaply where it happens —
//! workers add their tallies to `fleet_minutes` with their heartbeat, the completions trigger
//! counts `completions`, the sweeper samples `burn_down`, triggers on `campaigns` write
//! `campaign_events` — and read along each table's primary key over the window only: a read
//! costs the window's minutes (at most three days of them) or samples, never the accounts.

use super::program;
use chrono::{DateTime, Utc};
use diesel::sql_types::{
    Array, BigInt, Double, Int2, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use uuid::Uuid;

/// The scope of the whole program's burn-down samples (a campaign's is its id).
pub const PROGRAM: Uuid = Uuid::nil();

/// Shards of `fleet_minutes` (a worker writes the one its id picks).
pub const SHARDS: i16 = 4;

/// Adds a worker's tallies (`(series, n)`) to the current minute of `fleet_minutes`, in its
/// shard: one statement.
pub async fn add_minute(
    conn: &mut AsyncPgConnection,
    shard: i16,
    taken: &[(String, i64)],
) -> CoreResult<()> {
    if taken.is_empty() {
        return Ok(());
    }
    let (series, n): (Vec<String>, Vec<i64>) = taken.iter().cloned().unzip();
    diesel::sql_query(
        "INSERT INTO fleet_minutes (series, minute, shard, n) \
         SELECT s, date_trunc('minute', now()), $3, n FROM unnest($1::text[], $2::bigint[]) AS t(s, n) \
         ON CONFLICT (series, minute, shard) DO UPDATE SET n = fleet_minutes.n + EXCLUDED.n",
    )
    .bind::<Array<Text>, _>(series)
    .bind::<Array<BigInt>, _>(n)
    .bind::<Int2, _>(shard.rem_euclid(SHARDS))
    .execute(conn)
    .await?;
    Ok(())
}

/// Samples the burn-downs into the current five-minute slot (the last sample of a slot wins):
/// the program's, its accounts not completed as its view counts them ([`program::remaining`],
/// from `account_counts`), and each live or just-finished campaign's, its selection not settled
/// as its figures count it
/// ([`Members::settled`](crate::queries::workflow::campaigns::Members::settled), from
/// `campaign_counts`). Summaries only: a statement, one per such campaign (the live one is the
/// newest: one runs at a time), and the write.
pub async fn sample_burn_down(conn: &mut AsyncPgConnection) -> CoreResult<usize> {
    use crate::queries::workflow::campaigns;
    let by_status = crate::queries::destination::accounts::count_by_status(conn).await?;
    let total = by_status.iter().map(|(_, n)| n).sum();
    let mut rows = vec![(PROGRAM, total, program::remaining(&by_status))];
    let lately = Utc::now() - chrono::Duration::minutes(10);
    for camp in campaigns::list(conn, 20).await? {
        if camp.state().is_live() || camp.finished_at.is_some_and(|t| t > lately) {
            let settled = campaigns::members(conn, camp.id).await?.settled();
            rows.push((camp.id.0, camp.selected, (camp.selected - settled).max(0)));
        }
    }
    let (mut scopes, mut accounts, mut remaining) = (Vec::new(), Vec::new(), Vec::new());
    for (scope, n, left) in rows {
        scopes.push(scope);
        accounts.push(n);
        remaining.push(left);
    }
    Ok(diesel::sql_query(
        "INSERT INTO burn_down (scope_id, at, accounts, remaining) \
         SELECT s, date_bin('5 minutes', now(), timestamptz 'epoch'), a, r \
         FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS t(s, a, r) \
         ON CONFLICT (scope_id, at) DO UPDATE \
           SET accounts = EXCLUDED.accounts, remaining = EXCLUDED.remaining",
    )
    .bind::<Array<SqlUuid>, _>(scopes)
    .bind::<Array<BigInt>, _>(accounts)
    .bind::<Array<BigInt>, _>(remaining)
    .execute(conn)
    .await?)
}

/// A window and a step: buckets start at `from` + k × `step_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Its start (inclusive).
    pub from: DateTime<Utc>,
    /// Its end (exclusive).
    pub to: DateTime<Utc>,
    /// The step, in seconds (at least 60).
    pub step_secs: i64,
}

impl Window {
    /// The buckets' starts.
    pub fn buckets(&self) -> Vec<DateTime<Utc>> {
        let step = chrono::Duration::seconds(self.step_secs.max(60));
        let mut out = Vec::new();
        let mut t = self.from;
        while t < self.to {
            out.push(t);
            t += step;
        }
        out
    }

    /// The bucket `t` falls in.
    pub fn bucket_of(&self, t: DateTime<Utc>) -> Option<usize> {
        if t < self.from || t >= self.to {
            return None;
        }
        Some(((t - self.from).num_seconds() / self.step_secs.max(60)) as usize)
    }
}

/// A series' value in one bucket.
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Sum {
    /// The series.
    #[diesel(sql_type = Text)]
    pub series: String,
    /// The bucket's start.
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    /// Its sum over the bucket.
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// The fleet's series named by `series` (`hops_ok`, `inbox_app_le_500`, … or prefixes
/// ending in `*`), summed per bucket of `w`, minutes before `since` left out (they are
/// pruned): one index range per series over the window.
pub async fn fleet(
    conn: &mut AsyncPgConnection,
    w: Window,
    since: DateTime<Utc>,
    series: &[&str],
) -> CoreResult<Vec<Sum>> {
    if series.is_empty() {
        return Ok(Vec::new());
    }
    let (exact, prefixes): (Vec<&str>, Vec<&str>) = series.iter().partition(|s| !s.ends_with('*'));
    let prefixes: Vec<String> = prefixes
        .iter()
        .map(|p| format!("{}%", p.trim_end_matches('*').replace('_', "\\_")))
        .collect();
    Ok(diesel::sql_query(
        "SELECT series, date_bin(make_interval(secs => $3), minute, $1) AS at, sum(n)::bigint AS n \
         FROM fleet_minutes \
         WHERE (series = ANY($4) OR series LIKE ANY($5)) AND minute >= greatest($1, $6) \
           AND minute < $2 \
         GROUP BY 1, 2 ORDER BY 2, 1",
    )
    .bind::<Timestamptz, _>(w.from)
    .bind::<Timestamptz, _>(w.to)
    .bind::<Double, _>(w.step_secs as f64)
    .bind::<Array<Text>, _>(exact)
    .bind::<Array<Text>, _>(prefixes)
    .bind::<Timestamptz, _>(since)
    .load(conn)
    .await?)
}

/// Completions per bucket of `w` by lane (series `completed_app`, `completed_campaign`), from
/// the completions trigger's minutes (kept three days), minutes before `since` left out.
pub async fn completions(
    conn: &mut AsyncPgConnection,
    w: Window,
    since: DateTime<Utc>,
) -> CoreResult<Vec<Sum>> {
    Ok(diesel::sql_query(
        "SELECT 'completed_' || lane AS series, \
                date_bin(make_interval(secs => $3), minute, $1) AS at, sum(n)::bigint AS n \
         FROM completions WHERE minute >= greatest($1, $4) AND minute < $2 \
         GROUP BY 1, 2 ORDER BY 2, 1",
    )
    .bind::<Timestamptz, _>(w.from)
    .bind::<Timestamptz, _>(w.to)
    .bind::<Double, _>(w.step_secs as f64)
    .bind::<Timestamptz, _>(since)
    .load(conn)
    .await?)
}

/// A burn-down sample.
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Sample {
    /// The bucket's start.
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    /// Accounts in scope.
    #[diesel(sql_type = BigInt)]
    pub accounts: i64,
    /// Not yet migrated.
    #[diesel(sql_type = BigInt)]
    pub remaining: i64,
}

/// The last burn-down sample of `scope` in each bucket of `w`.
pub async fn burn_down(
    conn: &mut AsyncPgConnection,
    scope: Uuid,
    w: Window,
) -> CoreResult<Vec<Sample>> {
    Ok(diesel::sql_query(
        "SELECT DISTINCT ON (1) date_bin(make_interval(secs => $4), at, $2) AS at, \
                accounts, remaining \
         FROM burn_down WHERE scope_id = $1 AND at >= $2 AND at < $3 \
         ORDER BY 1, burn_down.at DESC",
    )
    .bind::<SqlUuid, _>(scope)
    .bind::<Timestamptz, _>(w.from)
    .bind::<Timestamptz, _>(w.to)
    .bind::<Double, _>(w.step_secs as f64)
    .load(conn)
    .await?)
}

/// The first burn-down sample of `scope`: when its history starts.
pub async fn first_sample(
    conn: &mut AsyncPgConnection,
    scope: Uuid,
) -> CoreResult<Option<DateTime<Utc>>> {
    #[derive(diesel::QueryableByName)]
    struct First {
        #[diesel(sql_type = Nullable<Timestamptz>)]
        at: Option<DateTime<Utc>>,
    }
    let f: First = diesel::sql_query("SELECT min(at) AS at FROM burn_down WHERE scope_id = $1")
        .bind::<SqlUuid, _>(scope)
        .get_result(conn)
        .await?;
    Ok(f.at)
}

/// A campaign's event: `started`, `paused`, `resumed`, `finished`, `cancelled`, `held_back`
/// (with why), `released`.
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct CampaignEvent {
    /// The campaign.
    #[diesel(sql_type = SqlUuid)]
    pub campaign_id: Uuid,
    /// When.
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    /// What.
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// Why it holds back (`held_back` only).
    #[diesel(sql_type = Nullable<Text>)]
    pub detail: Option<String>,
}

/// Campaign events within `w` (of one campaign, or all), oldest first, at most `limit`.
pub async fn campaign_events(
    conn: &mut AsyncPgConnection,
    campaign: Option<Uuid>,
    w: Window,
    limit: i64,
) -> CoreResult<Vec<CampaignEvent>> {
    Ok(diesel::sql_query(
        "SELECT campaign_id, at, kind, detail FROM ( \
           SELECT campaign_id, at, kind, detail, id FROM campaign_events \
           WHERE ($1::uuid IS NULL OR campaign_id = $1) AND at >= $2 AND at < $3 \
           ORDER BY at DESC LIMIT $4) e ORDER BY at, id",
    )
    .bind::<Nullable<SqlUuid>, _>(campaign)
    .bind::<Timestamptz, _>(w.from)
    .bind::<Timestamptz, _>(w.to)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_window_is_cut_in_steps_and_a_time_finds_its_bucket() {
        let from = Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 0).unwrap();
        let w = Window {
            from,
            to: from + chrono::Duration::hours(1),
            step_secs: 300,
        };
        assert_eq!(w.buckets().len(), 12);
        assert_eq!(w.bucket_of(from + chrono::Duration::seconds(299)), Some(0));
        assert_eq!(w.bucket_of(from + chrono::Duration::seconds(300)), Some(1));
        assert_eq!(w.bucket_of(from - chrono::Duration::seconds(1)), None);
        assert_eq!(w.bucket_of(w.to), None);
    }
}
