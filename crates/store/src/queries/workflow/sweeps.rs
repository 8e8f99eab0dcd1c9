//! What the fleet's sweeper does, one worker at a time: re-enqueue runs whose lease expired or
//! whose hop went missing, and repair phases whose restart rule is a repair.

use crate::models::Account;
use crate::queries::workflow::runs::{self, Settled};
use crate::queries::workflow::transitions::{self, Effects, Recorded};
use crate::schema::{accounts, migration_runs};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::hop::MigrationHop;
use migrator_core::ids::RunId;
use migrator_core::setback::{RetryPolicy, Setback};
use migrator_core::status::{Event, MigrationStatus, Phase, ALL_STATUSES};

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

/// Runs in progress whose lease expired (a worker hung), whose lease holder is gone (it holds
/// no liveness lock: [`crate::liveness`]; its hop is usually redelivered and takes the
/// lease over first), or that have been idle, unleased, for `idle_secs` (a hop went missing):
/// their phase's hop is recorded again. A lost lease counts as a failed attempt; a run past
/// `policy.max_total_attempts` is parked (failed, recorded as a dead letter) instead. Each is
/// settled through the state machine's writer, like a hop's own failure.
pub async fn enqueue_stalled(
    conn: &mut AsyncPgConnection,
    idle_secs: i64,
    policy: RetryPolicy,
    limit: i64,
) -> CoreResult<Vec<Recorded>> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        use migration_runs::dsl as r;
        let now = Utc::now();
        let idle = now - Duration::seconds(idle_secs);
        let in_progress: Vec<MigrationStatus> = ALL_STATUSES
            .into_iter()
            .filter(|s| s.is_in_progress())
            .collect();
        let holder_gone = diesel::dsl::sql::<diesel::sql_types::Bool>(
            &crate::liveness::holder_gone_sql("migration_runs.lease_owner"),
        );
        let candidates = stalled_candidates(c, idle, limit).await?;
        type Row = (Account, RunId, String, Option<DateTime<Utc>>, i32);
        // the candidates checked again under their locks
        let due: Vec<Row> = accounts::table
            .inner_join(r::migration_runs.on(r::id.nullable().eq(accounts::current_run_id)))
            .filter(r::id.eq_any(candidates))
            .filter(r::active.eq(true))
            .filter(
                accounts::migration_status
                    .eq_any(in_progress)
                    .or(accounts::migration_status
                        .eq(MigrationStatus::Completed)
                        .and(r::phase.eq(Phase::CatchUp.as_str()))),
            )
            .filter(r::cancelled.eq(false))
            .filter(
                r::lease_expires_at
                    .lt(now)
                    .or(r::lease_owner.is_null().and(r::updated_at.lt(idle)))
                    .or(r::lease_owner.is_not_null().and(holder_gone.clone())),
            )
            .select((
                Account::as_select(),
                r::id,
                r::phase,
                r::lease_expires_at,
                r::total_attempts,
            ))
            .limit(limit)
            .for_no_key_update()
            .skip_locked()
            .load(c)
            .await?;
        let mut out = Vec::new();
        for (account, run_id, phase, leased, failed_before) in due {
            let Some(phase) = Phase::parse(&phase) else {
                continue;
            };
            let hop = MigrationHop::first(account.id, run_id, phase);
            // a lease that ran out is a failed attempt; a hop that went missing is not the run's
            let (setback, error) = match leased {
                Some(_) => (Setback::LeaseLost, "lease lost (a worker died or hung)"),
                None => (
                    Setback::HopMissing,
                    "hop missing (no worker held or sent it)",
                ),
            };
            let settled =
                runs::record_setback(c, &account, &hop, setback, error, policy, failed_before)
                    .await?;
            if let Settled::Retried(r) = settled {
                out.push(r);
            }
        }
        Ok(out)
    })
    .await
}

