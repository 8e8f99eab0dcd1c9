//! The Conversations platform as we reach it, one client each, built from the settings: the
//! REST API (eligibility, configs-migration), its DynamoDB tables through STS, the media
//! service (cert JWT), the rate limiter that shares the fleet's caps, and the preflight estimate
//! built on them. What its data means and how an item is checked is `migrator_core::source`.

pub mod conversations;
pub mod dynamo;
pub mod item_codec;
pub mod media;
pub mod preflight;
pub mod purpose;
pub mod ratelimit;
pub mod retry;

use conversations::ConversationsClient;
use dynamo::DynamoSource;
use migrator_runtime::settings::Settings;
use ratelimit::RateLimiter;
use std::sync::Arc;
use std::time::Duration;

/// The clients of the Conversations platform a process reads through, built once from the
/// settings: the REST API with the phases' timeout and retries (`conversations.timeout_ms`,
/// `worker.call_backoff`), and DynamoDB. Both wait for `limits` first (a worker's share of the
/// fleet's caps; none for the api's operator reads).
#[derive(Clone)]
pub struct Sources {
    /// REST: configs-migration, eligibility.
    pub rest: ConversationsClient,
    /// DynamoDB through STS.
    pub dynamo: DynamoSource,
}

/// The rate limiters a process's source calls wait on.
#[derive(Clone, Default)]
pub struct RateLimits {
    /// DynamoDB reads.
    pub reads: Arc<RateLimiter>,
    /// REST calls.
    pub rest: Arc<RateLimiter>,
}

impl Sources {
    /// The clients `settings` describe, waiting on `limits` (no network call is made yet).
    pub async fn from_settings(settings: &Settings, limits: RateLimits) -> Self {
        let w = &settings.worker;
        Self {
            rest: ConversationsClient::from_settings(
                settings,
                Duration::from_millis(settings.conversations.timeout_ms),
                w.call_backoff(),
            )
            .with_limiter(limits.rest),
            dynamo: DynamoSource::new(
                &settings.dynamodb,
                &settings.sts,
                w.max_call_retries,
                limits.reads,
            )
            .await,
        }
    }
}
