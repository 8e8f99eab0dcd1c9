//! The attachment path on each store: BENCH_ATTACHMENTS (200) files of BENCH_ATTACHMENT_KIB
//! (256) KiB downloaded from the simulator's media service into the store by the worker's own
//! code (`MediaClient::download`: the cert JWT, the caps, the streamed write, the commit), 8 at
//! once as a hop does (`worker.attachment_concurrency`); against a raw write loop of the same
//! files to the same store in the same run (a `tokio::fs::write` for files, a `PutObject` for
//! the bucket; a file is synced, as the store's commit does), 8 at once. Objects/s and MiB/s for each; the ratio is of objects/s.

use super::report::Row;
use super::{env_usize, Bench};
use futures::StreamExt;
use migrator_core::blob::BlobStore;
use migrator_core::retry::Backoff;
use migrator_runtime::settings::{BlobBackend, Settings};
use migrator_source::media::MediaClient;
use migrator_store::blob::{FsBlobStore, S3BlobStore};
use std::sync::Arc;
use std::time::Instant;

/// Files written at once, as a hop does by default.
const AT_ONCE: usize = 8;

impl Bench {
    /// The attachment path's rate into files and into the bucket, each beside a raw write loop.
    pub async fn attachments(&mut self) -> anyhow::Result<()> {
        let n = env_usize("BENCH_ATTACHMENTS", 200);
        let size = env_usize("BENCH_ATTACHMENT_KIB", 256) << 10;
        let s = self.env.settings.clone();
        let media = MediaClient::from_settings(&s, Backoff::none())?;
        for backend in [BlobBackend::Fs, BlobBackend::S3] {
            let tag = format!("{}-att", s.amqp.prefix);
            let (store, raw) = store_of(&s, backend, &tag).await;
            let base = self.env.sim.base_url.clone();
            let run = format!("{:?}", backend).to_lowercase();
            let ours = timed(n, |i| {
                let (media, store, base, run) = (&media, store.clone(), &base, &run);
                async move {
                    let url = format!("{base}/media/bench-{run}-{i}-s{size}");
                    let key = format!("bench/{run}/ours-{i}");
                    let (got, _) = media.download(&url, None, store.as_ref(), &key).await;
                    got.map(drop).map_err(|f| anyhow::anyhow!("{}", f.reason()))
                }
            })
            .await?;
            let bytes = vec![7u8; size];
            let theirs = timed(n, |i| {
                let (raw, bytes, run) = (&raw, bytes.clone(), &run);
                async move { raw.write(&format!("bench/{run}/raw-{i}"), bytes).await }
            })
            .await?;
            let mib = |secs: f64| (n * size) as f64 / secs / (1 << 20) as f64;
            let (o, r) = (n as f64 / ours, n as f64 / theirs);
            let name = match backend {
                BlobBackend::Fs => "files (blobs.dir)",
                BlobBackend::S3 => "S3 (moto's server)",
            };
            self.rows.push(Row(
                format!(
                    "attachments into {name}: {n} × {} KiB, {AT_ONCE} at once (objects/s, MiB/s)",
                    size >> 10
                ),
                format!(
                    "{o:.0}/s, {:.1} MiB/s (download, stream, commit)",
                    mib(ours)
                ),
                format!(
                    "{r:.0}/s, {:.1} MiB/s (raw write of the same bytes)",
                    mib(theirs)
                ),
                format!("{:.2}", o / r),
            ));
            self.say(&format!(
                "attachments into {name}: {o:.0}/s against {r:.0}/s raw"
            ));
        }
        Ok(())
    }
}

/// A raw writer to the same place as a store.
enum Raw {
    Files(std::path::PathBuf),
    Bucket(S3BlobStore),
}

impl Raw {
    async fn write(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Raw::Files(dir) => {
                let path = dir.join(key);
                tokio::fs::create_dir_all(path.parent().expect("a parent")).await?;
                // as durable as the store's commit: written, then synced
                let mut f = tokio::fs::File::create(path).await?;
                tokio::io::AsyncWriteExt::write_all(&mut f, &bytes).await?;
                f.sync_all().await?;
            }
            Raw::Bucket(s3) => {
                s3.client()
                    .put_object()
                    .bucket(s3.bucket())
                    .key(s3.object(key)?)
                    .body(bytes.into())
                    .send()
                    .await?;
            }
        }
        Ok(())
    }
}

/// The store of `backend` (a bucket of its own, made now, for S3) and a raw writer to it.
async fn store_of(s: &Settings, backend: BlobBackend, tag: &str) -> (Arc<dyn BlobStore>, Raw) {
    match backend {
        BlobBackend::Fs => {
            let dir = s.blobs.dir.join(tag);
            (Arc::new(FsBlobStore::new(&dir)), Raw::Files(dir))
        }
        BlobBackend::S3 => {
            let mut s3 = s.blobs.s3.clone();
            s3.endpoint =
                std::env::var("MIGRATOR_TEST_S3").unwrap_or("http://127.0.0.1:5055".into());
            s3.force_path_style = true;
            s3.bucket = tag.to_string();
            migrator_testkit::object_store::create_bucket(&s3).await;
            let store = S3BlobStore::new(&s3).await.expect("an S3 client");
            (Arc::new(store.clone()), Raw::Bucket(store))
        }
    }
}

/// Seconds `n` calls of `f` take, [`AT_ONCE`] at a time; the first error ends it.
async fn timed<F, Fut>(n: usize, f: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let t = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(f)
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    Ok(t.elapsed().as_secs_f64())
}
