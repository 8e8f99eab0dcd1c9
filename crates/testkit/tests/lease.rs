//! The lease against the real Postgres: who gets a run, who is told it is a duplicate, which
//! hops are stale, and whom the fence lets write. No worker runs here: the test takes the
//! leases itself.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use migrator_core::db::queries::lease::{fence, lease, LeaseOutcome};
use migrator_core::db::schema::{accounts, migration_runs};
use migrator_core::ids::{AccountId, RunId};
use migrator_core::queue::MigrationHop;
use migrator_core::status::{MigrationStatus, Phase};
use migrator_core::CoreError;
use migrator_testkit::{EnvOptions, TestEnv};

fn label(o: &LeaseOutcome) -> &'static str {
    match o {
        LeaseOutcome::Leased { .. } => "leased",
        LeaseOutcome::Busy => "busy",
        LeaseOutcome::Stale => "stale",
    }
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
    let opts = EnvOptions {
        workers: 0,
        ..Default::default()
    };
    let env = TestEnv::start_with(opts, |_| {}).await;
    env.create_account("lease-1", "Lease").await;
    env.post("lease-1", "/migrate", None).await;
    let mut db = env.db().await;
    let (account, run): (AccountId, Option<RunId>) = accounts::table
        .filter(accounts::shopper_id.eq("lease-1"))
        .select((accounts::id, accounts::current_run_id))
        .first(&mut db)
        .await
        .unwrap();
    let run = run.expect("a run");
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
