//! Attachment bytes in a directory of files: the file-system [`BlobStore`].

use migrator_core::blob::{BlobReader, BlobStore, BlobWriter};
use std::io;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

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
        // never let a key escape the directory
        Ok(self.dir.join(super::checked_key(key)?))
    }
}

/// A file written aside and renamed into place at commit; removed if dropped before.
struct FsWriter {
    file: Option<tokio::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    size: u64,
}

#[async_trait::async_trait]
impl BlobWriter for FsWriter {
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let f = self.file.as_mut().expect("open until commit");
        f.write_all(chunk).await?;
        self.size += chunk.len() as u64;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> io::Result<u64> {
        let mut f = self.file.take().expect("committed once");
        f.flush().await?;
        f.sync_all().await?;
        drop(f);
        tokio::fs::rename(&self.tmp, &self.path).await?;
        Ok(self.size)
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for FsBlobStore {
    async fn create(&self, key: &str) -> io::Result<Box<dyn BlobWriter>> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(Box::new(FsWriter {
            file: Some(file),
            tmp,
            path,
            size: 0,
        }))
    }

    async fn open(&self, key: &str) -> io::Result<BlobReader> {
        let file = tokio::fs::File::open(self.path(key)?).await?;
        let size = file.metadata().await?.len();
        Ok(BlobReader {
            size,
            bytes: Box::pin(tokio_util::io::ReaderStream::new(file)),
        })
    }

    async fn remove_prefix(&self, prefix: &str) -> io::Result<()> {
        let path = self.path(prefix)?;
        // a run's directory, or one attachment's file; gone already is done
        let removed = match tokio::fs::symlink_metadata(&path).await {
            Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(&path).await,
            Ok(_) => tokio::fs::remove_file(&path).await,
            Err(e) => Err(e),
        };
        match removed {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn streams_in_and_out_commits_atomically_and_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("blobs-{}", uuid::Uuid::new_v4()));
        let s = FsBlobStore::new(&dir);
        let mut w = s.create("a/r1/b").await.unwrap();
        w.write(b"hel").await.unwrap();
        w.write(b"lo").await.unwrap();
        assert!(s.open("a/r1/b").await.is_err(), "invisible until committed");
        assert_eq!(w.commit().await.unwrap(), 5);
        let r = s.open("a/r1/b").await.unwrap();
        let got: Vec<u8> = r.bytes.map_ok(|b| b.to_vec()).try_concat().await.unwrap();
        assert_eq!((r.size, got.as_slice()), (5, b"hello".as_slice()));
        // abandoned: nothing left behind
        let mut w = s.create("a/r1/c").await.unwrap();
        w.write(b"partial").await.unwrap();
        drop(w);
        let left: Vec<_> = std::fs::read_dir(dir.join("a/r1")).unwrap().collect();
        assert_eq!(left.len(), 1, "only the committed file");
        assert!(s.open("../etc/passwd").await.is_err());
        assert!(s.create("a/../../x").await.is_err());
        s.remove_prefix("a/r1").await.unwrap();
        assert!(s.open("a/r1/b").await.is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
