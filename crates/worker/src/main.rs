//! `migrator-worker`: a standalone worker process. SIGTERM or Ctrl-C: stop taking hops, finish
//! the ones in hand, exit 0.

use migrator_core::settings::Settings;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    migrator_core::telemetry::init("info");
    let settings = Settings::load()?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down: finishing the hops in hand");
        let _ = tx.send(true);
    });
    migrator_worker::run(settings, rx).await?;
    tracing::info!("worker stopped");
    Ok(())
}
