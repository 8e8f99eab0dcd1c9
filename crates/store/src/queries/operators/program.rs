//! The whole population's progress, read cheaply: accounts by status from `account_counts`,
//! completions by lane from `completions` (a row a minute, lane and shard: at most 2 × 8 × 1440
//! rows a day), never a count over the accounts.

use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::status::{MigrationStatus, ALL_STATUSES};

/// Completions on each lane over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByLane {
    /// On the app lane (C1s who opened the app; operators' starts).
    pub app: i64,
    /// On the campaign lane.
    pub campaign: i64,
}

impl ByLane {
    /// Both lanes.
    pub fn total(&self) -> i64 {
        self.app + self.campaign
    }
}

/// The program's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Accounts by status, every status listed.
    pub accounts: Vec<(MigrationStatus, i64)>,
    /// Completions over the last hour.
    pub last_hour: ByLane,
    /// Completions over the last day.
    pub last_day: ByLane,
    /// Completed accounts whose settle window is still open (a catch-up pending): items may
    /// still land for them (`spec/source-contract.md` section 5).
    pub settling: i64,
}

/// Accounts not yet migrated, of accounts counted by status: every one not `completed`.
pub fn remaining(accounts: &[(MigrationStatus, i64)]) -> i64 {
    accounts
        .iter()
        .filter(|(s, _)| *s != MigrationStatus::Completed)
        .map(|(_, n)| n)
        .sum()
}

impl Program {
    /// Every account.
    pub fn total(&self) -> i64 {
        self.accounts.iter().map(|(_, n)| n).sum()
    }

    /// Accounts not yet migrated ([`remaining`]).
    pub fn remaining(&self) -> i64 {
        remaining(&self.accounts)
    }

    /// Accounts in `status`.
    pub fn count(&self, status: MigrationStatus) -> i64 {
        self.accounts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }
}

/// Reads the program's figures: O(statuses + minutes of a day).
pub async fn read(conn: &mut AsyncPgConnection) -> CoreResult<Program> {
    let found = crate::queries::destination::accounts::count_by_status(conn).await?;
    let accounts = ALL_STATUSES
        .into_iter()
        .map(|st| {
            let n = found.iter().find(|(s, _)| *s == st).map_or(0, |(_, n)| *n);
            (st, n)
        })
        .collect();
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        lane: String,
        #[diesel(sql_type = BigInt)]
        hour: i64,
        #[diesel(sql_type = BigInt)]
        day: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT lane, \
           coalesce(sum(n) FILTER (WHERE minute > now() - interval '1 hour'), 0)::bigint AS hour, \
           coalesce(sum(n), 0)::bigint AS day \
         FROM completions WHERE minute > now() - interval '1 day' GROUP BY lane",
    )
    .load(conn)
    .await?;
    let (mut last_hour, mut last_day) = (ByLane::default(), ByLane::default());
    for r in rows {
        let (h, d) = match r.lane.as_str() {
            "campaign" => (&mut last_hour.campaign, &mut last_day.campaign),
            _ => (&mut last_hour.app, &mut last_day.app),
        };
        *h += r.hour;
        *d += r.day;
    }
    Ok(Program {
        accounts,
        last_hour,
        last_day,
        settling: settling_count(conn).await?,
    })
}

/// Runs with a catch-up pending (their window still open), counted along the partial index of
/// due catch-ups: bounded by the window's arrivals, never the population.
pub async fn settling_count(conn: &mut AsyncPgConnection) -> CoreResult<i64> {
    use crate::schema::run_settling;
    use diesel::{ExpressionMethods, QueryDsl};
    Ok(run_settling::table
        .filter(run_settling::catch_up_at.is_not_null())
        .count()
        .get_result(conn)
        .await?)
}
