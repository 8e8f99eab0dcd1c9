//! Attachment bytes: the [`BlobStore`] each process builds from `blobs` settings — files in a
//! directory ([`FsBlobStore`], the local default) or S3-compatible object storage
//! ([`S3BlobStore`], production).

mod fs;
mod s3;
mod s3_error;
mod s3_writer;

pub use fs::FsBlobStore;
pub use s3::S3BlobStore;

use migrator_core::blob::BlobStore;
use migrator_runtime::settings::{BlobBackend, BlobSettings};
use std::io;
use std::sync::Arc;

/// The store `blobs.backend` names. An object store is only built here (its credentials
/// resolved lazily); [`BlobStore::check`] says whether its bucket answers.
pub async fn from_settings(b: &BlobSettings) -> io::Result<Arc<dyn BlobStore>> {
    Ok(match b.backend {
        BlobBackend::Fs => Arc::new(FsBlobStore::new(&b.dir)),
        BlobBackend::S3 => Arc::new(S3BlobStore::new(&b.s3).await?),
    })
}

/// A key is ours (uuids and '/'), but none may climb out of its place: no empty, `.` or `..`
/// segment (`InvalidInput` otherwise).
pub(crate) fn checked_key(key: &str) -> io::Result<&str> {
    if key
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad blob key"));
    }
    Ok(key)
}
