//! The worker side of a run: checkpoints with figures, and every outcome of a hop — its phase's
//! end, a continuation, a retry, giving up — each one transaction, a step of the state machine
//! applied through [`transitions::apply`] with the next hop in the outbox.

use crate::models::Account;
use crate::queries::workflow::lease::lock_if_current;
use crate::queries::workflow::locks::lock_run;
use crate::queries::workflow::transitions::{self, Applied, Effects, Recorded};
use crate::schema::migration_runs;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::hop::MigrationHop;
use migrator_core::ids::RunId;
use migrator_core::setback::{AfterFailure, RetryPolicy, Setback};
use migrator_core::status::Event;

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

/// The run's figures so far: (threads, messages) migrated.
pub async fn migrated(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<(i32, i64)> {
    Ok(migration_runs::table
        .find(run_id)
        .select((
            migration_runs::threads_migrated,
            migration_runs::messages_migrated,
        ))
        .first(conn)
        .await?)
}

/// A repair removed migrated rows (`conversations::clear_for_repair`): the run's figures lose
/// them, so the copy that follows counts them once again.
pub async fn subtract_removed(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    removed: crate::queries::destination::conversations::Removed,
) -> CoreResult<()> {
    use diesel::sql_types::{BigInt, Uuid as SqlUuid};
    diesel::sql_query(
        "UPDATE migration_runs SET messages_migrated = greatest(messages_migrated - $2, 0), \
           threads_migrated = greatest(threads_migrated - $3::int, 0), updated_at = now() \
         WHERE id = $1",
    )
    .bind::<SqlUuid, _>(run_id.0)
    .bind::<BigInt, _>(removed.messages)
    .bind::<BigInt, _>(removed.threads)
    .execute(conn)
    .await?;
    Ok(())
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

/// Inside a fenced transaction (`account` as the fence locked it): the phase ended with
/// `event` (done, covered, a continuation, nothing to migrate). Returns the next hop recorded
/// in the outbox.
pub async fn end_phase(
    conn: &mut AsyncPgConnection,
    account: &Account,
    event: Event,
) -> CoreResult<Option<Recorded>> {
    let Applied { hop, .. } = transitions::apply(conn, account, event, Effects::default()).await?;
    Ok(hop)
}

/// How a failed hop was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The lease was no longer the hop's (another worker, a re-migration, a cancel): nothing
    /// was written.
    LeaseLost,
    /// Its retry is recorded in the outbox.
    Retried(Recorded),
    /// Its phase failed (parked when `parked`); the hop is a dead letter.
    GaveUp {
        /// Past the run's attempts.
        parked: bool,
    },
}

/// A setback of `owner`'s hop, in one transaction: nothing is written when the lease is no
/// longer `owner`'s; otherwise as [`record_setback`].
pub async fn fail_hop(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    owner: &str,
    setback: Setback,
    error: &str,
    policy: RetryPolicy,
) -> CoreResult<Settled> {
    let (hop, owner, error) = (hop.clone(), owner.to_string(), error.to_string());
    conn.transaction::<_, CoreError, _>(async move |c| {
        let Some(account) = lock_if_current(c, &hop).await? else {
            return Ok(Settled::LeaseLost);
        };
        let run = lock_run(c, hop.run_id).await?;
        if run.lease_owner.as_deref() != Some(owner.as_str()) {
            return Ok(Settled::LeaseLost);
        }
        record_setback(
            c,
            &account,
            &hop,
            setback,
            &error,
            policy,
            run.total_attempts,
        )
        .await
    })
    .await
}

/// Writes what follows `setback` of `hop` for the account the caller has locked, its run having
/// failed `failed_before` attempts: decided by [`RetryPolicy::decide`], then, through the state
/// machine's writer, the retry recorded in the outbox (the run released, keeping `error` when
/// the setback counts), or the phase failed (the run held with `error`, parked past its
/// attempts, the hop a dead letter). The one path of every setback: the hop's worker's
/// ([`fail_hop`]) and the sweeper's (`sweeps::enqueue_stalled`).
pub async fn record_setback(
    conn: &mut AsyncPgConnection,
    account: &Account,
    hop: &MigrationHop,
    setback: Setback,
    error: &str,
    policy: RetryPolicy,
    failed_before: i32,
) -> CoreResult<Settled> {
    match policy.decide(setback, hop, failed_before) {
        AfterFailure::Retry { hop: next, delay } => {
            let effects = Effects::Retry {
                hop: &next,
                delay_ms: delay.as_millis().min(u64::MAX as u128) as u64,
                failed: setback.counts().then_some(error),
            };
            let applied =
                transitions::apply(conn, account, Event::Retry(hop.phase), effects).await?;
            applied
                .hop
                .map(Settled::Retried)
                .ok_or_else(|| CoreError::Invalid("a retry records a hop".into()))
        }
        AfterFailure::GiveUp { park } => {
            let total = failed_before + 1;
            let error = match setback {
                Setback::Failed(_) => error.to_string(),
                Setback::LeaseLost | Setback::HopMissing => {
                    format!("parked after {total} failed attempts (last: {error})")
                }
            };
            let effects = Effects::GiveUp {
                error: &error,
                park,
                dead_letter: hop,
            };
            transitions::apply(conn, account, Event::Failed(hop.phase), effects).await?;
            Ok(Settled::GaveUp { parked: park })
        }
    }
}
