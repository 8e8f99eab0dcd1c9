//! One migration per account at a time: a hop takes the run's lease (owner, expiry), a heartbeat
//! extends it, and every page transaction goes through the fence, which checks the lease is
//! still the caller's.

use super::transitions::lock_account;
use crate::db::models::{Account, MigrationRun};
use crate::db::schema::migration_runs;
use crate::error::{CoreError, CoreResult};
use crate::ids::RunId;
use crate::queue::MigrationHop;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use scoped_futures::ScopedFutureExt;

/// What taking the lease for a hop found.
#[derive(Debug)]
pub enum LeaseOutcome {
    /// The hop is ours to run.
    Leased {
        /// The run, as leased.
        run: Box<MigrationRun>,
        /// The account, as it was when leased.
        account: Box<Account>,
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
            let Some(account) = lock_if_current(c, &hop).await? else {
                return Ok(LeaseOutcome::Stale);
            };
            let run = super::transitions::lock_run(c, hop.run_id).await?;
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
                account: Box::new(account),
            })
        }
        .scope_boxed()
    })
    .await
}

/// Locks the hop's account when the hop is still current: its run is the account's, and its
/// phase runs in the account's status. `None` for a stale hop (or a deleted account).
pub async fn lock_if_current(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
) -> CoreResult<Option<Account>> {
    let account = match lock_account(conn, hop.account_id).await {
        Ok(a) => a,
        Err(CoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let current =
        account.current_run_id == Some(hop.run_id) && hop.phase.runs_in(account.migration_status);
    Ok(current.then_some(account))
}

/// Extends the lease; false when it was lost (superseded, or taken over after expiry).
pub async fn heartbeat(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
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

/// Inside a page transaction: locks account then run (the api's order, so no deadlock) and
/// checks the caller still holds a live lease on the account's current run. Returns the
/// account as locked, for a state change in the same transaction.
pub async fn fence(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    owner: &str,
) -> CoreResult<Account> {
    let account = lock_account(conn, hop.account_id).await?;
    if account.current_run_id != Some(hop.run_id) {
        return Err(CoreError::LeaseLost);
    }
    let ok: Option<RunId> = migration_runs::table
        .find(hop.run_id)
        .filter(migration_runs::lease_owner.eq(owner))
        .filter(migration_runs::cancelled.eq(false))
        .filter(migration_runs::lease_expires_at.gt(Utc::now()))
        .select(migration_runs::id)
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?;
    match ok {
        Some(_) => Ok(account),
        None => Err(CoreError::LeaseLost),
    }
}

/// Releases the lease (only `owner`'s, when given), keeping `error` on the run.
pub async fn release(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
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
    let q = r::migration_runs.find(run_id);
    match owner {
        Some(o) => {
            diesel::update(q.filter(r::lease_owner.eq(o)))
                .set(values)
                .execute(conn)
                .await?
        }
        None => diesel::update(q).set(values).execute(conn).await?,
    };
    Ok(())
}
