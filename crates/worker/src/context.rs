//! Everything a hop needs, built once per worker process from the settings.

use crate::steering::Steering;
use migrator_core::blob::BlobStore;
use migrator_queue::{Broker, Publisher};
use migrator_runtime::settings::Settings;
use migrator_source::media::MediaClient;
use migrator_source::{RateLimits, Sources};
use migrator_store::crypto::Keyring;
use migrator_store::{self as db, DbConn, DbPool};
use std::sync::Arc;
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
    /// Conversations: REST and DynamoDB.
    pub sources: Sources,
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
        let steering = Arc::new(Steering::new(settings.media.refusal_threshold));
        let (alive_tx, alive) = watch::channel(false);
        let limits = RateLimits {
            reads: steering.reads.clone(),
            rest: steering.rest.clone(),
        };
        let ctx = Self {
            pool: db::pool(&settings.database)?,
            publisher: Arc::new(Publisher::new(Broker::from_settings(&settings.amqp))),
            sources: Sources::from_settings(&settings, limits).await,
            media: MediaClient::from_settings(&settings, settings.worker.call_backoff())?,
            blobs: migrator_store::blob::from_settings(&settings.blobs).await?,
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

    /// Holds this worker's liveness lock until `stop` flips ([`migrator_store::liveness`]).
    pub async fn hold_liveness(&self, stop: watch::Receiver<bool>) {
        migrator_store::liveness::hold(
            self.settings.database.clone(),
            self.worker_id.clone(),
            &self.alive_tx,
            stop,
        )
        .await
    }

    /// A pooled connection.
    pub async fn conn(&self) -> Result<DbConn, crate::error::WorkError> {
        Ok(db::conn(&self.pool).await?)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "worker".into())
}
