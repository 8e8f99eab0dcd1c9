//! Moving threads and their messages, shared by the recent and the all-messages phases.
//!
//! Progress is checkpointed with every committed page: the DynamoDB cursor of the thread page,
//! how many of its threads are done, and the message cursor inside the thread in hand. A worker
//! killed at any instant resumes from the last commit; since every write is an idempotent
//! upsert keyed by source id, the result equals an uninterrupted run.

use super::{fenced, Job};
use crate::attachments::Downloads;
use crate::context::Ctx;
use crate::error::{HopError, HopResult};
use crate::sources::dynamo::{DynamoSource, Item, Page};
use crate::sources::items::{self, key_from_json, key_to_json};
use futures::StreamExt;
use migrator_core::db::queries::runs::{self, Figures};
use migrator_core::db::queries::writes;
use migrator_core::source::{Reject, SourceMessage, SourceThread};
use scoped_futures::ScopedFutureExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// Which threads a phase moves.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// `last_message_at >= since_ms`, newest first, at most `max` threads.
    Recent {
        /// Lower bound, epoch ms.
        since_ms: i64,
        /// Thread cap.
        max: usize,
    },
    /// Every thread of the C1.
    All,
}

/// Where a phase stands; stored in `migration_runs.checkpoint`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Checkpoint {
    /// ExclusiveStartKey of the thread page in hand (None = first page).
    page_key: Option<serde_json::Value>,
    /// Threads of that page already done.
    done_in_page: usize,
    /// Valid threads done in this phase (the recent cap counts these).
    seen: usize,
    /// The thread in hand and the ExclusiveStartKey of its next message page.
    thread: Option<String>,
    msg_key: Option<serde_json::Value>,
}

struct Mover<'a> {
    ctx: &'a Ctx,
    job: &'a Job,
    scope: Scope,
    channels: HashMap<String, Uuid>,
    downloads: Downloads,
    account: Uuid,
    run: Uuid,
}

/// Moves the threads of `scope`, resuming from the run's checkpoint.
pub async fn move_threads(ctx: &Ctx, job: &Job, scope: Scope) -> HopResult<()> {
    let account = job.hop.account_id.0;
    let run = job.hop.run_id.0;
    let channels = {
        let mut c = ctx.conn().await?;
        writes::channel_map(&mut c, account).await?
    };
    let mut cp: Checkpoint = job
        .run
        .checkpoint
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let mut mover = Mover {
        ctx,
        job,
        scope,
        channels,
        downloads: Downloads::new(ctx, account, run),
        account,
        run,
    };
    let res = mover.walk(&mut cp).await;
    // downloads of committed rows finish (or stay pending for the next pass) either way
    mover.downloads.finish().await;
    res
}

