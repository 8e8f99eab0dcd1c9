//! One migration per account at a time: a hop takes the run's lease (owner, expiry), a heartbeat
//! extends it, and every page transaction goes through the fence, which checks the lease is
//! still the caller's. A lease whose holder is gone (it holds no liveness lock:
//! [`crate::liveness`]) is taken over at once, however long it had left.

use crate::liveness;
use crate::models::{Account, MigrationRun};
use crate::queries::workflow::locks::lock_account;
use crate::schema::{accounts, migration_runs};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::hop::MigrationHop;
use migrator_core::ids::{RunId, ShopperId};

/// What taking the lease for a hop found.
#[derive(Debug)]
pub enum LeaseOutcome {
    /// The hop is ours to run.
    Leased {
        /// The run, as leased.
        run: Box<MigrationRun>,
        /// The account's C1.
        shopper_id: ShopperId,
    },
    /// Another live worker holds the run: this hop is a duplicate.
    Busy,
    /// The hop belongs to a superseded run or a finished phase.
    Stale,
}

/// Takes the run's lease for `owner` when the hop is current and nobody else holds it: one
/// `UPDATE` of the run (returning the account's shopper id too) on the common path; only a
/// hop that did not get the lease reads on to say whether it is a duplicate or stale. The run
/// row is the only row it locks, as the heartbeat's update does, so it cannot deadlock with
/// the api or a page transaction (account, then run); the fence of every later write checks
/// the account.
pub async fn lease(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    owner: &str,
    ttl_secs: i64,
) -> CoreResult<LeaseOutcome> {
    // a lease that expires or is released between the update and the look is tried once more
    for _ in 0..2 {
        if let Some(leased) = take(conn, hop, owner, ttl_secs).await? {
            return Ok(leased.into());
        }
        match why_not(conn, hop, owner).await? {
            WhyNot::Stale => return Ok(LeaseOutcome::Stale),
            WhyNot::HeldBy(holder) => {
                return Ok(
                    match take_over(conn, hop, owner, &holder, ttl_secs).await? {
                        Some(leased) => {
                            tracing::info!(
                                gone = liveness::worker_of(&holder),
                                "took over the lease of a worker that is gone"
                            );
                            metrics::counter!(migrator_core::metrics::LEASE_TAKEOVERS).increment(1);
                            leased.into()
                        }
                        None => LeaseOutcome::Busy,
                    },
                )
            }
            WhyNot::Free => continue,
        }
    }
    Ok(LeaseOutcome::Busy)
}

impl From<(MigrationRun, ShopperId)> for LeaseOutcome {
    fn from((run, shopper_id): (MigrationRun, ShopperId)) -> Self {
        LeaseOutcome::Leased {
            run: Box::new(run),
            shopper_id,
        }
    }
}

/// The shopper id of the run's account, returned with a lease.
fn shopper_of_run() -> diesel::expression::SqlLiteral<diesel::sql_types::Text> {
    diesel::dsl::sql::<diesel::sql_types::Text>(
        "(SELECT a.shopper_id FROM accounts a WHERE a.id = migration_runs.account_id)",
    )
}

/// The hop's account while the hop is current: its run is the account's, in a status where
/// the hop's phase runs (a subquery of the lease's statements).
fn current_account(hop: &MigrationHop) -> accounts::BoxedQuery<'static, diesel::pg::Pg> {
    accounts::table
        .filter(accounts::id.eq(hop.account_id))
        .filter(accounts::current_run_id.eq(hop.run_id))
        .filter(accounts::migration_status.eq_any(hop.phase.spec().runs_in))
        .into_boxed()
}

