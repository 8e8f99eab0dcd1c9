//! The worker side of a run: checkpoints with figures, and the end of a phase (done or failed),
//! each a step of the state machine applied through [`transitions::apply`].

use super::lease::lock_if_current;
use super::transitions::{self, Applied};
use crate::db::models::Account;
use crate::db::schema::migration_runs;
use crate::error::{CoreError, CoreResult};
use crate::ids::RunId;
use crate::queue::MigrationHop;
use crate::status::Event;
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
}

impl std::ops::AddAssign for Figures {
    fn add_assign(&mut self, o: Self) {
        self.threads += o.threads;
        self.messages += o.messages;
        self.rejects += o.rejects;
        self.attachments_stored += o.attachments_stored;
        self.attachments_failed += o.attachments_failed;
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
            r::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds attachment figures outside a page transaction (downloads finish on their own).
pub async fn add_attachment_figures(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    stored: i32,
    failed: i32,
) -> CoreResult<()> {
    use migration_runs::dsl as r;
    diesel::update(r::migration_runs.find(run_id))
        .set((
            r::attachments_stored.eq(r::attachments_stored + stored),
            r::attachments_failed.eq(r::attachments_failed + failed),
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

/// The phase failed for good: the account takes the phase's failure status, the run keeps the
/// error and releases its lease. No-op (false) when the run is no longer current.
pub async fn fail_phase(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    error: &str,
) -> CoreResult<bool> {
    let hop = hop.clone();
    let error = error.to_string();
    conn.transaction::<_, CoreError, _>(|c| {
        async move {
            let Some(account) = lock_if_current(c, &hop).await? else {
                return Ok(false);
            };
            transitions::apply(c, &account, Event::Failed(hop.phase), Some(&error)).await?;
            Ok(true)
        }
        .scope_boxed()
    })
    .await
}
