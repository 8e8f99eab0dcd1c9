//! Everything a hop needs, built once per worker process from the settings.

use crate::sources::dynamo::DynamoSource;
use crate::sources::media::{allowed_origins, MediaClient};
use crate::steering::Steering;
use anyhow::Context as _;
use migrator_core::blob::{BlobStore, FsBlobStore};
use migrator_core::conversations::ConversationsClient;
use migrator_core::crypto::Keyring;
use migrator_core::db::{self, DbConn, DbPool};
use migrator_core::queue::{Broker, Publisher};
use migrator_core::settings::Settings;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    /// Settings.
    pub settings: Arc<Settings>,
    /// Postgres.
    pub pool: DbPool,
    /// Hop publisher (confirms).
    pub publisher: Arc<Publisher>,
    /// Conversations REST.
    pub conversations: ConversationsClient,
    /// Conversations DynamoDB.
    pub dynamo: DynamoSource,
    /// Media service.
    pub media: MediaClient,
    /// Attachment storage.
    pub blobs: Arc<dyn BlobStore>,
    /// Channel credential encryption.
    pub secrets: Keyring,
    /// This process, in lease owners and logs.
    pub worker_id: String,
    /// The fleet's steering: pause, and this worker's share of the caps on the source.
    pub steering: Arc<Steering>,
    /// Whether this worker holds its liveness lock (it takes hops only then).
    pub alive: watch::Receiver<bool>,
    alive_tx: Arc<watch::Sender<bool>>,
}

impl Ctx {
    /// Builds the context (no network calls; connections open lazily).
    pub async fn new(settings: Settings) -> anyhow::Result<Self> {
        let w = &settings.worker;
        let backoff = w.call_backoff();
        let pem = std::fs::read(&settings.media.signing_key_path).with_context(|| {
            format!(
                "reading media signing key {}",
                settings.media.signing_key_path.display()
            )
        })?;
        let steering = Arc::new(Steering::new(settings.media.refusal_threshold));
        let (alive_tx, alive) = watch::channel(false);
        let ctx = Self {
            pool: db::pool(&settings.database)?,
            publisher: Arc::new(Publisher::new(Broker::from_settings(&settings.amqp))),
            conversations: ConversationsClient::new(
                &settings.conversations.base_url,
                settings.conversations.token.clone(),
                Duration::from_millis(settings.conversations.timeout_ms),
                backoff,
            )
            .with_limiter(steering.rest.clone())
            .with_max_body(settings.conversations.max_body_bytes),
            dynamo: DynamoSource::new(
                &settings.dynamodb,
                &settings.sts,
                w.max_call_retries,
                steering.reads.clone(),
            )
            .await,
            media: MediaClient::new(
                &pem,
                &settings.media,
                allowed_origins(
                    &settings.media.allowed_origins,
                    &settings.conversations.base_url,
                )?,
                backoff,
            )?,
            blobs: Arc::new(FsBlobStore::new(&settings.blobs.dir)),
            secrets: Keyring::from_settings(&settings.crypto)?,
            worker_id: format!(
                "{}-{}-{}",
                hostname(),
                std::process::id(),
                &uuid::Uuid::new_v4().to_string()[..8]
            ),
            settings: Arc::new(settings),
            steering,
            alive,
            alive_tx: Arc::new(alive_tx),
        };
        Ok(ctx)
    }

    /// Holds this worker's liveness lock until `stop` flips ([`migrator_core::db::liveness`]).
    pub async fn hold_liveness(&self, stop: watch::Receiver<bool>) {
        migrator_core::db::liveness::hold(
            self.settings.database.clone(),
            self.worker_id.clone(),
            &self.alive_tx,
            stop,
        )
        .await
    }

    /// A pooled connection.
    pub async fn conn(&self) -> Result<DbConn, crate::error::HopError> {
        Ok(db::conn(&self.pool).await?)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "worker".into())
}
