//! The migration worker: consumes hops from RabbitMQ and runs each phase; also relays the
//! outbox and, one worker at a time, sweeps stalled and failed migrations and drives the live
//! campaign.

pub mod attachments;
pub mod campaign;
pub mod consumer;
pub mod context;
pub mod error;
pub mod hop;
pub mod http;
pub mod phases;
pub mod refusals;
pub mod steering;
pub mod sweeper;
pub mod verifier;

use context::Ctx;
use migrator_runtime::settings::Settings;
use std::time::Duration;
use tokio::sync::watch;

/// Runs a worker until `stop` flips: consumer, outbox relay and sweeper. Returns once the hop
/// in hand is finished.
pub async fn serve(settings: Settings, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    migrator_runtime::metrics::handle();
    // a stop while waiting for another process's migrations (or the release's Job) ends the
    // start at once
    let mut stopping = stop.clone();
    tokio::select! {
        ready = migrator_store::schema_setup::prepare(&settings.database, "migrator-worker") => {
            ready?;
        }
        _ = stopping.wait_for(|s| *s) => return Ok(()),
    }
    let ctx = Ctx::new(settings).await?;
    // a bucket that does not exist (or a store that does not answer) stops the start, naming it
    ctx.blobs.check().await?;
    let (http, _) = http::start(&ctx)?;
    // the steering is read before the first hop: a paused fleet takes none
    if let Err(e) = ctx
        .steering
        .poll(&ctx.pool, &ctx.settings, &ctx.worker_id)
        .await
    {
        tracing::warn!(error = %e, "fleet steering not read at start");
    }
    let steering = tokio::spawn(ctx.steering.clone().run(
        ctx.pool.clone(),
        ctx.settings.clone(),
        ctx.worker_id.clone(),
        stop.clone(),
    ));
    let relay = tokio::spawn(migrator_queue::relay::run(
        ctx.pool.clone(),
        ctx.publisher.clone(),
        Duration::from_millis(1000),
        stop.clone(),
    ));
    // released last, on its own signal: while hops in hand finish, nobody takes their leases
    let (release, released) = watch::channel(false);
    let liveness = {
        let ctx = ctx.clone();
        tokio::spawn(async move { ctx.hold_liveness(released).await })
    };
    let sweeper = tokio::spawn(sweeper::sweep_until_stopped(ctx.clone(), stop.clone()));
    let verifier = tokio::spawn(verifier::verify_until_stopped(ctx.clone(), stop.clone()));
    let campaigns = tokio::spawn(campaign::drive_until_stopped(ctx.clone(), stop.clone()));
    consumer::consume_until_stopped(ctx.clone(), stop).await;
    let _ = verifier.await;
    let _ = relay.await;
    let _ = sweeper.await;
    let _ = campaigns.await;
    let _ = steering.await;
    let _ = release.send(true);
    let _ = liveness.await;
    ctx.publisher.close().await;
    http.stop(true).await;
    Ok(())
}
