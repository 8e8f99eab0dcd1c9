//! First message pages of upcoming threads, read by a task of its own (so reads go on while
//! the writer is in a transaction), `n` at a time, delivered in thread order. Memory stays
//! bounded by `n` pages.

use crate::error::{WorkError, WorkResult};
use futures::StreamExt;
use migrator_source::dynamo::{DynamoSource, Item, Page};

/// The pages being read ahead; dropping it stops the reads.
pub(super) struct ReadAhead {
    rx: tokio::sync::mpsc::Receiver<WorkResult<Page>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadAhead {
    /// Starts reading the first page of each (thread, start key), `n` at a time, of the
    /// messages at or after `from` (all when None).
    pub fn start(
        dynamo: DynamoSource,
        threads: Vec<(String, Option<Item>)>,
        from: Option<String>,
        n: usize,
    ) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(n);
        // the hop's priority on the source's budget goes along (a campaign's yields), and what
        // its reads are for
        let priority = migrator_source::ratelimit::current();
        let purpose = migrator_source::purpose::current();
        let reads = async move {
            let mut pages = futures::stream::iter(threads)
                .map(|(id, key)| {
                    let (d, from) = (dynamo.clone(), from.clone());
                    async move {
                        d.messages_page_from(&id, from.as_deref(), key)
                            .await
                            .map_err(WorkError::from)
                    }
                })
                .buffered(n);
            while let Some(p) = pages.next().await {
                if tx.send(p).await.is_err() {
                    return;
                }
            }
        };
        let reads = migrator_source::purpose::scoped(purpose, reads);
        let task = tokio::spawn(migrator_source::ratelimit::scoped(priority, reads));
        Self { rx, task }
    }

    /// The next thread's first page, in the order given.
    pub async fn next(&mut self) -> WorkResult<Page> {
        self.rx
            .recv()
            .await
            .unwrap_or_else(|| Err(WorkError::Transient("read-ahead stopped".into())))
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}
