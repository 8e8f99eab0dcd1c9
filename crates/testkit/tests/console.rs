//! The operators' console in a real browser (Debian's chromium, driven through chromedriver
//! by fantoccini) against the real api, Postgres, RabbitMQ and the DynamoDB emulator: a
//! signed-out browser is sent to sign-in; sign-in with an operator token; the overview shows
//! the counts the API gives; find a migrated C1 and read its timeline; press retry on a failed
//! one and see its status move and an audit row appear; a form without the CSRF token is
//! refused and changes nothing; sign-out. Screenshots of each page land in `var/console/`.

mod browser;

use browser::{at, browser, chromedriver, click, shot, text, type_in};
use conversations_sim::model::{generate, GenOptions};
use diesel_async::RunQueryDsl;
use fantoccini::{Client, Locator};
use migrator_testkit::{EnvOptions, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

async fn audit_entries(env: &TestEnv) -> Vec<Value> {
    let (s, v) = env
        .admin(Method::GET, "/admin/audit-log?per_page=100", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["entries"].as_array().unwrap().clone()
}

fn with_console(s: &mut migrator_runtime::settings::Settings) {
    s.api.admin_listen = "127.0.0.1:0".into();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_reads_and_acts_in_a_real_browser() {
    let env = TestEnv::start_with(EnvOptions::default(), with_console).await;
    // given a migrated C1 with a reject, and one the app path left in channel-failure
    let ok = generate("console-ok", &GenOptions::new(2, 3, 7));
    env.add_c1(&ok).await;
    env.post("console-ok", "/migrate", None).await;
    env.wait_admin_status("console-ok", "completed", T).await;
    let failed = generate("console-fail", &GenOptions::new(1, 2, 8));
    env.add_c1(&failed).await;
    let mut db = env.db().await;
    diesel::sql_query(
        "INSERT INTO rejects (account_id, source_table, source_key, reason, raw) \
         SELECT id, 'messages', 't1#0042', 'sent_at is not a time', \
         '{\"sort_key\": \"0042\", \"sent_at\": \"<script>alert(1)</script>\"}' \
         FROM accounts WHERE shopper_id = 'console-ok'",
    )
    .execute(&mut db)
    .await
    .unwrap();
    diesel::sql_query(
        "WITH a AS (SELECT id FROM accounts WHERE shopper_id = 'console-fail'), \
         r AS (INSERT INTO migration_runs (id, account_id, phase, active, last_error, \
                 total_attempts) \
               SELECT gen_random_uuid(), id, 'channels', false, 'HTTP 502 from configs', 3 \
               FROM a RETURNING id, account_id) \
         UPDATE accounts SET migration_status = 'channel-failure', current_run_id = r.id \
         FROM r WHERE accounts.id = r.account_id",
    )
    .execute(&mut db)
    .await
    .unwrap();
    // the console is on the admin listener only
    let on_app = env
        .http
        .get(format!("{}/console/", env.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(on_app.status(), StatusCode::NOT_FOUND);

    let driver = chromedriver();
    let c = browser(&driver).await;
    let console = format!("{}/console", env.admin_url);

    // a signed-out browser is sent to sign-in; a bad token is refused
    c.goto(&format!("{console}/accounts")).await.unwrap();
    at(&c, "/console/sign-in").await;
    shot(&c, "sign-in").await;
    type_in(
        &c,
        "#token",
        &env.token(json!({"sub": "console-ok", "exp": 4102444800u64})),
    )
    .await;
    click(&c, "#sign-in").await;
    assert!(text(&c, "#refused").await.contains("refused"));

    // when the operator signs in with their token
    type_in(&c, "#token", &env.admin_token()).await;
    click(&c, "#sign-in").await;
    // then they land where they were going, with a session cookie scripts cannot read
    at(&c, "/console/accounts").await;
    let cookie = c
        .get_named_cookie("__Host-migrator-console")
        .await
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    let seen: Value = Client::execute(&c, "return document.cookie", vec![])
        .await
        .unwrap();
    assert_eq!(seen, json!(""), "HttpOnly: no script reads the session");

    // the overview shows the counts the API gives
    c.goto(&format!("{console}/")).await.unwrap();
    let (_, counts) = env.admin(Method::GET, "/admin/counts", None).await;
    let (_, program) = env.admin(Method::GET, "/admin/program", None).await;
    assert_eq!(
        text(&c, "#program-total").await,
        program["total"].to_string()
    );
    for s in counts["accounts"].as_array().unwrap() {
        let css = format!("td[data-status=\"{}\"]", s["status"].as_str().unwrap());
        assert_eq!(text(&c, &css).await, s["count"].to_string(), "{css}");
    }
    assert_eq!(text(&c, "#workers-live").await, "1");
    shot(&c, "overview").await;

    // find a migrated C1 and read its timeline
    c.goto(&format!("{console}/accounts")).await.unwrap();
    type_in(&c, "#shopper_id", "console-ok").await;
    click(&c, "#find").await;
    at(&c, "/console/accounts/console-ok").await;
    assert_eq!(text(&c, "#migration-status").await, "completed");
    for kind in [
        "run_started",
        "channels_migrated",
        "recent_messages_migrated",
        "all_messages_migrated",
    ] {
        c.find(Locator::Css(&format!("#timeline li[data-kind=\"{kind}\"]")))
            .await
            .unwrap_or_else(|_| panic!("no {kind} in the timeline"));
    }
    // the reject's raw item is shown as text, never run
    let rejects = text(&c, "#rejects").await;
    assert!(rejects.contains("sent_at is not a time"), "{rejects}");
    click(&c, "#rejects summary").await;
    assert!(text(&c, "#rejects pre")
        .await
        .contains("<script>alert(1)</script>"));
    shot(&c, "account").await;

    // a filtered list, cursor-paged
    c.goto(&format!("{console}/accounts?status=completed"))
        .await
        .unwrap();
    assert!(text(&c, "#accounts").await.contains("console-ok"));
    shot(&c, "accounts").await;

    // a form without the CSRF token is refused and changes nothing
    c.goto(&format!("{console}/accounts/console-fail"))
        .await
        .unwrap();
    assert_eq!(text(&c, "#migration-status").await, "channel-failure");
    let before = audit_entries(&env).await.len();
    Client::execute(
        &c,
        "document.querySelector('form[action$=\"/retry\"] input[name=csrf]').remove()",
        vec![],
    )
    .await
    .unwrap();
    click(&c, "#action-retry").await;
    assert!(text(&c, "#error-message").await.contains("CSRF"));
    assert!(text(&c, "h1").await.starts_with("403"));
    assert_eq!(audit_entries(&env).await.len(), before);
    assert_eq!(
        env.admin_view("console-fail").await["migration_status"],
        "channel-failure"
    );

    // press retry on the failed one: its status moves and an audit row appears
    c.goto(&format!("{console}/accounts/console-fail"))
        .await
        .unwrap();
    click(&c, "#action-retry").await;
    at(&c, "/console/accounts/console-fail?done=retry").await;
    assert!(text(&c, "#notice").await.contains("runs again"));
    let end = Instant::now() + T;
    loop {
        c.goto(&format!("{console}/accounts/console-fail"))
            .await
            .unwrap();
        if text(&c, "#migration-status").await == "completed" {
            break;
        }
        assert!(Instant::now() < end, "the retried account never completed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let entries = audit_entries(&env).await;
    let retry = entries
        .iter()
        .find(|e| e["action"] == "retry")
        .expect("an audit row for the retry");
    assert_eq!(retry["target"], "console-fail");
    assert_eq!(retry["actor"], "operator");
    c.find(Locator::Css("#timeline li[data-kind=\"operator_action\"]"))
        .await
        .expect("the retry in the account's timeline");
    c.goto(&format!("{console}/audit")).await.unwrap();
    let audit = text(&c, "#audit").await;
    assert!(
        audit.contains("retry") && audit.contains("console_sign_in"),
        "{audit}"
    );
    shot(&c, "audit").await;
    c.goto(&format!("{console}/dead-letters")).await.unwrap();
    shot(&c, "dead-letters").await;

    // a re-migration asks for the shopper id first
    c.goto(&format!("{console}/accounts/console-ok"))
        .await
        .unwrap();
    click(&c, "#action-remigrate").await;
    at(&c, "/console/accounts/console-ok/remigrate").await;
    type_in(&c, "#confirm", "console-fail").await;
    click(&c, "#remigrate-confirm").await;
    assert!(text(&c, "#mismatch").await.contains("nothing was done"));
    assert!(!audit_entries(&env)
        .await
        .iter()
        .any(|e| e["action"] == "remigrate"));

    // the fleet's pause button is the API's pause
    c.goto(&format!("{console}/")).await.unwrap();
    click(&c, "#fleet-toggle").await;
    at(&c, "/console/?done=fleet_pause").await;
    assert!(text(&c, "#fleet-state").await.contains("paused"));
    let (_, fleet) = env.admin(Method::GET, "/admin/fleet", None).await;
    assert_eq!(fleet["paused"], true);
    assert_eq!(fleet["updated_by"], "operator");

    // sign-out ends the session: the next page asks to sign in again
    click(&c, "header form button").await;
    at(&c, "/console/sign-in").await;
    c.goto(&format!("{console}/accounts/console-ok"))
        .await
        .unwrap();
    at(&c, "/console/sign-in?next=/console/accounts/console-ok").await;
    let mut db = env.db().await;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let left: Vec<N> = diesel::sql_query("SELECT count(*) AS n FROM console_sessions")
        .load(&mut db)
        .await
        .unwrap();
    assert_eq!(left[0].n, 0, "the session is gone from the database");
    c.close().await.unwrap();
    env.shutdown().await;
}

/// A response's `Set-Cookie` value of the session cookie, if it sets one.
fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-migrator-console="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_an_identity_proxy_its_header_signs_in_and_cross_site_posts_are_refused() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |s| {
        with_console(s);
        s.console.trusted_header = "X-Forwarded-Email".into();
        s.console.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.console.trusted_role_header = "X-Forwarded-Groups".into();
    })
    .await;
    // the proxy (this client, on loopback) asserts the operator role with every request
    let mut proxy_headers = reqwest::header::HeaderMap::new();
    proxy_headers.insert(
        "x-forwarded-groups",
        "staff, migrator-operator".parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(proxy_headers)
        .build()
        .unwrap();
    let console = format!("{}/console", env.admin_url);
    // without the proxy's header: the sign-in form
    let r = http.get(format!("{console}/sign-in")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(session_cookie(&r).is_none());
    // with it: a session for that operator, and back to where they were going
    let r = http
        .get(format!("{console}/sign-in?next=/console/audit"))
        .header("x-forwarded-email", "ops@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/console/audit");
    let cookie = session_cookie(&r).expect("a session cookie");
    let page = |who: &'static str| {
        http.get(format!("{console}/audit"))
            .header("cookie", cookie.clone())
            .header("x-forwarded-email", who)
            .send()
    };
    assert_eq!(
        page("ops@example.com").await.unwrap().status(),
        StatusCode::OK
    );
    // the session belongs to the proxy's operator: another one is asked to sign in
    assert_eq!(
        page("mallory@example.com").await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    // an open redirect is not offered: `next` stays on the console
    let r = http
        .get(format!("{console}/sign-in?next=//evil.example/"))
        .header("x-forwarded-email", "ops@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/console/");
    // a POST from another origin is refused before anything runs, CSRF token or not
    let r = http
        .post(format!("{console}/fleet/pause"))
        .header("cookie", cookie.clone())
        .header("x-forwarded-email", "ops@example.com")
        .header("origin", "https://evil.example")
        .form(&[("csrf", "whatever")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, fleet) = env.admin(Method::GET, "/admin/fleet", None).await;
    assert_eq!(fleet["paused"], false);
    // a visit with a live session of the same operator opens no new one
    let r = http
        .get(format!("{console}/sign-in"))
        .header("cookie", cookie.clone())
        .header("x-forwarded-email", "ops@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie(&r).is_none());
    // a session opened with a token never outlives it
    let exp = chrono::Utc::now().timestamp() + 120;
    let a = &env.settings.api;
    let token = migrator_testkit::client::sign(
        &a.admin_jwt_secret,
        &json!({"sub": "short", "role": "admin", "exp": exp,
                "aud": a.admin_jwt_audience, "iss": a.admin_jwt_issuer}),
    );
    let r = http
        .post(format!("{console}/sign-in"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    #[derive(diesel::QueryableByName)]
    struct Until {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        until: i64,
    }
    let until: Vec<Until> = diesel::sql_query(
        "SELECT extract(epoch FROM absolute_until)::bigint AS until FROM console_sessions \
         WHERE operator = 'short'",
    )
    .load(&mut env.db().await)
    .await
    .unwrap();
    assert!(until[0].until <= exp + 1, "{} > {exp}", until[0].until);
    // the sign-ins are on record under the proxy's operator
    let signed_in: Vec<Value> = audit_entries(&env)
        .await
        .into_iter()
        .filter(|e| e["action"] == "console_sign_in")
        .collect();
    assert_eq!(signed_in.len(), 3, "{signed_in:?}");
    let by_proxy = signed_in.iter().filter(|e| e["actor"] == "ops@example.com");
    assert_eq!(by_proxy.count(), 2, "{signed_in:?}");
    env.shutdown().await;
}

/// The identity header is believed only from the proxy's address, and only with the operator
/// role the proxy asserts: a client reaching the admin listener directly forges nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_identity_header_from_elsewhere_or_without_the_role_signs_nobody_in() {
    for (proxies, groups) in [
        // the proxy is elsewhere: this client is not it
        (vec!["10.255.255.1".to_string()], Some("migrator-operator")),
        // from the proxy's address, but the proxy does not assert the role
        (vec!["127.0.0.0/8".to_string()], Some("staff, viewers")),
        (vec!["127.0.0.0/8".to_string()], None),
        // no proxy configured: the header is never believed
        (vec![], Some("migrator-operator")),
    ] {
        let env = TestEnv::start_with(EnvOptions::no_workers(), |s| {
            with_console(s);
            s.console.trusted_header = "X-Forwarded-Email".into();
            s.console.trusted_proxies = proxies.clone();
            s.console.trusted_role_header = "X-Forwarded-Groups".into();
        })
        .await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut r = http
            .get(format!(
                "{}/console/sign-in?next=/console/audit",
                env.admin_url
            ))
            .header("x-forwarded-email", "mallory@example.com");
        if let Some(g) = groups {
            r = r.header("x-forwarded-groups", g);
        }
        let r = r.send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{proxies:?} {groups:?}: the sign-in form"
        );
        assert!(
            session_cookie(&r).is_none(),
            "{proxies:?} {groups:?}: no session"
        );
        let (_, log) = env.admin(Method::GET, "/admin/audit-log", None).await;
        assert_eq!(
            log["entries"].as_array().unwrap().len(),
            0,
            "nobody signed in: {log}"
        );
        env.shutdown().await;
    }
}
