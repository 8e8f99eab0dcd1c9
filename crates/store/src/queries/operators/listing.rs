//! The operators' lists of migrations, each walked by a key along the index of the filter
//! that drives it (`page`): by status, stuck, by error text, by verification result, parked.

use crate::models::{Account, MigrationRun};
use crate::queries::page::{self, Key, Page, Start, Total};
use crate::schema::{accounts, migration_runs};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::ids::{AccountId, RunId};
use migrator_core::status::MigrationStatus;

/// Filters of a list of migrations.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this status (the real one).
    pub status: Option<MigrationStatus>,
    /// Only runs in progress without progress (no change of account or run) for this long:
    /// stuck ones.
    pub stuck_for_secs: Option<i64>,
    /// Only runs whose last error holds this text (case-insensitive).
    pub error: Option<String>,
    /// Only runs whose latest verification gave this result (`match`, `diff`).
    pub verification: Option<String>,
}

/// The order a list of migrations is walked in, each along the index of the filter that
/// drives it: stuck runs (`migration_runs_stuck`), a verification's result
/// (`migration_runs_verification`), an error's text (`migration_runs_error`, trigram), else
/// the accounts by status (`accounts_status_changed`) or all (`accounts_changed`). The first
/// given of these filters drives; the others filter its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Accounts, oldest change first.
    Changed,
    /// Runs, oldest change first.
    Runs,
}

impl ListFilter {
    fn order(&self) -> (Order, &'static str) {
        if self.stuck_for_secs.is_some() {
            (Order::Runs, "stuck")
        } else if self.verification.is_some() {
            (Order::Runs, "verified")
        } else if self.error.is_some() {
            (Order::Runs, "error")
        } else {
            (Order::Changed, "changed")
        }
    }

    /// The name of the order this filter's list is walked in (what its cursors carry).
    pub fn order_name(&self) -> &'static str {
        self.order().1
    }
}

/// A row of a list of migrations.
pub type Listed = (Account, Option<MigrationRun>);

/// Accounts matching `f` with their runs in force, oldest change first, `per_page` from
/// `start` (a cursor's key or a bounded offset), with the next page's cursor and the total
/// (exact for a status alone, from the status counts; else as [`count_runs`] says). Every page
/// reached by cursor costs what the first does.
pub async fn list(
    conn: &mut AsyncPgConnection,
    f: &ListFilter,
    start: &Start,
    per_page: i64,
) -> CoreResult<Page<Listed>> {
    let (order, name) = f.order();
    let (rows, total) = match order {
        Order::Changed => {
            let rows = by_account(f, start)
                .limit(per_page + 1)
                .offset(start.offset())
                .select((Account::as_select(), Option::<MigrationRun>::as_select()))
                .load::<Listed>(conn)
                .await?;
            // a status alone (or none): the status counts, exact
            let n = crate::queries::destination::accounts::count_by_status(conn)
                .await?
                .iter()
                .filter(|(s, _)| f.status.is_none_or(|want| *s == want))
                .map(|(_, n)| n)
                .sum();
            (rows, Total { n, exact: true })
        }
        Order::Runs => {
            let rows: Vec<(Account, MigrationRun)> = by_run(f, start)
                .limit(per_page + 1)
                .offset(start.offset())
                .select((Account::as_select(), MigrationRun::as_select()))
                .load(conn)
                .await?;
            let total = count_runs(conn, f, start, per_page, rows.len() as i64).await?;
            let rows = rows.into_iter().map(|(a, r)| (a, Some(r))).collect();
            (rows, total)
        }
    };
    Ok(Page::of(rows, per_page, total, |(a, r)| match order {
        Order::Changed => Key::new(name, page::micros(a.updated_at), a.id),
        Order::Runs => {
            let r = r.as_ref().expect("runs drive this order");
            Key::new(name, page::micros(r.updated_at), r.id)
        }
    }))
}

/// The total of a runs-driven list whose page read `read` rows (one more than `per_page` when
/// another page follows): a text search is not counted (its total is the rows shown so far, a
/// lower bound until its last page is read from the first); a verification's result alone is
/// counted along its index without the accounts; else the list's own join, each up to
/// [`page::COUNT_CAP`].
async fn count_runs(
    conn: &mut AsyncPgConnection,
    f: &ListFilter,
    start: &Start,
    per_page: i64,
    read: i64,
) -> CoreResult<Total> {
    if f.error.is_some() {
        let shown = start.offset() + read.min(per_page);
        let exact = read <= per_page && !matches!(start, Start::After(_));
        return Ok(Total { n: shown, exact });
    }
    let counted: Vec<RunId> = match (&f.verification, f.status, f.stuck_for_secs) {
        (Some(result), None, None) => {
            migration_runs::table
                .filter(migration_runs::verification.eq(result.clone()))
                .filter(migration_runs::superseded.eq(false))
                .select(migration_runs::id)
                .limit(page::COUNT_CAP + 1)
                .load(conn)
                .await?
        }
        _ => {
            by_run(f, &Start::First)
                .select(migration_runs::id)
                .limit(page::COUNT_CAP + 1)
                .load(conn)
                .await?
        }
    };
    Ok(Total::capped(counted.len() as i64))
}

