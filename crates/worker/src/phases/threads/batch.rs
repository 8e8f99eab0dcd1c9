//! The writes of the thread-moving phases, each one fenced transaction that ends with the
//! checkpoint and the figures it adds: a group of single-page threads, one page of a long
//! thread, or rejects alone.

use super::checkpoint::Checkpoint;
use super::{reject_message, Mover, DUPLICATE_ID};
use crate::error::HopResult;
use crate::phases::fenced;
use migrator_core::db::queries::attachments::Due;
use migrator_core::db::queries::runs::{self, Figures};
use migrator_core::db::queries::{conversations, messages, rejects};
use migrator_core::ids::{AccountId, ChannelId, ConversationId, RunId};
use migrator_core::source::{Reject, SourceMessage, SourceThread};
use scoped_futures::ScopedFutureExt;

/// Consecutive items of a thread page written in one transaction.
#[derive(Default)]
pub(super) struct Group {
    pub rejects: Vec<Reject>,
    pub threads: Vec<(ChannelId, SourceThread, Vec<SourceMessage>)>,
    pub messages: usize,
    pub seen: usize,
    pub last_idx: Option<usize>,
}

/// Where a long thread's messages go.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// A thread whose conversation is upserted with its first page.
    Thread(ChannelId, Box<SourceThread>),
    /// Its conversation, once upserted.
    Conversation(ConversationId),
    /// Starred flags onto native web chat messages.
    Webchat,
}

/// What a page's transaction did.
pub(super) struct Written {
    /// Downloads to start.
    pub pending: Vec<Due>,
    /// The thread is complete.
    pub finished: bool,
    /// Where its next page goes.
    pub target: Target,
}

/// What writing a batch of one or several conversations' messages added.
struct Batched {
    figures: Figures,
    pending: Vec<Due>,
    rejects: Vec<Reject>,
}

/// Counts what a committed page wrote.
fn counted(f: &Figures) {
    use migrator_core::metrics::{MESSAGES_WRITTEN, REJECTS, THREADS_WRITTEN};
    metrics::counter!(MESSAGES_WRITTEN).increment(f.messages.max(0) as u64);
    metrics::counter!(THREADS_WRITTEN).increment(f.threads.max(0) as u64);
    metrics::counter!(REJECTS).increment(f.rejects.max(0) as u64);
}

/// Inserts `pairs` `batch` at a time, turning duplicate ids into rejects.
async fn insert_batched(
    c: &mut diesel_async::AsyncPgConnection,
    (account, run): (AccountId, RunId),
    pairs: &[(ConversationId, &SourceMessage)],
    batch: usize,
) -> migrator_core::CoreResult<Batched> {
    let mut out = Batched {
        figures: Figures::default(),
        pending: Vec::new(),
        rejects: Vec::new(),
    };
    for chunk in pairs.chunks(batch) {
        let b = messages::insert_messages(c, account, run, chunk).await?;
        out.figures.messages += b.inserted;
        out.figures.attachments_failed += b.failed_attachments;
        out.figures.attachments_pending += b.pending_attachments.len() as i32;
        out.pending.extend(b.pending_attachments);
        for i in b.foreign_duplicates {
            out.rejects.push(reject_message(chunk[i].1, DUPLICATE_ID));
        }
    }
    Ok(out)
}

