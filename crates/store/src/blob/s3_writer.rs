//! One upload to the bucket: a single `PutObject` at commit when the bytes fit in a part, else
//! a multipart upload whose parts go out as they fill, completed at commit and aborted when the
//! writer is dropped before it.

use super::s3_error::{failed, sdk};
use aws_sdk_s3::primitives::ByteStream as SdkStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use migrator_core::blob::BlobWriter;
use std::io;

/// An upload in progress: the bytes of the part being filled, and once a part went out, the
/// multipart upload's id and its parts.
pub(super) struct S3Writer {
    client: Client,
    bucket: String,
    key: String,
    part_size: usize,
    buf: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    size: u64,
    committed: bool,
}

impl S3Writer {
    /// A writer of `key` in `bucket`, `part_size` bytes a part.
    pub(super) fn new(client: Client, bucket: String, key: String, part_size: usize) -> Self {
        Self {
            client,
            bucket,
            key,
            part_size,
            buf: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
            size: 0,
            committed: false,
        }
    }

    /// Sends `bytes` as the next part, starting the multipart upload first if none is open.
    async fn send_part(&mut self, bytes: Bytes) -> io::Result<()> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let out = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .send()
                    .await
                    .map_err(|e| sdk("part", e))?;
                let id = out
                    .upload_id()
                    .ok_or_else(|| failed("part", "no upload id"))?;
                self.upload_id = Some(id.to_string());
                id.to_string()
            }
        };
        let number = self.parts.len() as i32 + 1;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(SdkStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk("part", e))?;
        self.parts.push(
            CompletedPart::builder()
                .set_e_tag(out.e_tag().map(str::to_string))
                .part_number(number)
                .build(),
        );
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(chunk);
        self.size += chunk.len() as u64;
        while self.buf.len() >= self.part_size {
            let rest = self.buf.split_off(self.part_size);
            let part = Bytes::from(std::mem::replace(&mut self.buf, rest));
            self.send_part(part).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> io::Result<u64> {
        let last = Bytes::from(std::mem::take(&mut self.buf));
        let Some(upload_id) = self.upload_id.clone() else {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .body(SdkStream::from(last))
                .send()
                .await
                .map_err(|e| sdk("put", e))?;
            self.committed = true;
            return Ok(self.size);
        };
        if !last.is_empty() {
            self.send_part(last).await?;
        }
        let done = CompletedMultipartUpload::builder()
            .set_parts(Some(self.parts.clone()))
            .build();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(done)
            .send()
            .await
            .map_err(|e| sdk("complete", e))?;
        self.committed = true;
        Ok(self.size)
    }
}

impl Drop for S3Writer {
    /// An upload dropped before its commit is aborted in the background (its parts freed); if
    /// the process dies first, the sweeper aborts it later.
    fn drop(&mut self) {
        let (Some(id), false) = (self.upload_id.take(), self.committed) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        rt.spawn(async move {
            let sent = client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(&key)
                .upload_id(id)
                .send()
                .await;
            if let Err(e) = sent {
                let e = sdk("abort", e);
                tracing::warn!(key, error = %e, "abandoned upload not aborted; the sweeper will");
            }
        });
    }
}
