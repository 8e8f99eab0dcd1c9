//! `migrator-api`: serves until SIGTERM / Ctrl-C. `migrator-api migrate` only applies the
//! database migrations and exits; `migrator-api openapi` prints the OpenAPI document.

use migrator_core::settings::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        println!("{}", migrator_api::openapi::document());
        return Ok(());
    }
    if std::env::args().nth(1).as_deref() == Some("migrate") {
        migrator_core::telemetry::init("info");
        migrator_core::db::run_migrations(settings.database.url.as_str()).await?;
        println!("database migrations applied");
        return Ok(());
    }
    let telemetry =
        migrator_core::telemetry::init_with("info", "migrator-api", &settings.telemetry)?;
    migrator_core::settings::production::refuse_or_exit(&settings);
    let api = migrator_api::startup::start(settings).await?;
    migrator_core::shutdown::terminated().await;
    tracing::info!("shutting down");
    api.stop().await;
    telemetry.shutdown();
    Ok(())
}
