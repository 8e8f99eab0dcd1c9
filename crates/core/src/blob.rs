//! Attachment storage behind a small trait: files (the store's `FsBlobStore`, the local default)
//! or S3-compatible object storage (`S3BlobStore`). Bytes are streamed both ways: a writer takes chunks as they arrive
//! (nothing is visible under the key until it commits), a reader hands them out as they are
//! read; no file is ever held whole in memory.

use std::io;
use std::pin::Pin;
use std::time::Duration;

/// A stored blob's bytes, chunk by chunk.
pub type ByteStream = Pin<Box<dyn futures_core::Stream<Item = io::Result<bytes::Bytes>> + Send>>;

/// A blob being written; dropped without [`BlobWriter::commit`], it leaves nothing behind.
#[async_trait::async_trait]
pub trait BlobWriter: Send {
    /// Appends a chunk.
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()>;
    /// Makes the blob visible under its key, atomically; returns its size.
    async fn commit(self: Box<Self>) -> io::Result<u64>;
}

/// A stored blob, opened for reading.
pub struct BlobReader {
    /// Its size in bytes.
    pub size: u64,
    /// Its bytes, as they are read.
    pub bytes: ByteStream,
}

/// What a presigned GET answers with besides the bytes: the inert headers the api would set.
#[derive(Debug, Clone)]
pub struct PresignedGet<'a> {
    /// `Content-Type` of the answer.
    pub content_type: &'a str,
    /// `Content-Disposition` of the answer.
    pub disposition: &'a str,
    /// How long the URL is good for.
    pub ttl: Duration,
}

/// Where attachment bytes live.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// Starts writing `key`.
    async fn create(&self, key: &str) -> io::Result<Box<dyn BlobWriter>>;
    /// Opens the bytes under `key`; `NotFound` when there are none.
    async fn open(&self, key: &str) -> io::Result<BlobReader>;
    /// Removes `prefix` and every key under `prefix/` (a superseded run's files, or one
    /// attachment's); gone already is done.
    async fn remove_prefix(&self, prefix: &str) -> io::Result<()>;
    /// A URL that GETs `key` straight from the store with `get`'s headers, when the store can
    /// give one (object storage); `None` otherwise.
    async fn presign_get(&self, _key: &str, _get: &PresignedGet<'_>) -> io::Result<Option<String>> {
        Ok(None)
    }
    /// Aborts at most `limit` uploads abandoned before their commit (a writer killed mid-upload)
    /// that began over `older_than` ago; returns how many. Nothing to do for a store whose
    /// writers leave nothing behind.
    async fn sweep_abandoned(&self, _older_than: Duration, _limit: usize) -> io::Result<u64> {
        Ok(0)
    }
    /// At a start: the store is reachable and its bucket exists (an error says which).
    async fn check(&self) -> io::Result<()> {
        Ok(())
    }
}
