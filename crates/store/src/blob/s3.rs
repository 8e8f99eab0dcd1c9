//! Attachment bytes as objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, GCS
//! interoperability): `<prefix>/<key>`.
//!
//! A blob is stored whole or not at all: a small one is one `PutObject` at commit; a larger one
//! a multipart upload of `part_size_bytes` parts, completed at commit — an object appears only
//! then — and aborted when its writer is dropped before (a killed worker's upload is aborted by
//! the sweeper's [`BlobStore::sweep_abandoned`]). A writer holds at most one part in memory.
//! Every call is bounded by the client's timeouts; a failure is an `io::Error` the caller
//! treats as transient (a 5xx, a 503 SlowDown, a hang, refused credentials) and counted by
//! operation.

use super::s3_error::{failed, sdk};
use super::s3_writer::S3Writer;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use migrator_core::blob::{BlobReader, BlobStore, BlobWriter, PresignedGet};
use migrator_core::metrics::BLOB_UPLOADS_ABORTED;
use migrator_runtime::settings::S3Settings;
use secrecy::ExposeSecret;
use std::io;
use std::time::{Duration, SystemTime};

/// Keys one `DeleteObjects` or listing page holds at most (S3's own limit).
const PAGE: i32 = 1000;

/// An S3-compatible bucket.
#[derive(Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
    prefix: String,
    part_size: usize,
}

impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl S3BlobStore {
    /// A client for `cfg`'s bucket: its region, endpoint override and addressing; static
    /// credentials when set (an emulator), else the default AWS chain (web identity / IRSA,
    /// environment, ECS, IMDS, profile). Checksums only where the API requires them, so
    /// S3-compatible stores that lack the newer ones work.
    pub async fn new(cfg: &S3Settings) -> io::Result<Self> {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let ms = |v: u64| Duration::from_millis(v.max(1));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(ms(cfg.connect_timeout_ms))
            .operation_attempt_timeout(ms(cfg.attempt_timeout_ms))
            .operation_timeout(ms(cfg.operation_timeout_ms))
            .build();
        let region = Region::new(cfg.region.clone());
        let mut b = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http.clone())
            .timeout_config(timeouts.clone())
            .region(region.clone())
            .force_path_style(cfg.force_path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if !cfg.endpoint.is_empty() {
            b = b.endpoint_url(&cfg.endpoint);
        }
        if !cfg.access_key_id.is_empty() {
            b = b.credentials_provider(Credentials::new(
                cfg.access_key_id.clone(),
                cfg.secret_access_key.expose_secret(),
                None,
                None,
                "migrator-blobs",
            ));
        } else {
            let base = aws_config::defaults(BehaviorVersion::latest())
                .http_client(http)
                .timeout_config(timeouts)
                .region(region)
                .load()
                .await;
            if let Some(p) = base.credentials_provider() {
                b = b.credentials_provider(p);
            }
        }
        Ok(Self {
            client: Client::from_conf(b.build()),
            bucket: cfg.bucket.clone(),
            prefix: cfg.prefix.trim_matches('/').to_string(),
            part_size: cfg.part_size_bytes.max(5 << 20),
        })
    }

    /// The SDK client, for raw calls next to the store's (a test's bucket, the benchmark's raw
    /// PUT loop).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key of `key`.
    pub fn object(&self, key: &str) -> io::Result<String> {
        let key = super::checked_key(key)?;
        Ok(match self.prefix.is_empty() {
            true => key.to_string(),
            false => format!("{}/{key}", self.prefix),
        })
    }

    /// Deletes `keys` (at most [`PAGE`]) in one call; a key already gone is no error.
    async fn delete(&self, keys: Vec<String>) -> io::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed("delete", e))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| failed("delete", e))?;
        let sent = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await;
        let out = match sent {
            // a store without the batch call (GCS's XML API; some take only Content-MD5 on it):
            // one key at a time
            Err(e) if matches!(e.code(), Some("NotImplemented" | "InvalidRequest")) => {
                for key in &keys {
                    self.client
                        .delete_object()
                        .bucket(&self.bucket)
                        .key(key)
                        .send()
                        .await
                        .map_err(|e| sdk("delete", e))?;
                }
                return Ok(());
            }
            other => other.map_err(|e| sdk("delete", e))?,
        };
        match out.errors().first() {
            Some(e) => {
                let (key, why) = (e.key().unwrap_or("?"), e.message().unwrap_or("refused"));
                Err(failed("delete", format!("{key}: {why}")))
            }
            None => Ok(()),
        }
    }
}

