//! The writes of the thread-moving phases, each one fenced transaction that ends with the
//! checkpoint and the figures it adds: a group of single-page threads, one page of a long
//! thread, or rejects alone.

use super::checkpoint::Checkpoint;
use super::mover::{reject_message, Mover, DUPLICATE_ID};
use crate::error::WorkResult;
use crate::phases::fenced;
use migrator_core::ids::{AccountId, ChannelId, ConversationId, RunId};
use migrator_core::source::{Reject, SourceMessage, SourceThread};
use migrator_store::queries::destination::attachments::Due;
use migrator_store::queries::workflow::runs::{self, Figures};
use migrator_store::queries::{
    destination::conversations, destination::messages, destination::rejects,
};
use scoped_futures::ScopedFutureExt;

/// Consecutive items of a thread page written in one transaction.
#[derive(Default)]
pub(super) struct Group {
    pub rejects: Vec<Reject>,
    pub threads: Vec<(ChannelId, SourceThread, Vec<SourceMessage>)>,
    pub messages: usize,
    /// About how many bytes its messages and rejects hold.
    pub bytes: usize,
    pub seen: usize,
    pub last_idx: Option<usize>,
}

/// Items of a group at most (threads and rejects): one statement's worth of conversations.
const MAX_GROUP_ITEMS: usize = 500;

impl Group {
    /// Adds a reject.
    pub fn reject(&mut self, r: Reject) {
        self.bytes += r.approx_bytes();
        self.rejects.push(r);
    }

    /// Whether it is to be written now: `max_messages` messages (`worker.write_batch`),
    /// `max_bytes` bytes (`worker.write_batch_bytes`) or [`MAX_GROUP_ITEMS`] items.
    pub fn full(&self, max_messages: usize, max_bytes: usize) -> bool {
        self.messages >= max_messages
            || self.bytes >= max_bytes
            || self.threads.len() + self.rejects.len() >= MAX_GROUP_ITEMS
    }
}

/// `pairs` in chunks of at most `max` messages and about `max_bytes` bytes (a chunk holds at
/// least one message, however large).
fn chunks<'a, 'm>(
    pairs: &'a [(ConversationId, &'m SourceMessage)],
    max: usize,
    max_bytes: usize,
) -> impl Iterator<Item = &'a [(ConversationId, &'m SourceMessage)]> {
    let mut rest = pairs;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut n, mut bytes) = (0, 0);
        while n < rest.len() && n < max.max(1) && (n == 0 || bytes < max_bytes) {
            bytes += rest[n].1.approx_bytes();
            n += 1;
        }
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
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

/// Inserts `pairs` a batch at a time (`(messages, bytes)` at most), turning duplicate ids into
/// rejects.
async fn insert_batched(
    c: &mut diesel_async::AsyncPgConnection,
    (account, run): (AccountId, RunId),
    pairs: &[(ConversationId, &SourceMessage)],
    (batch, batch_bytes): (usize, usize),
) -> migrator_core::CoreResult<Batched> {
    let mut out = Batched {
        figures: Figures::default(),
        pending: Vec::new(),
        rejects: Vec::new(),
    };
    for chunk in chunks(pairs, batch, batch_bytes) {
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
    /// The bounds of one INSERT: (`worker.write_batch`, `worker.write_batch_bytes`).
    pub(super) fn batch(&self) -> (usize, usize) {
        let w = &self.ctx.settings.worker;
        (w.write_batch.max(1), w.write_batch_bytes.max(1))
    }

    /// Records rejects and the checkpoint in one fenced transaction.
    pub(super) async fn commit_rejects(&self, list: Vec<Reject>, cp: Checkpoint) -> WorkResult<()> {
        let (account, run) = (self.account, self.run);
        fenced(self.ctx, self.leased, move |c, _| {
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
    pub(super) async fn flush(&mut self, cp: &mut Checkpoint, group: &mut Group) -> WorkResult<()> {
        let Some(last) = group.last_idx else {
            return Ok(());
        };
        let g = std::mem::take(group);
        let next = cp.past(last, g.seen);
        let (account, run) = (self.account, self.run);
        let batch = self.batch();
        let v = next.to_json();
        let (n_threads, n_messages, started) =
            (g.threads.len(), g.messages, std::time::Instant::now());
        let rewrites = self.scope.rewrites_complete();
        let pending = fenced(self.ctx, self.leased, move |c, _| {
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
                    if row.messages_complete && !rewrites {
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
    ) -> WorkResult<Written> {
        let (account, run) = (self.account, self.run);
        let batch = self.batch();
        let (step, done) = (step.to_json(), done.to_json());
        let rewrites = self.scope.rewrites_complete();
        fenced(self.ctx, self.leased, move |c, _| {
            async move {
                let mut f = Figures::default();
                let mut pending = Vec::new();
                let mut finished = last;
                let target = match target {
                    Target::Thread(channel_id, thread) => {
                        let row =
                            conversations::upsert_thread(c, account, channel_id, &thread).await?;
                        finished |= row.messages_complete && !rewrites;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body_bytes: usize) -> SourceMessage {
        SourceMessage {
            thread_id: "t".into(),
            sort_key: "k".into(),
            message_id: "m".into(),
            direction: "inbound".into(),
            author_name: None,
            body: Some("x".repeat(body_bytes)),
            sent_at: chrono::Utc::now(),
            starred: false,
            attachments: Vec::new(),
            metadata: None,
            webchat_message_id: None,
        }
    }

    #[test]
    fn a_batch_is_bounded_in_bytes_as_well_as_in_messages() {
        let (small, big) = (message(10), message(390_000));
        let conv = ConversationId::new();
        let pairs: Vec<_> = (0..1000)
            .map(|i| (conv, if i % 2 == 0 { &big } else { &small }))
            .collect();
        let sizes: Vec<usize> = chunks(&pairs, 1000, 8 << 20).map(<[_]>::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 1000, "every message once");
        assert!(sizes.len() >= 20, "195 MB in 8 MiB batches: {sizes:?}");
        for c in chunks(&pairs, 1000, 8 << 20) {
            let bytes: usize = c.iter().map(|(_, m)| m.approx_bytes()).sum();
            assert!(bytes < (8 << 20) + 400_000, "{bytes}");
        }
        // one message over the cap still goes, alone
        let huge = message(9 << 20);
        let one = [(conv, &huge), (conv, &small)];
        let sizes: Vec<usize> = chunks(&one, 1000, 8 << 20).map(<[_]>::len).collect();
        assert_eq!(sizes, [1, 1]);
        assert_eq!(chunks(&pairs, 100, usize::MAX).count(), 10, "by count");
    }

    #[test]
    fn a_group_is_full_at_its_messages_its_bytes_or_its_items() {
        let mut g = Group::default();
        assert!(!g.full(1000, 8 << 20));
        g.bytes = 8 << 20;
        assert!(g.full(1000, 8 << 20), "bytes");
        let mut g = Group {
            messages: 1000,
            ..Default::default()
        };
        assert!(g.full(1000, 8 << 20), "messages");
        g.messages = 0;
        let big = Reject {
            source_table: "t".into(),
            source_key: "k".into(),
            reason: "r".into(),
            raw: serde_json::json!({"body": {"S": "y".repeat(9 << 20)}}),
        };
        g.reject(big);
        assert!(g.full(1000, 8 << 20), "a raw reject counts");
    }
}
