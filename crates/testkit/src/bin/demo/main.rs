//! Acts as the mobile app against a running api: creates the C1's account (what the web chat
//! initiative does), calls /accounts and /migrate, polls /check-migration-status with a progress
//! bar through every status to `completed`, and prints what was migrated, then where the
//! operators' console shows the same C1. It never hangs: a process the demo started that exits,
//! or a fleet with no live worker, ends it with one line naming the process and its log.

mod watch;

use clap::Parser;
use jsonwebtoken::{EncodingKey, Header};
use migrator_runtime::settings::Settings;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};
use watch::{Watch, Watched};

/// The demo client (scripts/demo.sh runs it).
#[derive(Parser, Debug)]
struct Args {
    /// The demo C1's shopper_id (seeded in the simulator first).
    #[arg(default_value = "demo-c1")]
    shopper_id: String,
    /// The app's listener.
    #[arg(long, env = "DEMO_API", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// The operators' listener (`api.admin_listen`); the app's when not given.
    #[arg(long, env = "DEMO_ADMIN_API")]
    admin_api: Option<String>,
    /// A process the demo started, `name=pid=log`: its exit ends the demo (repeatable).
    #[arg(long = "watch")]
    watched: Vec<Watched>,
    /// Longest wait for the api to answer and a worker to be live, in seconds.
    #[arg(long, default_value_t = 120)]
    start_secs: u64,
    /// How long the fleet may have no live worker during the migration, in seconds.
    #[arg(long, default_value_t = 20)]
    no_worker_secs: u64,
    /// Longest migration, in seconds.
    #[arg(long, default_value_t = 600)]
    migration_secs: u64,
    /// Where the operator token made for the console and migratorctl is written.
    #[arg(long, default_value = "var/demo/operator-token")]
    operator_token_file: std::path::PathBuf,
}

