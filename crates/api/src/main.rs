//! `migrator-api`: serves until SIGTERM / Ctrl-C. `migrator-api migrate` only applies the
//! database migrations and exits; `migrator-api amqp-policies [--print]` applies the RabbitMQ
//! queue policies (or prints the `rabbitmqctl` lines that do); `migrator-api openapi` prints
//! the OpenAPI document.

use migrator_runtime::settings::Settings;

#[tokio::main]
async fn main() {
    if let Err(e) = api().await {
        // one line naming what failed (a taken api.listen, a bad key), no trace
        eprintln!("migrator-api: {e:#}");
        std::process::exit(1);
    }
}

async fn api() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        println!("{}", migrator_api::openapi::document());
        return Ok(());
    }
    if std::env::args().nth(1).as_deref() == Some("amqp-policies") {
        // a release step: the queues' policies applied (or, with --print, the rabbitmqctl
        // lines that apply them by hand)
        use migrator_queue::{policies, Broker};
        let broker = Broker::from_settings(&settings.amqp);
        if std::env::args().nth(2).as_deref() == Some("--print") {
            for line in policies::rabbitmqctl(&broker) {
                println!("{line}");
            }
            return Ok(());
        }
        policies::apply(&broker, &settings.amqp.management_url).await?;
        println!("queue policies applied");
        return Ok(());
    }
    if std::env::args().nth(1).as_deref() == Some("migrate") {
        migrator_runtime::telemetry::init("info");
        // the same lock and wait as a process that migrates at its start
        let done =
            migrator_store::schema_setup::migrate(&settings.database, "migrator-api migrate")
                .await?;
        println!(
            "database migrations applied: {} new{}",
            done.applied.len(),
            if done.rebuilt_indexes.is_empty() {
                String::new()
            } else {
                format!(
                    ", invalid indexes rebuilt: {}",
                    done.rebuilt_indexes.join(", ")
                )
            }
        );
        return Ok(());
    }
    let telemetry =
        migrator_runtime::telemetry::init_with("info", "migrator-api", &settings.telemetry)?;
    migrator_runtime::settings::production::refuse_or_exit(
        &settings,
        migrator_runtime::settings::production::Process::Api,
    );
    let api = migrator_api::startup::start(settings).await?;
    migrator_runtime::shutdown::terminated().await;
    tracing::info!("shutting down");
    api.stop().await;
    telemetry.shutdown();
    Ok(())
}
