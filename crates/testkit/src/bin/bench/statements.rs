//! Postgres statements per account, from `pg_stat_statements` (scripts/bench.sh loads it):
//! reset before a window, read after it for the test's database, the harness's own polling
//! left out.

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Calls {
    #[diesel(sql_type = BigInt)]
    calls: i64,
    #[diesel(sql_type = Text)]
    query: String,
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

/// (statements in all, the five most called with their calls) of this database since the
/// reset, the harness's polling (`shopper_id LIKE`) and the statistics' own queries aside.
pub async fn read(db: &mut AsyncPgConnection) -> anyhow::Result<(i64, Vec<(i64, String)>)> {
    let rows: Vec<Calls> = diesel::sql_query(
        "SELECT calls, query FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND query NOT LIKE '%shopper_id\" LIKE%' AND query NOT LIKE '%pg_stat_statements%' \
         ORDER BY calls DESC",
    )
    .load(db)
    .await?;
    let total = rows.iter().map(|r| r.calls).sum();
    let top = rows
        .into_iter()
        .take(5)
        .map(|r| {
            let q: String = r.query.split_whitespace().collect::<Vec<_>>().join(" ");
            (r.calls, q.chars().take(90).collect())
        })
        .collect();
    Ok((total, top))
}
