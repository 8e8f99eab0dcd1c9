//! Object storage for tests: a bucket of a test's own on moto's S3 (scripts/services.sh serves
//! it on the STS port), made through the store's own client.

use migrator_runtime::settings::S3Settings;
use migrator_store::blob::S3BlobStore;

/// Creates `s3.bucket` (there already is fine); panics, naming the emulator, when it does not
/// answer.
pub async fn create_bucket(s3: &S3Settings) {
    let store = S3BlobStore::new(s3).await.expect("an S3 client");
    let made = store
        .client()
        .create_bucket()
        .bucket(&s3.bucket)
        .send()
        .await;
    if let Err(e) = made {
        let e = aws_sdk_s3::error::DisplayErrorContext(e).to_string();
        assert!(
            e.contains("BucketAlreadyOwnedByYou") || e.contains("BucketAlreadyExists"),
            "moto's S3 must be running on {} (scripts/services.sh): {e}",
            s3.endpoint
        );
    }
}

/// What the bucket of `s3` holds under its prefix: the objects' keys, and the keys of uploads
/// begun and neither completed nor aborted.
pub async fn contents(s3: &S3Settings) -> (Vec<String>, Vec<String>) {
    let store = S3BlobStore::new(s3).await.expect("an S3 client");
    let (c, bucket) = (store.client(), store.bucket());
    let objects = c
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list objects");
    let uploads = c
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list uploads");
    (
        objects
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect(),
        uploads
            .uploads()
            .iter()
            .filter_map(|u| u.key().map(str::to_string))
            .collect(),
    )
}

/// [`contents`] once no upload is left in progress (a dropped writer's abort runs in the
/// background), waiting up to 10 s; panics naming the uploads left.
pub async fn settled_contents(s3: &S3Settings) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (objects, uploads) = contents(s3).await;
        if uploads.is_empty() {
            return objects;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "uploads neither completed nor aborted: {uploads:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
