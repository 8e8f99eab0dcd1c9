//! `migrator-api`: serves until SIGTERM / Ctrl-C. `migrator-api migrate` only applies the
//! database migrations and exits.

use migrator_core::settings::Settings;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    migrator_core::telemetry::init("info");
    let settings = Settings::load()?;
    if std::env::args().nth(1).as_deref() == Some("migrate") {
        migrator_core::db::run_migrations(&settings.database.url).await?;
        println!("database migrations applied");
        return Ok(());
    }
    let api = migrator_api::startup::start(settings).await?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
    api.stop().await;
    Ok(())
}
