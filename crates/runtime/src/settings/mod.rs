//! Typed settings, layered: `config/default.toml` -> `config/<MIGRATOR_ENV>.toml` -> an
//! environment file -> environment variables (`MIGRATOR__SECTION__KEY`, e.g.
//! `MIGRATOR__DATABASE__URL`). Every key is documented in `docs/configuration.md`. A production
//! start refuses development values ([`production`]).

mod campaign;
mod conn_url;
mod console;
mod load;
pub mod production;

pub use campaign::{CampaignSettings, ProgramSettings};
pub use conn_url::ConnUrl;
pub use console::ConsoleSettings;

pub use load::SettingsError;

/// Tests that set `MIGRATOR__…` variables, and those that load settings (which read them), take
/// this lock: the process environment is shared by every test of the binary.
#[cfg(test)]
pub(crate) fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// All settings of the api, the worker and the tools.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    /// The profile, named by `MIGRATOR_ENV`: `production` refuses to start on development
    /// values; `development` names them as intended; unnamed (empty, the default) allows them
    /// only while every listener is on loopback.
    #[serde(default)]
    pub environment: String,
    /// Postgres.
    pub database: DatabaseSettings,
    /// RabbitMQ.
    pub amqp: AmqpSettings,
    /// The HTTP api.
    pub api: ApiSettings,
    /// Encryption of channel credentials at rest.
    pub crypto: CryptoSettings,
    /// The Conversations REST API.
    pub conversations: ConversationsSettings,
    /// The Conversations media service (cert JWT).
    pub media: MediaSettings,
    /// The Conversations DynamoDB tables.
    pub dynamodb: DynamoSettings,
    /// Cross-account access through STS AssumeRole.
    pub sts: StsSettings,
    /// The worker fleet.
    pub worker: WorkerSettings,
    /// Attachment storage.
    pub blobs: BlobSettings,
    /// What the fleet may ask of the Conversations platform.
    pub source: SourceSettings,
    /// Trace export.
    pub telemetry: TelemetrySettings,
    /// Verifications of migrated accounts.
    pub verify: VerifySettings,
    /// Campaigns: the program's backstop before the sunset date.
    pub campaign: CampaignSettings,
    /// The program as a whole.
    #[serde(default)]
    pub program: ProgramSettings,
    /// The operators' console.
    #[serde(default)]
    pub console: ConsoleSettings,
}

/// Verifications: source and destination of an account compared, by the workers.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VerifySettings {
    /// Verify each account once its all-messages phase is done.
    pub after_migration: bool,
    /// How often an idle worker looks for a verification to run.
    pub poll_secs: u64,
    /// Lease of a running verification (renewed every third of it).
    pub lease_secs: i64,
    /// Tries of one verification before it is recorded failed (a permanent failure, such as
    /// the source not knowing the C1, is failed at its first try).
    pub max_attempts: i32,
    /// Wait before a verification that failed transiently is tried again (doubling with
    /// each try, at most an hour).
    pub retry_secs: u64,
    /// Differences listed in a result (all are counted).
    pub max_listed: usize,
    /// Finished verifications are kept this long (each account's newest always).
    pub retention_days: i64,
    /// Repairs of a run's differences (the differing threads copied again, then verified
    /// again) before the run is parked with its last verification for an operator.
    pub max_repairs: i32,
}

/// Fleet-wide caps on the Conversations platform (an operator's throttle overrides them).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SourceSettings {
    /// DynamoDB reads per second for the whole fleet, shared by the live workers (0: none).
    pub max_reads_per_sec: u32,
    /// REST calls per second for the whole fleet, shared by the live workers (0: none).
    pub max_rest_per_sec: u32,
}

/// Postgres connection.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseSettings {
    /// `postgres://…` URL.
    pub url: ConnUrl,
    /// Pool size per process.
    pub pool_size: usize,
    /// Longest wait for a pooled connection (then the request or hop fails fast).
    pub pool_wait_ms: u64,
    /// A pooled connection idle longer than this is checked (`SELECT 1`) before it is handed
    /// out; one used more recently is handed out unchecked (a closed one is still refused).
    pub check_idle_after_ms: u64,
    /// Longest time to open a connection.
    pub connect_timeout_ms: u64,
    /// Postgres `statement_timeout` of every connection: no query runs longer.
    pub statement_timeout_ms: u64,
    /// The api and the worker apply pending schema migrations when they start (development);
    /// a cluster runs `migrator-api migrate` once per release instead (production: false).
    pub migrate_at_start: bool,
    /// How long a starting process waits for the schema (seconds): for another process's
    /// migrations (one applies them, under a Postgres advisory lock; the rest wait), or
    /// without `migrate_at_start` for the release's migrate Job. Past it the process exits
    /// with one line naming this setting and who held the lock.
    pub schema_wait_secs: u64,
}

