//! What a security review of the api and the worker found, each closed and checked against the
//! real services (the forged proxy header: tests/console.rs; the production profile's
//! refusals: the settings' unit tests; media URLs' path prefixes: the media client's).

use conversations_sim::model::{generate, AttachmentSpec, GenOptions};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use migrator_testkit::{EnvOptions, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(90);

/// A re-migration's superseded files are removed by a worker's sweeper (the api's view of the
/// store is read-only): queued in the re-migration's transaction, gone within a sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_remigrations_superseded_files_are_gone_within_a_sweep() {
    let mut env = TestEnv::start().await;
    let s = generate("files", &GenOptions::new(6, 4, 61).attachments(2, 0));
    env.add_c1(&s).await;
    env.post("files", "/migrate", None).await;
    env.wait_status("files", "completed", T).await;
    let old = env.admin_view("files").await["run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let account: uuid::Uuid = {
        use migrator_store::schema::accounts as a;
        a::table
            .filter(a::shopper_id.eq("files"))
            .select(a::id)
            .first(&mut env.db().await)
            .await
            .unwrap()
    };
    let dir = env.settings.blobs.dir.join(account.to_string()).join(&old);
    // the downloads of the first run finish
    let end = Instant::now() + T;
    while std::fs::read_dir(&dir).map_or(0, |d| d.count()) == 0 {
        assert!(
            Instant::now() < end,
            "no file stored under {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // no worker: nothing removes them but a sweeper
    env.stop_workers().await;
    let (st, _) = env
        .admin(Method::POST, "/admin/accounts/files/remigrate", None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert!(dir.exists(), "the api removes nothing itself");
    #[derive(diesel::QueryableByName)]
    struct Queued {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let queued: Queued = diesel::sql_query(
        "SELECT count(*) AS n FROM blob_removals WHERE prefix = $1 AND reason = 'remigrate'",
    )
    .bind::<diesel::sql_types::Text, _>(format!("{account}/{old}"))
    .get_result(&mut env.db().await)
    .await
    .unwrap();
    assert_eq!(queued.n, 1, "queued in the re-migration's transaction");
    env.start_worker();
    let end = Instant::now() + T;
    while dir.exists() {
        assert!(Instant::now() < end, "{} still there", dir.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.wait_admin_status("files", "completed", T).await;
    env.shutdown().await;
}

/// A media URL with `user:pass@` is refused before any request is made (it would have sent a
/// second Authorization header beside our cert JWT).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_media_url_with_user_info_is_refused_and_nothing_is_fetched() {
    let env = TestEnv::start().await;
    let mut s = generate("userinfo", &GenOptions::new(1, 1, 63));
    let base = env
        .sim
        .base_url
        .replacen("http://", "http://user:secret@", 1);
    for t in &mut s.threads {
        for m in &mut t.messages {
            m.attachments = vec![AttachmentSpec {
                media_id: format!("{base}/media/userinfo-1"),
                content_type: "image/png".into(),
                file_name: "a.png".into(),
                size_bytes: 10,
            }];
        }
    }
    env.add_c1(&s).await;
    env.post("userinfo", "/migrate", None).await;
    env.wait_status("userinfo", "completed", T).await;
    let (_, convs) = env.get("userinfo", "/conversations").await;
    let id = convs["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, msgs) = env
        .get("userinfo", &format!("/conversations/{id}/messages"))
        .await;
    let a = &msgs["messages"][0]["attachments"][0];
    assert_eq!(
        (a["status"].as_str(), a["failure"].as_str()),
        (Some("failed"), Some("forbidden_origin")),
        "{msgs}"
    );
    assert_eq!(
        env.sim_stats().await.media_requests,
        0,
        "nothing was fetched"
    );
    env.shutdown().await;
}

/// An operator's error search of fewer than 3 characters gives the trigram index nothing: 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_search_of_fewer_than_three_characters_is_refused() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    for text in ["", "a", "ab"] {
        let (st, v) = env
            .admin(
                Method::GET,
                &format!("/admin/migrations?error={text}"),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{text:?}: {v}");
        assert_eq!(v["error"], "invalid_filter");
    }
    let (st, _) = env
        .admin(Method::GET, "/admin/migrations?error=abc", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    env.shutdown().await;
}

/// The app's inbox reaches 10,000 rows by `page`; deeper is a 400 naming `after`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_app_page_is_refused_and_names_the_cursor() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    env.create_account("deep", "Deep").await;
    let (st, v) = env
        .get("deep", "/conversations?page=1000000&per_page=100")
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "invalid_page");
    assert!(v["message"].as_str().unwrap().contains("next"), "{v}");
    let (st, _) = env.get("deep", "/conversations?page=200&per_page=50").await;
    assert_eq!(st, StatusCode::OK);
    env.shutdown().await;
}

/// An operator token that names no one (`sub` empty) is refused: the audit log must say who.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_token_with_an_empty_subject_is_refused() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    let a = &env.settings.api;
    for sub in ["", "   "] {
        let token = migrator_testkit::client::sign(
            &a.admin_jwt_secret,
            &json!({"sub": sub, "role": "admin", "exp": chrono::Utc::now().timestamp() + 600,
                    "aud": a.admin_jwt_audience, "iss": a.admin_jwt_issuer}),
        );
        let (st, _) = env
            .call(Method::GET, "/admin/counts", Some(&token), None)
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "sub {sub:?}");
    }
    env.shutdown().await;
}

/// Credentials sealed by an earlier release (bound to the account alone) still open, and are
/// rewritten bound to the account, the channel and the key; two channels' ciphertexts swapped
/// by a database writer open for neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_bind_their_channel_and_the_old_form_is_rewritten_when_read() {
    use migrator_store::crypto::{Keyring, SealForm, Sealed};
    use migrator_store::queries::destination::brands;
    use migrator_store::schema::channels as c;
    let env = TestEnv::start().await;
    let s = generate("sealed2", &GenOptions::new(2, 2, 65));
    env.add_c1(&s).await;
    env.post("sealed2", "/migrate", None).await;
    env.wait_status("sealed2", "completed", T).await;
    let mut db = env.db().await;
    /// channel, account, ciphertext, key id
    type Row = (uuid::Uuid, uuid::Uuid, Option<Vec<u8>>, Option<String>);
    let rows: Vec<Row> = c::table
        .filter(c::credentials_enc.is_not_null())
        .select((
            c::id,
            c::account_id,
            c::credentials_enc,
            c::credentials_key_id,
        ))
        .load(&mut db)
        .await
        .unwrap();
    assert!(
        rows.len() >= 2,
        "two channels with credentials: {}",
        rows.len()
    );
    let ring = Keyring::from_settings(&env.settings.crypto).unwrap();
    let sealed = |r: &Row| Sealed {
        key_id: r.3.clone().unwrap(),
        bytes: r.2.clone().unwrap(),
    };
    let (a, b) = (&rows[0], &rows[1]);
    // swapped: a's ciphertext in b's row opens for neither
    assert!(ring.open_credentials(&sealed(a), &b.1, &b.0).is_err());
    assert!(ring.open_credentials(&sealed(b), &a.1, &a.0).is_err());
    // the old form (account only), as an earlier release wrote it
    let (plain, form) = ring.open_credentials(&sealed(a), &a.1, &a.0).unwrap();
    assert_eq!(form, SealForm::Bound);
    let legacy = ring.seal(&plain, a.1.as_bytes());
    diesel::update(c::table.find(a.0))
        .set(c::credentials_enc.eq(Some(legacy.bytes)))
        .execute(&mut db)
        .await
        .unwrap();
    let opened = brands::open_credentials(&mut db, &ring, migrator_core::ids::ChannelId(a.0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::to_vec(&opened).unwrap(), plain);
    let again: Option<Vec<u8>> = c::table
        .find(a.0)
        .select(c::credentials_enc)
        .first(&mut db)
        .await
        .unwrap();
    let rewritten = Sealed {
        key_id: a.3.clone().unwrap(),
        bytes: again.unwrap(),
    };
    assert_eq!(
        ring.open_credentials(&rewritten, &a.1, &a.0).unwrap().1,
        SealForm::Bound,
        "rewritten in the bound form"
    );
    env.shutdown().await;
}
