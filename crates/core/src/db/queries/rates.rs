//! The fleet's measured rates, from the runs it finished lately: what a preflight estimate of
//! a migration's duration is built on.

use crate::error::CoreResult;
use diesel::sql_types::{BigInt, Double, Integer, Nullable};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Rates of the runs completed in the window.
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct Rates {
    /// Runs the figures come from.
    #[diesel(sql_type = BigInt)]
    pub runs: i64,
    /// Mean time from a run's start to its channels (an inbox), seconds.
    #[diesel(sql_type = Nullable<Double>)]
    pub inbox_secs: Option<f64>,
    /// Messages per second of a run once its channels are in (all its messages over all its
    /// time after the channels, summed over the runs).
    #[diesel(sql_type = Nullable<Double>)]
    pub messages_per_sec: Option<f64>,
}

/// The rates of the runs completed in the last `days`.
pub async fn recent(conn: &mut AsyncPgConnection, days: i32) -> CoreResult<Rates> {
    Ok(diesel::sql_query(
        "SELECT count(*)::bigint AS runs, \
                avg(extract(epoch FROM channels_at - started_at))::float8 AS inbox_secs, \
                (sum(messages_migrated)::float8 / \
                 NULLIF(sum(extract(epoch FROM completed_at - channels_at))::float8, 0)) \
                 AS messages_per_sec \
         FROM migration_runs \
         WHERE completed_at IS NOT NULL AND channels_at IS NOT NULL \
           AND completed_at > now() - make_interval(days => $1)",
    )
    .bind::<Integer, _>(days)
    .get_result(conn)
    .await?)
}