/// RabbitMQ connection and names.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AmqpSettings {
    /// `amqp://…` URL (a vhost in the URL separates deployments too).
    pub url: ConnUrl,
    /// Prefix of every queue name, so several deployments can share one broker.
    pub prefix: String,
    /// `quorum` (replicated; production) or `classic` (a broker without quorum queues).
    pub queue_type: String,
    /// Longest time to connect, or to wait for a publisher confirm.
    pub timeout_ms: u64,
    /// The dead-letter queue keeps at most this many hops (oldest dropped first) ...
    pub dead_max_length: u32,
    /// ... for at most this many days (they are in Postgres too). Both are a RabbitMQ policy,
    /// so a change takes effect on the live queue.
    pub dead_ttl_days: u32,
    /// The RabbitMQ management API (`http://host:15672`) the api applies the queues' policies
    /// through when it starts, with `url`'s credentials; empty: applied by hand
    /// (`migrator-api amqp-policies --print`).
    pub management_url: String,
}

/// Trace export (logs are configured by `RUST_LOG` and `LOG_FORMAT`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TelemetrySettings {
    /// OTLP/HTTP traces endpoint of a collector (`http://otel-collector:4318/v1/traces`);
    /// empty: no export.
    pub otlp_endpoint: String,
    /// Longest export call.
    pub otlp_timeout_ms: u64,
    /// Share of traces kept (0.0–1.0), unless the parent span decided.
    pub otlp_sample_ratio: f64,
    /// Which spans are exported (`RUST_LOG` syntax), apart from what the logs keep.
    pub otlp_filter: String,
}

/// HTTP api and its authentication.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ApiSettings {
    /// `host:port` to listen on.
    pub listen: String,
    /// `host:port` of a second listener for operators' endpoints and `/metrics` (probes and
    /// `/openapi.json` too), which `listen` then no longer serves; empty: one listener.
    pub admin_listen: String,
    /// `HS256` (default) or `RS256`.
    pub jwt_algorithm: String,
    /// HS256 secret.
    #[serde(serialize_with = "expose")]
    pub jwt_secret: SecretString,
    /// RS256 public key (PEM text) or empty.
    pub jwt_public_key_pem: String,
    /// Checked when non-empty.
    pub jwt_issuer: String,
    /// Checked when non-empty.
    pub jwt_audience: String,
    /// Operators' tokens: `HS256` or `RS256`, verified with their own key and audience, never
    /// with the app's (a leaked app signing key cannot mint operators).
    pub admin_jwt_algorithm: String,
    /// HS256 secret of operator tokens.
    #[serde(serialize_with = "expose")]
    pub admin_jwt_secret: SecretString,
    /// RS256 public key (PEM text) of operator tokens, or empty.
    pub admin_jwt_public_key_pem: String,
    /// `iss` of operator tokens (required in production).
    pub admin_jwt_issuer: String,
    /// `aud` of operator tokens (required in production).
    pub admin_jwt_audience: String,
    /// How long `GET /accounts` waits for Conversations before answering `not-started` anyway.
    pub eligibility_timeout_ms: u64,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// App requests one C1 (a token's `sub`) may make per second, sustained, per api process.
    pub app_requests_per_sec: u32,
    /// ... and at once (the burst).
    pub app_burst: u32,
    /// App writes (requests that are not a GET) one C1 may make per minute.
    pub app_writes_per_min: u32,
    /// `GET /accounts` asks Conversations about a not-started C1 at most this often.
    pub eligibility_every_secs: u64,
    /// Operator actions stay in `audit_log` this many days (the sweeper prunes older ones).
    pub audit_retention_days: i64,
    /// A preflight estimate runs at most this many DynamoDB `Select=COUNT` queries...
    pub preflight_max_counts: usize,
    /// ... and this many seconds; threads left are estimated at the mean of those counted.
    pub preflight_max_secs: u64,
    /// Accounts one `POST /admin/accounts/batch` takes at most (413 past it; the rest goes in
    /// another request).
    pub import_max_accounts: usize,
    /// Bytes one `POST /admin/accounts/batch` body holds at most (413 past it).
    pub import_max_bytes: usize,
}

