//! How many accounts a campaign's selection would take now, writing nothing: what the
//! console's start form shows before an operator confirms. Bounded like every operator read:
//! from `account_counts` (a summary) when the selection is by status alone, along the
//! shopper-id index for a list (at most the list's 10,000), and by creation time among at
//! most [`CAP`] accounts of those statuses (a lower bound, `exact` false, past them).

use super::campaigns::Selection;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;

/// The most accounts a dry run by creation time looks at.
pub const CAP: i64 = 100_000;

/// A dry run's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Accounts the selection takes now (at least this many when not `exact`).
    pub accounts: i64,
    /// Whether `accounts` is exact (false: more than [`CAP`] accounts had those statuses).
    pub exact: bool,
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Counts what `sel` would select now.
pub async fn count(conn: &mut AsyncPgConnection, sel: &Selection) -> CoreResult<Count> {
    let statuses: Vec<&str> = sel.statuses.iter().map(|s| s.as_str()).collect();
    if let Some(ids) = &sel.shopper_ids {
        let ids: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
        let r: N = diesel::sql_query(
            "SELECT count(*)::bigint AS n FROM accounts WHERE shopper_id = ANY($1) \
             AND migration_status = ANY($2) AND ($3::timestamptz IS NULL OR created_at < $3)",
        )
        .bind::<Array<Text>, _>(ids)
        .bind::<Array<Text>, _>(statuses)
        .bind::<Nullable<Timestamptz>, _>(sel.created_before)
        .get_result(conn)
        .await?;
        return Ok(Count {
            accounts: r.n,
            exact: true,
        });
    }
    if sel.created_before.is_none() {
        let r: N = diesel::sql_query(
            "SELECT coalesce(sum(n), 0)::bigint AS n FROM account_counts WHERE status = ANY($1)",
        )
        .bind::<Array<Text>, _>(statuses)
        .get_result(conn)
        .await?;
        return Ok(Count {
            accounts: r.n,
            exact: true,
        });
    }
    // at most CAP accounts of the statuses looked at (along `accounts_status_changed`), those
    // created before counted: a lower bound when the look stopped short
    #[derive(diesel::QueryableByName)]
    struct Looked {
        #[diesel(sql_type = BigInt)]
        looked: i64,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let r: Looked = diesel::sql_query(
        "SELECT count(*)::bigint AS looked, \
                count(*) FILTER (WHERE created_at < $2)::bigint AS n \
         FROM (SELECT created_at FROM accounts WHERE migration_status = ANY($1) LIMIT $3) t",
    )
    .bind::<Array<Text>, _>(statuses)
    .bind::<Nullable<Timestamptz>, _>(sel.created_before)
    .bind::<BigInt, _>(CAP + 1)
    .get_result(conn)
    .await?;
    Ok(Count {
        accounts: r.n.min(CAP),
        exact: r.looked <= CAP,
    })
}
