//! DynamoDB in the Conversations account, reached with STS AssumeRole credentials that are
//! refreshed before they expire. Endpoints are configuration (local emulators in dev and tests).
//! The one client of those tables: the worker's phases and verifier, the api's preflight.

use crate::conversations::SourceError;
use crate::item_codec;
use crate::ratelimit::RateLimiter;
use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region, SharedHttpClient};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::query::QueryOutput;

/// A key as the SDK holds it (the counts page through the table themselves).
type SdkItem = std::collections::HashMap<String, AttributeValue>;
use aws_sdk_dynamodb::types::AttributeValue;
use migrator_core::metrics::{DYNAMODB_PAGES, DYNAMODB_THROTTLED};
use migrator_runtime::settings::{DynamoSettings, StsSettings};
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;

/// A DynamoDB call's result.
pub type SourceResult<T> = Result<T, SourceError>;

/// A DynamoDB item.
pub use migrator_core::source::items::Item;

/// The SDK's hyper client with rustls on ring: the SDK crates are built without their default
/// client (rustls on aws-lc plus a legacy hyper 0.14 one), so every config sets one. Built once
/// per source and shared (it loads the platform's root certificates and holds the pool).
fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The bounds of every AWS call.
fn timeouts(cfg: &DynamoSettings) -> TimeoutConfig {
    let ms = |v: u64| Duration::from_millis(v.max(1));
    TimeoutConfig::builder()
        .connect_timeout(ms(cfg.connect_timeout_ms))
        .operation_attempt_timeout(ms(cfg.attempt_timeout_ms))
        .operation_timeout(ms(cfg.operation_timeout_ms))
        .build()
}

/// Temporary credentials from AssumeRole, cached until `refresh_before` their expiry.
#[derive(Debug)]
pub struct AssumeRoleCredentials {
    sts: aws_sdk_sts::Client,
    cfg: StsSettings,
    cached: Mutex<Option<Credentials>>,
}

impl AssumeRoleCredentials {
    /// A provider assuming `cfg.role_arn`, over `http`, every call bounded by `timeouts`.
    pub async fn new(
        cfg: &StsSettings,
        region: &str,
        http: SharedHttpClient,
        timeouts: TimeoutConfig,
    ) -> Self {
        let mut b = aws_sdk_sts::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http.clone())
            .timeout_config(timeouts.clone())
            .region(Region::new(region.to_string()));
        if !cfg.endpoint.is_empty() {
            b = b.endpoint_url(&cfg.endpoint);
        }
        if !cfg.access_key_id.is_empty() {
            b = b.credentials_provider(Credentials::new(
                cfg.access_key_id.clone(),
                cfg.secret_access_key.expose_secret(),
                None,
                None,
                "migrator-base",
            ));
        } else {
            // the worker's own identity: environment, web identity (IRSA), ECS/IMDS, profile
            let base = aws_config::defaults(BehaviorVersion::latest())
                .http_client(http)
                .timeout_config(timeouts)
                .region(Region::new(region.to_string()))
                .load()
                .await;
            if let Some(p) = base.credentials_provider() {
                b = b.credentials_provider(p);
            }
        }
        Self {
            sts: aws_sdk_sts::Client::from_conf(b.build()),
            cfg: cfg.clone(),
            cached: Mutex::new(None),
        }
    }

    async fn get(&self) -> Result<Credentials, CredentialsError> {
        let mut cached = self.cached.lock().await;
        let margin = Duration::from_secs(self.cfg.refresh_before_secs.max(0) as u64);
        if let Some(c) = cached.as_ref() {
            let fresh = c
                .expiry()
                .map(|e| e > SystemTime::now() + margin)
                .unwrap_or(true);
            if fresh {
                return Ok(c.clone());
            }
        }
        let mut req = self
            .sts
            .assume_role()
            .role_arn(&self.cfg.role_arn)
            .role_session_name(&self.cfg.session_name)
            .duration_seconds(self.cfg.duration_secs);
        if !self.cfg.external_id.is_empty() {
            req = req.external_id(&self.cfg.external_id);
        }
        let out = req.send().await.map_err(|e| {
            CredentialsError::provider_error(format!(
                "AssumeRole: {}",
                e.message().unwrap_or(&e.to_string())
            ))
        })?;
        let c = out.credentials.ok_or_else(|| {
            CredentialsError::provider_error("AssumeRole returned no credentials")
        })?;
        let expiry = SystemTime::try_from(c.expiration).ok();
        let creds = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expiry,
            "sts-assume-role",
        );
        tracing::info!(role = %self.cfg.role_arn, "assumed role for DynamoDB");
        *cached = Some(creds.clone());
        Ok(creds)
    }
}

impl ProvideCredentials for AssumeRoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.get())
    }
}

/// One page of a Query.
#[derive(Debug, Default)]
pub struct Page {
    /// The items.
    pub items: Vec<Item>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<Item>,
}

