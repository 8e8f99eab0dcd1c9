//! The worker side of a run: the lease (owner, expiry, heartbeat), the fence every page write
//! goes through, checkpoints with figures, and the end of a phase.

use super::{outbox, parse_status};
use crate::db::models::MigrationRun;
use crate::db::schema::{accounts, migration_runs};
use crate::error::{CoreError, CoreResult};
use crate::ids::{AccountId, RunId};
use crate::queue::{MigrationHop, Phase};
use crate::status::MigrationStatus;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use scoped_futures::ScopedFutureExt;
use uuid::Uuid;

/// The status an account must be in for a phase to run.
pub fn status_for_phase(phase: Phase) -> &'static [MigrationStatus] {
    match phase {
        Phase::Channels => &[MigrationStatus::Migrating],
        Phase::RecentMessages => &[MigrationStatus::ChannelsMigrated],
        Phase::AllMessages => &[
            MigrationStatus::RecentMessagesMigrated,
            MigrationStatus::MessagesFailure,
        ],
    }
}

/// What taking the lease for a hop found.
#[derive(Debug)]
pub enum LeaseOutcome {
    /// The hop is ours to run.
    Leased {
        /// The run, as leased.
        run: Box<MigrationRun>,
        /// The account's shopper id.
        shopper_id: String,
        /// The account's status.
        status: MigrationStatus,
    },
    /// Another live worker holds the run: this hop is a duplicate.
    Busy,
    /// The hop belongs to a superseded run or a finished phase.
    Stale,
}

/// Takes the run's lease for `owner` when the hop is current and nobody else holds it.
pub async fn lease(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    owner: &str,
    ttl_secs: i64,
) -> CoreResult<LeaseOutcome> {
    let hop = hop.clone();
    let owner = owner.to_string();
    conn.transaction::<_, CoreError, _>(|c| {
        async move {
            let acc: Option<(Option<Uuid>, String, String)> = accounts::table
                .find(hop.account_id.0)
                .select((
                    accounts::current_run_id,
                    accounts::migration_status,
                    accounts::shopper_id,
                ))
                .for_no_key_update()
                .first(c)
                .await
                .optional()?;
            let Some((current, status, shopper_id)) = acc else {
                return Ok(LeaseOutcome::Stale);
            };
            let status = parse_status(&status)?;
            if current != Some(hop.run_id.0) || !status_for_phase(hop.phase).contains(&status) {
                return Ok(LeaseOutcome::Stale);
            }
            let run: MigrationRun = migration_runs::table
                .find(hop.run_id.0)
                .select(MigrationRun::as_select())
                .for_no_key_update()
                .first(c)
                .await?;
            if run.cancelled || run.phase != hop.phase.as_str() {
                return Ok(LeaseOutcome::Stale);
            }
            let now = Utc::now();
            let held = run.lease_owner.as_deref().is_some_and(|o| o != owner)
                && run.lease_expires_at.is_some_and(|e| e > now);
            if held {
                return Ok(LeaseOutcome::Busy);
            }
            let run = diesel::update(migration_runs::table.find(run.id))
                .set((
                    migration_runs::lease_owner.eq(Some(owner)),
                    migration_runs::lease_expires_at.eq(Some(now + Duration::seconds(ttl_secs))),
                    migration_runs::hop_attempts.eq(hop.attempt as i32),
                    migration_runs::updated_at.eq(diesel::dsl::now),
                ))
                .returning(MigrationRun::as_returning())
                .get_result(c)
                .await?;
            Ok(LeaseOutcome::Leased {
                run: Box::new(run),
                shopper_id,
                status,
            })
        }
        .scope_boxed()
    })
    .await
}