/// Attachment storage: files in a directory (the local default) or S3-compatible object
/// storage (production).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BlobSettings {
    /// `fs` (files under `dir`) or `s3` (objects in `s3.bucket` under `s3.prefix`).
    pub backend: BlobBackend,
    /// Directory of the file-system store (the worker writes, the api reads).
    pub dir: PathBuf,
    /// How `GET /attachments/{id}` answers: `stream` (the api streams the bytes with its inert
    /// headers; the default) or `presigned` (a 302 to a presigned GET of `presign_secs`
    /// carrying the same content type and disposition; object storage only).
    pub serve: BlobServe,
    /// Lifetime of a presigned URL, in seconds (1 to 600).
    pub presign_secs: u64,
    /// The object store (`backend = "s3"`).
    pub s3: S3Settings,
}

/// Where attachment bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// A directory of files (`blobs.dir`).
    Fs,
    /// S3 or anything that speaks its API (MinIO, Ceph, GCS interoperability).
    S3,
}

/// How stored attachments are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobServe {
    /// Through the api, with `nosniff` and `Content-Security-Policy: sandbox`.
    Stream,
    /// A redirect to a short-lived presigned URL of the object store.
    Presigned,
}

/// An S3-compatible bucket. Credentials come from the standard AWS chain (environment, web
/// identity / IRSA, ECS, IMDS, profile) unless `access_key_id` is set (local emulators only: a
/// production start refuses a development value).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct S3Settings {
    /// Bucket name; it must exist (a worker's start stops, naming it, when it does not).
    pub bucket: String,
    /// Key prefix every object is put under (`<prefix>/<account>/<run>/<attachment>`); empty
    /// for none.
    pub prefix: String,
    /// The bucket's region.
    pub region: String,
    /// Endpoint override (MinIO, Ceph, an emulator); empty for AWS.
    pub endpoint: String,
    /// Path-style addressing (`<endpoint>/<bucket>/<key>`), as most S3-compatible stores need.
    pub force_path_style: bool,
    /// Bytes an upload part holds (5 MiB to 64 MiB): a larger file is a multipart upload, and a
    /// writer holds at most one part in memory.
    pub part_size_bytes: usize,
    /// Connecting, per attempt and per call (retries included) bounds, in milliseconds.
    pub connect_timeout_ms: u64,
    pub attempt_timeout_ms: u64,
    pub operation_timeout_ms: u64,
    /// Static credentials for a local emulator; empty = the default AWS chain.
    pub access_key_id: String,
    /// Its secret; empty = the default AWS chain.
    #[serde(serialize_with = "expose")]
    pub secret_access_key: SecretString,
}

/// Encryption keys of channel credentials at rest: several can be known (rotation), one seals.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CryptoSettings {
    /// Id of the key new values are sealed with.
    pub active_key: String,
    /// Key id -> 32 bytes, base64. Old keys stay until no row uses them.
    #[serde(serialize_with = "expose_map")]
    pub credentials_keys: BTreeMap<String, SecretString>,
}

/// Conversations REST API.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ConversationsSettings {
    /// Base URL, e.g. `http://127.0.0.1:8090`.
    pub base_url: String,
    /// Service token sent as `Authorization: Bearer`.
    #[serde(serialize_with = "expose")]
    pub token: SecretString,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Largest response body read (a longer one is an answer outside the contract).
    pub max_body_bytes: usize,
    /// How long items keep landing in Conversations after a C1's switch (the settle window,
    /// `spec/source-contract.md` section 5; at most 900 s in production), in seconds: a
    /// completed migration catches up at the window's middle and at its end, and is verified
    /// once it has settled. 0: no window (verified at completion).
    pub settle_window_secs: u64,
}

