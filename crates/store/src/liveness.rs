//! Which workers are alive, as Postgres itself sees it. Each worker holds a session-level
//! advisory lock keyed by its id (class [`LOCK_CLASS`], key `hashtext(worker_id)`) on a
//! connection of its own, for as long as it lives. A process that dies (SIGKILL, an OOM kill)
//! closes that connection with it and Postgres releases the lock at once; a host that vanishes
//! without closing it is noticed by the session's TCP keepalives (about 20 s). So a run whose
//! lease holder holds no liveness lock can be taken over at once, without waiting for its lease
//! to expire: the time to an inbox after a crash does not depend on `worker.lease_secs`.
//!
//! A lease owner is `<worker_id>/<hop>/<delivery>` (see the worker's `hop.rs`): its worker is
//! the part before the first `/`.

use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use migrator_core::error::{CoreError, CoreResult};
use migrator_runtime::settings::DatabaseSettings;
use std::time::Duration;
use tokio::sync::watch;

/// The advisory lock class of workers' liveness (the first key of the two-key form).
pub const LOCK_CLASS: i32 = 727_275;

/// How often the holder checks its connection is still there.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// SQL true when the worker owning the lease in `owner` (a column or expression of a lease
/// owner) holds no liveness lock in this database: its process or host is gone.
pub fn holder_gone_sql(owner: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND l.classid = {LOCK_CLASS}::oid AND l.objsubid = 2 AND l.granted \
         AND l.objid = hashtext(split_part({owner}, '/', 1))::oid)"
    )
}

/// The worker of a lease owner string.
pub fn worker_of(owner: &str) -> &str {
    owner.split('/').next().unwrap_or(owner)
}

/// Holds `worker_id`'s liveness lock until `stop` flips (or its sender is dropped), reconnecting
/// after a lost
/// connection (a database restart); `held` says whether it is held now. A worker takes hops
/// only while it is held: whoever finds its leases without it takes them over.
pub async fn hold(
    db: DatabaseSettings,
    worker_id: String,
    held: &watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    while !*stop.borrow() {
        match lock(&db, &worker_id).await {
            Ok(mut conn) => {
                failures = 0;
                held.send_replace(true);
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(CHECK_EVERY) => {}
                        _ = stop.changed() => {
                            // closing the session releases the lock
                            held.send_replace(false);
                            return;
                        }
                    }
                    let check = conn.batch_execute("SELECT 1");
                    if !matches!(tokio::time::timeout(CHECK_EVERY, check).await, Ok(Ok(()))) {
                        tracing::warn!("liveness connection lost; taking no hops until it is back");
                        break;
                    }
                }
                held.send_replace(false);
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(30) {
                    tracing::warn!(error = %e, "liveness lock not held; taking no hops");
                }
            }
        }
        let wait = Duration::from_millis((250 * u64::from(failures.min(20))).max(250));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // flipped, or its sender gone: either way, stop
            _ = stop.changed() => break,
        }
    }
    held.send_replace(false);
}

/// A session of its own, with keepalives short enough to notice a vanished host, holding the
/// worker's lock.
async fn lock(db: &DatabaseSettings, worker_id: &str) -> CoreResult<AsyncPgConnection> {
    let limit = Duration::from_millis(db.connect_timeout_ms.max(1));
    let mut conn = tokio::time::timeout(limit, AsyncPgConnection::establish(db.url.as_str()))
        .await
        .map_err(|_| CoreError::Pool("liveness connect timed out".into()))?
        .map_err(|e| CoreError::Pool(format!("liveness connect: {e}")))?;
    // the server closes the session (and frees the lock) ~19 s after the host goes silent
    conn.batch_execute(
        "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 3; \
         SET tcp_keepalives_count = 3; SET application_name = 'migrator-liveness'",
    )
    .await?;
    #[derive(diesel::QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    let r: Locked = diesel::sql_query(format!(
        "SELECT pg_try_advisory_lock({LOCK_CLASS}, hashtext($1)) AS locked"
    ))
    .bind::<Text, _>(worker_id)
    .get_result(&mut conn)
    .await?;
    if !r.locked {
        return Err(CoreError::Conflict(format!(
            "another session holds the liveness lock of {worker_id}"
        )));
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_owner_names_its_worker_first() {
        assert_eq!(
            worker_of("host-12-ab12cd34/hop-id/delivery"),
            "host-12-ab12cd34"
        );
        assert_eq!(worker_of("bare"), "bare");
        assert!(holder_gone_sql("r.lease_owner").contains("split_part(r.lease_owner, '/', 1)"));
    }
}
