//! The fleet's measured rates, from the runs it finished lately: what a preflight estimate of
//! a migration's duration is built on.

use diesel::sql_types::Integer;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;

pub use migrator_core::progress::Rates;

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