/// Cert JWT for the media service.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MediaSettings {
    /// PEM file of re:amaze's RS256 private key.
    pub signing_key_path: PathBuf,
    /// `iss` claim.
    pub issuer: String,
    /// Lifetime of a cert JWT (at most 300 s by contract), counted from its `iat`.
    pub token_ttl_secs: u64,
    /// `iat` of a cert JWT is set this far back, so a media service whose clock is behind ours
    /// by up to this much (verifying with no leeway) accepts it.
    pub clock_skew_secs: u64,
    /// A download whose cert JWT was refused (401/403, twice in a row) stays pending and is
    /// tried again after this long. A second refusal is final unless refusals are systemic.
    pub refused_retry_secs: u64,
    /// Refusals within a minute across the fleet from which they are systemic (our
    /// credentials or clocks, not the attachments): refused downloads then stay pending,
    /// uncounted, until the media service accepts our tokens again.
    pub refusal_threshold: u32,
    /// Per-download timeout.
    pub timeout_ms: u64,
    /// Downloads of one attachment before a transient failure (5xx, 429, timeout) is final.
    pub max_attempts: u32,
    /// First wait before a download that failed transiently is tried again (then doubling).
    pub retry_base_secs: u64,
    /// Longest wait between two tries.
    pub retry_max_secs: u64,
    /// Origins (`scheme://host[:port]`) media may be fetched from; empty: the origin of
    /// `conversations.base_url`. Any other URL is never contacted. In the environment:
    /// comma-separated (`MIGRATOR__MEDIA__ALLOWED_ORIGINS=https://a,https://b`).
    #[serde(default, deserialize_with = "list_or_commas")]
    pub allowed_origins: Vec<String>,
    /// Largest attachment stored; a larger one (declared or actual) fails as `too_large`.
    pub max_bytes: u64,
}

/// DynamoDB.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DynamoSettings {
    /// AWS region.
    pub region: String,
    /// Endpoint override (local emulator); empty for AWS.
    pub endpoint: String,
    /// Threads table name.
    pub threads_table: String,
    /// Messages table name.
    pub messages_table: String,
    /// GSI on threads, sorted by `last_message_at`.
    pub recent_index: String,
    /// Items per Query page.
    pub page_size: i32,
    /// Longest time of one call, retries included.
    pub operation_timeout_ms: u64,
    /// Longest time of one attempt of a call (a hung connection is given up after this).
    pub attempt_timeout_ms: u64,
    /// Longest time to open a connection.
    pub connect_timeout_ms: u64,
}

/// STS AssumeRole.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StsSettings {
    /// Endpoint override (local emulator); empty for AWS.
    pub endpoint: String,
    /// Role in the Conversations account.
    pub role_arn: String,
    /// Optional external id.
    pub external_id: String,
    /// Session name.
    pub session_name: String,
    /// Requested session lifetime.
    pub duration_secs: i32,
    /// Refresh this long before expiry.
    pub refresh_before_secs: i64,
    /// Base credentials for the AssumeRole call; empty = the default AWS chain.
    pub access_key_id: String,
    /// Base secret key; empty = the default AWS chain.
    #[serde(serialize_with = "expose")]
    pub secret_access_key: SecretString,
}

