//! Where the migration's state and data live: Postgres (the pool, embedded migrations, the
//! schema, row structs, every query, workers' liveness), attachment bytes (a file-system blob
//! store) and channel credentials sealed at rest.

pub mod blob;
pub mod crypto;
pub mod liveness;
pub mod models;
pub mod queries;
pub mod schema;

use deadpool::managed::Metrics;
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Hook, HookError, Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use migrator_core::error::{CoreError, CoreResult};
use migrator_runtime::settings::DatabaseSettings;
use std::time::Duration;

/// The migrations of `migrations/`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

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

/// A blocking connection for the migration harness (diesel_migrations is synchronous), used on
/// the blocking pool.
async fn with_sync_conn<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut SyncConn) -> CoreResult<T> + Send + 'static,
) -> CoreResult<T> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = <SyncConn as diesel::Connection>::establish(&url)
            .map_err(|e| CoreError::Pool(e.to_string()))?;
        f(&mut c)
    })
    .await
    .map_err(|e| CoreError::Pool(e.to_string()))?
}

type SyncConn = diesel_async::async_connection_wrapper::AsyncConnectionWrapper<AsyncPgConnection>;

/// Applies pending migrations. Serialised with an advisory lock so an api and workers starting
/// together do not race.
pub async fn run_migrations(url: &str) -> CoreResult<()> {
    run_migrations_locked(url).await
}

/// Refuses (with the names of the missing migrations) while the database's schema is behind
/// this release's: a process that does not migrate at start serves nothing on an old schema
/// (the release's migrate Job runs first). A schema ahead of the release (a rollback) is
/// allowed: migrations only add.
pub async fn check_schema(url: &str) -> CoreResult<()> {
    let pending = with_sync_conn(url, |c| {
        c.pending_migrations(MIGRATIONS)
            .map(|p| p.iter().map(|m| m.name().to_string()).collect::<Vec<_>>())
            .map_err(|e| CoreError::Invalid(format!("schema check failed: {e}")))
    })
    .await?;
    if pending.is_empty() {
        return Ok(());
    }
    Err(CoreError::Invalid(format!(
        "the database schema is behind this release ({} migrations missing: {}): run the \
         release's migrate Job (`migrator-api migrate`) first",
        pending.len(),
        pending.join(", ")
    )))
}

async fn run_migrations_locked(url: &str) -> CoreResult<()> {
    with_sync_conn(url, |c| {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT pg_advisory_lock(727274)").execute(c)?;
        let res = c
            .run_pending_migrations(MIGRATIONS)
            .map(|_| ())
            .map_err(|e| CoreError::Invalid(format!("migration failed: {e}")));
        diesel::sql_query("SELECT pg_advisory_unlock(727274)").execute(c)?;
        res
    })
    .await
}

/// Reverts every migration, then applies them again: proves each `down.sql` undoes its `up.sql`.
pub async fn check_migrations_reversible(url: &str) -> CoreResult<()> {
    with_sync_conn(url, |c| {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| CoreError::Invalid(e.to_string());
        c.run_pending_migrations(MIGRATIONS).map_err(err)?;
        c.revert_all_migrations(MIGRATIONS).map_err(err)?;
        c.run_pending_migrations(MIGRATIONS).map_err(err)?;
        Ok(())
    })
    .await
}