/// GET `url` with `token`, as JSON; a status that is not a success is an error.
async fn get(http: &reqwest::Client, url: String, token: &str) -> anyhow::Result<Value> {
    let r = http.get(&url).bearer_auth(token).send().await?;
    if !r.status().is_success() {
        anyhow::bail!(
            "GET {url}: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    Ok(r.json().await?)
}

fn token(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("an HS256 key"),
    )
    .expect("sign")
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = demo(args).await {
        // one line: what stopped the demo and where to look
        eprintln!("\ndemo: {e:#}");
        std::process::exit(1);
    }
}

/// The app's and the operators' tokens for `shopper`, valid `hours`.
fn tokens(settings: &Settings, shopper: &str, hours: i64) -> (String, String) {
    let a = &settings.api;
    let exp = chrono::Utc::now().timestamp() + hours * 3600;
    let mut app_claims = json!({"sub": shopper, "exp": exp});
    if !a.jwt_issuer.is_empty() {
        app_claims["iss"] = a.jwt_issuer.clone().into();
    }
    if !a.jwt_audience.is_empty() {
        app_claims["aud"] = a.jwt_audience.clone().into();
    }
    let app = token(a.jwt_secret.expose_secret(), app_claims);
    // operators' tokens are signed with their own key, for their own audience
    let mut admin_claims = json!({"sub": "demo-operator", "role": "admin", "exp": exp});
    if !a.admin_jwt_issuer.is_empty() {
        admin_claims["iss"] = a.admin_jwt_issuer.clone().into();
    }
    if !a.admin_jwt_audience.is_empty() {
        admin_claims["aud"] = a.admin_jwt_audience.clone().into();
    }
    let admin = token(a.admin_jwt_secret.expose_secret(), admin_claims);
    (app, admin)
}

/// Waits until both listeners answer `/readyz` and the fleet has a live worker, saying what
/// it waits for; bounded by `start_secs`, a watched process's exit ends it at once.
async fn wait_for_fleet(
    http: &reqwest::Client,
    args: &Args,
    admin_api: &str,
    admin: &str,
    watch: &Watch,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        watch.processes_alive()?;
        let ready = |url: String| async move {
            http.get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        };
        let waiting_for = if !ready(format!("{}/readyz", args.api)).await
            || !ready(format!("{admin_api}/readyz")).await
        {
            "the api"
        } else {
            match get(http, format!("{admin_api}/admin/fleet"), admin).await {
                Ok(f) if f["workers_live"].as_i64().unwrap_or(0) > 0 => {
                    println!(
                        "\r== the api answers and {} worker(s) are live ({:.1}s)        ",
                        f["workers_live"],
                        started.elapsed().as_secs_f64()
                    );
                    return Ok(());
                }
                _ => "a live worker (GET /admin/fleet: workers_live)",
            }
        };
        if started.elapsed() > Duration::from_secs(args.start_secs) {
            let logs: Vec<String> = watch
                .processes
                .iter()
                .map(|p| format!("{} {}", p.name, p.log.display()))
                .collect();
            anyhow::bail!(
                "gave up after {} s waiting for {waiting_for}; logs: {}",
                args.start_secs,
                logs.join(", ")
            );
        }
        print!(
            "\r== waiting for {waiting_for} ({:.0}s)   ",
            started.elapsed().as_secs_f64()
        );
        std::io::stdout().flush()?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The phase a status waits for (what the progress bar names).
fn waiting_for(status: &str) -> &'static str {
    match status {
        "not-started" | "migrating" => "channels",
        "channels-migrated" => "recent messages",
        "recent-messages-migrated" => "all messages",
        "completed" => "done",
        _ => "an operator",
    }
}

async fn demo(args: Args) -> anyhow::Result<()> {
    let shopper = args.shopper_id.clone();
    let api = args.api.clone();
    let admin_api = args.admin_api.clone().unwrap_or_else(|| api.clone());
    let settings = Settings::load()?;
    let (app, admin) = tokens(&settings, &shopper, 8);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .build()?;
    let mut watch = Watch::new(
        args.watched.clone(),
        Duration::from_secs(args.no_worker_secs),
    );
    wait_for_fleet(&http, &args, &admin_api, &admin, &watch).await?;

    println!("== web chat initiative: POST /admin/accounts {shopper}");
    let r = http
        .post(format!("{admin_api}/admin/accounts"))
        .bearer_auth(&admin)
        .json(&json!({"shopper_id": shopper, "name": "Acme Plumbing (demo)"}))
        .send()
        .await?;
    println!("   {}", r.status());
    if !r.status().is_success() && r.status() != reqwest::StatusCode::CONFLICT {
        anyhow::bail!("creating the account failed: {}", r.text().await?);
    }

    println!("== app launch: GET /accounts");
    let acc: Value = get(&http, format!("{api}/accounts"), &app).await?;
    println!(
        "   migration_status = {}",
        acc["accounts"][0]["migration_status"]
    );

    println!("== POST /migrate");
    let started = Instant::now();
    let r = http
        .post(format!("{api}/migrate"))
        .bearer_auth(&app)
        .send()
        .await?;
    let ok = r.status().is_success();
    println!("   {} {}", r.status(), r.text().await?);
    if !ok {
        anyhow::bail!("POST /migrate was refused");
    }

    let mut last = String::new();
    let mut last_ready = false;
    let mut fleet_read = Instant::now() - Duration::from_secs(60);
    loop {
        watch.processes_alive()?;
        if fleet_read.elapsed() >= Duration::from_secs(1) {
            let live = get(&http, format!("{admin_api}/admin/fleet"), &admin)
                .await
                .ok()
                .and_then(|f| f["workers_live"].as_i64());
            watch.fleet(live)?;
            fleet_read = Instant::now();
        }
        let v: Value = get(&http, format!("{api}/check-migration-status"), &app).await?;
        let st = v["migration_status"].as_str().unwrap_or("?").to_string();
        let p = &v["progress"];
        let percent = p["percent"].as_i64().unwrap_or(0).clamp(0, 100);
        let width = 30;
        let filled = (percent * width / 100) as usize;
        if st != last {
            if !last.is_empty() {
                println!();
            }
            if v["inbox_ready"] == true && !last_ready {
                println!(
                    "   [{:>6.2}s] {st}: inbox_ready - the app shows the inbox",
                    started.elapsed().as_secs_f64()
                );
                last_ready = true;
            } else if matches!(st.as_str(), "recent-messages-migrated" | "completed") {
                println!(
                    "   [{:>6.2}s] {st}: the app reloads the inbox",
                    started.elapsed().as_secs_f64()
                );
            }
            last = st.clone();
        }
        let eta = p["eta_seconds"]
            .as_i64()
            .map_or("-".to_string(), |e| format!("{e}s"));
        print!(
            "\r   {:<26} [{}{}] {percent:>3}%  eta {eta:<5} waiting for: {:<15} threads {}/{}  messages {}  failed attachments {}   ",
            st,
            "#".repeat(filled),
            ".".repeat(width as usize - filled),
            waiting_for(&st),
            p["threads_migrated"],
            p["threads_total"],
            p["messages_migrated"],
            p["attachments_failed"]
        );
        std::io::stdout().flush()?;
        if st == "completed" {
            println!();
            break;
        }
        if st.ends_with("failure") {
            anyhow::bail!(
                "the migration ended in {st}; its last error: GET {admin_api}/admin/accounts/{shopper}/migration, the workers' logs: {}",
                watch
                    .processes
                    .iter()
                    .filter(|p| p.name.contains("worker"))
                    .map(|p| p.log.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(args.migration_secs) {
            anyhow::bail!(
                "the migration did not finish in {} s (status {st}, waiting for {})",
                args.migration_secs,
                waiting_for(&st)
            );
        }
    }
    println!("== done in {:.2}s", started.elapsed().as_secs_f64());
    let convs: Value = get(&http, format!("{api}/conversations?per_page=5"), &app).await?;
    println!(
        "== inbox: {} conversations; newest five:",
        convs["total_count"]
    );
    for c in convs["conversations"].as_array().into_iter().flatten() {
        println!(
            "   {}  {:<8} {:>3} msgs  {}  {}",
            c["last_message_at"].as_str().unwrap_or(""),
            c["status"].as_str().unwrap_or(""),
            c["message_count"],
            c["contact"]["name"].as_str().unwrap_or("-"),
            c["subject"].as_str().unwrap_or("")
        );
    }
    let m: Value = get(
        &http,
        format!("{admin_api}/admin/accounts/{shopper}/migration"),
        &admin,
    )
    .await?;
    println!(
        "== operator view: status {} figures {}",
        m["migration_status"], m["run"]["figures"]
    );
    let acc: Value = get(&http, format!("{api}/accounts"), &app).await?;
    for b in acc["accounts"][0]["brands"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let kinds: Vec<&str> = b["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["kind"].as_str())
            .collect();
        println!(
            "== brand {:?}: channels {:?}",
            b["name"].as_str().unwrap_or(""),
            kinds
        );
    }
    console(&args, &admin_api, &admin)
}

/// Writes the operator token (mode 0600) and prints where the console shows the C1 and the
/// `migratorctl` lines that show the same.
fn console(args: &Args, admin_api: &str, admin: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = &args.operator_token_file;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(admin.as_bytes())?;
    let shopper = &args.shopper_id;
    println!("== the operators' console (a loopback listener; the token is valid 8 h)");
    println!("   open      {admin_api}/console/accounts/{shopper}");
    println!(
        "   sign in   paste the operator token from {} (demo-operator, role admin)",
        path.display()
    );
    println!("== the same C1 from the operators' CLI");
    println!(
        "   export MIGRATOR_ADMIN_URL={admin_api} MIGRATOR_ADMIN_TOKEN=$(cat {})",
        path.display()
    );
    println!("   target/debug/migratorctl status {shopper}");
    println!("   target/debug/migratorctl program");
    Ok(())
}
