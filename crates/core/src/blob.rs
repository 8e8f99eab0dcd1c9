//! Attachment storage behind a small trait, so object storage can follow the file system.

use std::io;
use std::path::PathBuf;

/// Where attachment bytes live.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key` atomically (readers never see half a file).
    async fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()>;
    /// Reads the bytes under `key`.
    async fn get(&self, key: &str) -> io::Result<Vec<u8>>;
    /// Removes every key under `prefix` (forced re-migration).
    async fn remove_prefix(&self, prefix: &str) -> io::Result<()>;
}

/// A directory of files: `<dir>/<key>`.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    dir: PathBuf,
}

impl FsBlobStore {
    /// A store rooted at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        // keys are ours (uuids and '/'), but never let one escape the directory
        if key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad blob key"));
        }
        Ok(self.dir.join(key))
    }
}

#[async_trait::async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await
    }

    async fn get(&self, key: &str) -> io::Result<Vec<u8>> {
        tokio::fs::read(self.path(key)?).await
    }

    async fn remove_prefix(&self, prefix: &str) -> io::Result<()> {
        match tokio::fs::remove_dir_all(self.path(prefix)?).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_reads_and_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("blobs-{}", uuid::Uuid::new_v4()));
        let s = FsBlobStore::new(&dir);
        s.put("a/b", b"hello").await.unwrap();
        assert_eq!(s.get("a/b").await.unwrap(), b"hello");
        assert!(s.get("../etc/passwd").await.is_err());
        s.remove_prefix("a").await.unwrap();
        assert!(s.get("a/b").await.is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
