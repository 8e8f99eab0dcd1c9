//! Test harness: spawns the Conversations simulator, the api and workers in-process against a
//! fresh Postgres database, fresh queue names and fresh DynamoDB tables, so every test is
//! isolated and tests run in parallel. Services that are missing fail the test loudly.

use anyhow::Context;
use conversations_sim::model::C1Spec;
use conversations_sim::server::{self, Faults, RunningSim, SimConfig};
use conversations_sim::store::{self, Tables};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use jsonwebtoken::{EncodingKey, Header};
use migrator_api::startup::RunningApi;
use migrator_core::settings::Settings;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Root of the workspace.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_string())
}

/// The server URL of Postgres (without database).
pub fn pg_server() -> String {
    env_or("MIGRATOR_TEST_PG", "postgres://postgres@127.0.0.1:5432")
}

/// Settings for one test: config/default.toml with unique names and fast retries.
pub fn test_settings(tag: &str) -> Settings {
    let mut s =
        Settings::load_from(&workspace().join("config")).expect("config/default.toml loads");
    s.database.url = format!("{}/{tag}", pg_server());
    s.database.pool_size = 6;
    s.amqp.url = env_or(
        "MIGRATOR_TEST_AMQP",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    );
    s.amqp.prefix = tag.to_string();
    s.api.listen = "127.0.0.1:0".into();
    s.dynamodb.endpoint = env_or("MIGRATOR_TEST_DYNAMO", "http://127.0.0.1:8000");
    s.sts.endpoint = env_or("MIGRATOR_TEST_STS", "http://127.0.0.1:5055");
    s.dynamodb.threads_table = format!("{tag}_threads");
    s.dynamodb.messages_table = format!("{tag}_messages");
    s.dynamodb.page_size = 50;
    s.media.signing_key_path =
        workspace().join("config/dev-keys/DEV-ONLY-media-signing-private.pem");
    s.blobs.dir = std::env::temp_dir().join(format!("{tag}-blobs"));
    s.conversations.timeout_ms = 3000;
    s.worker.retry_base_ms = 20;
    s.worker.retry_max_ms = 400;
    s.worker.max_call_retries = 2;
    s.worker.max_hop_attempts = 3;
    s.worker.sweep_interval_secs = 1;
    s.worker.lease_secs = 6;
    s.worker.stalled_after_secs = 15;
    s.worker.write_batch = 100;
    s
}

/// One isolated environment.
pub struct TestEnv {
    /// Its settings (workers started later use them too).
    pub settings: Settings,
    /// The api base URL.
    pub api_url: String,
    /// The simulator.
    pub sim: RunningSim,
    /// Tables of this test.
    pub tables: Tables,
    /// DynamoDB client (seeding).
    pub dynamo: aws_sdk_dynamodb::Client,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The DynamoDB fault proxy, when asked for.
    pub proxy: Option<dynamo_proxy::DynamoProxy>,
    api: Option<RunningApi>,
    workers: Vec<(watch::Sender<bool>, JoinHandle<anyhow::Result<()>>)>,
    tag: String,
}

/// Options of [`TestEnv::start_with`].
#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// Workers started in-process.
    pub workers: usize,
    /// Put a fault-injecting proxy between the workers and DynamoDB.
    pub dynamo_proxy: bool,
}

impl Default for EnvOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            dynamo_proxy: false,
        }
    }
}

impl TestEnv {
    /// Simulator + api + one worker.
    pub async fn start() -> Self {
        Self::start_with(EnvOptions::default(), |_| {}).await
    }