/// Up to `limit` runs in progress that may have stalled, each found along a small partial
/// index of runs in progress (never the population): an expired lease
/// (`migration_runs_leased`), a lease held by a known worker that no longer holds its liveness
/// lock (`migration_runs_lease_worker`, for the few workers of `fleet_workers`), an unleased
/// run idle since `idle` (`migration_runs_idle`).
async fn stalled_candidates(
    c: &mut AsyncPgConnection,
    idle: DateTime<Utc>,
    limit: i64,
) -> CoreResult<Vec<RunId>> {
    use diesel::sql_types::{BigInt, Timestamptz};
    #[derive(QueryableByName)]
    struct Candidate {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: RunId,
    }
    let gone = crate::liveness::holder_gone_sql("w.worker_id");
    let rows: Vec<Candidate> = diesel::sql_query(format!(
        "(SELECT id FROM migration_runs \
          WHERE active AND lease_owner IS NOT NULL AND lease_expires_at < now() LIMIT $2) \
         UNION (SELECT id FROM migration_runs \
          WHERE active AND lease_owner IS NULL AND updated_at < $1 LIMIT $2) \
         UNION (SELECT id FROM migration_runs \
          WHERE active AND lease_owner IS NOT NULL AND split_part(lease_owner, '/', 1) IN \
            (SELECT w.worker_id FROM fleet_workers w WHERE {gone}) LIMIT $2) \
         LIMIT $2"
    ))
    .bind::<Timestamptz, _>(idle)
    .bind::<BigInt, _>(limit)
    .load(c)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Repairs up to `limit` accounts in a failure status whose restart rule is a repair and whose
/// run has been idle for `idle_secs` and is not parked (along `migration_runs_held`): the phase
/// runs again from its checkpoint. Returns the hops recorded in the outbox.
pub async fn enqueue_repairs(
    conn: &mut AsyncPgConnection,
    idle_secs: i64,
    limit: i64,
) -> CoreResult<Vec<Recorded>> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let cutoff = Utc::now() - Duration::seconds(idle_secs);
        let repairable: Vec<MigrationStatus> = ALL_STATUSES
            .into_iter()
            .filter(|s| s.on(Event::Repair).is_ok())
            .collect();
        // held runs of a repairable phase, not parked, idle since the cutoff, found along
        // migration_runs_held (what is due, never every failed account), then locked
        let phases: Vec<&str> = repairable
            .iter()
            .filter_map(|st| st.failed_phase())
            .map(|p| p.as_str())
            .collect();
        let held: Vec<RunId> = migration_runs::table
            .filter(migration_runs::active.eq(false))
            .filter(migration_runs::finished_at.is_null())
            .filter(migration_runs::parked_at.is_null())
            .filter(migration_runs::phase.eq_any(phases))
            .filter(migration_runs::updated_at.le(cutoff))
            .select(migration_runs::id)
            .limit(limit)
            .load(c)
            .await?;
        let due: Vec<Account> = accounts::table
            .inner_join(
                migration_runs::table
                    .on(migration_runs::id.nullable().eq(accounts::current_run_id)),
            )
            .filter(migration_runs::id.eq_any(held))
            .filter(migration_runs::parked_at.is_null())
            .filter(migration_runs::updated_at.le(cutoff))
            .filter(accounts::migration_status.eq_any(repairable))
            .select(Account::as_select())
            .for_no_key_update()
            .skip_locked()
            .load(c)
            .await?;
        let mut out = Vec::new();
        for account in due {
            let applied =
                transitions::apply(c, &account, Event::Repair, Effects::default()).await?;
            out.extend(applied.hop);
        }
        Ok(out)
    })
    .await
}

/// The fleet locks (`sweeper`, `campaign`) and whether a worker holds each now (a row whose
/// lease has not expired). A handful of rows: the table holds one per lock name.
pub async fn fleet_locks_held(conn: &mut AsyncPgConnection) -> CoreResult<Vec<(String, bool)>> {
    #[derive(diesel::QueryableByName)]
    struct Held {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        held: bool,
    }
    let rows: Vec<Held> =
        diesel::sql_query("SELECT name, expires_at > now() AS held FROM fleet_locks LIMIT 100")
            .load(conn)
            .await?;
    Ok(rows.into_iter().map(|h| (h.name, h.held)).collect())
}
