//! The lease against the real Postgres: who gets a run, who is told it is a duplicate, which
//! hops are stale, whom the fence lets write, and when a lease is taken over before it
//! expires (its holder is gone). No worker runs here: the test takes the leases itself, for
//! workers whose liveness locks it holds itself.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use migrator_core::hop::MigrationHop;
use migrator_core::ids::{AccountId, RunId};
use migrator_core::status::{MigrationStatus, Phase};
use migrator_core::CoreError;
use migrator_store::liveness;
use migrator_store::queries::workflow::lease::{fence, lease, LeaseOutcome};
use migrator_store::schema::{accounts, migration_runs};
use migrator_testkit::{EnvOptions, TestEnv};

fn label(o: &LeaseOutcome) -> &'static str {
    match o {
        LeaseOutcome::Leased { .. } => "leased",
        LeaseOutcome::Busy => "busy",
        LeaseOutcome::Stale => "stale",
    }
}

/// Holds `worker`'s liveness lock, as a live worker process does, until the returned sender
/// flips (or is dropped).
async fn alive(env: &TestEnv, worker: &str) -> tokio::sync::watch::Sender<bool> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (held, mut is_held) = tokio::sync::watch::channel(false);
    let (db, worker) = (env.settings.database.clone(), worker.to_string());
    tokio::spawn(async move { liveness::hold(db, worker, &held, stopped).await });
    is_held.wait_for(|h| *h).await.expect("liveness lock held");
    stop
}

/// The account and run of `shopper`'s migration, started through the api.
async fn started(env: &TestEnv, shopper: &str) -> (AccountId, RunId) {
    env.create_account(shopper, "Lease").await;
    env.post(shopper, "/migrate", None).await;
    let (account, run): (AccountId, Option<RunId>) = accounts::table
        .filter(accounts::shopper_id.eq(shopper))
        .select((accounts::id, accounts::current_run_id))
        .first(&mut env.db().await)
        .await
        .unwrap();
    (account, run.expect("a run"))
}

