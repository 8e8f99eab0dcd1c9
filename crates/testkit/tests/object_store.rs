//! Attachments in object storage, against a real S3 API (moto's server, scripts/services.sh):
//! a blob is whole or absent (one PUT, or a multipart upload completed at commit and aborted
//! when dropped), a killed writer's upload is swept, a removal takes its prefix and nothing
//! beside it, keys stay in their place, presigned URLs carry the inert headers, a missing
//! bucket stops a worker's start; and a C1 migrates and is served with the presigned mode.

use futures::TryStreamExt;
use migrator_core::blob::{BlobStore, PresignedGet};
use migrator_runtime::settings::{BlobBackend, BlobServe, S3Settings};
use migrator_store::blob::S3BlobStore;
use migrator_testkit::env::test_settings;
use migrator_testkit::object_store::{contents, create_bucket, settled_contents};
use migrator_testkit::{EnvOptions, TestEnv};
use reqwest::StatusCode;
use std::time::Duration;

/// A bucket of the test's own, 5 MiB parts.
async fn bucket() -> S3Settings {
    let tag = format!("os{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut s3 = test_settings(&tag).blobs.s3;
    s3.endpoint = std::env::var("MIGRATOR_TEST_S3").unwrap_or("http://127.0.0.1:5055".into());
    s3.bucket = tag;
    s3.part_size_bytes = 5 << 20;
    create_bucket(&s3).await;
    s3
}

/// `n` bytes of a pattern that shows a misplaced part.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ (i / 4096) as u8).collect()
}

async fn read(store: &S3BlobStore, key: &str) -> (u64, Vec<u8>) {
    let r = store.open(key).await.unwrap();
    let bytes: Vec<u8> = r.bytes.map_ok(|b| b.to_vec()).try_concat().await.unwrap();
    (r.size, bytes)
}

#[tokio::test]
async fn blobs_are_whole_or_absent_and_abandoned_uploads_are_aborted() {
    let s3 = bucket().await;
    let store = S3BlobStore::new(&s3).await.unwrap();

    // small: one PUT at commit, invisible before
    let mut w = store.create("acct/r1/small").await.unwrap();
    w.write(b"hel").await.unwrap();
    w.write(b"lo").await.unwrap();
    assert!(store.open("acct/r1/small").await.is_err(), "invisible");
    assert_eq!(w.commit().await.unwrap(), 5);
    assert_eq!(read(&store, "acct/r1/small").await, (5, b"hello".to_vec()));

    // large: parts of 5 MiB as the bytes come, completed at commit
    let big = pattern((12 << 20) + 3);
    let mut w = store.create("acct/r1/big").await.unwrap();
    for chunk in big.chunks(64 << 10) {
        w.write(chunk).await.unwrap();
    }
    let (objects, uploads) = contents(&s3).await;
    assert_eq!(uploads.len(), 1, "a multipart upload in progress");
    assert!(
        !objects.iter().any(|k| k.ends_with("/big")),
        "no object yet"
    );
    assert_eq!(w.commit().await.unwrap(), big.len() as u64);
    let (size, got) = read(&store, "acct/r1/big").await;
    assert_eq!(size, big.len() as u64);
    assert!(got == big, "the bytes, in order");

    // dropped before its commit: aborted, no object
    let mut w = store.create("acct/r1/dropped").await.unwrap();
    w.write(&pattern(6 << 20)).await.unwrap();
    drop(w);
    let objects = settled_contents(&s3).await;
    assert!(
        !objects.iter().any(|k| k.ends_with("/dropped")),
        "{objects:?}"
    );

    // a killed writer (no drop runs): the sweep aborts its upload, once, counted
    let mut w = store.create("acct/r1/killed").await.unwrap();
    w.write(&pattern(6 << 20)).await.unwrap();
    std::mem::forget(w);
    assert_eq!(contents(&s3).await.1.len(), 1);
    // (moto dates every upload 2010-11-10, so an upload's age is the unit test's, in s3.rs)
    assert_eq!(store.sweep_abandoned(Duration::ZERO, 10).await.unwrap(), 1);
    assert!(contents(&s3).await.1.is_empty());

    // every object is under the prefix, keyed as asked
    let (objects, _) = contents(&s3).await;
    let mut objects: Vec<_> = objects.into_iter().collect();
    objects.sort();
    let p = &s3.prefix;
    assert_eq!(
        objects,
        [format!("{p}/acct/r1/big"), format!("{p}/acct/r1/small")]
    );
}