/// Extends the lease; false when it was lost (superseded, or taken over after expiry).
pub async fn heartbeat(
    conn: &mut AsyncPgConnection,
    run_id: Uuid,
    owner: &str,
    ttl_secs: i64,
) -> CoreResult<bool> {
    let n = diesel::update(
        migration_runs::table
            .find(run_id)
            .filter(migration_runs::lease_owner.eq(owner))
            .filter(migration_runs::cancelled.eq(false)),
    )
    .set(migration_runs::lease_expires_at.eq(Some(Utc::now() + Duration::seconds(ttl_secs))))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// The caller no longer holds the run (superseded or taken over): stop writing.
pub const LEASE_LOST: &str = "lease lost";

/// Inside a page transaction: locks account then run (the api's order, so no deadlock) and
/// checks the caller still holds a live lease on the account's current run.
pub async fn fence(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    run_id: Uuid,
    owner: &str,
) -> CoreResult<()> {
    let current: Option<Option<Uuid>> = accounts::table
        .find(account_id)
        .select(accounts::current_run_id)
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?;
    if current != Some(Some(run_id)) {
        return Err(CoreError::Conflict(LEASE_LOST.into()));
    }
    let ok: Option<Uuid> = migration_runs::table
        .find(run_id)
        .filter(migration_runs::lease_owner.eq(owner))
        .filter(migration_runs::cancelled.eq(false))
        .filter(migration_runs::lease_expires_at.gt(Utc::now()))
        .select(migration_runs::id)
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?;
    match ok {
        Some(_) => Ok(()),
        None => Err(CoreError::Conflict(LEASE_LOST.into())),
    }
}

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
    run_id: Uuid,
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
    run_id: Uuid,
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

/// Sets the number of threads Conversations reports.
pub async fn set_threads_total(
    conn: &mut AsyncPgConnection,
    run_id: Uuid,
    n: i32,
) -> CoreResult<()> {
    diesel::update(migration_runs::table.find(run_id))
        .set(migration_runs::threads_total.eq(n))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records how many channels the channels phase carried over.
pub async fn set_channels_migrated(
    conn: &mut AsyncPgConnection,
    run_id: Uuid,
    n: i32,
) -> CoreResult<()> {
    diesel::update(migration_runs::table.find(run_id))
        .set(migration_runs::channels_migrated.eq(n))
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves the fenced account to `to`, the run to the next phase (or done), clears the checkpoint
/// and the lease, and records the next hop in the outbox, all in the caller's transaction.
pub async fn finish_phase(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    to: MigrationStatus,
    next: Option<Phase>,
) -> CoreResult<Option<(i64, MigrationHop)>> {
    use migration_runs::dsl as r;
    let from: String = accounts::table
        .find(hop.account_id.0)
        .select(accounts::migration_status)
        .first(conn)
        .await?;
    parse_status(&from)?.move_to(to)?;
    diesel::update(accounts::table.find(hop.account_id.0))
        .set((
            accounts::migration_status.eq(to.as_str()),
            accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    let now = Utc::now();
    let stamp = diesel::update(r::migration_runs.find(hop.run_id.0)).set((
        r::phase.eq(next.map(|p| p.as_str()).unwrap_or("done")),
        r::checkpoint.eq(None::<serde_json::Value>),
        r::hop_attempts.eq(0),
        r::last_error.eq(None::<String>),
        r::lease_owner.eq(None::<String>),
        r::lease_expires_at.eq(None::<DateTime<Utc>>),
        r::updated_at.eq(diesel::dsl::now),
    ));
    stamp.execute(conn).await?;
    let when = diesel::update(r::migration_runs.find(hop.run_id.0));
    match hop.phase {
        Phase::Channels => when.set(r::channels_at.eq(Some(now))).execute(conn).await?,
        Phase::RecentMessages => when.set(r::recent_at.eq(Some(now))).execute(conn).await?,
        Phase::AllMessages => {
            when.set((r::completed_at.eq(Some(now)), r::finished_at.eq(Some(now))))
                .execute(conn)
                .await?
        }
    };
    match next {
        Some(p) => {
            let hop = MigrationHop::first(hop.account_id, hop.run_id, p);
            Ok(Some((outbox::push(conn, &hop).await?, hop)))
        }
        None => Ok(None),
    }
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
            let acc: Option<(Option<Uuid>, String)> = accounts::table
                .find(hop.account_id.0)
                .select((accounts::current_run_id, accounts::migration_status))
                .for_no_key_update()
                .first(c)
                .await
                .optional()?;
            let Some((Some(current), status)) = acc else {
                return Ok(false);
            };
            let status = parse_status(&status)?;
            if current != hop.run_id.0 || !status_for_phase(hop.phase).contains(&status) {
                return Ok(false);
            }
            let to = match hop.phase {
                Phase::Channels => MigrationStatus::ChannelFailure,
                Phase::RecentMessages => MigrationStatus::RecentMessagesFailure,
                Phase::AllMessages => MigrationStatus::MessagesFailure,
            };
            if status != to {
                status.move_to(to)?;
                diesel::update(accounts::table.find(hop.account_id.0))
                    .set((
                        accounts::migration_status.eq(to.as_str()),
                        accounts::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(c)
                    .await?;
            }
            release(c, hop.run_id.0, None, &error).await?;
            Ok(true)
        }
        .scope_boxed()
    })
    .await
}

/// Releases the lease after a failed attempt (the hop is redelivered later), keeping the error.
pub async fn release(
    conn: &mut AsyncPgConnection,
    run_id: Uuid,
    owner: Option<&str>,
    error: &str,
) -> CoreResult<()> {
    use migration_runs::dsl as r;
    let values = (
        r::lease_owner.eq(None::<String>),
        r::lease_expires_at.eq(None::<DateTime<Utc>>),
        r::last_error.eq(Some(error.to_string())),
        r::updated_at.eq(diesel::dsl::now),
    );
    match owner {
        Some(o) => {
            diesel::update(r::migration_runs.find(run_id).filter(r::lease_owner.eq(o)))
                .set(values)
                .execute(conn)
                .await?
        }
        None => {
            diesel::update(r::migration_runs.find(run_id))
                .set(values)
                .execute(conn)
                .await?
        }
    };
    Ok(())
}

/// Takes or renews a fleet-wide singleton lock (the sweeper); true when `owner` holds it.
pub async fn try_fleet_lock(
    conn: &mut AsyncPgConnection,
    name: &str,
    owner: &str,
    ttl_secs: i64,
) -> CoreResult<bool> {
    use diesel::sql_types::{BigInt, Text};
    let n = diesel::sql_query(
        "INSERT INTO fleet_locks (name, owner, expires_at) \
         VALUES ($1, $2, now() + make_interval(secs => $3)) \
         ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at \
         WHERE fleet_locks.expires_at < now() OR fleet_locks.owner = EXCLUDED.owner",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(owner)
    .bind::<BigInt, _>(ttl_secs)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Runs in progress whose lease expired (a worker died) or that have been idle, unleased,
/// for `idle_secs` (a hop went missing): their phase's hop is recorded again.
pub async fn enqueue_stalled(
    conn: &mut AsyncPgConnection,
    idle_secs: i64,
) -> CoreResult<Vec<(i64, MigrationHop)>> {
    conn.transaction::<_, CoreError, _>(|c| {
        async move {
            use migration_runs::dsl as r;
            let now = Utc::now();
            let idle = now - Duration::seconds(idle_secs);
            let in_progress: Vec<&str> = [
                MigrationStatus::Migrating,
                MigrationStatus::ChannelsMigrated,
                MigrationStatus::RecentMessagesMigrated,
            ]
            .iter()
            .map(|s| s.as_str())
            .collect();
            let due: Vec<(Uuid, Uuid, String)> = accounts::table
                .inner_join(r::migration_runs.on(r::id.nullable().eq(accounts::current_run_id)))
                .filter(accounts::migration_status.eq_any(in_progress))
                .filter(r::cancelled.eq(false))
                .filter(
                    r::lease_expires_at
                        .lt(now)
                        .or(r::lease_owner.is_null().and(r::updated_at.lt(idle))),
                )
                .select((accounts::id, r::id, r::phase))
                .for_update()
                .skip_locked()
                .load(c)
                .await?;
            let mut out = Vec::new();
            for (account_id, run_id, phase) in due {
                let Some(phase) = Phase::parse(&phase) else {
                    continue;
                };
                diesel::update(r::migration_runs.find(run_id))
                    .set((
                        r::lease_owner.eq(None::<String>),
                        r::lease_expires_at.eq(None::<DateTime<Utc>>),
                        r::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(c)
                    .await?;
                let hop = MigrationHop::first(AccountId(account_id), RunId(run_id), phase);
                out.push((outbox::push(c, &hop).await?, hop));
            }
            Ok(out)
        }
        .scope_boxed()
    })
    .await
}
