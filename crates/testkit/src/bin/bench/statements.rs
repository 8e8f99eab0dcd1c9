//! Postgres statements per account, from `pg_stat_statements` (scripts/bench.sh loads it):
//! reset before a window, read after it for the test's database, the harness's own polling
//! left out.

use diesel::sql_types::{BigInt, Double, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Calls {
    #[diesel(sql_type = BigInt)]
    calls: i64,
    #[diesel(sql_type = Double)]
    ms: f64,
    #[diesel(sql_type = Text)]
    query: String,
}

/// What the statements of a window cost.
pub struct Statements {
    /// Statements executed.
    pub calls: i64,
    /// Their execution time, ms (planning aside; the server's CPU and waits).
    pub ms: f64,
    /// The costliest by execution time: (calls, ms, the statement's first characters); five,
    /// or `BENCH_STATEMENTS_TOP`.
    pub top: Vec<(i64, f64, String)>,
}

/// Empties the statistics; false when `pg_stat_statements` is not loaded.
pub async fn reset(db: &mut AsyncPgConnection) -> bool {
    diesel::sql_query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(db)
        .await
        .is_ok()
        && diesel::sql_query("SELECT pg_stat_statements_reset()")
            .execute(db)
            .await
            .is_ok()
}

/// This database's statements since the reset, the harness's polling (`shopper_id LIKE`, or
/// marked `bench-poll`) and the statistics' own queries aside.
pub async fn read(db: &mut AsyncPgConnection) -> anyhow::Result<Statements> {
    let rows: Vec<Calls> = diesel::sql_query(
        "SELECT calls, total_exec_time AS ms, query FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND query NOT LIKE '%shopper_id\" LIKE%' AND query NOT LIKE '%pg_stat_statements%' \
           AND query NOT LIKE '%bench-poll%' \
         ORDER BY total_exec_time DESC",
    )
    .load(db)
    .await?;
    let n = std::env::var("BENCH_STATEMENTS_TOP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    Ok(Statements {
        calls: rows.iter().map(|r| r.calls).sum(),
        ms: rows.iter().map(|r| r.ms).sum(),
        top: rows
            .into_iter()
            .take(n)
            .map(|r| {
                let q: String = r.query.split_whitespace().collect::<Vec<_>>().join(" ");
                (r.calls, r.ms, q.chars().take(100).collect())
            })
            .collect(),
    })
}
