//! Every outcome of a hop is one transaction through the state machine's writer, its next hop
//! in the outbox: a failed attempt is counted and its retry recorded (with its delay) together,
//! or the phase fails with the hop a dead letter; a lease that is no longer the hop's writes
//! nothing. No worker runs here: the test takes the lease and settles the hop itself.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use migrator_core::hop::MigrationHop;
use migrator_core::ids::{AccountId, RunId};
use migrator_core::setback::{Failure, RetryPolicy, Setback};
use migrator_core::status::Phase;
use migrator_store::queries::workflow::lease::{lease, LeaseOutcome};
use migrator_store::queries::workflow::runs::{fail_hop, Settled};
use migrator_store::schema::{accounts, dead_letters, migration_runs, outbox};
use migrator_testkit::{EnvOptions, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_is_counted_and_recorded_together_and_giving_up_is_one_step() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    env.create_account("settle-1", "Settle").await;
    env.post("settle-1", "/migrate", None).await;
    let mut db = env.db().await;
    let (account, run): (AccountId, Option<RunId>) = accounts::table
        .filter(accounts::shopper_id.eq("settle-1"))
        .select((accounts::id, accounts::current_run_id))
        .first(&mut db)
        .await
        .unwrap();
    let run = run.unwrap();
    let hop = MigrationHop::first(account, run, Phase::Channels);
    let owner = "settler/h/1";
    assert!(matches!(
        lease(&mut db, &hop, owner, 60).await.unwrap(),
        LeaseOutcome::Leased { .. }
    ));
    let policy = env.settings.worker.retry_policy();

    // a transient failure: counted, released, its retry in the outbox with its delay
    let transient = Setback::Failed(Failure::Transient);
    let settled = fail_hop(&mut db, &hop, owner, transient, "HTTP 503", policy)
        .await
        .unwrap();
    let Settled::Retried(r) = settled else {
        panic!("{settled:?}")
    };
    assert_eq!((r.hop.attempt, r.hop.phase), (2, Phase::Channels));
    assert!(r.delay_ms > 0);
    let (owner_now, total, error): (Option<String>, i32, Option<String>) = migration_runs::table
        .find(run)
        .select((
            migration_runs::lease_owner,
            migration_runs::total_attempts,
            migration_runs::last_error,
        ))
        .first(&mut db)
        .await
        .unwrap();
    assert_eq!(
        (owner_now, total, error.as_deref()),
        (None, 1, Some("HTTP 503"))
    );
    let delay: i64 = outbox::table
        .find(r.id)
        .select(outbox::delay_ms)
        .first(&mut db)
        .await
        .unwrap();
    assert_eq!(delay as u64, r.delay_ms, "recorded with its delay");

    // a lease that is no longer the hop's: nothing is written
    let permanent = Setback::Failed(Failure::Permanent);
    let stale = fail_hop(&mut db, &hop, owner, permanent, "late", policy)
        .await
        .unwrap();
    assert_eq!(stale, Settled::LeaseLost);

    // the retry takes the lease and fails for good: the phase fails, parked, a dead letter
    let retry = r.hop.clone();
    assert!(matches!(
        lease(&mut db, &retry, "settler/h/2", 60).await.unwrap(),
        LeaseOutcome::Leased { .. }
    ));
    // the run's second failed attempt is its last
    let last = RetryPolicy {
        max_total_attempts: 2,
        ..policy
    };
    let settled = fail_hop(&mut db, &retry, "settler/h/2", permanent, "HTTP 404", last)
        .await
        .unwrap();
    assert_eq!(settled, Settled::GaveUp { parked: true });
    let v = env.admin_view("settle-1").await;
    assert_eq!(v["migration_status"], "channel-failure", "{v}");
    assert!(v["run"]["parked_at"].is_string(), "{v}");
    assert_eq!(v["run"]["total_attempts"], 2, "{v}");
    let letters: i64 = dead_letters::table
        .filter(dead_letters::run_id.eq(run))
        .count()
        .get_result(&mut db)
        .await
        .unwrap();
    assert_eq!(letters, 1);
    drop(db);
    env.shutdown().await;
}
