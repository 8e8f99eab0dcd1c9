//! Authentication matrix and bad input: 401/403/404 JSON errors, 4xx for anything malformed,
//! and nothing changes when a request is refused.

use migrator_testkit::TestEnv;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn is_error(v: &serde_json::Value, code: &str) {
    assert_eq!(v["error"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_auth_matrix_holds() {
    let env = TestEnv::start().await;
    env.create_account("alice", "Alice").await;
    env.create_account("bob", "Bob").await;
    let (_, wc) = env
        .post(
            "bob",
            "/webchat/conversations",
            Some(json!({"contact": {"name": "V"}, "body": "hi"})),
        )
        .await;
    let bobs = wc["conversation_id"].as_str().unwrap().to_string();

    // no token, malformed header, bad signature, expired, wrong algorithm family, bad subject
    let (s, v) = env.call(Method::GET, "/accounts", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    is_error(&v, "unauthorized");
    let (s, _) = env
        .call(Method::GET, "/accounts", Some("not-a-jwt"), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "alice", "exp": now() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"someone else's secret").unwrap(),
    )
    .unwrap();
    let (s, v) = env
        .call(Method::GET, "/accounts", Some(&forged), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    is_error(&v, "unauthorized");
    // the body says only that the token was refused: no verifier detail to probe with
    assert_eq!(v["message"], "the bearer token was refused", "{v}");
    let expired = env.token(json!({"sub": "alice", "exp": now() - 60}));
    let (s, _) = env
        .call(Method::GET, "/accounts", Some(&expired), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let no_exp = env.token(json!({"sub": "alice"}));
    let (s, _) = env
        .call(Method::GET, "/accounts", Some(&no_exp), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let bad_sub = env.token(json!({"sub": "../alice", "exp": now() + 600}));
    let (s, _) = env
        .call(Method::GET, "/accounts", Some(&bad_sub), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // a C1 only reaches its own data
    let (s, v) = env
        .get("alice", &format!("/conversations/{bobs}/messages"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    is_error(&v, "not_found");
    let (s, _) = env
        .post(
            "alice",
            &format!("/webchat/conversations/{bobs}/messages"),
            Some(json!({"body": "x", "direction": "inbound"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = env.get("alice", "/conversations").await;
    assert_eq!((s, v["total_count"].as_i64()), (StatusCode::OK, Some(0)));
    let (s, _) = env.get("nobody", "/accounts").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // app tokens on admin endpoints: 403, even one signed with the app key that claims the
    // admin role; operator tokens are their own key's: a wrong audience or a missing role fails
    let a = &env.settings.api;
    let app_admin = env.token(json!({"sub": "mallory", "role": "admin", "exp": now() + 600}));
    let no_role = migrator_testkit::client::sign(
        &a.admin_jwt_secret,
        &json!({"sub": "op", "exp": now() + 600, "aud": a.admin_jwt_audience}),
    );
    let wrong_aud = migrator_testkit::client::sign(
        &a.admin_jwt_secret,
        &json!({"sub": "op", "role": "admin", "exp": now() + 600, "aud": "reamaze-app"}),
    );
    for (m, p) in [
        (Method::GET, "/admin/accounts/alice/migration"),
        (Method::POST, "/admin/accounts/alice/remigrate"),
        (Method::POST, "/admin/accounts/alice/retry"),
        (Method::POST, "/admin/accounts/alice/unpark"),
        (Method::GET, "/admin/migrations?status=completed"),
        (Method::POST, "/admin/migrations/repair"),
        (Method::GET, "/admin/parked"),
        (Method::GET, "/admin/dead-letters"),
        (Method::POST, "/admin/dead-letters/1/replay"),
        (Method::GET, "/admin/audit-log"),
    ] {
        for (token, want) in [
            (env.app_token("alice"), StatusCode::FORBIDDEN),
            (app_admin.clone(), StatusCode::FORBIDDEN),
            (no_role.clone(), StatusCode::FORBIDDEN),
            (wrong_aud.clone(), StatusCode::UNAUTHORIZED),
        ] {
            let (s, _) = env.call(m.clone(), p, Some(&token), None).await;
            assert_eq!(s, want, "{p}");
        }
    }
    // an operator token is no app token
    let (s, _) = env
        .call(Method::GET, "/accounts", Some(&env.admin_token()), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = env
        .call(
            Method::POST,
            "/admin/accounts",
            Some(&env.app_token("alice")),
            Some(json!({"shopper_id": "x", "name": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = env
        .admin(Method::GET, "/admin/accounts/alice/migration", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["migration_status"], "not-started");

    // open endpoints
    for p in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let (s, _) = env.call(Method::GET, p, None, None).await;
        assert_eq!(s, StatusCode::OK, "{p}");
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_4xx_and_changes_nothing() {
    // given an account and the rows in force
    let env = TestEnv::start().await;
    env.create_account("carol", "Carol").await;
    let before = row_counts(&env).await;
    // when bad input of every kind arrives, then each is refused with a 4xx and its reason
    malformed_bodies_are_refused(&env).await;
    oversized_bodies_are_refused(&env).await;
    let (_, wc) = env
        .post(
            "carol",
            "/webchat/conversations",
            Some(json!({"contact": {"name": "V"}, "body": "hi"})),
        )
        .await;
    let id = wc["conversation_id"].as_str().unwrap();
    let before = (before.0, before.1 + 1, before.2 + 1);
    let (s, v) = env
        .post(
            "carol",
            &format!("/webchat/conversations/{id}/messages"),
            Some(json!({"body": "x", "direction": "sideways"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an unknown enum value: {v}");
    bad_ids_and_queries_are_refused(&env).await;
    unknown_paths_and_methods_are_refused(&env).await;
    // and nothing changed
    assert_eq!(
        row_counts(&env).await,
        before,
        "refused requests changed nothing"
    );
    let (_, st) = env.get("carol", "/check-migration-status").await;
    assert_eq!(st["migration_status"], "not-started");
    env.shutdown().await;
}

/// (accounts, conversations, messages) in the database.
async fn row_counts(env: &TestEnv) -> (i64, i64, i64) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use migrator_store::schema::{accounts, conversations, messages};
    let mut db = env.db().await;
    let a: i64 = accounts::table.count().get_result(&mut db).await.unwrap();
    let c: i64 = conversations::table
        .count()
        .get_result(&mut db)
        .await
        .unwrap();
    let m: i64 = messages::table.count().get_result(&mut db).await.unwrap();
    (a, c, m)
}

/// POSTs `body` as JSON text, as it is, with `token`: (status, JSON answer).
async fn post_raw(env: &TestEnv, path: &str, token: String, body: String) -> (StatusCode, Value) {
    let r = env
        .http
        .post(format!("{}{path}", env.api_url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json::<Value>().await.unwrap_or_default())
}

/// Malformed JSON, wrong types, unknown fields, empty or invalid values, arrays, an existing
/// shopper: each a 4xx with `{"error", "message"}`.
async fn malformed_bodies_are_refused(env: &TestEnv) {
    let cases: [(&str, &str, bool, StatusCode); 10] = [
        (
            "{not json",
            "/admin/accounts",
            true,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"shopper_id": 5, "name": "x"}"#,
            "/admin/accounts",
            true,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"shopper_id": "has space", "name": "x"}"#,
            "/admin/accounts",
            true,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"shopper_id": "ok-1", "name": "x", "extra": true}"#,
            "/admin/accounts",
            true,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"shopper_id": "ok-1", "name": ""}"#,
            "/admin/accounts",
            true,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"shopper_id": "carol", "name": "again"}"#,
            "/admin/accounts",
            true,
            StatusCode::CONFLICT,
        ),
        (
            r#"{"contact": {"name": "V"}}"#,
            "/webchat/conversations",
            false,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"contact": {"name": "V"}, "body": ""}"#,
            "/webchat/conversations",
            false,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"contact": {"name": 7}, "body": "x"}"#,
            "/webchat/conversations",
            false,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"[1,2]"#,
            "/webchat/conversations",
            false,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, path, as_admin, want) in cases {
        let token = if as_admin {
            env.admin_token()
        } else {
            env.app_token("carol")
        };
        let (s, v) = post_raw(env, path, token, body.into()).await;
        assert_eq!(s, want, "{path} {body} -> {v}");
        assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    }
}

/// A body over `api.max_body_bytes` is refused unread (413); one under it but longer than a
/// message may be is refused by validation (400).
async fn oversized_bodies_are_refused(env: &TestEnv) {
    for (chars, want) in [
        (
            env.settings.api.max_body_bytes + 1,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (65_537, StatusCode::BAD_REQUEST),
    ] {
        let big = json!({"contact": {"name": "V"}, "body": "x".repeat(chars)}).to_string();
        let (s, _) = post_raw(env, "/webchat/conversations", env.app_token("carol"), big).await;
        assert_eq!(s, want, "{chars} characters");
    }
}

/// Ids that are not ids and query strings out of bounds: 400; an id of nothing: 404.
async fn bad_ids_and_queries_are_refused(env: &TestEnv) {
    for p in [
        "/conversations/not-a-uuid/messages".to_string(),
        "/attachments/123".to_string(),
        "/conversations?per_page=101".to_string(),
        "/conversations?page=0".to_string(),
        "/conversations?page=abc".to_string(),
        "/conversations?bogus=1".to_string(),
    ] {
        let (s, v) = env.get("carol", &p).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{p} -> {v}");
    }
    let (s, _) = env
        .get("carol", &format!("/attachments/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = env
        .admin(Method::GET, "/admin/migrations?status=SUCCESS", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = env
        .admin(Method::GET, "/admin/accounts/bad%20id/migration", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

/// An unknown path: 404; a method a path does not take: 405 with `Allow`; a made-up method
/// never becomes a metrics label.
async fn unknown_paths_and_methods_are_refused(env: &TestEnv) {
    let (s, v) = env.call(Method::GET, "/no/such/endpoint", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "not_found");
    let (s, v) = env.call(Method::DELETE, "/accounts", None, None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    let odd = Method::from_bytes(b"EXFILTRATE-1234").unwrap();
    let _ = env.call(odd, "/accounts", None, None).await;
    let metrics = env.metrics().await;
    assert!(!metrics.contains("EXFILTRATE"), "{metrics}");
    assert!(metrics.contains("method=\"OTHER\""), "{metrics}");
}

/// One app token cannot hold the api with requests: past its burst a C1 gets 429 with
/// `Retry-After`, past its writes too, another C1 and operators are not affected, and
/// `GET /accounts` asks Conversations about a C1 at most once per `eligibility_every_secs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_c1_has_its_own_request_budget() {
    use migrator_testkit::EnvOptions;
    let env = TestEnv::start_with(EnvOptions::default(), |s| {
        s.api.app_requests_per_sec = 1;
        s.api.app_burst = 5;
        s.api.app_writes_per_min = 2;
        s.api.eligibility_every_secs = 3600;
    })
    .await;
    for who in ["greedy", "calm"] {
        env.create_account(who, "Shop").await;
    }
    let status = |who: &str| {
        env.http
            .get(format!("{}/check-migration-status", env.api_url))
            .bearer_auth(env.app_token(who))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(status("greedy").await.unwrap().status(), StatusCode::OK);
    }
    let refused = status("greedy").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&after), "Retry-After {after}");
    is_error(&refused.json().await.unwrap(), "rate_limited");
    assert_eq!(status("calm").await.unwrap().status(), StatusCode::OK);
    let (s, _) = env.admin(Method::GET, "/admin/counts", None).await;
    assert_eq!(s, StatusCode::OK, "operators have no such limit");
    // writes: two a minute, whatever the read budget says
    for (n, want) in [
        (1, StatusCode::CREATED),
        (2, StatusCode::CREATED),
        (3, StatusCode::TOO_MANY_REQUESTS),
    ] {
        let body = json!({"contact": {"name": "V"}, "body": n.to_string()});
        let (s, v) = env.post("calm", "/webchat/conversations", Some(body)).await;
        assert_eq!(s, want, "write {n}: {v}");
    }
    // the eligibility check: once for an hour, whatever the app asks
    let spec = conversations_sim::model::generate(
        "asker",
        &conversations_sim::model::GenOptions::new(1, 1, 1),
    );
    env.add_c1(&spec).await;
    let before = env.sim_stats().await.eligibility_calls;
    for _ in 0..2 {
        let (s, v) = env.get("asker", "/accounts").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["accounts"][0]["migration_status"], "not-started");
    }
    assert_eq!(env.sim_stats().await.eligibility_calls, before + 1);
    let metrics = env.metrics().await;
    assert!(metrics.contains(r#"migrator_http_rate_limited_total{limit="requests"}"#));
    assert!(metrics.contains(r#"migrator_http_rate_limited_total{limit="writes"}"#));
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_request_id_is_kept_when_plain_and_replaced_otherwise() {
    let env = TestEnv::start_with(migrator_testkit::EnvOptions::no_workers(), |_| {}).await;
    let id_of = |sent: &'static str| {
        let http = env.http.clone();
        let url = format!("{}/healthz", env.api_url);
        async move {
            let r = http
                .get(url)
                .header("x-request-id", sent)
                .send()
                .await
                .unwrap();
            r.headers()["x-request-id"].to_str().unwrap().to_string()
        }
    };
    assert_eq!(id_of("edge-4f2a:17").await, "edge-4f2a:17");
    let replaced = id_of("<script>alert(1)</script>").await;
    assert_ne!(replaced, "<script>alert(1)</script>");
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
    let long: &'static str = Box::leak("a".repeat(65).into_boxed_str());
    assert_ne!(id_of(long).await, long);
    env.shutdown().await;
}