impl Mover<'_> {
    async fn thread_page(&self, cp: &Checkpoint) -> HopResult<Page> {
        let start = cp.page_key.as_ref().and_then(key_from_json);
        let shopper = &self.job.shopper_id;
        match self.scope {
            Scope::All => self.ctx.dynamo.threads_page(shopper, start).await,
            Scope::Recent { since_ms, max } => {
                let left = max.saturating_sub(cp.seen).max(1);
                let limit = left.min(i32::MAX as usize) as i32;
                self.ctx
                    .dynamo
                    .recent_threads_page(shopper, since_ms, start, limit)
                    .await
            }
        }
    }

    /// Threads whose messages are read: web chat ones (starred flags) and those of a known
    /// channel (the others are rejects).
    fn reads_messages(&self, t: &SourceThread) -> bool {
        t.is_webchat() || self.channels.contains_key(&t.channel_id)
    }

    async fn walk(&mut self, cp: &mut Checkpoint) -> HopResult<()> {
        loop {
            if let Scope::Recent { max, .. } = self.scope {
                if cp.seen >= max {
                    return Ok(());
                }
            }
            let page = self.thread_page(cp).await?;
            let mut todo = Vec::new();
            let mut valid = cp.seen;
            for idx in cp.done_in_page..page.items.len() {
                let parsed = items::thread(&page.items[idx], &self.job.shopper_id);
                if let (Scope::Recent { max, .. }, Ok(_)) = (self.scope, &parsed) {
                    if valid >= max {
                        break;
                    }
                    valid += 1;
                }
                todo.push((idx, parsed));
            }
            // the first message page of the next threads is read ahead, several at a time,
            // while earlier threads are written; commits stay in thread order
            let ahead: Vec<(String, Option<Item>)> = todo
                .iter()
                .filter_map(|(_, t)| t.as_ref().ok())
                .filter(|t| self.reads_messages(t))
                .map(|t| {
                    let resume = cp.thread.as_deref() == Some(t.thread_id.as_str());
                    let key = if resume {
                        cp.msg_key.as_ref().and_then(key_from_json)
                    } else {
                        None
                    };
                    (t.thread_id.clone(), key)
                })
                .collect();
            let mut firsts = ReadAhead::start(
                self.ctx.dynamo.clone(),
                ahead,
                self.ctx.settings.worker.thread_concurrency.max(1),
            );
            // threads whose messages fit one page are written several to a transaction; the
            // others (long threads, web chat, the thread a checkpoint resumes) one by one
            let batch = self.ctx.settings.worker.write_batch.max(1);
            let mut group = Group::default();
            let (mut read_wait, page_started) =
                (std::time::Duration::ZERO, std::time::Instant::now());
            for (idx, parsed) in todo {
                match parsed {
                    Err(r) => group.rejects.push(r),
                    Ok(t) if !self.reads_messages(&t) => {
                        group.rejects.push(reject_thread(
                            &t,
                            format!(
                                "channel_id {:?} is not among the C1's channels",
                                t.channel_id
                            ),
                        ));
                        group.seen += 1;
                    }
                    Ok(t) => {
                        let wait = std::time::Instant::now();
                        let first = firsts.next().await?;
                        read_wait += wait.elapsed();
                        let resuming = cp.thread.as_deref() == Some(t.thread_id.as_str());
                        if t.is_webchat() || first.next.is_some() || resuming {
                            self.flush(cp, &mut group).await?;
                            self.move_thread(cp, idx, &t, Some(first)).await?;
                            continue;
                        }
                        let (valid, rejects) = self.parse_messages(&first.items, &t);
                        group.rejects.extend(rejects);
                        group.messages += valid.len();
                        group.seen += 1;
                        group.threads.push((self.channels[&t.channel_id], t, valid));
                    }
                }
                group.last_idx = Some(idx);
                if group.messages >= batch || group.threads.len() + group.rejects.len() >= 500 {
                    self.flush(cp, &mut group).await?;
                }
            }
            self.flush(cp, &mut group).await?;
            tracing::debug!(
                items = page.items.len(),
                ms = page_started.elapsed().as_millis() as u64,
                waiting_for_reads_ms = read_wait.as_millis() as u64,
                "thread page done"
            );
            if let Scope::Recent { max, .. } = self.scope {
                if cp.seen >= max {
                    return Ok(());
                }
            }
            match page.next {
                Some(k) => {
                    cp.page_key = Some(key_to_json(&k));
                    cp.done_in_page = 0;
                }
                None => return Ok(()),
            }
        }
    }

    /// Records rejects and the checkpoint in one fenced transaction.
    async fn commit(&self, rejects: Vec<Reject>, cp: Checkpoint, mut f: Figures) -> HopResult<()> {
        let (account, run) = (self.account, self.run);
        fenced(self.ctx, self.job, move |c| {
            async move {
                f.rejects += writes::record_rejects(c, account, run, &rejects).await?;
                let v = serde_json::to_value(&cp).expect("checkpoint serialises");
                runs::checkpoint(c, run, Some(&v), f).await
            }
            .scope_boxed()
        })
        .await
    }

    /// Writes a group of single-page threads and rejects in one fenced transaction, with the
    /// checkpoint past the group's last item.
    async fn flush(&mut self, cp: &mut Checkpoint, group: &mut Group) -> HopResult<()> {
        let Some(last) = group.last_idx else {
            return Ok(());
        };
        let g = std::mem::take(group);
        let mut next = cp.clone();
        next.done_in_page = last + 1;
        next.seen += g.seen;
        next.thread = None;
        next.msg_key = None;
        let (account, run) = (self.account, self.run);
        let batch = self.ctx.settings.worker.write_batch.max(1);
        let v = serde_json::to_value(&next).expect("checkpoint serialises");
        let (n_threads, n_messages, started) =
            (g.threads.len(), g.messages, std::time::Instant::now());
        let pending = fenced(self.ctx, self.job, move |c| {
            async move {
                let mut f = Figures::default();
                let mut rejects = g.rejects;
                let mut pending = Vec::new();
                let keys: Vec<(Uuid, &SourceThread)> =
                    g.threads.iter().map(|(ch, t, _)| (*ch, t)).collect();
                let rows = if keys.is_empty() {
                    Vec::new()
                } else {
                    writes::upsert_threads(c, account, &keys).await?
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
                for chunk in pairs.chunks(batch) {
                    let out = writes::insert_messages_of(c, account, chunk).await?;
                    f.messages += out.inserted;
                    f.attachments_failed += out.failed_attachments;
                    pending.extend(out.pending_attachments);
                    for i in out.foreign_duplicates {
                        rejects.push(reject_message(chunk[i].1, DUPLICATE_ID));
                    }
                }
                if !open.is_empty() {
                    f.threads += writes::complete_threads(c, &open).await?;
                }
                f.rejects += writes::record_rejects(c, account, run, &rejects).await?;
                runs::checkpoint(c, run, Some(&v), f).await?;
                Ok(pending)
            }
            .scope_boxed()
        })
        .await?;
        tracing::debug!(
            threads = n_threads,
            messages = n_messages,
            ms = started.elapsed().as_millis() as u64,
            "group written"
        );
        self.downloads.spawn(pending);
        *cp = next;
        Ok(())
    }

    async fn move_thread(
        &mut self,
        cp: &mut Checkpoint,
        idx: usize,
        t: &SourceThread,
        first: Option<Page>,
    ) -> HopResult<()> {
        let resuming = cp.thread.as_deref() == Some(t.thread_id.as_str());
        let mut done = cp.clone();
        done.done_in_page = idx + 1;
        done.seen += 1;
        done.thread = None;
        done.msg_key = None;

        // where this thread's messages go: a conversation of ours, or starred flags on web chat
        let mut target = if t.is_webchat() {
            if !resuming {
                let rejects = self.star_webchat_thread(t).await?;
                if !rejects.is_empty() {
                    self.commit(rejects, done.clone(), Figures::default())
                        .await?;
                    *cp = done;
                    return Ok(());
                }
            }
            Target::Webchat
        } else {
            // walk() rejects threads of unknown channels before they get here
            let channel_id = self.channels[&t.channel_id];
            // the conversation is upserted in the first page's transaction
            Target::Thread(channel_id, Box::new(t.clone()))
        };

        // messages, a page at a time; the next page is read while this one is written
        let mut page = match first {
            Some(p) => p,
            None => self.ctx.dynamo.messages_page(&t.thread_id, None).await?,
        };
        loop {
            let next_key = page.next.clone();
            let (valid, rejects) = self.parse_messages(&page.items, t);
            let mut step = cp.clone();
            step.thread = Some(t.thread_id.clone());
            step.msg_key = next_key.as_ref().map(key_to_json);
            let write = self.write_messages(
                target.clone(),
                valid,
                rejects,
                step.clone(),
                done.clone(),
                next_key.is_none(),
            );
            let read = async {
                match &next_key {
                    Some(k) => self
                        .ctx
                        .dynamo
                        .messages_page(&t.thread_id, Some(k.clone()))
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            };
            let (written, read) = tokio::join!(write, read);
            let written = written?;
            self.downloads.spawn(written.pending);
            if written.finished {
                *cp = done;
                return Ok(());
            }
            *cp = step;
            target = written.target;
            match read? {
                Some(p) => page = p,
                None => unreachable!("a page without a next key finishes the thread"),
            }
        }
    }

    fn parse_messages(
        &self,
        items: &[Item],
        t: &SourceThread,
    ) -> (Vec<SourceMessage>, Vec<Reject>) {
        let mut valid = Vec::with_capacity(items.len());
        let mut rejects = Vec::new();
        for item in items {
            match items::message(item, &t.thread_id, &self.job.shopper_id) {
                Ok(m) => valid.push(m),
                Err(r) => rejects.push(r),
            }
        }
        (valid, rejects)
    }

    /// One fenced transaction: the conversation (first page), the page's rows, its rejects, the
    /// checkpoint and the figures. A thread whose messages an earlier pass completed, or whose
    /// last page this is, commits the `done` checkpoint.
    async fn write_messages(
        &self,
        target: Target,
        valid: Vec<SourceMessage>,
        mut rejects: Vec<Reject>,
        step: Checkpoint,
        done: Checkpoint,
        last: bool,
    ) -> HopResult<Written> {
        let (account, run) = (self.account, self.run);
        let batch = self.ctx.settings.worker.write_batch.max(1);
        fenced(self.ctx, self.job, move |c| {
            async move {
                let mut f = Figures::default();
                let mut pending = Vec::new();
                let mut finished = last;
                let target = match target {
                    Target::Thread(channel_id, thread) => {
                        let row = writes::upsert_thread(c, account, channel_id, &thread).await?;
                        finished |= row.messages_complete;
                        Target::Conversation(row.conversation_id)
                    }
                    other => other,
                };
                match &target {
                    Target::Conversation(_) if finished && !last => {}
                    Target::Conversation(conv) => {
                        let conv = *conv;
                        for chunk in valid.chunks(batch) {
                            let out = writes::insert_messages(c, account, conv, chunk).await?;
                            f.messages += out.inserted;
                            f.attachments_failed += out.failed_attachments;
                            pending.extend(out.pending_attachments);
                            for i in out.foreign_duplicates {
                                rejects.push(reject_message(&chunk[i], DUPLICATE_ID));
                            }
                        }
                        if last && writes::complete_thread(c, conv).await? {
                            f.threads += 1;
                        }
                    }
                    Target::Webchat => {
                        for m in &valid {
                            let ok = match &m.webchat_message_id {
                                Some(id) => {
                                    writes::star_webchat_message(c, account, id, m.starred).await?
                                }
                                None => false,
                            };
                            if !ok {
                                rejects.push(reject_message(
                                    m,
                                    "web chat message does not name a re:amaze message of this account",
                                ));
                            }
                        }
                    }
                    Target::Thread(..) => unreachable!("resolved above"),
                }
                f.rejects += writes::record_rejects(c, account, run, &rejects).await?;
                let cp = if finished { &done } else { &step };
                let v = serde_json::to_value(cp).expect("checkpoint serialises");
                runs::checkpoint(c, run, Some(&v), f).await?;
                Ok(Written {
                    pending,
                    finished,
                    target,
                })
            }
            .scope_boxed()
        })
        .await
    }

    /// The thread's starred flag onto the re:amaze conversation it mirrors; rejects if none.
    async fn star_webchat_thread(&self, t: &SourceThread) -> HopResult<Vec<Reject>> {
        let Some(id) = t.webchat_conversation_id.clone() else {
            return Ok(vec![reject_thread(
                t,
                "web chat thread lacks webchat_conversation_id".into(),
            )]);
        };
        let (account, starred) = (self.account, t.starred);
        let found = fenced(self.ctx, self.job, move |c| {
            async move { writes::star_webchat_conversation(c, account, &id, starred).await }
                .scope_boxed()
        })
        .await?;
        Ok(if found {
            vec![]
        } else {
            vec![reject_thread(
                t,
                "webchat_conversation_id does not name a re:amaze conversation of this account"
                    .into(),
            )]
        })
    }
}

#[derive(Debug, Clone)]
enum Target {
    /// A thread whose conversation is upserted with its first page.
    Thread(Uuid, Box<SourceThread>),
    Conversation(Uuid),
    Webchat,
}

/// First message pages of upcoming threads, read by a task of its own (so reads go on while
/// the writer is in a transaction), `n` at a time, delivered in thread order. Memory stays
/// bounded by `n` pages.
struct ReadAhead {
    rx: tokio::sync::mpsc::Receiver<HopResult<Page>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadAhead {
    fn start(dynamo: DynamoSource, threads: Vec<(String, Option<Item>)>, n: usize) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(n);
        let task = tokio::spawn(async move {
            let mut pages = futures::stream::iter(threads)
                .map(|(id, key)| {
                    let d = dynamo.clone();
                    async move { d.messages_page(&id, key).await }
                })
                .buffered(n);
            while let Some(p) = pages.next().await {
                if tx.send(p).await.is_err() {
                    return;
                }
            }
        });
        Self { rx, task }
    }

    async fn next(&mut self) -> HopResult<Page> {
        self.rx
            .recv()
            .await
            .unwrap_or_else(|| Err(HopError::Transient("read-ahead stopped".into())))
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Consecutive items of a thread page written in one transaction.
#[derive(Default)]
struct Group {
    rejects: Vec<Reject>,
    threads: Vec<(Uuid, SourceThread, Vec<SourceMessage>)>,
    messages: usize,
    seen: usize,
    last_idx: Option<usize>,
}

/// What a page's transaction did.
struct Written {
    pending: Vec<(Uuid, String)>,
    finished: bool,
    target: Target,
}

fn reject_thread(t: &SourceThread, reason: String) -> Reject {
    Reject {
        source_table: items::THREADS.into(),
        source_key: t.thread_id.clone(),
        reason,
        raw: serde_json::json!({
            "thread_id": t.thread_id, "channel_id": t.channel_id, "channel_type": t.channel_type,
            "webchat_conversation_id": t.webchat_conversation_id, "starred": t.starred,
        }),
    }
}

const DUPLICATE_ID: &str = "message_id already migrated from another item (ids must be unique)";

fn reject_message(m: &SourceMessage, reason: &str) -> Reject {
    Reject {
        source_table: items::MESSAGES.into(),
        source_key: format!("{}#{}", m.thread_id, m.sort_key),
        reason: reason.into(),
        raw: serde_json::json!({
            "thread_id": m.thread_id, "sort_key": m.sort_key, "message_id": m.message_id,
            "webchat_message_id": m.webchat_message_id, "starred": m.starred,
        }),
    }
}