#[tokio::test]
async fn a_removal_takes_its_prefix_and_nothing_beside_and_keys_stay_in_place() {
    let s3 = bucket().await;
    let store = S3BlobStore::new(&s3).await.unwrap();
    for key in ["a/r1/x", "a/r1/y", "a/r10/z", "b/r1/x"] {
        let mut w = store.create(key).await.unwrap();
        w.write(key.as_bytes()).await.unwrap();
        w.commit().await.unwrap();
    }
    store.remove_prefix("a/r1").await.unwrap();
    store.remove_prefix("a/r1").await.unwrap(); // gone already is done
    store.remove_prefix("a/r1/nothing").await.unwrap();
    let mut left = contents(&s3).await.0;
    left.sort();
    let p = &s3.prefix;
    assert_eq!(left, [format!("{p}/a/r10/z"), format!("{p}/b/r1/x")]);
    // one attachment's file by its own key
    store.remove_prefix("b/r1/x").await.unwrap();
    assert_eq!(contents(&s3).await.0, [format!("{p}/a/r10/z")]);
    for bad in ["a/../b", "../x", "a//b", "./a", ""] {
        assert!(store.create(bad).await.is_err(), "{bad}");
        assert!(store.open(bad).await.is_err(), "{bad}");
        assert!(store.remove_prefix(bad).await.is_err(), "{bad}");
    }
    let missing = store.open("a/r10/none").await.err().unwrap();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
}

#[tokio::test]
async fn a_presigned_url_answers_the_bytes_with_the_inert_headers_and_expires() {
    let s3 = bucket().await;
    let store = S3BlobStore::new(&s3).await.unwrap();
    let mut w = store.create("a/r1/page").await.unwrap();
    w.write(b"<script>alert(1)</script>").await.unwrap();
    w.commit().await.unwrap();
    let get = PresignedGet {
        content_type: "text/html",
        disposition: "attachment; filename*=UTF-8''evil%22.html",
        ttl: Duration::from_secs(60),
    };
    let url = store.presign_get("a/r1/page", &get).await.unwrap().unwrap();
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["content-disposition"], get.disposition);
    assert_eq!(h["content-type"], "text/html");
    assert_eq!(h["cache-control"], "private, no-store");
    assert_eq!(resp.bytes().await.unwrap(), "<script>alert(1)</script>");
    // the headers asked for are signed query parameters of a URL good for the TTL (moto does
    // not check signatures; S3 refuses a URL whose signed parameters were changed)
    let q: std::collections::HashMap<String, String> = reqwest::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["response-content-disposition"], get.disposition);
    assert_eq!(q["response-content-type"], "text/html");
    assert_eq!(q["X-Amz-Expires"], "60");
    assert!(q.contains_key("X-Amz-Signature"), "{url}");
}