/// Worker behaviour.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WorkerSettings {
    /// `host:port` of the worker's own HTTP port: `/healthz`, `/readyz`, `/metrics` (port 0:
    /// any; never exposed publicly). Empty: `127.0.0.1:9091`, or any free loopback port when
    /// another process has it (several workers on one host); a configured address that is
    /// taken stops the start.
    pub listen: String,
    /// All-messages hops a worker process runs at once.
    pub concurrency: u16,
    /// Channels hops a worker runs at once, in slots of their own: a C1 who has just opened the
    /// app never waits behind another C1's history.
    pub channels_concurrency: u16,
    /// Recent-messages hops a worker runs at once, in slots of their own.
    pub recent_concurrency: u16,
    /// Campaign hops (every phase) a worker runs at once, in slots of their own; their source
    /// reads yield to the app's.
    pub campaign_concurrency: u16,
    /// A hop works at most this long, then commits its checkpoint with a continuation hop.
    pub max_hop_secs: u64,
    /// ... or at most this many committed pages (0: no page limit).
    pub max_hop_pages: u32,
    /// Failed attempts of a run (across deliveries, re-enqueues and repairs) before it is
    /// parked: failed, and left alone by the sweeper until an operator un-parks it.
    pub max_total_attempts: i32,
    /// Published outbox rows are deleted after this long.
    pub outbox_retention_secs: i64,
    /// Dead letters recorded in Postgres are deleted after this many days.
    pub dead_letter_retention_days: i64,
    /// Rejected source items are deleted after this many days.
    pub rejects_retention_days: i64,
    /// Runs no account points at any more (superseded by a new run) are deleted this many days
    /// after they finished.
    pub runs_retention_days: i64,
    /// How often a worker reads the fleet's steering (pause, caps) and says it is alive.
    pub fleet_poll_secs: u64,
    /// Lease lifetime; the heartbeat renews it every third of this.
    pub lease_secs: i64,
    /// "Recent" = last_message_at within this many days before the migration started.
    pub recent_days: i64,
    /// At most this many recent threads.
    pub recent_max_threads: usize,
    /// Attempts of one hop (in-hop retries excluded) before the phase fails.
    pub max_hop_attempts: u32,
    /// In-hop retries of one transient call.
    pub max_call_retries: u32,
    /// Base backoff of retries.
    pub retry_base_ms: u64,
    /// Longest backoff.
    pub retry_max_ms: u64,
    /// Sweeper period.
    pub sweep_interval_secs: u64,
    /// Repair of `messages-failure` accounts, period.
    pub repair_interval_secs: u64,
    /// Attachment downloads in flight at once.
    pub attachment_concurrency: usize,
    /// Threads whose messages are read at once.
    pub thread_concurrency: usize,
    /// Messages per write batch.
    pub write_batch: usize,
    /// ... and at most this many bytes of messages and rejects (bodies, metadata, raw items)
    /// per write batch, so a worker's memory stays flat whatever the items' sizes.
    pub write_batch_bytes: usize,
    /// Runs idle (unleased) this long are re-enqueued by the sweeper.
    pub stalled_after_secs: i64,
}

impl WorkerSettings {
    /// What follows a failed hop: `max_hop_attempts`, `max_total_attempts`, delays from five
    /// times `retry_base_ms` doubling to `retry_max_ms` (twenty times that when the failure is
    /// not the hop's fault).
    pub fn retry_policy(&self) -> migrator_core::setback::RetryPolicy {
        migrator_core::setback::RetryPolicy {
            max_hop_attempts: self.max_hop_attempts,
            max_total_attempts: self.max_total_attempts,
            backoff: migrator_core::retry::Backoff {
                base_ms: self.retry_base_ms.saturating_mul(5),
                max_ms: self.retry_max_ms,
                retries: 0,
            },
            max_patient_ms: self.retry_max_ms.saturating_mul(20),
        }
    }

    /// Retries of one call to the source within a hop: `max_call_retries`, from
    /// `retry_base_ms` doubling to `retry_max_ms` (at most 5 s: a hop is seconds long).
    pub fn call_backoff(&self) -> migrator_core::retry::Backoff {
        migrator_core::retry::Backoff {
            base_ms: self.retry_base_ms,
            max_ms: self.retry_max_ms.min(5_000),
            retries: self.max_call_retries,
        }
    }
}

impl MediaSettings {
    /// The wait before the next try of a download that failed transiently: from
    /// `retry_base_secs` doubling to `retry_max_secs`.
    pub fn retry_backoff(&self) -> migrator_core::retry::Backoff {
        migrator_core::retry::Backoff {
            base_ms: self.retry_base_secs.saturating_mul(1000),
            max_ms: self.retry_max_secs.saturating_mul(1000),
            retries: 0,
        }
    }
}

/// Secrets are written in clear by `Serialize`: it exists only to hand a child process its
/// settings in a file ([`Settings::write_json`]); never log a serialized `Settings`.
/// A list setting: a list in the files, or one string of comma-separated items (what an
/// environment variable holds); blank items dropped.
pub(crate) fn list_or_commas<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Commas(String),
    }
    let items = match Form::deserialize(d)? {
        Form::List(v) => v,
        Form::Commas(s) => s.split(',').map(String::from).collect(),
    };
    Ok(items
        .into_iter()
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .collect())
}

fn expose<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

fn expose_map<S: Serializer>(
    map: &BTreeMap<String, SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(map.len()))?;
    for (k, v) in map {
        m.serialize_entry(k, v.expose_secret())?;
    }
    m.end()
}
