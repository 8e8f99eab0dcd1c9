//! The console's pictures and campaigns in a real browser (Debian's chromium) against the real
//! api, workers, Postgres, RabbitMQ and the DynamoDB emulator: the overview's charts render
//! (an SVG with the expected series, and each text alternative equal to
//! `GET /admin/program/history`'s series), a C1's page draws its runs' phases, a dry-run start
//! shows the selection's size and writes nothing, a confirmed start creates the campaign and
//! its audit row, pause and cancel from the campaign's page; and `migratorctl history` and
//! `program --watch` print what the console shows. Screenshots land in `var/console/`.

mod browser;

use browser::{at, browser, chromedriver, click, shot_full, sign_in, table_rows, text, type_in};
use conversations_sim::model::{generate, GenOptions};
use fantoccini::{Client, Locator};
use migrator_testkit::process::binary;
use migrator_testkit::{EnvOptions, TestEnv};
use reqwest::Method;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

fn settings(s: &mut migrator_runtime::settings::Settings) {
    s.api.admin_listen = "127.0.0.1:0".into();
    s.worker.fleet_poll_secs = 1;
    s.campaign.tick_ms = 100;
}

/// A value as the console's tables print it.
fn figure(v: &Value) -> String {
    match v.as_f64() {
        None => "—".into(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

/// Checks a chart of the page: drawn as an SVG naming `series`, its table equal to the API's
/// `columns` over the query the figure says it was drawn from.
async fn chart_matches_api(c: &Client, env: &TestEnv, id: &str, series: &[&str], columns: &[&str]) {
    let fig = c
        .find(Locator::Css(&format!("#{id}")))
        .await
        .unwrap_or_else(|_| panic!("no #{id}"));
    let named = fig.attr("data-series").await.unwrap().unwrap_or_default();
    for s in series {
        assert!(
            named.split('|').any(|n| n == *s),
            "#{id} names {s}: {named}"
        );
    }
    let svg = c
        .find(Locator::Css(&format!("#{id} .plot svg")))
        .await
        .unwrap_or_else(|_| panic!("#{id} has no SVG"));
    let drawn = svg.html(false).await.unwrap();
    for s in series {
        assert!(drawn.contains(s), "#{id}'s legend names {s}");
    }
    assert!(
        drawn.contains("<polyline") || drawn.contains("<circle"),
        "#{id} draws lines"
    );
    let source = fig.attr("data-source").await.unwrap().expect("data-source");
    let (_, api) = env
        .admin(
            Method::GET,
            &format!("/admin/program/history?{source}"),
            None,
        )
        .await;
    let rows = table_rows(c, &format!("#{id} table")).await;
    let at = api["at"].as_array().unwrap();
    assert_eq!(rows.len(), at.len(), "#{id}: a row a bucket");
    for (i, row) in rows.iter().enumerate() {
        for (k, col) in columns.iter().enumerate() {
            let want = figure(&api["series"][col][i]);
            assert_eq!(row[k + 1], want, "#{id} row {i} ({}) {col}", row[0]);
        }
    }
}

async fn audit_actions(env: &TestEnv) -> Vec<String> {
    let (_, v) = env
        .admin(Method::GET, "/admin/audit-log?per_page=100", None)
        .await;
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `migratorctl -o table args…` against the env: its exit status and stdout.
fn ctl(env: &TestEnv, args: &[&str]) -> (i32, String) {
    let out = Command::new(binary("migratorctl"))
        .args(["-o", "table"])
        .args(args)
        .env("MIGRATOR_ADMIN_URL", &env.admin_url)
        .env("MIGRATOR_ADMIN_TOKEN", env.admin_token())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("migratorctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_draws_the_program_and_starts_campaigns_in_a_real_browser() {
    let env = TestEnv::start_with(EnvOptions::default(), settings).await;
    // given two C1s migrated on the app's lane, and three the app never moved
    for (i, shopper) in ["chart-a", "chart-b"].into_iter().enumerate() {
        env.add_c1(&generate(shopper, &GenOptions::new(2, 3, 40 + i as u64)))
            .await;
        env.post(shopper, "/migrate", None).await;
        env.wait_admin_status(shopper, "completed", T).await;
    }
    for shopper in ["idle-1", "idle-2", "idle-3"] {
        env.add_c1(&generate(shopper, &GenOptions::new(1, 2, 50)))
            .await;
    }
    // and the fleet's minutes written (a heartbeat), both verified, and the burn-down sampled
    // (a sweep)
    let end = Instant::now() + T;
    loop {
        let (_, h) = env
            .admin(
                Method::GET,
                "/admin/program/history?window=1h&step=1m",
                None,
            )
            .await;
        let hops: f64 = h["series"]["hops_ok"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .sum();
        let sampled = h["series"]["remaining"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_f64() == Some(3.0));
        // both verifications' reads counted too
        let verified: f64 = h["series"]["dynamodb_reads_verification"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .sum();
        if hops >= 6.0 && sampled && verified >= 2.0 {
            break;
        }
        assert!(Instant::now() < end, "the history never filled: {h}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // the reads are counted by what they were for: the copies', then their verifications'
    let (_, h) = env
        .admin(
            Method::GET,
            "/admin/program/history?window=1h&step=1m&series=dynamodb_reads_copy,dynamodb_reads_catch_up,dynamodb_reads_verification",
            None,
        )
        .await;
    let total = |name: &str| -> f64 {
        h["series"][name]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .sum()
    };
    assert!(total("dynamodb_reads_copy") >= 2.0, "{h}");
    assert!(total("dynamodb_reads_verification") >= 2.0, "{h}");
    assert_eq!(
        total("dynamodb_reads_catch_up"),
        0.0,
        "no settle window, no catch-up"
    );
    assert_eq!(
        h["series"].as_object().unwrap().len(),
        3,
        "only the series asked for"
    );

    let driver = chromedriver();
    let c = browser(&driver).await;
    let console = format!("{}/console", env.admin_url);
    sign_in(&c, &console, &env.admin_token()).await;

    // the overview's charts: each an SVG with its series, its figures the API's
    c.goto(&format!("{console}/")).await.unwrap();
    chart_matches_api(
        &c,
        &env,
        "chart-burn-down",
        &["accounts not yet migrated"],
        &["remaining"],
    )
    .await;
    chart_matches_api(
        &c,
        &env,
        "chart-completions",
        &["app", "campaign"],
        &["completed_app", "completed_campaign"],
    )
    .await;
    let completions = table_rows(&c, "#chart-completions table").await;
    let app: u32 = completions
        .iter()
        .map(|r| r[1].parse::<u32>().unwrap())
        .sum();
    assert_eq!(app, 2, "two completions on the app's lane");
    chart_matches_api(
        &c,
        &env,
        "chart-inbox",
        &["p50", "p99"],
        &["inbox_app_p50_ms", "inbox_app_p99_ms"],
    )
    .await;
    let objective = c
        .find(Locator::Css("#chart-inbox"))
        .await
        .unwrap()
        .attr("data-series")
        .await
        .unwrap()
        .unwrap();
    assert!(objective.contains("objective p99"), "{objective}");
    for (id, series) in [
        ("chart-hops", vec!["ok", "retried", "failed", "dropped"]),
        ("chart-reads", vec!["reads/s"]),
        (
            "chart-refusals",
            vec!["media refusals", "REST refusals", "dead letters"],
        ),
    ] {
        let fig = c.find(Locator::Css(&format!("#{id}"))).await.unwrap();
        let named = fig.attr("data-series").await.unwrap().unwrap();
        for s in series {
            assert!(named.contains(s), "#{id} names {s}: {named}");
        }
        c.find(Locator::Css(&format!("#{id} .plot svg")))
            .await
            .unwrap_or_else(|_| panic!("#{id} has no SVG"));
    }
    chart_matches_api(
        &c,
        &env,
        "chart-hops",
        &["ok"],
        &["hops_ok", "hops_retried", "hops_failed", "hops_dropped"],
    )
    .await;
    shot_full(&c, "overview-charts").await;

    // a C1's page draws its run's phases
    c.goto(&format!("{console}/accounts/chart-a"))
        .await
        .unwrap();
    let phases = table_rows(&c, "#chart-phases table").await;
    let names: Vec<&str> = phases.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        names,
        [
            "channels",
            "recent messages",
            "all messages",
            "verification"
        ],
        "{phases:?}"
    );
    c.find(Locator::Css("#chart-phases .plot svg"))
        .await
        .expect("the phases drawn");
    shot_full(&c, "account-phases").await;

    // a dry run shows how many accounts the selection takes, and writes nothing
    let audit_before = audit_actions(&env).await;
    c.goto(&format!("{console}/campaigns")).await.unwrap();
    click(&c, "#new-campaign").await;
    at(&c, "/console/campaigns/new").await;
    type_in(&c, "#deadline", "2099-01-01T00:00:00Z").await;
    c.find(Locator::Css("#rate_per_sec"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    type_in(&c, "#rate_per_sec", "0.01").await;
    click(&c, "#dry-run-button").await;
    assert_eq!(text(&c, "#dry-run-accounts").await, "3");
    shot_full(&c, "campaign-dry-run").await;
    let (_, list) = env.admin(Method::GET, "/admin/campaigns", None).await;
    assert_eq!(
        list["campaigns"].as_array().unwrap().len(),
        0,
        "nothing started"
    );
    assert_eq!(audit_actions(&env).await, audit_before, "nothing audited");

    // confirmed, the campaign starts, audited as the API's start
    click(&c, "#confirm-start").await;
    at(&c, "/console/campaigns/").await;
    assert!(text(&c, "#notice").await.contains("started"));
    let (_, list) = env.admin(Method::GET, "/admin/campaigns", None).await;
    let campaigns = list["campaigns"].as_array().unwrap();
    assert_eq!(campaigns.len(), 1, "{list}");
    assert_eq!(campaigns[0]["selected"], 3);
    assert_eq!(campaigns[0]["created_by"], "operator");
    let id = campaigns[0]["id"].as_str().unwrap().to_string();
    assert!(audit_actions(&env)
        .await
        .contains(&"campaign_start".to_string()));
    assert_eq!(text(&c, "#campaign-selected").await, "3");
    c.find(Locator::Css("#chart-campaign .plot svg"))
        .await
        .expect("the campaign's burn-down drawn");

    // pause, then cancel, from its page
    click(&c, "#campaign-toggle").await;
    at(&c, &format!("/console/campaigns/{id}?done=campaign_pause")).await;
    assert_eq!(text(&c, "#campaign-state").await, "paused");
    let (_, camp) = env
        .admin(Method::GET, &format!("/admin/campaigns/{id}"), None)
        .await;
    assert_eq!(camp["state"], "paused");
    click(&c, "#cancel-confirm").await;
    click(&c, "#campaign-cancel").await;
    at(&c, &format!("/console/campaigns/{id}?done=campaign_cancel")).await;
    assert_eq!(text(&c, "#campaign-state").await, "cancelled");
    let actions = audit_actions(&env).await;
    for a in ["campaign_pause", "campaign_cancel"] {
        assert!(actions.contains(&a.to_string()), "{a} audited: {actions:?}");
    }
    let kinds: Vec<String> = table_rows(&c, "#campaign-events")
        .await
        .iter()
        .map(|r| r[1].clone())
        .collect();
    for k in ["started", "paused", "cancelled"] {
        assert!(kinds.contains(&k.to_string()), "{k} listed: {kinds:?}");
    }
    shot_full(&c, "campaign").await;
    c.goto(&format!("{console}/campaigns")).await.unwrap();
    assert_eq!(text(&c, "#campaigns td[data-state]").await, "cancelled");
    shot_full(&c, "campaigns").await;
    c.close().await.unwrap();

    // the command line prints the same timeline and program
    let (code, out) = ctl(&env, &["history", "chart-a"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("chart-a is completed"), "{out}");
    for kind in ["run_started", "channels_migrated", "all_messages_migrated"] {
        assert!(out.contains(kind), "{kind} printed: {out}");
    }
    let (code, out) = ctl(
        &env,
        &["program", "--watch", "--every", "1s", "--frames", "2"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.matches("not yet migrated").count(),
        2,
        "two frames: {out}"
    );
    env.shutdown().await;
}
