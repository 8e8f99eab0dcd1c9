//! Where the migration's state and data live: Postgres (the pool, the schema and its embedded
//! migrations applied one process at a time (`schema_setup`), row structs, every query,
//! workers' liveness), attachment bytes (a file-system blob store) and channel credentials
//! sealed at rest.

pub mod blob;
pub mod crypto;
pub mod liveness;
pub mod models;
pub mod queries;
pub mod schema;
pub mod schema_setup;

pub use schema_setup::{
    check_migrations_reversible, check_schema, run_migrations, MIGRATIONS, MIGRATION_LOCK,
};

use deadpool::managed::Metrics;
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Hook, HookError, Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use migrator_core::error::{CoreError, CoreResult};
use migrator_runtime::settings::DatabaseSettings;
use std::time::Duration;

/// A pool of async Postgres connections.
pub type DbPool = Pool<AsyncPgConnection>;
/// One pooled connection.
pub type DbConn = Object<AsyncPgConnection>;

/// Builds a pool (connections are opened lazily). Every wait is bounded: for a pooled
/// connection, to open one, to check one, and every statement (`statement_timeout`).
pub fn pool(db: &DatabaseSettings) -> CoreResult<DbPool> {
    let statement_timeout = db.statement_timeout_ms;
    let connect_timeout = Duration::from_millis(db.connect_timeout_ms.max(1));
    let mut cfg = ManagerConfig::default();
    // closed connections are refused at every checkout (the driver knows when the socket
    // closed); the round trip of `SELECT 1` is paid only by connections idle for a while
    cfg.recycling_method = RecyclingMethod::Fast;
    cfg.custom_setup = Box::new(move |url| {
        let url = url.to_string();
        Box::pin(async move {
            let mut c = tokio::time::timeout(connect_timeout, AsyncPgConnection::establish(&url))
                .await
                .map_err(|_| ConnectionError::BadConnection("connect timed out".into()))??;
            c.batch_execute(&format!("SET statement_timeout = {statement_timeout}"))
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(c)
        })
    });
    let mgr =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(db.url.as_str(), cfg);
    let wait = Duration::from_millis(db.pool_wait_ms.max(1));
    Pool::builder(mgr)
        .max_size(db.pool_size)
        .wait_timeout(Some(wait))
        .create_timeout(Some(connect_timeout))
        .recycle_timeout(Some(connect_timeout))
        .pre_recycle(check_when_idle(Duration::from_millis(
            db.check_idle_after_ms,
        )))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| CoreError::Pool(e.to_string()))
}

/// A hook that pings a connection idle longer than `after` before it is handed out; a failed
/// ping drops it and the pool takes (or opens) another.
fn check_when_idle(after: Duration) -> Hook<AsyncPgConnection> {
    Hook::async_fn(move |conn: &mut AsyncPgConnection, m: &Metrics| {
        Box::pin(async move {
            if m.last_used() < after {
                return Ok(());
            }
            conn.batch_execute("SELECT 1")
                .await
                .map_err(|e| HookError::message(format!("idle connection failed its check: {e}")))
        })
    })
}

/// Takes a connection from the pool; how long it waited is `migrator_db_pool_wait_seconds`,
/// a wait that ended without one `migrator_db_pool_timeouts_total`.
pub async fn conn(pool: &DbPool) -> CoreResult<DbConn> {
    use migrator_core::metrics::{DB_POOL_TIMEOUTS, DB_POOL_WAIT};
    let started = std::time::Instant::now();
    let got = pool.get().await;
    metrics::histogram!(DB_POOL_WAIT).record(started.elapsed().as_secs_f64());
    got.map_err(|e| {
        metrics::counter!(DB_POOL_TIMEOUTS).increment(1);
        CoreError::Pool(e.to_string())
    })
}

/// Sets the pool's gauges (`migrator_db_pool_connections{state}`, `…_max_connections`,
/// `…_waiting`) from its status now: call when `/metrics` is scraped.
pub fn record_pool_gauges(pool: &DbPool) {
    use migrator_core::metrics::{DB_POOL_CONNECTIONS, DB_POOL_MAX, DB_POOL_WAITING};
    let s = pool.status();
    let idle = s.available as f64;
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(idle);
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(s.size as f64 - idle);
    metrics::gauge!(DB_POOL_MAX).set(s.max_size as f64);
    metrics::gauge!(DB_POOL_WAITING).set(s.waiting as f64);
}
