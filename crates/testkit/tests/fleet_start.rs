//! Many processes at once on an empty database: one api and three workers started at the same
//! moment all come up and serve, exactly one of them applies the schema (under the migration
//! lock) and the others wait for it — including through the migrations that build an index
//! `CONCURRENTLY`, which deadlocked with a waiter blocked in `pg_advisory_lock`.

use migrator_testkit::db::{create_database, drop_database};
use migrator_testkit::process::{binary, command_for, spawn_logged, LoggedWorker};
use migrator_testkit::{remove_broker_objects, test_settings};
use std::time::{Duration, Instant};

const ROUNDS: usize = 10;

/// Waits until `p` has logged `message` with its address and answers `GET /readyz` 200 there;
/// panics (with its log) if it exits first or takes longer than `within`.
async fn serving(p: &mut LoggedWorker, name: &str, message: &str, within: Duration) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = p.exited() {
            panic!("{name} exited ({status}):\n{}", p.log_so_far());
        }
        if let Some(addr) = p.logged_addr(message) {
            let ready = http.get(format!("http://{addr}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
        }
        assert!(
            started.elapsed() < within,
            "{name} not serving after {within:?}:\n{}",
            p.log_so_far()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_and_three_workers_started_together_on_an_empty_database_all_serve() {
    let migrations = migrator_store::schema_setup::embedded_names().len();
    for round in 0..ROUNDS {
        let tag = format!("fleetstart{}r{round}", std::process::id());
        create_database(&tag)
            .await
            .expect("PostgreSQL must be running (scripts/services.sh)");
        let mut s = test_settings(&tag);
        s.database.migrate_at_start = true;
        s.api.admin_listen = String::new();
        // one fleet: the four share their settings (and so their queues)
        let start = |bin: &str| {
            let mut c = command_for(&binary(bin), &s);
            c.env("RUST_LOG", "info").env("LOG_FORMAT", "json");
            c
        };
        // built first, spawned back to back: the four start within a few milliseconds
        let cmds = vec![
            ("api", start("migrator-api")),
            ("worker 1", start("migrator-worker")),
            ("worker 2", start("migrator-worker")),
            ("worker 3", start("migrator-worker")),
        ];
        let mut procs: Vec<(&str, LoggedWorker)> = cmds
            .into_iter()
            .map(|(name, c)| (name, spawn_logged(c)))
            .collect();
        for (name, p) in procs.iter_mut() {
            let message = if *name == "api" {
                "api listening"
            } else {
                "worker http port listening"
            };
            serving(p, name, message, Duration::from_secs(120)).await;
        }
        // every one still alive once all serve
        for (name, p) in procs.iter_mut() {
            assert!(p.exited().is_none(), "{name} died:\n{}", p.log_so_far());
        }
        let appliers: Vec<&str> = procs
            .iter()
            .filter(|(_, p)| {
                p.log_so_far()
                    .contains(&format!("applied {migrations} database migrations"))
            })
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(
            appliers.len(),
            1,
            "round {round}: one applier, not {appliers:?}"
        );
        for (name, p) in procs {
            let (status, log) = p.term();
            assert!(status.success(), "{name} stops cleanly: {status:?}\n{log}");
            assert!(!log.contains("deadlock"), "{name}:\n{log}");
        }
        remove_broker_objects(&s).await;
        drop_database(&tag).await.unwrap();
    }
}

/// A process that waits longer than `database.schema_wait_secs` for the migration lock gives
/// up with one line naming the setting and the lock's holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_waits_too_long_for_the_lock_names_the_setting_and_the_holder() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let tag = format!("fleetwait{}", std::process::id());
    create_database(&tag).await.unwrap();
    let mut s = test_settings(&tag);
    s.database.migrate_at_start = true;
    s.database.schema_wait_secs = 2;
    let mut holder = AsyncPgConnection::establish(s.database.url.as_str())
        .await
        .unwrap();
    diesel::sql_query("SET application_name = 'a test holding the lock'")
        .execute(&mut holder)
        .await
        .unwrap();
    diesel::sql_query(format!(
        "SELECT pg_advisory_lock({})",
        migrator_store::MIGRATION_LOCK
    ))
    .execute(&mut holder)
    .await
    .unwrap();
    for bin in ["migrator-worker", "migrator-api"] {
        let out = command_for(&binary(bin), &s)
            .env("RUST_LOG", "off")
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{bin}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{bin}: one line:\n{err}");
        assert!(
            lines[0].contains("database.schema_wait_secs = 2")
                && lines[0].contains("a test holding the lock"),
            "{bin}: names the setting and the holder: {err}"
        );
    }
    drop(holder);
    drop_database(&tag).await.unwrap();
}

/// An index a failed concurrent build left INVALID is built again by the next process that
/// takes the lock (a `CREATE INDEX CONCURRENTLY IF NOT EXISTS` alone would skip it for good).
#[tokio::test]
async fn an_invalid_index_is_rebuilt_at_the_next_migration() {
    use diesel::sql_types::Bool;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Valid {
        #[diesel(sql_type = Bool)]
        valid: bool,
    }
    let tag = format!("fleetinvalid{}", std::process::id());
    create_database(&tag).await.unwrap();
    let s = test_settings(&tag);
    migrator_store::run_migrations(s.database.url.as_str())
        .await
        .unwrap();
    let mut c = AsyncPgConnection::establish(s.database.url.as_str())
        .await
        .unwrap();
    // what a build killed half-way leaves behind
    diesel::sql_query(
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'rejects_account'::regclass",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let done = migrator_store::run_migrations(s.database.url.as_str())
        .await
        .unwrap();
    assert!(done.applied.is_empty(), "{done:?}");
    assert_eq!(done.rebuilt_indexes, vec!["rejects_account".to_string()]);
    let v: Valid = diesel::sql_query(
        "SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'rejects_account'::regclass",
    )
    .get_result(&mut c)
    .await
    .unwrap();
    assert!(v.valid, "rebuilt valid");
    drop(c);
    drop_database(&tag).await.unwrap();
}