/// Reads the two Conversations tables.
#[derive(Clone)]
pub struct DynamoSource {
    client: aws_sdk_dynamodb::Client,
    cfg: DynamoSettings,
    /// This worker's share of the fleet's read cap.
    reads: Arc<RateLimiter>,
}

impl DynamoSource {
    /// Connects with AssumeRole credentials; the SDK's standard retry (exponential backoff with
    /// jitter, throttling and 5xx included) runs under our own hop retries. Every call is
    /// bounded: an attempt that hangs (a half-open connection) is given up after
    /// `attempt_timeout_ms` and retried on a new connection, a call after `operation_timeout_ms`.
    pub async fn new(
        cfg: &DynamoSettings,
        sts: &StsSettings,
        retries: u32,
        reads: Arc<RateLimiter>,
    ) -> Self {
        let http = https_client();
        let timeouts = timeouts(cfg);
        let creds =
            AssumeRoleCredentials::new(sts, &cfg.region, http.clone(), timeouts.clone()).await;
        let mut b = aws_sdk_dynamodb::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(cfg.region.clone()))
            .credentials_provider(creds)
            .timeout_config(timeouts)
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                    .with_max_attempts(retries.max(1) + 1),
            );
        if !cfg.endpoint.is_empty() {
            b = b.endpoint_url(&cfg.endpoint);
        }
        Self {
            client: aws_sdk_dynamodb::Client::from_conf(b.build()),
            cfg: cfg.clone(),
            reads,
        }
    }

    /// Runs one Query (after a token of this worker's share of the read cap), counting the
    /// page read of `table`.
    async fn query(
        &self,
        q: QueryFluentBuilder,
        table: &'static str,
        what: &str,
    ) -> SourceResult<QueryOutput> {
        self.reads.acquire().await;
        let out = q.send().await.map_err(|e| dynamo_error(what, e))?;
        let purpose = crate::purpose::current();
        metrics::counter!(DYNAMODB_PAGES, "table" => table, "purpose" => purpose.as_str())
            .increment(1);
        let read = migrator_core::tally::Event::dynamodb_read(purpose);
        migrator_core::tally::tally().add(read, 1);
        Ok(out)
    }

    /// A Query of the messages table for one thread.
    fn messages_of(&self, thread_id: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.cfg.messages_table)
            .key_condition_expression("thread_id = :t")
            .expression_attribute_values(":t", AttributeValue::S(thread_id.into()))
    }

    /// A Query of the threads table for one C1.
    fn threads_of(&self, shopper_id: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.cfg.threads_table)
            .key_condition_expression("shopper_id = :s")
            .expression_attribute_values(":s", AttributeValue::S(shopper_id.into()))
    }

    /// Threads of a C1 in table order.
    pub async fn threads_page(&self, shopper_id: &str, start: Option<Item>) -> SourceResult<Page> {
        let q = self
            .threads_of(shopper_id)
            .set_exclusive_start_key(start.map(item_codec::item_to_sdk))
            .limit(self.cfg.page_size);
        Ok(page(self.query(q, "threads", "threads query").await?))
    }

    /// Threads of a C1 with `last_message_at >= since_ms`, newest first.
    pub async fn recent_threads_page(
        &self,
        shopper_id: &str,
        since_ms: i64,
        start: Option<Item>,
        limit: i32,
    ) -> SourceResult<Page> {
        let q = self
            .client
            .query()
            .table_name(&self.cfg.threads_table)
            .index_name(&self.cfg.recent_index)
            .key_condition_expression("shopper_id = :s AND last_message_at >= :c")
            .expression_attribute_values(":s", AttributeValue::S(shopper_id.into()))
            .expression_attribute_values(":c", AttributeValue::N(since_ms.to_string()))
            .scan_index_forward(false)
            .set_exclusive_start_key(start.map(item_codec::item_to_sdk))
            .limit(limit.clamp(1, self.cfg.page_size.max(1)));
        Ok(page(
            self.query(q, "threads", "recent threads query").await?,
        ))
    }

    /// How many thread items a C1 has in the threads table, counting no further than `at_most`
    /// (`Select=COUNT` with a limit: a C1 with more threads costs one read, or one per MB).
    pub async fn count_threads(&self, shopper_id: &str, at_most: usize) -> SourceResult<usize> {
        let (mut total, mut start) = (0usize, None::<SdkItem>);
        loop {
            let left = at_most.saturating_sub(total).clamp(1, i32::MAX as usize) as i32;
            let q = self
                .threads_of(shopper_id)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .limit(left);
            let out = self.query(q, "threads", "threads count").await?;
            total += out.count.max(0) as usize;
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() || total >= at_most {
                return Ok(total);
            }
        }
    }

    /// How many message items a thread holds (`Select=COUNT`, page by page: DynamoDB counts at
    /// most 1 MB of items a call).
    pub async fn count_messages(&self, thread_id: &str) -> SourceResult<u64> {
        let (mut total, mut start) = (0u64, None::<SdkItem>);
        loop {
            let q = self
                .messages_of(thread_id)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start);
            let out = self.query(q, "messages", "messages count").await?;
            total += out.count.max(0) as u64;
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    /// Messages of a thread, oldest first.
    pub async fn messages_page(&self, thread_id: &str, start: Option<Item>) -> SourceResult<Page> {
        self.messages_page_from(thread_id, None, start).await
    }

    /// Messages of a thread whose `sort_key` is at or after `from` (all when None), oldest
    /// first: `from` is `<sent_at as 13 digits>`, so the range holds the messages sent at or
    /// after that instant (`spec/source-contract.md` section 5).
    pub async fn messages_page_from(
        &self,
        thread_id: &str,
        from: Option<&str>,
        start: Option<Item>,
    ) -> SourceResult<Page> {
        let q = match from {
            None => self.messages_of(thread_id),
            Some(from) => self
                .client
                .query()
                .table_name(&self.cfg.messages_table)
                .key_condition_expression("thread_id = :t AND sort_key >= :f")
                .expression_attribute_values(":t", AttributeValue::S(thread_id.into()))
                .expression_attribute_values(":f", AttributeValue::S(from.into())),
        };
        let q = q
            .set_exclusive_start_key(start.map(item_codec::item_to_sdk))
            .limit(self.cfg.page_size);
        Ok(page(self.query(q, "messages", "messages query").await?))
    }

    /// One thread of a C1 by its id (a Query on the table's key: the item, or none).
    pub async fn thread(&self, shopper_id: &str, thread_id: &str) -> SourceResult<Option<Item>> {
        let q = self
            .client
            .query()
            .table_name(&self.cfg.threads_table)
            .key_condition_expression("shopper_id = :s AND thread_id = :t")
            .expression_attribute_values(":s", AttributeValue::S(shopper_id.into()))
            .expression_attribute_values(":t", AttributeValue::S(thread_id.into()))
            .limit(1);
        Ok(page(self.query(q, "threads", "thread query").await?)
            .items
            .into_iter()
            .next())
    }
}

