//! The database schema at a process's start: the embedded migrations applied by exactly one
//! process at a time, under one Postgres advisory lock, while every other process that starts
//! with it waits for them (bounded by `database.schema_wait_secs`), then serves.
//!
//! Why the wait is a poll and not a blocking `pg_advisory_lock`: a migration that builds an
//! index `CONCURRENTLY` waits for every transaction holding an older snapshot to end, and a
//! session blocked inside `SELECT pg_advisory_lock(…)` is such a transaction while it waits for
//! the builder's lock — Postgres then reports `deadlock detected` and one of them dies (the
//! failure golang-migrate and Flyway users met). A waiter here asks with
//! `pg_try_advisory_lock` (one statement of microseconds) and sleeps between asks holding no
//! snapshot, so a concurrent index build never waits on it.
//!
//! A process that does not migrate (`database.migrate_at_start = false`, a cluster whose
//! release Job migrates) reads the applied versions without writing anything and waits, the
//! same bound, for the schema to reach its release.

use diesel::sql_types::{BigInt, Bool, Double, Text};
use diesel::{QueryableByName, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use migrator_core::error::{CoreError, CoreResult};
use migrator_runtime::settings::DatabaseSettings;
use std::time::{Duration, Instant};

/// The migrations of `migrations/`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// The advisory lock (single-key form) every process, `migrator-api migrate` and the release's
/// migrate Job take to apply migrations.
pub const MIGRATION_LOCK: i64 = 727274;

/// How often a waiting process asks again.
const POLL: Duration = Duration::from_millis(250);
/// How often a waiting process says what it waits for.
const SAY_EVERY: Duration = Duration::from_secs(5);

type SyncConn =
    diesel_async::async_connection_wrapper::AsyncConnectionWrapper<diesel_async::AsyncPgConnection>;

/// What a start found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaOutcome {
    /// Migrations this process applied (empty: another process had, or nothing was pending).
    pub applied: Vec<String>,
    /// Indexes left invalid by a failed concurrent build, dropped and built again.
    pub rebuilt_indexes: Vec<String>,
    /// How long the process waited for another's lock or for the release's migrate Job.
    pub waited: Duration,
}

/// Brings the schema to this release before a process serves: with
/// `database.migrate_at_start`, applies pending migrations under [`MIGRATION_LOCK`] (waiting
/// for another process that holds it); without, waits for the release's migrate Job. Either
/// wait is bounded by `database.schema_wait_secs`; past it the error is one line naming the
/// setting and what held the lock. `process` names the connection (`application_name`) so a
/// waiting process can say who holds the lock.
pub async fn prepare(db: &DatabaseSettings, process: &str) -> CoreResult<SchemaOutcome> {
    if db.migrate_at_start {
        migrate(db, process).await
    } else {
        wait_for_release(db, process).await
    }
}

/// Applies pending migrations under [`MIGRATION_LOCK`], waiting (bounded by
/// `database.schema_wait_secs`) while another process holds it; then rebuilds any index a
/// failed concurrent build left invalid. Idempotent: a second call applies nothing.
pub async fn migrate(db: &DatabaseSettings, process: &str) -> CoreResult<SchemaOutcome> {
    let max_wait = Duration::from_secs(db.schema_wait_secs);
    let process = process.to_string();
    with_sync_conn(db, &process, move |c| {
        let waited = take_lock(c, max_wait)?;
        let res = apply_locked(c);
        // the session ends with the connection anyway; unlocking first lets a waiter in at once
        let _ =
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(c);
        res.map(|(applied, rebuilt_indexes)| SchemaOutcome {
            applied,
            rebuilt_indexes,
            waited,
        })
    })
    .await
}

