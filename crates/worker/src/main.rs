//! `migrator-worker`: a standalone worker process. SIGTERM or Ctrl-C: stop taking hops, finish
//! the ones in hand, exit 0.

use migrator_runtime::settings::Settings;

#[tokio::main]
async fn main() {
    if let Err(e) = worker().await {
        // one line naming what failed (a taken worker.listen, a missing key file), no trace
        eprintln!("migrator-worker: {e:#}");
        std::process::exit(1);
    }
}

async fn worker() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let telemetry =
        migrator_runtime::telemetry::init_with("info", "migrator-worker", &settings.telemetry)?;
    migrator_runtime::settings::production::refuse_or_exit(
        &settings,
        migrator_runtime::settings::production::Process::Worker,
    );
    migrator_worker::serve(settings, migrator_runtime::shutdown::on_signal()).await?;
    tracing::info!("worker stopped");
    telemetry.shutdown();
    Ok(())
}