/// A Query's items and where the next page starts.
fn page(out: QueryOutput) -> Page {
    Page {
        items: out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(item_codec::item_from_sdk)
            .collect(),
        next: out
            .last_evaluated_key
            .filter(|k| !k.is_empty())
            .map(item_codec::item_from_sdk),
    }
}

/// After the SDK's own retries, every DynamoDB error is worth a later hop attempt, except a
/// missing table or a refused request shape, which retrying cannot fix; throttling is told
/// apart (it means slow down, not broken).
fn dynamo_error<E, R>(what: &str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().unwrap_or("").to_string();
    let msg = format!(
        "{what}: {} {}",
        code,
        e.message()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{e:?}").chars().take(300).collect())
    );
    match code.as_str() {
        "ResourceNotFoundException" | "ValidationException" | "AccessDeniedException" => {
            SourceError::Permanent(msg)
        }
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded" => {
            metrics::counter!(DYNAMODB_THROTTLED).increment(1);
            SourceError::Throttled(msg)
        }
        _ => SourceError::Transient(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    /// The production path: no base keys configured, so the worker's own identity comes from
    /// the default AWS chain (here the environment) on our https client, then AssumeRole against
    /// the STS emulator that scripts/services.sh starts (this fails loudly when it is down).
    #[tokio::test]
    async fn default_chain_then_assume_role() {
        std::env::set_var("AWS_ACCESS_KEY_ID", "DEV-ONLY-env-akid");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "DEV-ONLY-env-secret");
        let cfg = StsSettings {
            endpoint: std::env::var("MIGRATOR_TEST_STS")
                .unwrap_or_else(|_| "http://127.0.0.1:5055".into()),
            role_arn: "arn:aws:iam::123456789012:role/unit-test".into(),
            external_id: String::new(),
            session_name: "unit-test".into(),
            duration_secs: 900,
            refresh_before_secs: 60,
            access_key_id: String::new(),
            secret_access_key: SecretString::from(String::new()),
        };
        let t = TimeoutConfig::builder()
            .operation_timeout(Duration::from_secs(10))
            .build();
        let provider = AssumeRoleCredentials::new(&cfg, "us-east-1", https_client(), t).await;
        let first = provider
            .get()
            .await
            .expect("AssumeRole with the default chain's credentials");
        assert!(first.session_token().is_some(), "temporary credentials");
        assert!(first.expiry().is_some(), "with an expiry");
        assert_ne!(first.access_key_id(), "DEV-ONLY-env-akid");
        let again = provider.get().await.expect("cached");
        assert_eq!(
            first.access_key_id(),
            again.access_key_id(),
            "served from cache"
        );
    }
}
