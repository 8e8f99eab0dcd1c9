//! One isolated environment: simulator, api and workers against a fresh database, fresh
//! queue names and fresh DynamoDB tables.

use crate::db::{create_database, drop_database, pg_server};
use crate::{dynamo_proxy, env_or, workspace};
use conversations_sim::model::C1Spec;
use conversations_sim::server::{self, Faults, RunningSim, SimConfig};
use conversations_sim::store::{self, Tables};
use migrator_api::startup::RunningApi;
use migrator_runtime::settings::Settings;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Settings for one test: config/default.toml with unique names and fast retries.
pub fn test_settings(tag: &str) -> Settings {
    let mut s =
        Settings::development(&workspace().join("config")).expect("config/development.toml loads");
    s.database.url = format!("{}/{tag}", pg_server()).into();
    s.database.pool_size = 6;
    s.amqp.url = env_or(
        "MIGRATOR_TEST_AMQP",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
    .into();
    s.amqp.prefix = tag.to_string();
    s.api.listen = "127.0.0.1:0".into();
    s.worker.listen = "127.0.0.1:0".into();
    s.dynamodb.endpoint = env_or("MIGRATOR_TEST_DYNAMO", "http://127.0.0.1:8000");
    s.sts.endpoint = env_or("MIGRATOR_TEST_STS", "http://127.0.0.1:5055");
    s.dynamodb.threads_table = format!("{tag}_threads");
    s.dynamodb.messages_table = format!("{tag}_messages");
    s.dynamodb.page_size = 50;
    s.media.signing_key_path =
        workspace().join("config/dev-keys/DEV-ONLY-media-signing-private.pem");
    s.blobs.dir = std::env::temp_dir().join(format!("{tag}-blobs"));
    // MIGRATOR_TEST_BLOBS=s3: attachments in a bucket of its own on moto's S3 (`make test` runs
    // the attachment tests on both backends)
    if std::env::var("MIGRATOR_TEST_BLOBS").as_deref() == Ok("s3") {
        s.blobs.backend = migrator_runtime::settings::BlobBackend::S3;
        s.blobs.s3.endpoint = env_or("MIGRATOR_TEST_S3", "http://127.0.0.1:5055");
        s.blobs.s3.bucket = tag.to_string();
    }
    s.conversations.timeout_ms = 3000;
    // no settle window unless a test sets one (the settling tests do): verified at completion
    s.conversations.settle_window_secs = 0;
    s.worker.retry_base_ms = 20;
    s.worker.retry_max_ms = 400;
    s.worker.max_call_retries = 2;
    s.worker.max_hop_attempts = 3;
    s.worker.sweep_interval_secs = 1;
    s.worker.lease_secs = 6;
    s.worker.stalled_after_secs = 15;
    s.worker.write_batch = 100;
    // the harness polls every 25 ms; the per-C1 limits have a test of their own
    s.api.app_requests_per_sec = 100_000;
    s.api.app_burst = 100_000;
    s.api.app_writes_per_min = 100_000;
    s.api.eligibility_every_secs = 1;
    s
}

/// One isolated environment.
pub struct TestEnv {
    /// Its settings (workers started later use them too).
    pub settings: Settings,
    /// The api base URL.
    pub api_url: String,
    /// Base URL of operators' endpoints and `/metrics` (`api_url` unless `api.admin_listen`).
    pub admin_url: String,
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

impl EnvOptions {
    /// No worker in the process (a test starts its own, or none).
    pub fn no_workers() -> Self {
        Self {
            workers: 0,
            ..Default::default()
        }
    }
}

impl TestEnv {
    /// Simulator + api + one worker, with a fault-injecting proxy before DynamoDB.
    pub async fn with_dynamo_proxy() -> Self {
        let opts = EnvOptions {
            dynamo_proxy: true,
            ..Default::default()
        };
        Self::start_with(opts, |_| {}).await
    }

    /// Simulator + api + `n` workers.
    pub async fn with_workers(n: usize) -> Self {
        let opts = EnvOptions {
            workers: n,
            ..Default::default()
        };
        Self::start_with(opts, |_| {}).await
    }

    /// Simulator + api + one worker.
    pub async fn start() -> Self {
        Self::start_with(EnvOptions::default(), |_| {}).await
    }

    /// As [`TestEnv::start`], with options and a settings tweak.
    pub async fn start_with(opts: EnvOptions, tweak: impl FnOnce(&mut Settings)) -> Self {
        migrator_runtime::telemetry::init("warn");
        let tag = format!("mt{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut settings = test_settings(&tag);
        tweak(&mut settings);
        if settings.blobs.backend == migrator_runtime::settings::BlobBackend::S3 {
            crate::object_store::create_bucket(&settings.blobs.s3).await;
        }
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
                token: secrecy::ExposeSecret::expose_secret(&settings.conversations.token)
                    .to_string(),
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
            admin_url: api.admin_url.clone(),
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
        let h = tokio::spawn(async move { migrator_worker::serve(settings, rx).await });
        self.workers.push((tx, h));
    }

    /// Stops every in-process worker gracefully.
    pub async fn stop_workers(&mut self) {
        for (tx, h) in self.workers.drain(..) {
            let _ = tx.send(true);
            h.await.expect("worker task").expect("worker exits cleanly");
        }
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

    /// A C1 as it stands before migrating: its re:amaze account (the web chat initiative's)
    /// and its data in Conversations.
    pub async fn add_c1(&self, spec: &C1Spec) {
        self.create_account(&spec.shopper_id, "Shop").await;
        self.seed(spec).await;
    }

    /// Seeds a C1 into the simulator (its REST state and DynamoDB tables).
    pub async fn seed(&self, spec: &C1Spec) {
        store::seed_c1(&self.dynamo, &self.tables, spec, &self.sim.base_url)
            .await
            .expect("seed");
    }

    /// What the simulator served so far.
    pub async fn sim_stats(&self) -> conversations_sim::server::Stats {
        let url = format!("{}/_sim/stats", self.sim.base_url);
        let resp = self.http.get(url).send().await.expect("sim");
        resp.json().await.expect("sim stats")
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
                let admin = self.admin_view(shopper_id).await;
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
            let v = self.admin_view(shopper_id).await;
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
        remove_broker_objects(&self.settings).await;
        let _ = drop_database(&self.tag).await;
        let _ = std::fs::remove_dir_all(&self.settings.blobs.dir);
        let _ = std::fs::remove_file(crate::process::settings_file(&self.settings));
    }
}

/// Deletes the queues, exchanges and policies of `settings.amqp.prefix` (a test's, or a
/// test's processes'): quorum queues left behind weigh on the broker every later test shares.
pub async fn remove_broker_objects(settings: &Settings) {
    let broker = migrator_queue::Broker::from_settings(&settings.amqp);
    if let Ok(conn) = migrator_queue::connect(&broker).await {
        let ch = conn.create_channel().await;
        if let Ok(ch) = &ch {
            for q in broker.names.all_queues() {
                let _ = ch.queue_delete(q.as_str().into(), Default::default()).await;
            }
            for ex in [&broker.names.work, &broker.names.retry] {
                let _ = ch
                    .exchange_delete(ex.as_str().into(), Default::default())
                    .await;
            }
        }
        // the channel is kept until its connection is closed: one dropped while open
        // closes itself in the background, racing the connection's close
        let _ = conn.close(200, "bye".into()).await;
        drop(ch);
    }
    let _ = migrator_queue::policies::remove(&broker, &settings.amqp.management_url).await;
}