/// Waits (bounded by `database.schema_wait_secs`) until no migration of this release is
/// missing, writing nothing; past the bound the error names the missing migrations, the
/// setting and who (if anyone) is migrating.
pub async fn wait_for_release(db: &DatabaseSettings, process: &str) -> CoreResult<SchemaOutcome> {
    let max_wait = Duration::from_secs(db.schema_wait_secs);
    with_sync_conn(db, process, move |c| {
        let started = Instant::now();
        let mut said = None::<Instant>;
        loop {
            let missing = missing(c)?;
            if missing.is_empty() {
                return Ok(SchemaOutcome {
                    waited: started.elapsed(),
                    ..Default::default()
                });
            }
            let holder = holder(c)?;
            let behind = format!(
                "the database schema is behind this release ({} migrations missing: {})",
                missing.len(),
                missing.join(", ")
            );
            let who = holder.as_ref().map_or_else(
                || {
                    "nobody is migrating: run the release's migrate Job (`migrator-api migrate`)"
                        .to_string()
                },
                |h| format!("the migration lock is held by {h}"),
            );
            if started.elapsed() >= max_wait {
                return Err(CoreError::Invalid(format!(
                    "{behind}; gave up after {} s (database.schema_wait_secs = {}); {who}",
                    started.elapsed().as_secs(),
                    max_wait.as_secs()
                )));
            }
            if said.is_none_or(|t| t.elapsed() >= SAY_EVERY) {
                tracing::info!(
                    waited_secs = started.elapsed().as_secs(),
                    "waiting for the schema: {behind}; {who}"
                );
                said = Some(Instant::now());
            }
            std::thread::sleep(POLL * 4);
        }
    })
    .await
}

/// [`migrate`] for tools and tests that have only a URL: the default bounds (connect within
/// 5 s, wait at most 300 s for another process's migrations).
pub async fn run_migrations(url: &str) -> CoreResult<SchemaOutcome> {
    migrate(&tool_settings(url), "migrator tool").await
}

fn tool_settings(url: &str) -> DatabaseSettings {
    DatabaseSettings {
        url: url.to_string().into(),
        pool_size: 1,
        pool_wait_ms: 5000,
        check_idle_after_ms: 10000,
        connect_timeout_ms: 5000,
        statement_timeout_ms: 30000,
        migrate_at_start: true,
        schema_wait_secs: 300,
    }
}

/// Refuses, naming the missing migrations, while the schema is behind this release: the
/// release's processes check once, without waiting (see [`wait_for_release`]).
pub async fn check_schema(db: &DatabaseSettings) -> CoreResult<()> {
    let db = DatabaseSettings {
        schema_wait_secs: 0,
        ..db.clone()
    };
    wait_for_release(&db, "migrator schema check")
        .await
        .map(drop)
}

/// Reverts every migration, then applies them again: proves each `down.sql` undoes its
/// `up.sql`.
pub async fn check_migrations_reversible(url: &str) -> CoreResult<()> {
    with_sync_conn(&tool_settings(url), "migrator reversibility check", |c| {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| CoreError::Invalid(e.to_string());
        c.run_pending_migrations(MIGRATIONS).map_err(err)?;
        c.revert_all_migrations(MIGRATIONS).map_err(err)?;
        c.run_pending_migrations(MIGRATIONS).map_err(err)?;
        Ok(())
    })
    .await
}

/// Takes [`MIGRATION_LOCK`], asking every [`POLL`] and saying every [`SAY_EVERY`] who holds
/// it; gives up after `max_wait`. Returns how long it waited.
fn take_lock(c: &mut SyncConn, max_wait: Duration) -> CoreResult<Duration> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    let started = Instant::now();
    let mut said = None::<Instant>;
    loop {
        let got: Locked = diesel::sql_query(format!(
            "SELECT pg_try_advisory_lock({MIGRATION_LOCK}) AS locked"
        ))
        .get_result(c)?;
        if got.locked {
            return Ok(started.elapsed());
        }
        let who = holder(c)?.unwrap_or_else(|| "a process that has just let it go".into());
        if started.elapsed() >= max_wait {
            return Err(CoreError::Invalid(format!(
                "gave up after {} s waiting for the schema migration lock \
                 (database.schema_wait_secs = {}), held by {who}",
                started.elapsed().as_secs(),
                max_wait.as_secs()
            )));
        }
        if said.is_none_or(|t| t.elapsed() >= SAY_EVERY) {
            tracing::info!(
                waited_secs = started.elapsed().as_secs(),
                "waiting for the schema migrations another process is applying: the lock is held by {who}"
            );
            said = Some(Instant::now());
        }
        std::thread::sleep(POLL);
    }
}

