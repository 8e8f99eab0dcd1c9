//! `migratorctl`: the operators' command line over the admin API. Every command is one admin
//! endpoint (see `docs/operations.md`); its own operator token comes from the environment
//! (`MIGRATOR_ADMIN_TOKEN`), the api from `MIGRATOR_ADMIN_URL`. Answers are printed as JSON;
//! an error answer goes to stderr with exit status 1.

mod campaign;
mod duration;

use clap::{Args, Parser, Subcommand};
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
        #[command(flatten)]
        paged: Paged,
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
        #[command(flatten)]
        paged: Paged,
    },
    /// The program's backstop: campaigns that migrate the C1s who never open the app.
    Campaign {
        #[command(subcommand)]
        cmd: campaign::CampaignCmd,
    },
    /// The whole population's progress, projected against the deadline.
    Program,
}

/// Where a list's page starts: a page number (at most 1,000 rows deep) or the `next` cursor
/// of the page before (any depth, each page as fast as the first).
#[derive(Args)]
struct Paged {
    /// 1-based page.
    #[arg(long, conflicts_with = "after")]
    page: Option<u32>,
    /// The `next` of the page before.
    #[arg(long)]
    after: Option<String>,
}

impl Paged {
    /// The query's paging parameters.
    fn query(&self) -> Vec<String> {
        let mut q = Vec::new();
        q.extend(self.page.map(|p| format!("page={p}")));
        q.extend(self.after.as_deref().map(|a| format!("after={}", enc(a))));
        q
    }
}

#[derive(Subcommand)]
enum DeadLetterCmd {
    /// Newest first.
    List {
        #[command(flatten)]
        paged: Paged,
    },
    /// Re-run the failed phase of the dead letter's migration.
    Replay { id: i64 },
}

#[derive(Subcommand)]
enum ParkedCmd {
    /// Newest first, with their last error.
    List {
        #[command(flatten)]
        paged: Paged,
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

/// An admin request: method, path (with its query) and body.
type Request = (reqwest::Method, String, Option<Value>);

/// A path segment percent-encoded, never altered: the api refuses what is not a valid id.
pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `method /admin/accounts/{shopper}/{what}`.
fn account(method: reqwest::Method, shopper: &str, what: &str) -> Request {
    (
        method,
        format!("/admin/accounts/{}/{what}", enc(shopper)),
        None,
    )
}

/// `GET path?page=N` or `?after=CURSOR`.
fn page_of(path: &str, paged: &Paged) -> Request {
    let q = paged.query();
    let path = if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    };
    (reqwest::Method::GET, path, None)
}

/// `GET /admin/migrations` with the list's filters.
fn list(
    status: &Option<String>,
    stuck_for: &Option<u64>,
    error: &Option<String>,
    verification: &Option<String>,
    paged: &Paged,
) -> Request {
    let mut q = paged.query();
    q.extend(status.as_deref().map(|s| format!("status={}", enc(s))));
    q.extend(stuck_for.map(|s| format!("stuck_for_secs={s}")));
    q.extend(error.as_deref().map(|e| format!("error={}", enc(e))));
    q.extend(
        verification
            .as_deref()
            .map(|v| format!("verification={}", enc(v))),
    );
    let path = format!("/admin/migrations?{}", q.join("&"));
    (reqwest::Method::GET, path, None)
}

/// The fleet's endpoints.
fn fleet(cmd: &FleetCmd) -> Request {
    use reqwest::Method as M;
    match cmd {
        FleetCmd::Show => (M::GET, "/admin/fleet".into(), None),
        FleetCmd::Pause => (M::POST, "/admin/fleet/pause".into(), None),
        FleetCmd::Resume => (M::POST, "/admin/fleet/resume".into(), None),
        FleetCmd::Throttle { reads, rest } => (
            M::POST,
            "/admin/fleet/throttle".into(),
            Some(json!({ "max_reads_per_sec": reads, "max_rest_per_sec": rest })),
        ),
    }
}

/// The admin request of a command.
fn request(cmd: &Cmd) -> anyhow::Result<Request> {
    use reqwest::Method as M;
    Ok(match cmd {
        Cmd::Status { shopper } => account(M::GET, shopper, "migration"),
        Cmd::List {
            status,
            stuck_for,
            error,
            verification,
            paged,
        } => list(status, stuck_for, error, verification, paged),
        Cmd::Counts => (M::GET, "/admin/counts".into(), None),
        Cmd::Retry { shopper } => account(M::POST, shopper, "retry"),
        Cmd::Cancel { shopper } => account(M::POST, shopper, "cancel"),
        Cmd::Remigrate { shopper } => account(M::POST, shopper, "remigrate"),
        Cmd::Repair => (M::POST, "/admin/migrations/repair".into(), None),
        Cmd::Verify { shopper, .. } => account(M::POST, shopper, "verify"),
        Cmd::Verification { shopper } => account(M::GET, shopper, "verification"),
        Cmd::Preflight { shopper } => account(M::GET, shopper, "preflight"),
        Cmd::DeadLetters {
            cmd: DeadLetterCmd::List { paged },
        } => page_of("/admin/dead-letters", paged),
        Cmd::DeadLetters {
            cmd: DeadLetterCmd::Replay { id },
        } => (M::POST, format!("/admin/dead-letters/{id}/replay"), None),
        Cmd::Parked {
            cmd: ParkedCmd::List { paged },
        } => page_of("/admin/parked", paged),
        Cmd::Parked {
            cmd: ParkedCmd::Unpark { shopper },
        } => account(M::POST, shopper, "unpark"),
        Cmd::Fleet { cmd } => fleet(cmd),
        Cmd::Audit { paged } => page_of("/admin/audit-log", paged),
        Cmd::Campaign { cmd } => campaign::request(cmd)?,
        Cmd::Program => (M::GET, "/admin/program".into(), None),
    })
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

/// A worker runs a verification: polls the C1's latest one until it is done or failed (exit 2
/// after `timeout_secs`).
async fn verification_result(
    http: &reqwest::Client,
    cli: &Cli,
    shopper: &str,
    timeout_secs: u64,
) -> anyhow::Result<(reqwest::StatusCode, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout_secs);
    let latest = Cmd::Verification {
        shopper: shopper.to_string(),
    };
    loop {
        let (status, text) = send(http, cli, request(&latest)?).await?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() || matches!(v["status"].as_str(), Some("done" | "failed")) {
            return Ok((status, text));
        }
        if std::time::Instant::now() > deadline {
            eprintln!("still {} after the timeout\n{text}", v["status"]);
            std::process::exit(2);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let (mut status, mut text) = send(&http, &cli, request(&cli.cmd)?).await?;
    if let Cmd::Verify {
        shopper,
        no_wait: false,
        timeout,
    } = &cli.cmd
    {
        if status.is_success() {
            (status, text) = verification_result(&http, &cli, shopper, *timeout).await?;
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
