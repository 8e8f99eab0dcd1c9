//! An account's history for operators: its runs (each with its phases' times, attempts, lease
//! and last error), the operators' writes on it, its dead letters, and its rejects with their
//! raw items. Each read is along an index of the account and bounded (`LIMIT`, or a cursor
//! page): its cost does not grow with the fleet.

use crate::models::{AuditEntry, DeadLetter, MigrationRun};
use crate::queries::page::{self, Key, Page, Start, Total};
use crate::schema::{audit_log, dead_letters, migration_runs, rejects, settle_events};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::ids::{AccountId, CampaignId, RunId};

/// What an account's history reads at most of each kind.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Runs, newest first.
    pub runs: i64,
    /// Operators' writes on the account, newest first.
    pub audit: i64,
    /// Dead letters, newest first.
    pub dead_letters: i64,
}

/// A run in an account's history, with how it came and whether it is in force.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// The run.
    pub run: MigrationRun,
    /// `app` or `campaign`.
    pub lane: String,
    /// The campaign that started it.
    pub campaign_id: Option<CampaignId>,
    /// Replaced by a re-migration.
    pub superseded: bool,
    /// A worker may still take a hop of it.
    pub active: bool,
}

/// An account's history, each part newest first and cut at its bound.
#[derive(Debug, Clone)]
pub struct History {
    /// Runs (along `migration_runs_account`).
    pub runs: Vec<RunRow>,
    /// Operators' writes whose target is the shopper id (along `audit_log_target`).
    pub audit: Vec<AuditEntry>,
    /// Dead letters (along `dead_letters_account`).
    pub dead_letters: Vec<DeadLetter>,
    /// Catch-ups and repairs (along `settle_events_account`; as many as dead letters).
    pub settle: Vec<SettleEvent>,
}

/// The history of `account_id`, whose operators' writes name `shopper_id`.
pub async fn of_account(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    shopper_id: &str,
    b: Bounds,
) -> CoreResult<History> {
    type Row = (MigrationRun, String, Option<CampaignId>, bool, bool);
    let runs: Vec<Row> = migration_runs::table
        .filter(migration_runs::account_id.eq(account_id))
        .order(migration_runs::started_at.desc())
        .limit(b.runs)
        .select((
            MigrationRun::as_select(),
            migration_runs::lane,
            migration_runs::campaign_id,
            migration_runs::superseded,
            migration_runs::active,
        ))
        .load(conn)
        .await?;
    let runs = runs
        .into_iter()
        .map(|(run, lane, campaign_id, superseded, active)| RunRow {
            run,
            lane,
            campaign_id,
            superseded,
            active,
        })
        .collect();
    let audit = audit_log::table
        .filter(audit_log::target.eq(shopper_id))
        .order(audit_log::id.desc())
        .limit(b.audit)
        .select(AuditEntry::as_select())
        .load(conn)
        .await?;
    let dead_letters = dead_letters::table
        .filter(dead_letters::account_id.eq(Some(account_id)))
        .order(dead_letters::id.desc())
        .limit(b.dead_letters)
        .select(DeadLetter::as_select())
        .load(conn)
        .await?;
    let settle = events(conn, account_id, b.dead_letters).await?;
    Ok(History {
        runs,
        audit,
        dead_letters,
        settle,
    })
}

/// A source item refused, with why and the item as it came.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rejects)]
pub struct RejectRow {
    /// Id.
    pub id: i64,
    /// The run that met it.
    pub run_id: Option<RunId>,
    /// The source's table (`threads`, `messages`, `channels`, ...).
    pub source_table: String,
    /// The item's key there.
    pub source_key: String,
    /// Why it was refused.
    pub reason: String,
    /// The item, raw.
    pub raw: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The order name of this list's cursors.
pub const REJECTS: &str = "rejects";

/// The account's rejects, newest first, `per_page` from `start` (along `rejects_account`), the
/// total counted up to [`page::COUNT_CAP`].
pub async fn rejects(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    start: &Start,
    per_page: i64,
) -> CoreResult<Page<RejectRow>> {
    let mut q = rejects::table
        .filter(rejects::account_id.eq(account_id))
        .into_boxed();
    if let Start::After(k) = start {
        q = q.filter(rejects::id.lt(k.n));
    }
    let rows = q
        .order(rejects::id.desc())
        .offset(start.offset())
        .limit(per_page + 1)
        .select(RejectRow::as_select())
        .load(conn)
        .await?;
    let counted: Vec<i64> = rejects::table
        .filter(rejects::account_id.eq(account_id))
        .select(rejects::id)
        .limit(page::COUNT_CAP + 1)
        .load(conn)
        .await?;
    Ok(Page::of(
        rows,
        per_page,
        Total::capped(counted.len() as i64),
        |r| Key::new(REJECTS, r.id, ""),
    ))
}

/// A catch-up event of the operators' timeline.
#[derive(Debug, Clone, Queryable)]
pub struct SettleEvent {
    pub run_id: RunId,
    /// `catch_up` or `repair`.
    pub kind: String,
    pub at: DateTime<Utc>,
    pub threads: i32,
    pub messages: i64,
    pub detail: serde_json::Value,
}

/// An account's newest catch-ups and repairs, newest first (at most `limit`), along
/// `settle_events_account`.
pub async fn events(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    limit: i64,
) -> CoreResult<Vec<SettleEvent>> {
    Ok(settle_events::table
        .filter(settle_events::account_id.eq(account_id))
        .order(settle_events::id.desc())
        .limit(limit)
        .select((
            settle_events::run_id,
            settle_events::kind,
            settle_events::at,
            settle_events::threads,
            settle_events::messages,
            settle_events::detail,
        ))
        .load(conn)
        .await?)
}