/// The run's lease expired a second ago.
async fn expire(db: &mut diesel_async::AsyncPgConnection, run: RunId) {
    diesel::update(migration_runs::table.find(run))
        .set(
            migration_runs::lease_expires_at
                .eq(Some(chrono::Utc::now() - chrono::Duration::seconds(1))),
        )
        .execute(db)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_owner_at_a_time_and_stale_hops_are_told_apart() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    let _live: Vec<_> = futures::future::join_all(["a", "b", "c"].map(|w| alive(&env, w))).await;
    let (account, run) = started(&env, "lease-1").await;
    let mut db = env.db().await;
    let hop = MigrationHop::first(account, run, Phase::Channels);

    let a = lease(&mut db, &hop, "a", 30).await.unwrap();
    match &a {
        LeaseOutcome::Leased { run: r, shopper_id } => {
            assert_eq!(r.lease_owner.as_deref(), Some("a"));
            assert_eq!(shopper_id.as_str(), "lease-1");
        }
        other => panic!("a: {}", label(other)),
    }
    // another owner while a's lease lives: a duplicate; a itself may take it again
    assert_eq!(label(&lease(&mut db, &hop, "b", 30).await.unwrap()), "busy");
    assert_eq!(
        label(&lease(&mut db, &hop, "a", 30).await.unwrap()),
        "leased"
    );

    // an expired lease is anyone's
    expire(&mut db, run).await;
    assert_eq!(
        label(&lease(&mut db, &hop, "b", 30).await.unwrap()),
        "leased"
    );

    // the fence: only the live lease's owner, on the account's current run
    let fenced = fence(&mut db, &hop, "b").await.expect("b holds the lease");
    assert_eq!(fenced.id, account);
    let lost = |r: Result<_, CoreError>| matches!(r, Err(CoreError::LeaseLost));
    assert!(
        lost(fence(&mut db, &hop, "a").await),
        "a's lease was taken over"
    );
    let elsewhere = MigrationHop::first(account, RunId::new(), Phase::Channels);
    assert!(
        lost(fence(&mut db, &elsewhere, "b").await),
        "not the current run"
    );
    expire(&mut db, run).await;
    assert!(lost(fence(&mut db, &hop, "b").await), "b's lease expired");

    // a phase that does not run in the account's status, another run, a cancelled run: stale
    let recent = MigrationHop::first(account, run, Phase::RecentMessages);
    assert_eq!(
        label(&lease(&mut db, &recent, "c", 30).await.unwrap()),
        "stale"
    );
    let other = MigrationHop::first(account, RunId::new(), Phase::Channels);
    assert_eq!(
        label(&lease(&mut db, &other, "c", 30).await.unwrap()),
        "stale"
    );
    // the account moved on (here: completed by hand) while the run still says channels
    let set_status = |st: MigrationStatus| {
        diesel::update(accounts::table.find(account)).set(accounts::migration_status.eq(st))
    };
    set_status(MigrationStatus::Completed)
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        label(&lease(&mut db, &hop, "c", 30).await.unwrap()),
        "stale"
    );
    // (back as it was, for the cancelled run's turn)
    set_status(MigrationStatus::Migrating)
        .execute(&mut db)
        .await
        .unwrap();
    diesel::update(migration_runs::table.find(run))
        .set(migration_runs::cancelled.eq(true))
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        label(&lease(&mut db, &hop, "c", 30).await.unwrap()),
        "stale"
    );
    assert!(lost(fence(&mut db, &hop, "b").await), "a cancelled run");
    let owner: Option<String> = migration_runs::table
        .find(run)
        .select(migration_runs::lease_owner)
        .first(&mut db)
        .await
        .unwrap();
    assert_eq!(
        owner.as_deref(),
        Some("b"),
        "a refused lease changes nothing"
    );
    drop(db);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_whose_holder_is_gone_is_taken_over_before_it_expires() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    let (account, run) = started(&env, "lease-2").await;
    let mut db = env.db().await;
    let hop = MigrationHop::first(account, run, Phase::Channels);
    let attempts = async |db: &mut diesel_async::AsyncPgConnection| {
        migration_runs::table
            .find(run)
            .select(migration_runs::total_attempts)
            .first::<i32>(db)
            .await
    };
    let (w1, w2) = (alive(&env, "w1").await, alive(&env, "w2").await);
    // an hour-long lease of a live worker: a duplicate is told so
    let first = lease(&mut db, &hop, "w1/h/1", 3600).await.unwrap();
    assert_eq!(label(&first), "leased");
    assert_eq!(
        label(&lease(&mut db, &hop, "w2/h/2", 30).await.unwrap()),
        "busy"
    );
    assert_eq!(attempts(&mut db).await.unwrap(), 0);
    // w1 dies (its session closes): its lease is taken over at once, an attempt counted
    drop(w1);
    let start = std::time::Instant::now();
    let taken = loop {
        let o = lease(&mut db, &hop, "w2/h/2", 30).await.unwrap();
        if label(&o) == "leased" || start.elapsed() > std::time::Duration::from_secs(20) {
            break o;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    match taken {
        LeaseOutcome::Leased { run: r, .. } => {
            assert_eq!(r.lease_owner.as_deref(), Some("w2/h/2"));
            assert_eq!(r.total_attempts, 1, "the hop that died with w1 counts");
        }
        other => panic!("w1's lease not taken over: {}", label(&other)),
    }
    assert!(fence(&mut db, &hop, "w2/h/2").await.is_ok());
    assert!(matches!(
        fence(&mut db, &hop, "w1/h/1").await,
        Err(CoreError::LeaseLost)
    ));
    // an owner no live worker ever had (a worker from before a restart) is gone too
    diesel::update(migration_runs::table.find(run))
        .set(migration_runs::lease_owner.eq(Some("never-alive/h/0")))
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        label(&lease(&mut db, &hop, "w2/h/3", 30).await.unwrap()),
        "leased"
    );
    drop(w2);
    drop(db);
    env.shutdown().await;
}
