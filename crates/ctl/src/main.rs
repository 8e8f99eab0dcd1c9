//! `migratorctl`: the operators' command line over the admin API. Every command is one admin
//! endpoint (see `docs/operations.md`); its own operator token comes from the environment
//! (`MIGRATOR_ADMIN_TOKEN`), the api from `MIGRATOR_ADMIN_URL`. Answers print as a table on a
//! terminal and as the api's JSON otherwise (`-o table|json`); an error answer goes to stderr,
//! and the exit status says what kind of outcome it was ([`exit`]).

mod api;
mod bulk;
mod campaign;
mod exit;
mod import;
mod output;
mod program;
mod request;

use api::Api;
use clap::{Args, CommandFactory, Parser, Subcommand};
use output::Format;
use request::Request;
use serde_json::{json, Value};
use std::time::Duration;

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
    token: Option<String>,
    /// How answers print: `table` (the default on a terminal) or `json` (otherwise).
    #[arg(short = 'o', long = "output", value_enum, global = true)]
    output: Option<Format>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// A C1's migration: real status, phase, attempts, last error, timings, figures.
    Status { shopper: String },
    /// Migrations by status, stuck ones, or those whose last error holds a text.
    List {
        #[command(flatten)]
        filters: Filters,
        #[command(flatten)]
        paged: Paged,
    },
    /// Accounts by status, parked runs, dead letters waiting, outbox backlog.
    Counts,
    /// Re-run a C1's failed phase without wiping anything.
    Retry { shopper: String },
    /// Stop a C1's running migration (nothing deleted; parked until a retry or un-park).
    Cancel {
        shopper: String,
        /// Do not ask to type the shopper id (needed when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Forced re-migration: remove what the migration created and start again.
    Remigrate {
        shopper: String,
        /// Do not ask to type the shopper id (needed when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Re-run the all-messages phase of every `messages-failure` account now.
    Repair,
    /// Compare a C1's destination with its source (a worker runs it); waits for the result.
    Verify {
        shopper: String,
        /// Repair what it finds: the differing threads copied again from the source, then
        /// verified again (at most `verify.max_repairs` times, then the run is parked).
        #[arg(long)]
        repair: bool,
        /// Print the request and return at once.
        #[arg(long)]
        no_wait: bool,
        /// Longest wait for the result (`90s`, `10m`, `2h`).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
        timeout: Duration,
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
    Program {
        /// Redraw it every `--every` until Ctrl-C, with the last day's lines.
        #[arg(long)]
        watch: bool,
        /// How often `--watch` redraws (`5s`, `1m`).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
        every: Duration,
        /// Stop `--watch` after this many frames.
        #[arg(long)]
        frames: Option<u32>,
    },
    /// A C1's timeline, newest first: its runs' phases, catch-ups, verifications, parking,
    /// dead letters and operators' actions (as the console's account page shows it).
    History { shopper: String },
    /// Accounts: create them in bulk from a file.
    Accounts {
        #[command(subcommand)]
        cmd: AccountsCmd,
    },
    /// One action on every account a list gives (retry, verify, unpark, replay), at a rate.
    Bulk(bulk::BulkArgs),
    /// A shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions { shell: clap_complete::Shell },
    /// The manual page (roff) on stdout: `migratorctl man > migratorctl.1`.
    Man,
}

/// The filters of `GET /admin/migrations` (they combine), for `list` and `bulk`.
#[derive(Debug, Args)]
pub struct Filters {
    /// A status (`messages-failure`, `migrating`, …).
    #[arg(long)]
    status: Option<String>,
    /// No progress for this long (`90s`, `10m`, `2h`, `1d`).
    #[arg(long, value_parser = humantime::parse_duration)]
    stuck_for: Option<Duration>,
    /// Text in the last error (case-insensitive).
    #[arg(long)]
    error: Option<String>,
    /// The latest verification's result (`match`, `diff`).
    #[arg(long)]
    verification: Option<String>,
}

impl Filters {
    /// `GET /admin/migrations` with these filters.
    pub fn migrations(&self) -> Request {
        Request::get(&["admin", "migrations"])
            .param("status", self.status.as_deref())
            .param("stuck_for_secs", self.stuck_for.map(|d| d.as_secs().max(1)))
            .param("error", self.error.as_deref())
            .param("verification", self.verification.as_deref())
    }
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
    /// `r` with the paging parameters.
    fn on(&self, r: Request) -> Request {
        r.param("page", self.page)
            .param("after", self.after.as_deref())
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
enum AccountsCmd {
    /// Create the accounts of a file (CSV `shopper_id,name`, or JSON lines) that do not exist;
    /// existing ones are counted and left alone, so it can be run again.
    Import(import::ImportArgs),
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

/// `method /admin/accounts/{shopper}/{what}`.
fn account(post: bool, shopper: &str, what: &str) -> Request {
    let segs = ["admin", "accounts", shopper, what];
    if post {
        Request::post(&segs)
    } else {
        Request::get(&segs)
    }
}

/// The fleet's endpoints.
fn fleet(cmd: &FleetCmd) -> Request {
    match cmd {
        FleetCmd::Show => Request::get(&["admin", "fleet"]),
        FleetCmd::Pause => Request::post(&["admin", "fleet", "pause"]),
        FleetCmd::Resume => Request::post(&["admin", "fleet", "resume"]),
        FleetCmd::Throttle { reads, rest } => Request::post(&["admin", "fleet", "throttle"])
            .json(json!({ "max_reads_per_sec": reads, "max_rest_per_sec": rest })),
    }
}

/// The admin request of a command (`None`: the command is not one request).
fn request(cmd: &Cmd) -> anyhow::Result<Option<Request>> {
    Ok(Some(match cmd {
        Cmd::Status { shopper } => account(false, shopper, "migration"),
        Cmd::List { filters, paged } => paged.on(filters.migrations()),
        Cmd::Counts => Request::get(&["admin", "counts"]),
        Cmd::Retry { shopper } => account(true, shopper, "retry"),
        Cmd::Cancel { shopper, .. } => account(true, shopper, "cancel"),
        Cmd::Remigrate { shopper, .. } => account(true, shopper, "remigrate"),
        Cmd::Repair => Request::post(&["admin", "migrations", "repair"]),
        Cmd::Verify {
            shopper, repair, ..
        } => account(true, shopper, "verify").param("repair", repair.then_some("true")),
        Cmd::Verification { shopper } => account(false, shopper, "verification"),
        Cmd::Preflight { shopper } => account(false, shopper, "preflight"),
        Cmd::DeadLetters {
            cmd: DeadLetterCmd::List { paged },
        } => paged.on(Request::get(&["admin", "dead-letters"])),
        Cmd::DeadLetters {
            cmd: DeadLetterCmd::Replay { id },
        } => Request::post(&["admin", "dead-letters", &id.to_string(), "replay"]),
        Cmd::Parked {
            cmd: ParkedCmd::List { paged },
        } => paged.on(Request::get(&["admin", "parked"])),
        Cmd::Parked {
            cmd: ParkedCmd::Unpark { shopper },
        } => account(true, shopper, "unpark"),
        Cmd::Fleet { cmd } => fleet(cmd),
        Cmd::Audit { paged } => paged.on(Request::get(&["admin", "audit-log"])),
        Cmd::Campaign { cmd } => campaign::request(cmd)?,
        Cmd::Program { .. } => Request::get(&["admin", "program"]),
        Cmd::History { shopper } => account(false, shopper, "history"),
        Cmd::Bulk(_) | Cmd::Accounts { .. } | Cmd::Completions { .. } | Cmd::Man => {
            return Ok(None)
        }
    }))
}

/// A destructive command goes ahead with `--yes`, or once the shopper id is typed at the
/// terminal; without a terminal and without `--yes` it does not (exit [`exit::USAGE`]).
fn confirmed(what: &str, shopper: &str, yes: bool) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        eprintln!("{what} {shopper}: pass --yes to confirm (no terminal to ask on)");
        return false;
    }
    eprint!("{what} {shopper}? Type the shopper id to confirm: ");
    let _ = std::io::stderr().flush();
    let mut typed = String::new();
    let _ = std::io::stdin().lock().read_line(&mut typed);
    let ok = typed.trim() == shopper;
    if !ok {
        eprintln!("not confirmed: nothing was done");
    }
    ok
}

/// A worker runs a verification: polls the C1's latest one until it is done or failed.
/// Exit status: [`exit::DIFF`] on `diff` or `failed`, [`exit::TIMEOUT`] past `timeout`.
async fn verification_result(
    api: &Api,
    shopper: &str,
    timeout: Duration,
) -> Result<(reqwest::StatusCode, String, i32), i32> {
    let deadline = std::time::Instant::now() + timeout;
    let latest = account(false, shopper, "verification");
    loop {
        let (status, text) = api.send(&latest).await?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            return Ok((status, text, exit::of(status)));
        }
        match (v["status"].as_str(), v["result"].as_str()) {
            (Some("done"), Some("match")) => return Ok((status, text, exit::OK)),
            (Some("done" | "failed"), _) => return Ok((status, text, exit::DIFF)),
            _ => {}
        }
        if std::time::Instant::now() > deadline {
            return Ok((status, text, exit::TIMEOUT));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Runs the command: its exit status.
async fn run(cli: &Cli) -> anyhow::Result<i32> {
    match &cli.cmd {
        Cmd::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "migratorctl", &mut std::io::stdout());
            return Ok(exit::OK);
        }
        Cmd::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            return Ok(exit::OK);
        }
        Cmd::Cancel { shopper, yes } if !confirmed("cancel", shopper, *yes) => {
            return Ok(exit::USAGE)
        }
        Cmd::Remigrate { shopper, yes } if !confirmed("re-migrate", shopper, *yes) => {
            return Ok(exit::USAGE)
        }
        _ => {}
    }
    let Some(token) = cli.token.clone() else {
        eprintln!("an operator token is needed: --token or MIGRATOR_ADMIN_TOKEN");
        return Ok(exit::USAGE);
    };
    let api = Api::new(&cli.url, token)?;
    if let Cmd::Bulk(b) = &cli.cmd {
        return bulk::run(&api, b).await;
    }
    if let Cmd::Accounts {
        cmd: AccountsCmd::Import(a),
    } = &cli.cmd
    {
        return import::run(&api, a).await;
    }
    if let Cmd::Program {
        watch: true,
        every,
        frames,
    } = &cli.cmd
    {
        let f = Format::or_default(cli.output);
        return Ok(program::watch(&api, (*every).max(Duration::from_secs(1)), *frames, f).await);
    }
    let req = request(&cli.cmd)?.expect("every other command is one request");
    let (mut status, mut text) = match api.send(&req).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let mut code = exit::of(status);
    if let Cmd::Verify {
        shopper,
        no_wait: false,
        timeout,
        ..
    } = &cli.cmd
    {
        if status.is_success() {
            (status, text, code) = match verification_result(&api, shopper, *timeout).await {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
        }
    }
    let format = Format::or_default(cli.output);
    let shown = match &cli.cmd {
        Cmd::History { .. } if status.is_success() && format == Format::Table => {
            program::history_table(&text)
        }
        _ => output::render(&text, format),
    };
    if status.is_success() {
        println!("{shown}");
    } else {
        eprintln!("{status}\n{shown}");
    }
    Ok(code)
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let code = match run(&cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            exit::USAGE
        }
    };
    std::process::exit(code);
}
