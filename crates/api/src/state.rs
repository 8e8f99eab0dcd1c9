//! What every handler shares.

use crate::auth::JwtVerifier;
use migrator_core::blob::BlobStore;
use migrator_core::conversations::ConversationsClient;
use migrator_core::db::DbPool;
use migrator_core::dynamo::DynamoSource;
use migrator_core::queue::Publisher;
use migrator_core::settings::Settings;
use std::sync::Arc;

/// Application state.
pub struct AppState {
    /// Settings.
    pub settings: Arc<Settings>,
    /// Postgres.
    pub pool: DbPool,
    /// Hop publisher.
    pub publisher: Arc<Publisher>,
    /// App token checks.
    pub jwt: JwtVerifier,
    /// Operator token checks (their own key and audience).
    pub admin_jwt: JwtVerifier,
    /// Conversations (eligibility check: short timeout, no retries).
    pub conversations: ConversationsClient,
    /// Conversations with the phases' timeouts and retries (preflight estimates).
    pub source_rest: ConversationsClient,
    /// Conversations' DynamoDB (preflight estimates; reached only when one is asked for).
    pub dynamo: DynamoSource,
    /// Attachment bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// The OpenAPI document, generated once.
    pub openapi: String,
    /// Per-C1 request limits on the app endpoints.
    pub limits: crate::limits::AppLimits,
}