#[tokio::test]
async fn a_bucket_that_does_not_exist_stops_a_workers_start_naming_it() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    let mut s = env.settings.clone();
    s.blobs.backend = BlobBackend::S3;
    s.blobs.s3.endpoint =
        std::env::var("MIGRATOR_TEST_S3").unwrap_or("http://127.0.0.1:5055".into());
    s.blobs.s3.bucket = format!("{}-missing", env.settings.amqp.prefix);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let started = tokio::time::timeout(Duration::from_secs(60), migrator_worker::serve(s, rx));
    let e = started
        .await
        .expect("refused at once")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("blobs.s3.bucket") && e.contains("-missing"),
        "{e}"
    );
    assert!(e.contains("does not exist"), "{e}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_c1_migrates_into_the_bucket_and_is_served_by_presigned_urls() {
    let env = TestEnv::start_with(EnvOptions::default(), |s| {
        s.blobs.backend = BlobBackend::S3;
        s.blobs.serve = BlobServe::Presigned;
        s.blobs.s3.endpoint =
            std::env::var("MIGRATOR_TEST_S3").unwrap_or("http://127.0.0.1:5055".into());
        s.blobs.s3.bucket = format!("{}-c1", s.amqp.prefix);
    })
    .await;
    let spec = conversations_sim::model::generate(
        "bucketed",
        &conversations_sim::model::GenOptions::new(3, 6, 7).attachments(2, 0),
    );
    env.add_c1(&spec).await;
    env.post("bucketed", "/migrate", None).await;
    env.wait_admin_status("bucketed", "completed", Duration::from_secs(120))
        .await;
    let convs =
        migrator_testkit::verify::all_pages(&env, "bucketed", "/conversations", "conversations")
            .await;
    let mut urls = Vec::new();
    for c in &convs {
        let path = format!("/conversations/{}/messages", c["id"].as_str().unwrap());
        for m in migrator_testkit::verify::all_pages(&env, "bucketed", &path, "messages").await {
            for a in m["attachments"].as_array().unwrap() {
                assert_eq!(a["status"], "stored", "{a}");
                urls.push(a["url"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(!urls.is_empty());
    let objects = settled_contents(&env.settings.blobs.s3).await;
    assert_eq!(
        objects.len(),
        urls.len(),
        "one object per attachment: {objects:?}"
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for url in &urls {
        let resp = no_redirects
            .get(format!("{}{url}", env.api_url))
            .bearer_auth(env.app_token("bucketed"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(resp.headers()["cache-control"], "private, no-store");
        let to = resp.headers()["location"].to_str().unwrap().to_string();
        let bytes = reqwest::get(&to).await.unwrap();
        assert_eq!(bytes.status(), StatusCode::OK);
        assert_eq!(bytes.headers()["content-type"], "image/png");
        let d = bytes.headers()["content-disposition"].to_str().unwrap();
        assert!(d.starts_with("inline; filename*=UTF-8''"), "{d}");
        assert!(!bytes.bytes().await.unwrap().is_empty());
        // another C1's token: 404, no URL
        let other = no_redirects
            .get(format!("{}{url}", env.api_url))
            .bearer_auth(env.app_token("someone-else"))
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
    }
    // a re-migration: the superseded run's objects are removed by a sweeper, none left behind
    let old = env.admin_view("bucketed").await["run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = env
        .admin(
            reqwest::Method::POST,
            "/admin/accounts/bucketed/remigrate",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    env.wait_admin_status("bucketed", "completed", Duration::from_secs(120))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let objects = settled_contents(&env.settings.blobs.s3).await;
        let stale = objects.iter().filter(|k| k.contains(&old)).count();
        if stale == 0 && objects.len() == urls.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{stale} of the old run's left: {objects:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_throttling_or_hanging_object_store_holds_attachments_back_and_loses_nothing() {
    use migrator_testkit::dynamo_proxy::{DynamoProxy, ProxyFaults};
    let moto = std::env::var("MIGRATOR_TEST_S3").unwrap_or("http://127.0.0.1:5055".into());
    let proxy = DynamoProxy::start(&moto).await;
    let mut env = TestEnv::start_with(EnvOptions::no_workers(), |s| {
        s.blobs.backend = BlobBackend::S3;
        s.blobs.s3.endpoint = proxy.url.clone();
        s.blobs.s3.bucket = format!("{}-faults", s.amqp.prefix);
        s.blobs.s3.attempt_timeout_ms = 500;
        s.blobs.s3.operation_timeout_ms = 1500;
        // the store's faults last longer than a download's tries: the attachments wait
        s.media.max_attempts = 1000;
        s.media.retry_base_secs = 1;
        s.media.retry_max_secs = 1;
    })
    .await;
    env.start_worker();
    // the worker's start checked the bucket; from now on every PUT is throttled
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set(ProxyFaults {
        slow_down_method: Some("PUT".into()),
        ..Default::default()
    });
    let spec = conversations_sim::model::generate(
        "throttled",
        &conversations_sim::model::GenOptions::new(3, 6, 7).attachments(2, 0),
    );
    env.add_c1(&spec).await;
    env.post("throttled", "/migrate", None).await;
    env.wait_admin_status("throttled", "completed", Duration::from_secs(120))
        .await;
    let list = |status: &'static str| {
        let env = &env;
        async move {
            let path = format!("/admin/accounts/throttled/attachments?status={status}");
            env.admin(reqwest::Method::GET, &path, None).await.1
        }
    };
    let pending = list("pending").await;
    let n = pending["total_count"].as_i64().unwrap();
    assert!(n > 0, "{pending}");
    assert_eq!(list("failed").await["total_count"], 0, "none given up");
    let reason = pending["attachments"][0]["failure_reason"]
        .as_str()
        .unwrap_or("");
    assert!(reason.contains("object store"), "{pending}");
    assert!(proxy.counts().1 > 0, "PUTs were throttled");
    // every message is in, whatever the store does
    let v = env.admin_view("throttled").await;
    let messages: usize = spec.threads.iter().map(|t| t.messages.len()).sum();
    assert_eq!(v["run"]["figures"]["messages_migrated"], messages, "{v}");

    // then it hangs a while: still held back, never lost
    proxy.set(ProxyFaults {
        hang_until: Some(std::time::Instant::now() + Duration::from_secs(4)),
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(list("failed").await["total_count"], 0);
    assert!(proxy.hung() > 0, "calls hung");

    // the store answers again: every attachment is stored, once
    proxy.set(ProxyFaults::default());
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while list("stored").await["total_count"].as_i64() != Some(n) {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            list("pending").await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let objects = settled_contents(&env.settings.blobs.s3).await;
    assert_eq!(objects.len() as i64, n, "one object each: {objects:?}");
    migrator_testkit::verify::destination_equals_source(&env, &spec, |_| false).await;
    env.shutdown().await;
    proxy.stop().await;
}
