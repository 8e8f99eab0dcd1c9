//! Attachment storage behind a small trait, so object storage can follow the file system (the
//! store's `FsBlobStore`). Bytes are streamed both ways: a writer takes chunks as they arrive
//! (nothing is visible under the key until it commits), a reader hands them out as they are
//! read; no file is ever held whole in memory.

use std::io;
use std::pin::Pin;

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

/// Where attachment bytes live.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// Starts writing `key`.
    async fn create(&self, key: &str) -> io::Result<Box<dyn BlobWriter>>;
    /// Opens the bytes under `key`.
    async fn open(&self, key: &str) -> io::Result<BlobReader>;
    /// Removes every key under `prefix` (a superseded run's files).
    async fn remove_prefix(&self, prefix: &str) -> io::Result<()>;
}