/// Under the lock: the pending migrations applied (each non-transactional one on its own, as
/// its `metadata.toml` says), then indexes a failed concurrent build left invalid rebuilt.
fn apply_locked(c: &mut SyncConn) -> CoreResult<(Vec<String>, Vec<String>)> {
    let pending = missing(c)?;
    if !pending.is_empty() {
        c.run_pending_migrations(MIGRATIONS)
            .map_err(|e| CoreError::Invalid(format!("migration failed: {e}")))?;
        tracing::info!(
            count = pending.len(),
            "applied {} database migrations: {}",
            pending.len(),
            pending.join(", ")
        );
    }
    let rebuilt = rebuild_invalid_indexes(c)?;
    Ok((pending, rebuilt))
}

/// Finds indexes of the schema that a failed `CREATE INDEX CONCURRENTLY` (or `REINDEX
/// CONCURRENTLY`) left INVALID — unused by queries yet paid for by every write — and builds
/// each again: dropped concurrently, then created concurrently from its own definition
/// (`pg_get_indexdef`); a `REINDEX` leftover (`…_ccnew`) is only dropped. Runs under the
/// migration lock, so no build of ours is in flight.
fn rebuild_invalid_indexes(c: &mut SyncConn) -> CoreResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Invalid {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        def: String,
    }
    let invalid: Vec<Invalid> = diesel::sql_query(
        "SELECT c.relname::text AS name, pg_get_indexdef(i.indexrelid) AS def \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid AND n.nspname = current_schema() ORDER BY 1",
    )
    .load(c)?;
    let mut rebuilt = Vec::new();
    for ix in invalid {
        tracing::warn!(
            index = %ix.name,
            "an index left invalid by a failed concurrent build: building it again"
        );
        diesel::sql_query(format!(
            "DROP INDEX CONCURRENTLY IF EXISTS \"{}\"",
            ix.name.replace('"', "\"\"")
        ))
        .execute(c)?;
        let leftover = ix.name.contains("_ccnew") || ix.name.contains("_ccold");
        if !leftover {
            diesel::sql_query(concurrently(&ix.def)).execute(c)?;
        }
        rebuilt.push(ix.name);
    }
    Ok(rebuilt)
}

/// `CREATE [UNIQUE] INDEX name ON …` (as `pg_get_indexdef` writes it) built concurrently.
fn concurrently(def: &str) -> String {
    for head in ["CREATE UNIQUE INDEX ", "CREATE INDEX "] {
        if let Some(rest) = def.strip_prefix(head) {
            return format!("{head}CONCURRENTLY {rest}");
        }
    }
    def.to_string()
}

/// This release's migrations the database has not applied, by name; reads only (no
/// bookkeeping table is created: a process that does not migrate writes nothing).
fn missing(c: &mut SyncConn) -> CoreResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    #[derive(QueryableByName)]
    struct Present {
        #[diesel(sql_type = Bool)]
        present: bool,
    }
    let present: Present = diesel::sql_query(
        "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS present",
    )
    .get_result(c)?;
    let known: Vec<String> = if present.present {
        diesel::sql_query("SELECT version::text AS version FROM __diesel_schema_migrations")
            .load::<Version>(c)?
            .into_iter()
            .map(|v| v.version)
            .collect()
    } else {
        Vec::new()
    };
    Ok(embedded()
        .into_iter()
        .filter(|(version, _)| !known.contains(version))
        .map(|(_, name)| name)
        .collect())
}

