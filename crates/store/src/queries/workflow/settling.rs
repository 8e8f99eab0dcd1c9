//! A completed run settling (`spec/source-contract.md` section 5): items keep landing in the
//! source for `conversations.settle_window_secs` after the C1's switch. From its completion a
//! run has a `run_settling` row: the window's end, the next catch-up due (at the window's middle
//! and at its end, or at once when the run completed later), and what the catch-up in hand
//! moves — the late items since 15 minutes before the switch, or the threads a verification
//! found different (a repair). The sweeper starts the catch-ups due (a hop of
//! [`Phase::CatchUp`] through the state machine's writer); a catch-up's end says what follows:
//! another at the window's end, or the verification of a settled run.

use crate::models::Account;
use crate::queries::workflow::locks::lock_account;
use crate::queries::workflow::runs;
use crate::queries::workflow::transitions::{self, Effects, Recorded};
use crate::schema::{accounts, migration_runs, run_settling, settle_events};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::{AccountId, RunId};
use migrator_core::status::{Event, MigrationStatus};
use serde::{Deserialize, Serialize};

/// How far before the switch late items may date (`spec/source-contract.md` section 5: every
/// message landing after the switch has `sent_at` no earlier than 15 minutes before it).
pub const LATE_ITEMS_BEFORE_SWITCH: Duration = Duration::minutes(15);

/// What a catch-up moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// The threads whose `last_message_at` is at or after `since_ms` (the GSI), and their
    /// messages from that instant on (a `sort_key` range): what landed after the switch.
    Late {
        /// Epoch ms: 15 minutes before the first switch.
        since_ms: i64,
        /// The run's figures when it started (what it moved is the difference at its end).
        threads_before: i32,
        messages_before: i64,
    },
    /// These threads copied again in full (their migrated conversations removed first): what
    /// a verification found different.
    Repair {
        /// Source thread ids.
        threads: Vec<String>,
        threads_before: i32,
        messages_before: i64,
    },
}

impl Plan {
    /// The run's figures when the plan started.
    fn before(&self) -> (i32, i64) {
        match self {
            Plan::Late {
                threads_before,
                messages_before,
                ..
            }
            | Plan::Repair {
                threads_before,
                messages_before,
                ..
            } => (*threads_before, *messages_before),
        }
    }
}

/// A run's settling, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = run_settling)]
pub struct Settling {
    pub run_id: RunId,
    pub account_id: AccountId,
    /// The end of the settle window (None: no window).
    pub settle_until: Option<DateTime<Utc>>,
    /// The next catch-up is due then (None: none pending).
    pub catch_up_at: Option<DateTime<Utc>>,
    /// That catch-up is the window's last.
    pub catch_up_final: bool,
    /// The catch-up in hand.
    pub plan: Option<serde_json::Value>,
    pub catch_ups: i32,
    pub repairs: i32,
    pub updated_at: DateTime<Utc>,
}

impl Settling {
    /// The window is still open at `now`: items may still land.
    pub fn window_open(&self, now: DateTime<Utc>) -> bool {
        self.settle_until.is_some_and(|u| u > now) || self.catch_up_at.is_some()
    }

    /// The catch-up in hand, if any.
    pub fn plan(&self) -> Option<Plan> {
        self.plan
            .as_ref()
            .and_then(|p| serde_json::from_value(p.clone()).ok())
    }
}

/// What follows a completion or a catch-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A catch-up is due at this instant.
    CatchUpAt(DateTime<Utc>),
    /// The run has settled (or has no window): its verification follows.
    Settled,
}

/// Records when configs-migration switched the C1's channels: the first switch is kept (a
/// later run's call does not move the items already on their way).
pub async fn record_switch(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    at: DateTime<Utc>,
) -> CoreResult<()> {
    diesel::update(accounts::table.find(account_id))
        .filter(accounts::switched_at.is_null())
        .set(accounts::switched_at.eq(Some(at)))
        .execute(conn)
        .await?;
    Ok(())
}

