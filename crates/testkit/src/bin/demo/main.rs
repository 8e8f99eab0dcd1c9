//! Acts as the mobile app against a running api: creates the C1's account (what the web chat
//! initiative does), calls /accounts and /migrate, polls /check-migration-status with a progress
//! bar through every status to `completed`, and prints what was migrated.

use jsonwebtoken::{EncodingKey, Header};
use migrator_runtime::settings::Settings;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

/// GET `url` with `token`, as JSON.
async fn get(http: &reqwest::Client, url: String, token: &str) -> anyhow::Result<Value> {
    Ok(http
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?)
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
async fn main() -> anyhow::Result<()> {
    let shopper = std::env::args().nth(1).unwrap_or_else(|| "demo-c1".into());
    let api = std::env::var("DEMO_API").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let settings = Settings::load()?;
    let a = &settings.api;
    let exp = chrono::Utc::now().timestamp() + 3600;
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
    let http = reqwest::Client::new();

    println!("== web chat initiative: POST /admin/accounts {shopper}");
    let r = http
        .post(format!("{api}/admin/accounts"))
        .bearer_auth(&admin)
        .json(&json!({"shopper_id": shopper, "name": "Acme Plumbing (demo)"}))
        .send()
        .await?;
    println!("   {}", r.status());
    if !r.status().is_success() {
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
    loop {
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
            "\r   {:<26} [{}{}] {percent:>3}%  eta {eta:<5} threads {}/{}  messages {}  failed attachments {}   ",
            st,
            "#".repeat(filled),
            ".".repeat(width as usize - filled),
            p["threads_migrated"],
            p["threads_total"],
            p["messages_migrated"],
            p["attachments_failed"]
        );
        std::io::stdout().flush()?;
        if st == "completed" || st.ends_with("failure") {
            println!();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("migration did not finish in 10 minutes");
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
        format!("{api}/admin/accounts/{shopper}/migration"),
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
    Ok(())
}
