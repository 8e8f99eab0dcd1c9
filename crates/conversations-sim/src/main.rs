//! `conversations-sim serve | create-tables | seed`.

use clap::{Parser, Subcommand};
use conversations_sim::model::{generate, GenOptions};
use conversations_sim::server::{self, SimConfig};
use conversations_sim::store::{self, Tables};

#[derive(Parser)]
#[command(about = "Simulator of the Conversations platform")]
struct Cli {
    /// DynamoDB endpoint (emulator).
    #[arg(
        long,
        env = "SIM_DYNAMO_ENDPOINT",
        default_value = "http://127.0.0.1:8000"
    )]
    dynamo_endpoint: String,
    /// Region.
    #[arg(long, env = "SIM_REGION", default_value = "us-east-1")]
    region: String,
    /// Threads table.
    #[arg(
        long,
        env = "SIM_THREADS_TABLE",
        default_value = "conversations_threads"
    )]
    threads_table: String,
    /// Messages table.
    #[arg(
        long,
        env = "SIM_MESSAGES_TABLE",
        default_value = "conversations_messages"
    )]
    messages_table: String,
    /// GSI of the threads table.
    #[arg(long, env = "SIM_RECENT_INDEX", default_value = "by_last_message_at")]
    recent_index: String,
    /// The simulator's own state table.
    #[arg(
        long,
        env = "SIM_STATE_TABLE",
        default_value = "conversations_sim_state"
    )]
    state_table: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the REST API and the media service.
    Serve {
        /// host:port.
        #[arg(long, env = "SIM_LISTEN", default_value = "127.0.0.1:8090")]
        listen: String,
        /// Service token (DEV-ONLY default).
        #[arg(
            long,
            env = "SIM_TOKEN",
            default_value = "DEV-ONLY-conversations-service-token"
        )]
        token: String,
        /// re:amaze's public key for cert JWTs.
        #[arg(
            long,
            env = "SIM_MEDIA_PUBLIC_KEY",
            default_value = "config/dev-keys/DEV-ONLY-media-signing-public.pem"
        )]
        media_public_key: String,
        /// Expected `iss` of cert JWTs.
        #[arg(long, env = "SIM_MEDIA_ISSUER", default_value = "reamaze-migrator")]
        media_issuer: String,
    },
    /// Create the tables (idempotent).
    CreateTables,
    /// Seed one synthetic C1.
    Seed {
        /// The C1.
        #[arg(long)]
        shopper_id: String,
        /// Threads.
        #[arg(long, default_value_t = 40)]
        threads: usize,
        /// Messages per thread.
        #[arg(long, default_value_t = 12)]
        messages: usize,
        /// One message in N has an attachment (0 = none).
        #[arg(long, default_value_t = 9)]
        attachment_every: usize,
        /// Attachments whose media is gone.
        #[arg(long, default_value_t = 1)]
        gone_attachments: usize,
        /// Malformed items.
        #[arg(long, default_value_t = 2)]
        malformed: usize,
        /// Base URL of the media service written into media_url.
        #[arg(long, default_value = "http://127.0.0.1:8090")]
        media_base: String,
        /// Random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let tables = Tables {
        threads: cli.threads_table,
        messages: cli.messages_table,
        recent_index: cli.recent_index,
        state: cli.state_table,
    };
    match cli.cmd {
        Cmd::Serve {
            listen,
            token,
            media_public_key,
            media_issuer,
        } => {
            let cfg = SimConfig {
                token,
                media_public_key_pem: std::fs::read_to_string(&media_public_key)?,
                media_issuer,
                tables,
                dynamo_endpoint: cli.dynamo_endpoint,
                region: cli.region,
            };
            let sim = server::start(cfg, &listen).await?;
            tracing::info!(url = %sim.base_url, "conversations simulator serving");
            tokio::signal::ctrl_c().await?;
            sim.handle.stop(true).await;
        }
        Cmd::CreateTables => {
            let c = store::client(&cli.dynamo_endpoint, &cli.region).await;
            store::create_tables(&c, &tables).await?;
            println!("tables ready");
        }
        Cmd::Seed {
            shopper_id,
            threads,
            messages,
            attachment_every,
            gone_attachments,
            malformed,
            media_base,
            seed,
        } => {
            let c = store::client(&cli.dynamo_endpoint, &cli.region).await;
            store::create_tables(&c, &tables).await?;
            let spec = generate(
                &shopper_id,
                &GenOptions::new(threads, messages, seed)
                    .attachments(attachment_every, gone_attachments)
                    .malformed(malformed),
            );
            let started = std::time::Instant::now();
            store::seed_c1(&c, &tables, &spec, &media_base).await?;
            println!(
                "seeded {shopper_id}: {} threads, {} messages, {} malformed items in {:.1}s",
                spec.threads.len(),
                spec.threads.iter().map(|t| t.messages.len()).sum::<usize>(),
                spec.malformed.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