/// At a run's completion (in the transaction that completes it): its settling, from the first
/// switch (`run_started` when none is recorded) and `window`. Catch-ups fall at the window's
/// middle and at its end; a run completing after the middle catches up at once, and one
/// completing after the end once, at once. No window: settled at once.
pub async fn on_completion(
    conn: &mut AsyncPgConnection,
    account: &Account,
    run_id: RunId,
    run_started: DateTime<Utc>,
    window: Duration,
) -> CoreResult<Next> {
    let now = Utc::now();
    let switched: Option<DateTime<Utc>> = accounts::table
        .find(account.id)
        .select(accounts::switched_at)
        .first(conn)
        .await?;
    let (until, due, last) = if window <= Duration::zero() {
        (None, None, false)
    } else {
        let switched = switched.unwrap_or(run_started);
        let (middle, end) = (switched + window / 2, switched + window);
        match now {
            n if n < middle => (Some(end), Some(middle), false),
            n if n < end => (Some(end), Some(n), false),
            n => (Some(end), Some(n), true),
        }
    };
    diesel::insert_into(run_settling::table)
        .values((
            run_settling::run_id.eq(run_id),
            run_settling::account_id.eq(account.id),
            run_settling::settle_until.eq(until),
            run_settling::catch_up_at.eq(due),
            run_settling::catch_up_final.eq(last),
        ))
        .on_conflict(run_settling::run_id)
        .do_update()
        .set((
            run_settling::settle_until.eq(until),
            run_settling::catch_up_at.eq(due),
            run_settling::catch_up_final.eq(last),
            run_settling::plan.eq(None::<serde_json::Value>),
            run_settling::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(due.map_or(Next::Settled, Next::CatchUpAt))
}

/// The run's settling, if it has one.
pub async fn get(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<Option<Settling>> {
    Ok(run_settling::table
        .find(run_id)
        .select(Settling::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Starts up to `limit` catch-ups due: each account locked (then its settling row: the one
/// order), checked current (its run in force, completed, done, not parked or cancelled), moved
/// through the state machine's writer (a [`Phase::CatchUp`] hop in the outbox) with its plan
/// stored. A due row whose run is no longer current is dropped. Returns the hops recorded.
pub async fn start_due(conn: &mut AsyncPgConnection, limit: i64) -> CoreResult<Vec<Recorded>> {
    let due: Vec<(RunId, AccountId)> = run_settling::table
        .filter(run_settling::catch_up_at.le(Utc::now()))
        .order(run_settling::catch_up_at.asc())
        .select((run_settling::run_id, run_settling::account_id))
        .limit(limit)
        .load(conn)
        .await?;
    let mut out = Vec::new();
    for (run_id, account_id) in due {
        let started = conn
            .transaction::<_, CoreError, _>(async move |c| start_one(c, run_id, account_id).await)
            .await?;
        out.extend(started);
    }
    Ok(out)
}

/// One due catch-up, in the caller's transaction.
async fn start_one(
    c: &mut AsyncPgConnection,
    run_id: RunId,
    account_id: AccountId,
) -> CoreResult<Option<Recorded>> {
    let account = match lock_account(c, account_id).await {
        Ok(a) => a,
        Err(CoreError::NotFound(_)) => return drop_due(c, run_id).await,
        Err(e) => return Err(e),
    };
    let Some(s) = run_settling::table
        .find(run_id)
        .select(Settling::as_select())
        .for_update()
        .first(c)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    if s.catch_up_at.is_none_or(|at| at > Utc::now()) {
        return Ok(None); // taken meanwhile
    }
    /// phase, cancelled, parked at, threads and messages migrated
    type RunState = (String, bool, Option<DateTime<Utc>>, i32, i64);
    let run: Option<RunState> = migration_runs::table
        .find(run_id)
        .select((
            migration_runs::phase,
            migration_runs::cancelled,
            migration_runs::parked_at,
            migration_runs::threads_migrated,
            migration_runs::messages_migrated,
        ))
        .first(c)
        .await
        .optional()?;
    let current = account.current_run_id == Some(run_id)
        && account.migration_status == MigrationStatus::Completed;
    let Some((phase, cancelled, parked, threads_before, messages_before)) = run else {
        return drop_due(c, run_id).await;
    };
    if !current || cancelled || parked.is_some() || phase != "done" {
        return drop_due(c, run_id).await;
    }
    let plan = match s.plan() {
        Some(p @ Plan::Repair { .. }) => p,
        _ => {
            let switched: Option<DateTime<Utc>> = accounts::table
                .find(account_id)
                .select(accounts::switched_at)
                .first(c)
                .await?;
            let started: DateTime<Utc> = migration_runs::table
                .find(run_id)
                .select(migration_runs::started_at)
                .first(c)
                .await?;
            let since = switched.unwrap_or(started) - LATE_ITEMS_BEFORE_SWITCH;
            Plan::Late {
                since_ms: since.timestamp_millis(),
                threads_before,
                messages_before,
            }
        }
    };
    diesel::update(run_settling::table.find(run_id))
        .set((
            run_settling::catch_up_at.eq(None::<DateTime<Utc>>),
            run_settling::plan.eq(Some(serde_json::to_value(&plan).expect("a plan"))),
            run_settling::updated_at.eq(diesel::dsl::now),
        ))
        .execute(c)
        .await?;
    let applied = transitions::apply(c, &account, Event::CatchUp, Effects::default()).await?;
    Ok(applied.hop)
}

/// A due catch-up whose run is no longer current (re-migrated, failed, parked): forgotten.
async fn drop_due(c: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<Option<Recorded>> {
    diesel::update(run_settling::table.find(run_id))
        .set(run_settling::catch_up_at.eq(None::<DateTime<Utc>>))
        .execute(c)
        .await?;
    Ok(None)
}

/// What a catch-up moved, for the timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// `catch_up` or `repair`.
    pub kind: &'static str,
    /// Threads new to the copy (completed by it).
    pub threads: i32,
    /// Messages new to the copy.
    pub messages: i64,
}

/// At a catch-up's end (in the transaction that ends its hop): counts it, records what it
/// moved (the run's figures against those at its start) on the timeline, and says what
/// follows — the window's last catch-up, or the verification of a settled run (a repair's is
/// always verified again).
pub async fn after_catch_up(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    account_id: AccountId,
) -> CoreResult<(Next, Moved)> {
    let Some(s) = get(conn, run_id).await? else {
        let none = Moved {
            kind: "catch_up",
            ..Moved::default()
        };
        return Ok((Next::Settled, none));
    };
    let (threads_now, messages_now) = runs::migrated(conn, run_id).await?;
    let plan = s.plan();
    let (t0, m0) = plan
        .as_ref()
        .map_or((threads_now, messages_now), Plan::before);
    let (kind, detail) = match &plan {
        Some(Plan::Repair { threads, .. }) => (
            "repair",
            serde_json::json!({ "threads_repaired": threads.len() }),
        ),
        _ => (
            "catch_up",
            serde_json::json!({ "final": s.catch_up_final, "settle_until": s.settle_until }),
        ),
    };
    let moved = Moved {
        kind,
        threads: threads_now - t0,
        messages: messages_now - m0,
    };
    diesel::insert_into(settle_events::table)
        .values((
            settle_events::run_id.eq(run_id),
            settle_events::account_id.eq(account_id),
            settle_events::kind.eq(kind),
            settle_events::threads.eq(moved.threads),
            settle_events::messages.eq(moved.messages),
            settle_events::detail.eq(detail),
        ))
        .execute(conn)
        .await?;
    let repair = matches!(plan, Some(Plan::Repair { .. }));
    // a catch-up before the window's end is followed by the last one, at the end
    let next = match (repair, s.catch_up_final, s.settle_until) {
        (false, false, Some(end)) => Next::CatchUpAt(end.max(Utc::now())),
        _ => Next::Settled,
    };
    let (due, last) = match next {
        Next::CatchUpAt(at) => (Some(at), true),
        Next::Settled => (None, s.catch_up_final),
    };
    diesel::update(run_settling::table.find(run_id))
        .set((
            run_settling::catch_up_at.eq(due),
            run_settling::catch_up_final.eq(last),
            run_settling::plan.eq(None::<serde_json::Value>),
            run_settling::catch_ups.eq(run_settling::catch_ups + i32::from(!repair)),
            run_settling::repairs.eq(run_settling::repairs + i32::from(repair)),
            run_settling::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok((next, moved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrator_core::status::Phase;

    #[test]
    fn a_plan_is_stored_as_tagged_json() {
        let p = Plan::Late {
            since_ms: 5,
            threads_before: 1,
            messages_before: 2,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["late"]["since_ms"], 5);
        assert_eq!(serde_json::from_value::<Plan>(v).unwrap(), p);
        // catch-ups start on completed accounts only (start_one checks the same)
        assert_eq!(Phase::CatchUp.spec().runs_in, &[MigrationStatus::Completed]);
    }
}
