//! The worker side of a run: checkpoints with figures, and the end of a phase (done or failed),
//! each a step of the state machine applied through [`transitions::apply`].

use super::dead_letters;
use super::lease::lock_if_current;
use super::transitions::{self, Applied};
use crate::db::models::Account;
use crate::db::schema::migration_runs;
use crate::error::{CoreError, CoreResult};
use crate::ids::RunId;
use crate::queue::MigrationHop;
use crate::status::Event;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use scoped_futures::ScopedFutureExt;

/// Figures a page adds to the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Threads completed.
    pub threads: i32,
    /// Messages inserted.
    pub messages: i64,
    /// Rejects recorded.
    pub rejects: i32,
    /// Attachments stored.
    pub attachments_stored: i32,
    /// Attachments failed.
    pub attachments_failed: i32,
    /// Attachments written pending (their downloads start after commit).
    pub attachments_pending: i32,
}

impl std::ops::AddAssign for Figures {
    fn add_assign(&mut self, o: Self) {
        self.threads += o.threads;
        self.messages += o.messages;
        self.rejects += o.rejects;
        self.attachments_stored += o.attachments_stored;
        self.attachments_failed += o.attachments_failed;
        self.attachments_pending += o.attachments_pending;
    }
}

/// Inside a page transaction: stores the checkpoint and adds the page's figures.
pub async fn checkpoint(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    checkpoint: Option<&serde_json::Value>,
    f: Figures,
) -> CoreResult<()> {
    use migration_runs::dsl as r;
    diesel::update(r::migration_runs.find(run_id))
        .set((
            r::checkpoint.eq(checkpoint.cloned()),
            r::threads_migrated.eq(r::threads_migrated + f.threads),
            r::messages_migrated.eq(r::messages_migrated + f.messages),
            r::rejects.eq(r::rejects + f.rejects),
            r::attachments_stored.eq(r::attachments_stored + f.attachments_stored),
            r::attachments_failed.eq(r::attachments_failed + f.attachments_failed),
            r::attachments_pending.eq(r::attachments_pending + f.attachments_pending),
            r::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A pending attachment of the run was settled (downloads finish outside page transactions):
/// one fewer pending, one more stored or failed.
pub async fn attachment_settled(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    stored: bool,
) -> CoreResult<()> {
    use migration_runs::dsl as r;
    let (s, f) = if stored { (1, 0) } else { (0, 1) };
    diesel::update(r::migration_runs.find(run_id))
        .set((
            r::attachments_stored.eq(r::attachments_stored + s),
            r::attachments_failed.eq(r::attachments_failed + f),
            r::attachments_pending.eq(r::attachments_pending - 1),
            r::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records what the channels phase found: channels carried over, threads Conversations holds.
pub async fn set_channel_figures(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    channels: i32,
    threads_total: i32,
) -> CoreResult<()> {
    diesel::update(migration_runs::table.find(run_id))
        .set((
            migration_runs::channels_migrated.eq(channels),
            migration_runs::threads_total.eq(threads_total),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Inside a fenced transaction (`account` as the fence locked it): the phase of `hop` ended
/// with `event` (done, or nothing to migrate). Returns the next hop recorded in the outbox.
pub async fn end_phase(
    conn: &mut AsyncPgConnection,
    account: &Account,
    event: Event,
) -> CoreResult<Option<(i64, MigrationHop)>> {
    let Applied { hop, .. } = transitions::apply(conn, account, event, None).await?;
    Ok(hop)
}

/// A failed attempt of `owner`'s hop: releases its lease, keeps the error and counts the
/// attempt on the run. Returns the run's failed attempts so far, or `None` when the lease was
/// no longer `owner`'s (another worker has the run: nothing to count or retry).
pub async fn attempt_failed(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    owner: &str,
    error: &str,
) -> CoreResult<Option<i32>> {
    use migration_runs::dsl as r;
    Ok(diesel::update(
        r::migration_runs
            .find(run_id)
            .filter(r::lease_owner.eq(owner)),
    )
    .set((
        r::lease_owner.eq(None::<String>),
        r::lease_expires_at.eq(None::<DateTime<Utc>>),
        r::last_error.eq(Some(error)),
        r::total_attempts.eq(r::total_attempts + 1),
        r::updated_at.eq(diesel::dsl::now),
    ))
    .returning(r::total_attempts)
    .get_result(conn)
    .await
    .optional()?)
}

/// The hop is given up: the account takes the phase's failure status, the run keeps the error
/// (parked when `park`: the fleet leaves it alone until an operator un-parks it), and the hop
/// is recorded as a dead letter. No-op (false) when the run is no longer current.
pub async fn give_up(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    error: &str,
    park: bool,
) -> CoreResult<bool> {
    let hop = hop.clone();
    let error = error.to_string();
    conn.transaction::<_, CoreError, _>(|c| {
        async move {
            let Some(account) = lock_if_current(c, &hop).await? else {
                return Ok(false);
            };
            give_up_locked(c, &account, &hop, &error, park).await?;
            Ok(true)
        }
        .scope_boxed()
    })
    .await
}

/// [`give_up`] for an account the caller has locked and found current.
pub(super) async fn give_up_locked(
    conn: &mut AsyncPgConnection,
    account: &Account,
    hop: &MigrationHop,
    error: &str,
    park: bool,
) -> CoreResult<()> {
    transitions::apply(conn, account, Event::Failed(hop.phase), Some(error)).await?;
    if park {
        diesel::update(migration_runs::table.find(hop.run_id))
            .set(migration_runs::parked_at.eq(Some(Utc::now())))
            .execute(conn)
            .await?;
    }
    dead_letters::record(conn, hop, error).await?;
    Ok(())
}
