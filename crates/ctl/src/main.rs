//! `migratorctl`: the operators' command line over the admin API. Every command is one admin
//! endpoint (see `docs/operations.md`); its own operator token comes from the environment
//! (`MIGRATOR_ADMIN_TOKEN`), the api from `MIGRATOR_ADMIN_URL`. Answers are printed as JSON;
//! an error answer goes to stderr with exit status 1.

mod duration;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    name = "migratorctl",
    about = "Operate the Conversations -> re:amaze migration"
)]
struct Cli {
    /// The api (its admin listener).
    #[arg(
        long,
        env = "MIGRATOR_ADMIN_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// An operator token (never an app token).
    #[arg(long, env = "MIGRATOR_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// A C1's migration: real status, phase, attempts, last error, timings, figures.
    Status { shopper: String },
    /// Migrations by status, stuck ones, or those whose last error holds a text.
    List {
        /// A status (`messages-failure`, `migrating`, …).
        #[arg(long)]
        status: Option<String>,
        /// No progress for this long (`90s`, `10m`, `2h`, `1d`).
        #[arg(long, value_parser = duration::parse)]
        stuck_for: Option<u64>,
        /// Text in the last error (case-insensitive).
        #[arg(long)]
        error: Option<String>,
        /// The latest verification's result (`match`, `diff`).
        #[arg(long)]
        verification: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u32,
    },
    /// Accounts by status, parked runs, dead letters waiting, outbox backlog.
    Counts,
    /// Re-run a C1's failed phase without wiping anything.
    Retry { shopper: String },
    /// Stop a C1's running migration (nothing deleted; parked until a retry or un-park).
    Cancel { shopper: String },
    /// Forced re-migration: remove what the migration created and start again.
    Remigrate { shopper: String },
    /// Re-run the all-messages phase of every `messages-failure` account now.
    Repair,
    /// Compare a C1's destination with its source (a worker runs it); waits for the result.
    Verify {
        shopper: String,
        /// Print the request and return at once.
        #[arg(long)]
        no_wait: bool,
        /// Longest wait for the result (`90s`, `10m`, `2h`).
        #[arg(long, value_parser = duration::parse, default_value = "10m")]
        timeout: u64,
    },
    /// A C1's latest verification.
    Verification { shopper: String },
    /// What a migration of a C1 would move and how long it would take (source only).
    Preflight { shopper: String },
    /// Hops given up.
    DeadLetters {
        #[command(subcommand)]
        cmd: DeadLetterCmd,
    },
    /// Runs given up after their attempts.
    Parked {
        #[command(subcommand)]
        cmd: ParkedCmd,
    },
    /// The whole fleet: show, pause, resume, throttle the source.
    Fleet {
        #[command(subcommand)]
        cmd: FleetCmd,
    },
    /// Operators' writes, newest first.
    Audit {
        #[arg(long, default_value_t = 1)]
        page: u32,
    },
}

#[derive(Subcommand)]
enum DeadLetterCmd {
    /// Newest first.
    List {
        #[arg(long, default_value_t = 1)]
        page: u32,
    },
    /// Re-run the failed phase of the dead letter's migration.
    Replay { id: i64 },
}

#[derive(Subcommand)]
enum ParkedCmd {
    /// Newest first, with their last error.
    List {
        #[arg(long, default_value_t = 1)]
        page: u32,
    },
    /// Let the fleet run it again.
    Unpark { shopper: String },
}

#[derive(Subcommand)]
enum FleetCmd {
    /// The steering in force.
    Show,
    /// Workers finish the hops in hand and take no more.
    Pause,
    /// Workers take hops again.
    Resume,
    /// Cap the fleet's reads of the source, shared by the live workers; no flag removes a cap.
    Throttle {
        /// DynamoDB reads per second for the whole fleet.
        #[arg(long, alias = "rate")]
        reads: Option<u32>,
        /// Conversations REST calls per second for the whole fleet.
        #[arg(long)]
        rest: Option<u32>,
    },
}