/// This release's migrations as (version, name), oldest first.
fn embedded() -> Vec<(String, String)> {
    use diesel::migration::MigrationSource;
    use diesel::pg::Pg;
    let mut all: Vec<(String, String)> = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .expect("the embedded migrations are compiled in")
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect();
    all.sort();
    all
}

/// The names of this release's migrations (`2026-11-26-000001_init`, …), oldest first.
pub fn embedded_names() -> Vec<String> {
    embedded().into_iter().map(|(_, name)| name).collect()
}

/// Who holds [`MIGRATION_LOCK`] in this database: pid, application, address, for how long,
/// and what it runs now.
fn holder(c: &mut SyncConn) -> CoreResult<Option<String>> {
    #[derive(QueryableByName)]
    struct Holder {
        #[diesel(sql_type = BigInt)]
        pid: i64,
        #[diesel(sql_type = Text)]
        app: String,
        #[diesel(sql_type = Text)]
        addr: String,
        #[diesel(sql_type = Double)]
        secs: f64,
        #[diesel(sql_type = Text)]
        query: String,
    }
    let h: Option<Holder> = diesel::sql_query(format!(
        "SELECT a.pid::int8 AS pid, coalesce(nullif(a.application_name, ''), 'an unnamed client') AS app, \
         coalesce(host(a.client_addr), 'local socket') AS addr, \
         extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::float8 AS secs, \
         left(coalesce(a.query, ''), 100) AS query \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 \
         AND l.objid = {MIGRATION_LOCK} AND l.objsubid = 1 \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         LIMIT 1"
    ))
    .get_result(c)
    .map(Some)
    .or_else(|e| match e {
        diesel::result::Error::NotFound => Ok(None),
        e => Err(e),
    })?;
    Ok(h.map(|h| {
        format!(
            "pid {} ({}, {}, for {:.0} s, running: {})",
            h.pid,
            h.app,
            h.addr,
            h.secs,
            h.query.split_whitespace().collect::<Vec<_>>().join(" ")
        )
    }))
}

/// A blocking connection (diesel_migrations is synchronous) on the blocking pool, opened
/// within `database.connect_timeout_ms` and named `process` (`application_name`).
async fn with_sync_conn<T: Send + 'static>(
    db: &DatabaseSettings,
    process: &str,
    f: impl FnOnce(&mut SyncConn) -> CoreResult<T> + Send + 'static,
) -> CoreResult<T> {
    let url = with_connect_timeout(db.url.as_str(), db.connect_timeout_ms);
    let name = process.replace('\'', "");
    tokio::task::spawn_blocking(move || {
        let mut c = <SyncConn as diesel::Connection>::establish(&url)
            .map_err(|e| CoreError::Pool(e.to_string()))?;
        diesel::sql_query(format!("SET application_name = '{name}'")).execute(&mut c)?;
        f(&mut c)
    })
    .await
    .map_err(|e| CoreError::Pool(e.to_string()))?
}

/// `url` with libpq's `connect_timeout` (whole seconds, at least 1) unless it has one.
fn with_connect_timeout(url: &str, ms: u64) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}connect_timeout={}", ms.div_ceil(1000).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_definition_is_built_concurrently() {
        assert_eq!(
            concurrently("CREATE INDEX rejects_account ON public.rejects USING btree (account_id, id DESC)"),
            "CREATE INDEX CONCURRENTLY rejects_account ON public.rejects USING btree (account_id, id DESC)"
        );
        assert_eq!(
            concurrently("CREATE UNIQUE INDEX u ON public.t USING btree (a)"),
            "CREATE UNIQUE INDEX CONCURRENTLY u ON public.t USING btree (a)"
        );
    }

    #[test]
    fn a_connect_timeout_is_added_once() {
        assert_eq!(
            with_connect_timeout("postgres://h/db", 5000),
            "postgres://h/db?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=require", 1),
            "postgres://h/db?sslmode=require&connect_timeout=1"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=9", 5000),
            "postgres://h/db?connect_timeout=9"
        );
    }
}