/// The accounts-driven list's query: accounts with their runs in force, in its order.
type ByAccount = diesel::dsl::IntoBoxed<
    'static,
    diesel::dsl::Order<
        diesel::dsl::LeftJoinOn<
            accounts::table,
            migration_runs::table,
            diesel::dsl::Eq<diesel::dsl::Nullable<migration_runs::id>, accounts::current_run_id>,
        >,
        (accounts::updated_at, accounts::id),
    >,
    diesel::pg::Pg,
>;

/// The runs-driven list's query: runs in force with their accounts, in its order.
type ByRun = diesel::dsl::IntoBoxed<
    'static,
    diesel::dsl::Order<
        diesel::dsl::InnerJoinOn<
            migration_runs::table,
            accounts::table,
            diesel::dsl::Eq<accounts::current_run_id, diesel::dsl::Nullable<migration_runs::id>>,
        >,
        (migration_runs::updated_at, migration_runs::id),
    >,
    diesel::pg::Pg,
>;

/// Accounts (with their runs in force) of `f`'s status, oldest change first, from `start`.
fn by_account(f: &ListFilter, start: &Start) -> ByAccount {
    let mut q = accounts::table
        .left_join(
            migration_runs::table.on(migration_runs::id.nullable().eq(accounts::current_run_id)),
        )
        .order((accounts::updated_at, accounts::id))
        .into_boxed();
    if let Some(st) = f.status {
        q = q.filter(accounts::migration_status.eq(st));
    }
    if let Start::After(k) = start {
        let (at, id) = (
            page::time(k.n),
            k.id.parse::<uuid::Uuid>().unwrap_or_default(),
        );
        q = q.filter(accounts::updated_at.ge(at)).filter(
            accounts::updated_at
                .gt(at)
                .or(accounts::id.gt(AccountId(id))),
        );
    }
    q
}

/// Runs in force (with their accounts) matching `f`, oldest change first, from `start`.
fn by_run(f: &ListFilter, start: &Start) -> ByRun {
    let mut q = migration_runs::table
        .inner_join(accounts::table.on(accounts::current_run_id.eq(migration_runs::id.nullable())))
        .order((migration_runs::updated_at, migration_runs::id))
        .into_boxed()
        // the run in force; its own flag lets the partial indexes answer
        .filter(migration_runs::superseded.eq(false));
    if let Some(st) = f.status {
        q = q.filter(accounts::migration_status.eq(st));
    }
    if let Some(secs) = f.stuck_for_secs {
        // runs in progress only: an account at rest is not stuck
        let cutoff = Utc::now() - chrono::Duration::seconds(secs);
        q = q
            .filter(migration_runs::active.eq(true))
            .filter(migration_runs::updated_at.lt(cutoff))
            .filter(accounts::updated_at.lt(cutoff));
    }
    if let Some(result) = &f.verification {
        q = q.filter(migration_runs::verification.eq(result.clone()));
    }
    if let Some(text) = &f.error {
        // the operator's text is matched literally
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q = q.filter(migration_runs::last_error.ilike(format!("%{escaped}%")));
    }
    if let Start::After(k) = start {
        let (at, id) = (
            page::time(k.n),
            k.id.parse::<uuid::Uuid>().unwrap_or_default(),
        );
        q = q.filter(migration_runs::updated_at.ge(at)).filter(
            migration_runs::updated_at
                .gt(at)
                .or(migration_runs::id.gt(RunId(id))),
        );
    }
    q
}

/// The order name of this list's cursors.
pub const PARKED: &str = "parked";

/// Parked runs (newest first) with their accounts, `per_page` from `start`, with the next
/// page's cursor and the exact total (`fleet_counts`).
pub async fn list_parked(
    conn: &mut AsyncPgConnection,
    start: &Start,
    per_page: i64,
) -> CoreResult<Page<(Account, MigrationRun)>> {
    let parked = || {
        accounts::table
            .inner_join(
                migration_runs::table
                    .on(migration_runs::id.nullable().eq(accounts::current_run_id)),
            )
            .filter(migration_runs::parked_at.is_not_null())
            .into_boxed()
    };
    let mut q = parked();
    if let Start::After(k) = start {
        let (at, id) = (
            page::time(k.n),
            k.id.parse::<uuid::Uuid>().unwrap_or_default(),
        );
        q = q.filter(migration_runs::parked_at.le(at)).filter(
            migration_runs::parked_at
                .lt(at)
                .or(migration_runs::id.gt(RunId(id))),
        );
    }
    let rows: Vec<(Account, MigrationRun)> = q
        .order((migration_runs::parked_at.desc(), migration_runs::id))
        .offset(start.offset())
        .limit(per_page + 1)
        .select((Account::as_select(), MigrationRun::as_select()))
        .load(conn)
        .await?;
    let total = Total {
        n: crate::queries::operators::overview::count_parked(conn).await?,
        exact: true,
    };
    Ok(Page::of(rows, per_page, total, |(_, r)| {
        let at = r.parked_at.map(page::micros).unwrap_or_default();
        Key::new(PARKED, at, r.id)
    }))
}