impl Mover<'_> {
    /// Records rejects and the checkpoint in one fenced transaction.
    pub(super) async fn commit_rejects(&self, list: Vec<Reject>, cp: Checkpoint) -> HopResult<()> {
        let (account, run) = (self.account, self.run);
        fenced(self.ctx, self.job, move |c, _| {
            async move {
                let f = Figures {
                    rejects: rejects::record(c, account, run, &list).await?,
                    ..Default::default()
                };
                runs::checkpoint(c, run, Some(&cp.to_json()), f).await?;
                Ok(f)
            }
            .scope_boxed()
        })
        .await
        .map(|f| counted(&f))
    }

    /// Writes a group of single-page threads and rejects in one fenced transaction, with the
    /// checkpoint past the group's last item.
    pub(super) async fn flush(&mut self, cp: &mut Checkpoint, group: &mut Group) -> HopResult<()> {
        let Some(last) = group.last_idx else {
            return Ok(());
        };
        let g = std::mem::take(group);
        let next = cp.past(last, g.seen);
        let (account, run) = (self.account, self.run);
        let batch = self.ctx.settings.worker.write_batch.max(1);
        let v = next.to_json();
        let (n_threads, n_messages, started) =
            (g.threads.len(), g.messages, std::time::Instant::now());
        let pending = fenced(self.ctx, self.job, move |c, _| {
            async move {
                let keys: Vec<(ChannelId, &SourceThread)> =
                    g.threads.iter().map(|(ch, t, _)| (*ch, t)).collect();
                let rows = if keys.is_empty() {
                    Vec::new()
                } else {
                    conversations::upsert_threads(c, account, &keys).await?
                };
                let mut open = Vec::new();
                let mut pairs = Vec::new();
                for (row, (_, _, msgs)) in rows.iter().zip(&g.threads) {
                    if row.messages_complete {
                        continue; // an earlier pass wrote them all
                    }
                    open.push(row.conversation_id);
                    pairs.extend(msgs.iter().map(|m| (row.conversation_id, m)));
                }
                let mut b = insert_batched(c, (account, run), &pairs, batch).await?;
                if !open.is_empty() {
                    b.figures.threads += conversations::complete_threads(c, &open).await?;
                }
                let mut all_rejects = g.rejects;
                all_rejects.extend(b.rejects);
                b.figures.rejects += rejects::record(c, account, run, &all_rejects).await?;
                runs::checkpoint(c, run, Some(&v), b.figures).await?;
                Ok((b.pending, b.figures))
            }
            .scope_boxed()
        })
        .await?;
        let (pending, figures) = pending;
        counted(&figures);
        tracing::debug!(
            threads = n_threads,
            messages = n_messages,
            ms = started.elapsed().as_millis() as u64,
            "group written"
        );
        self.pages += 1;
        self.downloads.spawn(pending);
        *cp = next;
        Ok(())
    }

    /// One fenced transaction for one page of a long thread: the conversation (first page),
    /// the page's rows, its rejects, the checkpoint and the figures. A thread whose messages an
    /// earlier pass completed, or whose last page this is, commits the `done` checkpoint.
    pub(super) async fn write_page(
        &self,
        target: Target,
        valid: Vec<SourceMessage>,
        mut page_rejects: Vec<Reject>,
        step: &Checkpoint,
        done: &Checkpoint,
        last: bool,
    ) -> HopResult<Written> {
        let (account, run) = (self.account, self.run);
        let batch = self.ctx.settings.worker.write_batch.max(1);
        let (step, done) = (step.to_json(), done.to_json());
        fenced(self.ctx, self.job, move |c, _| {
            async move {
                let mut f = Figures::default();
                let mut pending = Vec::new();
                let mut finished = last;
                let target = match target {
                    Target::Thread(channel_id, thread) => {
                        let row =
                            conversations::upsert_thread(c, account, channel_id, &thread).await?;
                        finished |= row.messages_complete;
                        Target::Conversation(row.conversation_id)
                    }
                    other => other,
                };
                match &target {
                    Target::Conversation(_) if finished && !last => {}
                    Target::Conversation(conv) => {
                        let pairs: Vec<_> = valid.iter().map(|m| (*conv, m)).collect();
                        let b = insert_batched(c, (account, run), &pairs, batch).await?;
                        f = b.figures;
                        pending = b.pending;
                        page_rejects.extend(b.rejects);
                        if last {
                            f.threads += conversations::complete_threads(c, &[*conv]).await?;
                        }
                    }
                    Target::Webchat => page_rejects
                        .extend(super::webchat::star_messages(c, account, &valid).await?),
                    Target::Thread(..) => unreachable!("resolved above"),
                }
                f.rejects += rejects::record(c, account, run, &page_rejects).await?;
                let cp = if finished { &done } else { &step };
                runs::checkpoint(c, run, Some(cp), f).await?;
                Ok((
                    Written {
                        pending,
                        finished,
                        target,
                    },
                    f,
                ))
            }
            .scope_boxed()
        })
        .await
        .map(|(w, f)| {
            counted(&f);
            w
        })
    }
}