/// Whether an upload begun at `started` is abandoned by `cutoff`: begun before it (one whose
/// start is not known is left alone).
fn abandoned(started: Option<SystemTime>, cutoff: SystemTime) -> bool {
    started.is_some_and(|t| t <= cutoff)
}

#[async_trait::async_trait]
impl BlobStore for S3BlobStore {
    async fn create(&self, key: &str) -> io::Result<Box<dyn BlobWriter>> {
        let key = self.object(key)?;
        Ok(Box::new(S3Writer::new(
            self.client.clone(),
            self.bucket.clone(),
            key,
            self.part_size,
        )))
    }

    async fn open(&self, key: &str) -> io::Result<BlobReader> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object(key)?)
            .send()
            .await
            .map_err(|e| {
                let missing = e.as_service_error().is_some_and(|s| s.is_no_such_key());
                match missing {
                    true => io::Error::new(io::ErrorKind::NotFound, "no such object"),
                    false => sdk("get", e),
                }
            })?;
        let size = match out.content_length() {
            Some(n) if n >= 0 => n as u64,
            _ => return Err(failed("get", "an answer without Content-Length")),
        };
        let bytes = futures::stream::unfold(out.body, |mut body| async move {
            match body.next().await? {
                Ok(chunk) => Some((Ok(chunk), body)),
                Err(e) => Some((Err(failed("get", e)), body)),
            }
        });
        Ok(BlobReader {
            size,
            bytes: Box::pin(bytes),
        })
    }

    async fn remove_prefix(&self, prefix: &str) -> io::Result<()> {
        let exact = self.object(prefix)?;
        // `<prefix>/`, never a bare string prefix: run `r1` must not take run `r10` with it
        let under = format!("{exact}/");
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&under)
                .max_keys(PAGE)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| sdk("list", e))?;
            let keys = page
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect();
            self.delete(keys).await?;
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        self.delete(vec![exact]).await
    }

    async fn presign_get(&self, key: &str, get: &PresignedGet<'_>) -> io::Result<Option<String>> {
        let how = PresigningConfig::expires_in(get.ttl).map_err(|e| failed("presign", e))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object(key)?)
            .response_content_type(get.content_type)
            .response_content_disposition(get.disposition)
            .response_cache_control("private, no-store")
            .presigned(how)
            .await
            .map_err(|e| failed("presign", e))?;
        Ok(Some(req.uri().to_string()))
    }

    async fn sweep_abandoned(&self, older_than: Duration, limit: usize) -> io::Result<u64> {
        let mut prefix = self.prefix.clone();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        let cutoff = SystemTime::now() - older_than;
        let (mut aborted, mut looked) = (0u64, 0usize);
        let (mut key_marker, mut id_marker) = (None, None);
        // pages of uploads (oldest keys first) until `limit` were looked at or none is left
        while looked < limit {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .max_uploads(PAGE)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| sdk("list", e))?;
            for u in page.uploads().iter().take(limit - looked) {
                looked += 1;
                let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                    continue;
                };
                let started = u.initiated().and_then(|t| SystemTime::try_from(*t).ok());
                if !abandoned(started, cutoff) {
                    continue;
                }
                let sent = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await;
                match sent {
                    Ok(_) => aborted += 1,
                    // completed or aborted meanwhile (another worker's sweep): nothing to do
                    Err(e) if e.code() == Some("NoSuchUpload") => {}
                    Err(e) => return Err(sdk("abort", e)),
                }
            }
            if page.is_truncated() != Some(true) || page.uploads().is_empty() {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            id_marker = page.next_upload_id_marker().map(str::to_string);
        }
        metrics::counter!(BLOB_UPLOADS_ABORTED).increment(aborted);
        Ok(aborted)
    }

    async fn check(&self) -> io::Result<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                let why = match e.as_service_error() {
                    Some(s) if s.is_not_found() => "does not exist".to_string(),
                    _ => format!("did not answer: {}", DisplayErrorContext(&e)),
                };
                io::Error::other(format!(
                    "blobs.s3.bucket {:?} {why} (blobs.s3.endpoint, blobs.s3.region and the \
                     credentials name where it is looked for)",
                    self.bucket
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uploads_begun_before_the_cutoff_are_abandoned() {
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        assert!(abandoned(Some(now - 2 * hour), now - hour));
        assert!(!abandoned(Some(now - hour / 2), now - hour), "in progress");
        assert!(!abandoned(None, now), "unknown start: left alone");
    }
}