/// Takes over the lease `holder` holds when that worker is gone (no liveness lock), in one
/// statement that checks it under the run's row lock. Counts a failed attempt on the run: the
/// hop died with its worker (a C1 whose hops keep killing workers is parked in the end).
async fn take_over(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    owner: &str,
    holder: &str,
    ttl_secs: i64,
) -> CoreResult<Option<(MigrationRun, ShopperId)>> {
    use migration_runs::dsl as r;
    let now = Utc::now();
    let gone = diesel::dsl::sql::<diesel::sql_types::Bool>(&liveness::holder_gone_sql(
        "migration_runs.lease_owner",
    ));
    Ok(diesel::update(
        r::migration_runs
            .find(hop.run_id)
            .filter(r::cancelled.eq(false))
            .filter(r::phase.eq(hop.phase.as_str()))
            .filter(r::lease_owner.eq(holder))
            .filter(diesel::dsl::exists(current_account(hop)))
            .filter(gone),
    )
    .set((
        r::lease_owner.eq(Some(owner)),
        r::lease_expires_at.eq(Some(now + Duration::seconds(ttl_secs))),
        r::hop_attempts.eq(hop.attempt as i32),
        r::total_attempts.eq(r::total_attempts + 1),
        r::updated_at.eq(diesel::dsl::now),
    ))
    .returning((MigrationRun::as_returning(), shopper_of_run()))
    .get_result(conn)
    .await
    .optional()?)
}

/// The lease in one statement: the run is the account's current one, in a status where the
/// hop's phase runs, not cancelled, at the hop's phase, and nobody else's live lease.
async fn take(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    owner: &str,
    ttl_secs: i64,
) -> CoreResult<Option<(MigrationRun, ShopperId)>> {
    use migration_runs::dsl as r;
    let now = Utc::now();
    Ok(diesel::update(
        r::migration_runs
            .find(hop.run_id)
            .filter(r::cancelled.eq(false))
            .filter(r::phase.eq(hop.phase.as_str()))
            .filter(
                r::lease_owner
                    .is_null()
                    .or(r::lease_owner.eq(owner))
                    .or(r::lease_expires_at.is_null())
                    .or(r::lease_expires_at.le(now)),
            )
            .filter(diesel::dsl::exists(current_account(hop))),
    )
    .set((
        r::lease_owner.eq(Some(owner)),
        r::lease_expires_at.eq(Some(now + Duration::seconds(ttl_secs))),
        r::hop_attempts.eq(hop.attempt as i32),
        r::updated_at.eq(diesel::dsl::now),
    ))
    .returning((MigrationRun::as_returning(), shopper_of_run()))
    .get_result(conn)
    .await
    .optional()?)
}

/// Why a hop did not get the lease.
enum WhyNot {
    /// The hop belongs to a superseded run or a finished phase.
    Stale,
    /// Another owner holds an unexpired lease (a duplicate, unless that owner is gone).
    HeldBy(String),
    /// Neither any more: try again.
    Free,
}

/// Why a hop did not get the lease: stale, or held by another owner.
async fn why_not(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    owner: &str,
) -> CoreResult<WhyNot> {
    let account: Option<Account> = accounts::table
        .find(hop.account_id)
        .select(Account::as_select())
        .first(conn)
        .await
        .optional()?;
    let current = account.is_some_and(|a| {
        a.current_run_id == Some(hop.run_id) && hop.phase.runs_in(a.migration_status)
    });
    let run: Option<MigrationRun> = migration_runs::table
        .find(hop.run_id)
        .select(MigrationRun::as_select())
        .first(conn)
        .await
        .optional()?;
    let Some(run) = run.filter(|r| current && !r.cancelled && r.phase == hop.phase.as_str()) else {
        return Ok(WhyNot::Stale);
    };
    let live = run.lease_expires_at.is_some_and(|e| e > Utc::now());
    Ok(match run.lease_owner {
        Some(holder) if holder != owner && live => WhyNot::HeldBy(holder),
        _ => WhyNot::Free,
    })
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

/// Inside a page transaction: locks account then run (the api's order, so no deadlock: the
/// rows of a join are locked in the order of its `FROM` list) and checks the caller still
/// holds a live lease on the account's current run, in one statement. Returns the account as
/// locked, for a state change in the same transaction.
pub async fn fence(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    owner: &str,
) -> CoreResult<Account> {
    accounts::table
        .inner_join(
            migration_runs::table.on(accounts::current_run_id.eq(migration_runs::id.nullable())),
        )
        .filter(accounts::id.eq(hop.account_id))
        .filter(migration_runs::id.eq(hop.run_id))
        .filter(migration_runs::lease_owner.eq(owner))
        .filter(migration_runs::cancelled.eq(false))
        .filter(migration_runs::lease_expires_at.gt(Utc::now()))
        .select(Account::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(CoreError::LeaseLost)
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