    /// As [`TestEnv::start`], with options and a settings tweak.
    pub async fn start_with(opts: EnvOptions, tweak: impl FnOnce(&mut Settings)) -> Self {
        migrator_core::telemetry::init("warn");
        let tag = format!("mt{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut settings = test_settings(&tag);
        tweak(&mut settings);
        create_database(&tag)
            .await
            .expect("PostgreSQL must be running (scripts/services.sh)");
        let tables = Tables {
            threads: settings.dynamodb.threads_table.clone(),
            messages: settings.dynamodb.messages_table.clone(),
            recent_index: settings.dynamodb.recent_index.clone(),
            state: format!("{tag}_sim_state"),
        };
        let sim = server::start(
            SimConfig {
                token: secrecy::ExposeSecret::expose_secret(&settings.conversations.token).clone(),
                media_public_key_pem: std::fs::read_to_string(
                    workspace().join("config/dev-keys/DEV-ONLY-media-signing-public.pem"),
                )
                .expect("dev public key"),
                media_issuer: settings.media.issuer.clone(),
                tables: tables.clone(),
                dynamo_endpoint: settings.dynamodb.endpoint.clone(),
                region: settings.dynamodb.region.clone(),
            },
            "127.0.0.1:0",
        )
        .await
        .expect("the DynamoDB emulator must be running (scripts/services.sh)");
        settings.conversations.base_url = sim.base_url.clone();
        let dynamo = store::client(&settings.dynamodb.endpoint, &settings.dynamodb.region).await;
        let proxy = if opts.dynamo_proxy {
            let p = dynamo_proxy::DynamoProxy::start(&settings.dynamodb.endpoint).await;
            settings.dynamodb.endpoint = p.url.clone();
            Some(p)
        } else {
            None
        };
        let api = migrator_api::startup::start(settings.clone())
            .await
            .expect("api starts (PostgreSQL and RabbitMQ must be running)");
        let mut env = Self {
            proxy,
            api_url: api.base_url.clone(),
            api: Some(api),
            settings,
            sim,
            tables,
            dynamo,
            http: reqwest::Client::new(),
            workers: Vec::new(),
            tag,
        };
        for _ in 0..opts.workers {
            env.start_worker();
        }
        env
    }

    /// Starts one more in-process worker.
    pub fn start_worker(&mut self) {
        let (tx, rx) = watch::channel(false);
        let settings = self.settings.clone();
        let h = tokio::spawn(async move { migrator_worker::run(settings, rx).await });
        self.workers.push((tx, h));
    }

    /// Stops every in-process worker gracefully.
    pub async fn stop_workers(&mut self) {
        for (tx, h) in self.workers.drain(..) {
            let _ = tx.send(true);
            h.await.expect("worker task").expect("worker exits cleanly");
        }
    }

    /// A token of the C1 `shopper_id` (HS256 with the configured secret), valid for an hour.
    pub fn app_token(&self, shopper_id: &str) -> String {
        self.token(json!({ "sub": shopper_id, "exp": now() + 3600 }))
    }

    /// An admin token.
    pub fn admin_token(&self) -> String {
        self.token(json!({ "sub": "operator", "role": "admin", "exp": now() + 3600 }))
    }

    /// Signs arbitrary claims with the configured secret.
    pub fn token(&self, claims: Value) -> String {
        let secret = secrecy::ExposeSecret::expose_secret(&self.settings.api.jwt_secret).clone();
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    }

    /// A request to the api; returns the status and the JSON body (Null when not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.api_url, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("api reachable");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET as the C1.
    pub async fn get(&self, shopper_id: &str, path: &str) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::GET,
            path,
            Some(&self.app_token(shopper_id)),
            None,
        )
        .await
    }

    /// POST as the C1.
    pub async fn post(
        &self,
        shopper_id: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::POST,
            path,
            Some(&self.app_token(shopper_id)),
            body,
        )
        .await
    }

    /// Admin call.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(&self.admin_token()), body)
            .await
    }

    /// What the web chat initiative does for a C1.
    pub async fn create_account(&self, shopper_id: &str, name: &str) -> Value {
        let (s, v) = self
            .admin(
                reqwest::Method::POST,
                "/admin/accounts",
                Some(json!({ "shopper_id": shopper_id, "name": name })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    /// Seeds a C1 into the simulator (its REST state and DynamoDB tables).
    pub async fn seed(&self, spec: &C1Spec) {
        store::seed_c1(&self.dynamo, &self.tables, spec, &self.sim.base_url)
            .await
            .expect("seed");
    }

    /// Sets the simulator's injected faults.
    pub async fn set_faults(&self, f: Faults) {
        let r = self
            .http
            .put(format!("{}/_sim/faults", self.sim.base_url))
            .json(&f)
            .send()
            .await
            .expect("sim");
        assert!(r.status().is_success());
    }

    /// Polls `/check-migration-status` until `target` (app-facing) or the timeout; returns the
    /// distinct statuses observed, in order.
    pub async fn wait_status(
        &self,
        shopper_id: &str,
        target: &str,
        timeout: Duration,
    ) -> Vec<String> {
        let start = Instant::now();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let (s, v) = self.get(shopper_id, "/check-migration-status").await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let st = v["migration_status"].as_str().expect("status").to_string();
            if seen.last() != Some(&st) {
                seen.push(st.clone());
            }
            if st == target {
                return seen;
            }
            if start.elapsed() > timeout {
                let (_, admin) = self
                    .admin(
                        reqwest::Method::GET,
                        &format!("/admin/accounts/{shopper_id}/migration"),
                        None,
                    )
                    .await;
                panic!("{shopper_id} did not reach {target} within {timeout:?}; saw {seen:?}; admin view {admin}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Polls the admin view until the real (not app-facing) status is `status`; returns the view.
    pub async fn wait_admin_status(
        &self,
        shopper_id: &str,
        status: &str,
        timeout: Duration,
    ) -> Value {
        let start = Instant::now();
        loop {
            let path = format!("/admin/accounts/{shopper_id}/migration");
            let (_, v) = self.admin(reqwest::Method::GET, &path, None).await;
            if v["migration_status"] == status {
                return v;
            }
            assert!(
                start.elapsed() < timeout,
                "{shopper_id} did not reach {status}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A direct database connection (assertions).
    pub async fn db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.settings.database.url)
            .await
            .expect("db")
    }

    /// Stops everything and removes the test's database, queues and tables.
    pub async fn shutdown(mut self) {
        self.stop_workers().await;
        if let Some(api) = self.api.take() {
            api.stop().await;
        }
        self.sim.handle.stop(true).await;
        if let Some(p) = self.proxy.take() {
            p.stop().await;
        }
        store::drop_tables(&self.dynamo, &self.tables).await;
        if let Ok(conn) = migrator_core::queue::connect(&self.settings.amqp.url).await {
            if let Ok(ch) = conn.create_channel().await {
                let names = migrator_core::queue::QueueNames::new(&self.settings.amqp.prefix);
                for q in [&names.hops, &names.retry, &names.dead] {
                    let _ = ch.queue_delete(q, Default::default()).await;
                }
            }
        }
        let _ = drop_database(&self.tag).await;
        let _ = std::fs::remove_dir_all(&self.settings.blobs.dir);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Creates an empty database.
pub async fn create_database(name: &str) -> anyhow::Result<()> {
    let mut c = AsyncPgConnection::establish(&format!("{}/postgres", pg_server()))
        .await
        .context("connect to postgres")?;
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut c)
        .await?;
    Ok(())
}

/// Drops a database, disconnecting its users.
pub async fn drop_database(name: &str) -> anyhow::Result<()> {
    let mut c = AsyncPgConnection::establish(&format!("{}/postgres", pg_server())).await?;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut c)
        .await?;
    Ok(())
}

/// Verification of a migrated C1 against its source spec.
pub mod dynamo_proxy;

pub mod verify {
    use super::TestEnv;
    use conversations_sim::media;
    use conversations_sim::model::C1Spec;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use reqwest::StatusCode;
    use serde_json::Value;
    use std::collections::HashMap;

    /// Every page of a list endpoint.
    pub async fn all_pages(env: &TestEnv, shopper: &str, path: &str, key: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for page in 1.. {
            let sep = if path.contains('?') { '&' } else { '?' };
            let (s, v) = env
                .get(shopper, &format!("{path}{sep}page={page}&per_page=100"))
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let items = v[key].as_array().expect("list").clone();
            let total = v["total_count"].as_i64().unwrap() as usize;
            out.extend(items);
            if out.len() >= total {
                break;
            }
        }
        out
    }

    /// Asserts the destination equals the source: one conversation per valid non-web-chat
    /// thread, every message with its content, in order, attachments stored or failed as the
    /// media service answers; returns (conversations, messages) checked.
    pub async fn destination_equals_source(
        env: &TestEnv,
        spec: &C1Spec,
        skip_thread: impl Fn(&str) -> bool,
    ) -> (usize, usize) {
        use migrator_core::db::schema::{accounts as a, conversations as c};
        let mut db = env.db().await;
        let account: uuid::Uuid = a::table
            .filter(a::shopper_id.eq(&spec.shopper_id))
            .select(a::id)
            .first(&mut db)
            .await
            .unwrap();
        let ids: Vec<(uuid::Uuid, Option<String>)> = c::table
            .filter(c::account_id.eq(account))
            .filter(c::native.eq(false))
            .select((c::id, c::source_id))
            .load(&mut db)
            .await
            .unwrap();
        let by_source: HashMap<String, uuid::Uuid> = ids
            .into_iter()
            .filter_map(|(id, s)| Some((s?, id)))
            .collect();
        let expected: Vec<_> = spec
            .threads
            .iter()
            .filter(|t| t.channel_type != "webchat" && !skip_thread(&t.thread_id))
            .collect();
        assert_eq!(
            by_source.len(),
            expected.len(),
            "one conversation per thread, no duplicates"
        );
        let mut messages = 0;
        for t in &expected {
            let conv = by_source
                .get(&t.thread_id)
                .unwrap_or_else(|| panic!("thread {} migrated", t.thread_id));
            let got = all_pages(
                env,
                &spec.shopper_id,
                &format!("/conversations/{conv}/messages"),
                "messages",
            )
            .await;
            assert_eq!(got.len(), t.messages.len(), "messages of {}", t.thread_id);
            let mut want = t.messages.clone();
            want.sort_by_key(|m| m.sort_key());
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(
                    g["body"].as_str(),
                    w.body.as_deref(),
                    "body of {}",
                    w.message_id
                );
                assert_eq!(g["direction"], w.direction.as_str());
                assert_eq!(g["author_name"].as_str(), w.author_name.as_deref());
                assert_eq!(g["starred"], w.starred.unwrap_or(false));
                let sent =
                    chrono::DateTime::parse_from_rfc3339(g["sent_at"].as_str().unwrap()).unwrap();
                assert_eq!(sent.timestamp_millis(), w.sent_at);
                if let Some(tel) = &w.telephony {
                    assert_eq!(&g["metadata"]["telephony"], tel);
                }
                let atts = g["attachments"].as_array().unwrap();
                assert_eq!(atts.len(), w.attachments.len());
                for (ga, wa) in atts.iter().zip(&w.attachments) {
                    assert_eq!(ga["file_name"], wa.file_name.as_str());
                    if media::is_gone(&wa.media_id) {
                        assert_eq!(ga["status"], "failed", "{ga}");
                        assert!(ga["url"].is_null());
                    } else {
                        assert_eq!(ga["status"], "stored", "{ga}");
                        let url = ga["url"].as_str().unwrap();
                        let resp = env
                            .http
                            .get(format!("{}{}", env.api_url, url))
                            .bearer_auth(env.app_token(&spec.shopper_id))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(resp.status(), StatusCode::OK);
                        assert_eq!(resp.headers()["content-type"], "image/png");
                        let bytes = resp.bytes().await.unwrap();
                        assert_eq!(
                            bytes.as_ref(),
                            media::bytes_for(&wa.media_id, wa.size_bytes as usize).as_slice()
                        );
                    }
                }
                messages += 1;
            }
        }
        (expected.len(), messages)
    }
}

/// Worker processes (for tests that kill them).
pub mod process {
    use migrator_core::settings::Settings;
    use secrecy::ExposeSecret;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};

    /// The worker binary built by `cargo build --bins` (`make test` builds it first).
    pub fn worker_binary() -> PathBuf {
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| super::workspace().join("target"));
        // a release harness (the benchmark) runs release workers
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        let bin = target.join(profile).join("migrator-worker");
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build --bins` (make test does)",
            bin.display()
        );
        bin
    }

    /// The settings as `MIGRATOR__…` variables.
    pub fn settings_env(s: &Settings) -> Vec<(String, String)> {
        let w = &s.worker;
        [
            ("DATABASE__URL", s.database.url.clone()),
            ("DATABASE__POOL_SIZE", s.database.pool_size.to_string()),
            ("AMQP__URL", s.amqp.url.clone()),
            ("AMQP__PREFIX", s.amqp.prefix.clone()),
            ("CONVERSATIONS__BASE_URL", s.conversations.base_url.clone()),
            (
                "CONVERSATIONS__TIMEOUT_MS",
                s.conversations.timeout_ms.to_string(),
            ),
            (
                "CONVERSATIONS__TOKEN",
                s.conversations.token.expose_secret().clone(),
            ),
            (
                "MEDIA__SIGNING_KEY_PATH",
                s.media.signing_key_path.display().to_string(),
            ),
            ("DYNAMODB__ENDPOINT", s.dynamodb.endpoint.clone()),
            ("DYNAMODB__THREADS_TABLE", s.dynamodb.threads_table.clone()),
            (
                "DYNAMODB__MESSAGES_TABLE",
                s.dynamodb.messages_table.clone(),
            ),
            ("DYNAMODB__PAGE_SIZE", s.dynamodb.page_size.to_string()),
            ("STS__ENDPOINT", s.sts.endpoint.clone()),
            ("BLOBS__DIR", s.blobs.dir.display().to_string()),
            ("WORKER__LEASE_SECS", w.lease_secs.to_string()),
            ("WORKER__RETRY_BASE_MS", w.retry_base_ms.to_string()),
            ("WORKER__RETRY_MAX_MS", w.retry_max_ms.to_string()),
            ("WORKER__MAX_CALL_RETRIES", w.max_call_retries.to_string()),
            ("WORKER__MAX_HOP_ATTEMPTS", w.max_hop_attempts.to_string()),
            (
                "WORKER__SWEEP_INTERVAL_SECS",
                w.sweep_interval_secs.to_string(),
            ),
            (
                "WORKER__STALLED_AFTER_SECS",
                w.stalled_after_secs.to_string(),
            ),
            ("WORKER__WRITE_BATCH", w.write_batch.to_string()),
            ("WORKER__CONCURRENCY", w.concurrency.to_string()),
            ("WORKER__RECENT_DAYS", w.recent_days.to_string()),
            (
                "WORKER__RECENT_MAX_THREADS",
                w.recent_max_threads.to_string(),
            ),
            (
                "WORKER__ATTACHMENT_CONCURRENCY",
                w.attachment_concurrency.to_string(),
            ),
            (
                "WORKER__THREAD_CONCURRENCY",
                w.thread_concurrency.to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (format!("MIGRATOR__{k}"), v))
        .collect()
    }

    /// Starts a worker process with the test's settings.
    pub fn spawn_worker(s: &Settings) -> Child {
        command(s).spawn().expect("spawn worker")
    }

    /// The command that starts a worker with these settings (wrap it as you need).
    pub fn command(s: &Settings) -> Command {
        let mut c = Command::new(worker_binary());
        c.current_dir(super::workspace())
            .envs(settings_env(s))
            .env(
                "RUST_LOG",
                std::env::var("WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        c
    }

    /// SIGKILL.
    pub fn kill9(c: &mut Child) {
        let _ = c.kill();
        let _ = c.wait();
    }

    /// SIGTERM, then the exit status.
    pub fn term(c: &mut Child) -> std::process::ExitStatus {
        unsafe_free_sigterm(c.id());
        c.wait().expect("wait")
    }

    fn unsafe_free_sigterm(pid: u32) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
    }
}
