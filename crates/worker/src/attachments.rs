//! Attachment downloads off the critical path: bounded concurrency, each outcome recorded on its
//! row (stored, or failed with reason and attempts). A download never fails a migration.

use crate::context::Ctx;
use migrator_core::db::queries::attachments::{self, Stored};
use migrator_core::db::queries::runs;
use migrator_core::ids::{AccountId, AttachmentId, RunId};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Downloads started during one hop.
pub struct Downloads {
    ctx: Ctx,
    account_id: AccountId,
    run_id: RunId,
    permits: Arc<Semaphore>,
    tasks: JoinSet<()>,
}

impl Downloads {
    /// A set bounded by `worker.attachment_concurrency`.
    pub fn new(ctx: &Ctx, account_id: AccountId, run_id: RunId) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(
                ctx.settings.worker.attachment_concurrency.max(1),
            )),
            ctx: ctx.clone(),
            account_id,
            run_id,
            tasks: JoinSet::new(),
        }
    }

    /// Starts downloads of committed attachment rows.
    pub fn spawn(&mut self, pending: Vec<(AttachmentId, String)>) {
        for (id, url) in pending {
            let (ctx, permits) = (self.ctx.clone(), self.permits.clone());
            let (account_id, run_id) = (self.account_id, self.run_id);
            self.tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                fetch_one(&ctx, account_id, run_id, id, &url).await;
            });
        }
    }

    /// Waits for every download, then picks up rows an interrupted hop left pending.
    pub async fn finish(mut self) {
        while self.tasks.join_next().await.is_some() {}
        for _ in 0..100 {
            let pending = match self.ctx.conn().await {
                Ok(mut c) => attachments::pending(&mut c, self.account_id, 500)
                    .await
                    .unwrap_or_default(),
                Err(_) => return,
            };
            if pending.is_empty() {
                return;
            }
            self.spawn(pending);
            while self.tasks.join_next().await.is_some() {}
        }
    }
}

async fn fetch_one(ctx: &Ctx, account_id: AccountId, run_id: RunId, id: AttachmentId, url: &str) {
    let (res, attempts) = ctx.media.download(url).await;
    let key = format!("{account_id}/{id}");
    let outcome = match res {
        Ok(d) => match ctx.blobs.put(&key, &d.bytes).await {
            Ok(()) => Ok((d.bytes.len() as i64, d.content_type)),
            Err(e) => Err(format!("blob store: {e}")),
        },
        Err(e) => Err(e),
    };
    let Ok(mut conn) = ctx.conn().await else {
        return; // stays pending; the next pass retries it
    };
    let settled = match &outcome {
        Ok((size, ct)) => {
            let stored = Stored {
                blob_key: &key,
                size: *size,
                content_type: ct.as_deref(),
            };
            attachments::settle(&mut conn, id, attempts as i32, Ok(stored)).await
        }
        Err(reason) => {
            tracing::warn!(attachment = %id, %reason, attempts, "attachment download failed");
            attachments::settle(&mut conn, id, attempts as i32, Err(reason)).await
        }
    };
    if let Ok(true) = settled {
        let (stored, failed) = if outcome.is_ok() { (1, 0) } else { (0, 1) };
        let _ = runs::add_attachment_figures(&mut conn, run_id, stored, failed).await;
    }
}