/// The admin request of a command: method, path and body.
fn request(cmd: &Cmd) -> (reqwest::Method, String, Option<Value>) {
    use reqwest::Method as M;
    // percent-encoded, never altered: the api refuses what is not a valid id
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    match cmd {
        Cmd::Status { shopper } => (
            M::GET,
            format!("/admin/accounts/{}/migration", enc(shopper)),
            None,
        ),
        Cmd::List {
            status,
            stuck_for,
            error,
            verification,
            page,
        } => {
            let mut q = vec![format!("page={page}")];
            if let Some(s) = status {
                q.push(format!("status={}", enc(s)));
            }
            if let Some(s) = stuck_for {
                q.push(format!("stuck_for_secs={s}"));
            }
            if let Some(e) = error {
                q.push(format!("error={}", enc(e)));
            }
            if let Some(v) = verification {
                q.push(format!("verification={}", enc(v)));
            }
            (M::GET, format!("/admin/migrations?{}", q.join("&")), None)
        }
        Cmd::Counts => (M::GET, "/admin/counts".into(), None),
        Cmd::Retry { shopper } => (
            M::POST,
            format!("/admin/accounts/{}/retry", enc(shopper)),
            None,
        ),
        Cmd::Cancel { shopper } => (
            M::POST,
            format!("/admin/accounts/{}/cancel", enc(shopper)),
            None,
        ),
        Cmd::Remigrate { shopper } => (
            M::POST,
            format!("/admin/accounts/{}/remigrate", enc(shopper)),
            None,
        ),
        Cmd::Repair => (M::POST, "/admin/migrations/repair".into(), None),
        Cmd::Verify { shopper, .. } => (
            M::POST,
            format!("/admin/accounts/{}/verify", enc(shopper)),
            None,
        ),
        Cmd::Verification { shopper } => (
            M::GET,
            format!("/admin/accounts/{}/verification", enc(shopper)),
            None,
        ),
        Cmd::Preflight { shopper } => (
            M::GET,
            format!("/admin/accounts/{}/preflight", enc(shopper)),
            None,
        ),
        Cmd::DeadLetters {
            cmd: DeadLetterCmd::List { page },
        } => (M::GET, format!("/admin/dead-letters?page={page}"), None),
        Cmd::DeadLetters {
            cmd: DeadLetterCmd::Replay { id },
        } => (M::POST, format!("/admin/dead-letters/{id}/replay"), None),
        Cmd::Parked {
            cmd: ParkedCmd::List { page },
        } => (M::GET, format!("/admin/parked?page={page}"), None),
        Cmd::Parked {
            cmd: ParkedCmd::Unpark { shopper },
        } => (
            M::POST,
            format!("/admin/accounts/{}/unpark", enc(shopper)),
            None,
        ),
        Cmd::Fleet {
            cmd: FleetCmd::Show,
        } => (M::GET, "/admin/fleet".into(), None),
        Cmd::Fleet {
            cmd: FleetCmd::Pause,
        } => (M::POST, "/admin/fleet/pause".into(), None),
        Cmd::Fleet {
            cmd: FleetCmd::Resume,
        } => (M::POST, "/admin/fleet/resume".into(), None),
        Cmd::Fleet {
            cmd: FleetCmd::Throttle { reads, rest },
        } => (
            M::POST,
            "/admin/fleet/throttle".into(),
            Some(json!({ "max_reads_per_sec": reads, "max_rest_per_sec": rest })),
        ),
        Cmd::Audit { page } => (M::GET, format!("/admin/audit-log?page={page}"), None),
    }
}

/// Sends one admin request: (status, JSON or text answer).
async fn send(
    http: &reqwest::Client,
    cli: &Cli,
    (method, path, body): (reqwest::Method, String, Option<Value>),
) -> anyhow::Result<(reqwest::StatusCode, String)> {
    let mut req = http
        .request(method, format!("{}{path}", cli.url.trim_end_matches('/')))
        .bearer_auth(&cli.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    Ok((status, resp.text().await?))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let (mut status, mut text) = send(&http, &cli, request(&cli.cmd)).await?;
    if let Cmd::Verify {
        shopper,
        no_wait: false,
        timeout,
    } = &cli.cmd
    {
        // a worker runs it: poll the latest verification until it is done or failed
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(*timeout);
        let latest = Cmd::Verification {
            shopper: shopper.clone(),
        };
        while status.is_success() {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if matches!(v["status"].as_str(), Some("done" | "failed")) {
                break;
            }
            if std::time::Instant::now() > deadline {
                eprintln!("still {} after the timeout\n{text}", v["status"]);
                std::process::exit(2);
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            (status, text) = send(&http, &cli, request(&latest)).await?;
        }
    }
    let shown = serde_json::from_str::<Value>(&text)
        .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
        .unwrap_or(text);
    if status.is_success() {
        println!("{shown}");
        Ok(())
    } else {
        eprintln!("{status}\n{shown}");
        std::process::exit(1);
    }
}
