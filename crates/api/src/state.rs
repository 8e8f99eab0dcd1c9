//! What every handler shares.

use crate::jwt::JwtVerifier;
use migrator_core::blob::BlobStore;
use migrator_queue::Publisher;
use migrator_runtime::settings::Settings;
use migrator_source::conversations::ConversationsClient;
use migrator_store::DbPool;
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
    /// Conversations for the eligibility check: short timeout, no retries.
    pub eligibility: ConversationsClient,
    /// Conversations with the phases' timeouts and retries, and its DynamoDB (preflight
    /// estimates; reached only when one is asked for).
    pub sources: migrator_source::Sources,
    /// Attachment bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// The OpenAPI document, generated once.
    pub openapi: String,
    /// Per-C1 request limits on the app endpoints.
    pub limits: crate::limits::AppLimits,
}
