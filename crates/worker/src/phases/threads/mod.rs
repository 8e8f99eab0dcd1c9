//! Moving threads and their messages, shared by the recent and the all-messages phases.
//!
//! Progress is checkpointed with every committed page ([`checkpoint`]). A worker killed at any
//! instant resumes from the last commit; since every write is an idempotent upsert keyed by
//! source id, the result equals an uninterrupted run. The first message pages of upcoming
//! threads are read ahead ([`read_ahead`]) while earlier ones are written ([`batch`]); web chat
//! threads only carry starred flags ([`webchat`]).

mod batch;
mod checkpoint;
mod read_ahead;
mod webchat;

use super::{Job, PhaseEnd};
use crate::attachments::Downloads;
use crate::context::Ctx;
use crate::error::HopResult;
use crate::sources::dynamo::{Item, Page};
use crate::sources::items;
use batch::{Group, Target};
use checkpoint::Checkpoint;
use migrator_core::db::queries::{brands, conversations};
use migrator_core::ids::{AccountId, ChannelId, RunId};
use migrator_core::source::{Reject, SourceMessage, SourceThread};
use read_ahead::ReadAhead;
use std::collections::{HashMap, HashSet};

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

impl Scope {
    /// The recent cap is reached.
    fn full(&self, seen: usize) -> bool {
        matches!(*self, Scope::Recent { max, .. } if seen >= max)
    }
}

struct Mover<'a> {
    ctx: &'a Ctx,
    job: &'a Job,
    scope: Scope,
    channels: HashMap<String, ChannelId>,
    downloads: Downloads,
    account: AccountId,
    run: RunId,
    /// Pages committed by this hop (the budget counts them).
    pages: u32,
}

/// Moves the threads of `scope`, resuming from the run's checkpoint, until they are all moved
/// or the hop's budget is spent (then a continuation resumes from the committed checkpoint).
pub async fn move_threads(ctx: &Ctx, job: &Job, scope: Scope) -> HopResult<PhaseEnd> {
    let (account, run) = (job.hop.account_id, job.hop.run_id);
    let channels = {
        let mut c = ctx.conn().await?;
        brands::channel_map(&mut c, account).await?
    };
    let mut cp = Checkpoint::load(job.run.checkpoint.as_ref());
    let mut mover = Mover {
        ctx,
        job,
        scope,
        channels,
        downloads: Downloads::new(ctx, account),
        account,
        run,
        pages: 0,
    };
    let res = mover.walk(&mut cp).await;
    // downloads of committed rows finish, or stay pending for a later hop or the sweeper
    let grace = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    mover.downloads.finish(job.budget.deadline.max(grace)).await;
    res
}

impl Mover<'_> {
    async fn thread_page(&self, cp: &Checkpoint) -> HopResult<Page> {
        let start = cp.page_start();
        let shopper = self.job.shopper_id.as_str();
        Ok(match self.scope {
            Scope::All => self.ctx.dynamo.threads_page(shopper, start).await?,
            Scope::Recent { since_ms, max } => {
                let left = max.saturating_sub(cp.seen).max(1);
                let limit = left.min(i32::MAX as usize) as i32;
                self.ctx
                    .dynamo
                    .recent_threads_page(shopper, since_ms, start, limit)
                    .await?
            }
        })
    }

    /// Threads whose messages are read: web chat ones (starred flags) and those of a known
    /// channel (the others are rejects).
    fn reads_messages(&self, t: &SourceThread) -> bool {
        t.is_webchat() || self.channels.contains_key(&t.channel_id)
    }

    /// Threads of the page whose messages an earlier phase of this run wrote in full (the
    /// recent phase's): their messages are not read again. Asked in the all-messages phase of
    /// a run that has completed threads (one statement a page), never for web chat threads.
    async fn already_complete(
        &self,
        todo: &[(usize, Result<SourceThread, Reject>)],
    ) -> HopResult<HashSet<String>> {
        if !matches!(self.scope, Scope::All) || self.job.run.threads_migrated == 0 {
            return Ok(HashSet::new());
        }
        let ids: Vec<&str> = todo
            .iter()
            .filter_map(|(_, t)| t.as_ref().ok())
            .filter(|t| !t.is_webchat() && self.channels.contains_key(&t.channel_id))
            .map(|t| t.thread_id.as_str())
            .collect();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut c = self.ctx.conn().await?;
        Ok(conversations::completed_among(&mut c, self.account, &ids).await?)
    }

    /// The budget is spent: yield at this commit (never before the hop's first, so every hop
    /// makes progress).
    fn spent(&self) -> bool {
        self.pages > 0 && self.job.budget.spent(self.pages)
    }

    async fn walk(&mut self, cp: &mut Checkpoint) -> HopResult<PhaseEnd> {
        loop {
            if self.scope.full(cp.seen) {
                return Ok(PhaseEnd::Done);
            }
            let page = self.thread_page(cp).await?;
            let mut todo = Vec::new();
            let mut valid = cp.seen;
            for idx in cp.done_in_page..page.items.len() {
                let parsed = items::thread(&page.items[idx], self.job.shopper_id.as_str());
                if parsed.is_ok() {
                    if self.scope.full(valid) {
                        break;
                    }
                    valid += 1;
                }
                todo.push((idx, parsed));
            }
            let complete = self.already_complete(&todo).await?;
            // the first message page of the next threads is read ahead, several at a time,
            // while earlier threads are written; commits stay in thread order
            let ahead: Vec<(String, Option<Item>)> = todo
                .iter()
                .filter_map(|(_, t)| t.as_ref().ok())
                .filter(|t| self.reads_messages(t) && !complete.contains(&t.thread_id))
                .map(|t| (t.thread_id.clone(), cp.message_key(&t.thread_id)))
                .collect();
            let mut firsts = ReadAhead::start(
                self.ctx.dynamo.clone(),
                ahead,
                self.ctx.settings.worker.thread_concurrency.max(1),
            );
            // threads whose messages fit one page are written several to a transaction; the
            // others (long threads, web chat, the thread a checkpoint resumes) one by one
            let (batch, batch_bytes) = self.batch();
            let mut group = Group::default();
            let (mut read_wait, page_started) =
                (std::time::Duration::ZERO, std::time::Instant::now());
            for (idx, parsed) in todo {
                match parsed {
                    Err(r) => group.reject(r),
                    Ok(t) if !self.reads_messages(&t) => {
                        let why = format!(
                            "channel_id {:?} is not among the C1's channels",
                            t.channel_id
                        );
                        group.reject(reject_thread(&t, why));
                        group.seen += 1;
                    }
                    Ok(t) if complete.contains(&t.thread_id) => {
                        // moved in full by the recent phase: only its row again (the star)
                        group.seen += 1;
                        group
                            .threads
                            .push((self.channels[&t.channel_id], t, Vec::new()));
                    }
                    Ok(t) => {
                        let wait = std::time::Instant::now();
                        let first = firsts.next().await?;
                        read_wait += wait.elapsed();
                        if t.is_webchat() || first.next.is_some() || cp.resumes(&t.thread_id) {
                            self.flush(cp, &mut group).await?;
                            if self.spent() || !self.move_thread(cp, idx, &t, first).await? {
                                return Ok(PhaseEnd::Yielded);
                            }
                            continue;
                        }
                        let (valid, rejects) = self.parse_messages(&first.items, &t);
                        for r in rejects {
                            group.reject(r);
                        }
                        group.messages += valid.len();
                        group.bytes += valid.iter().map(SourceMessage::approx_bytes).sum::<usize>();
                        group.seen += 1;
                        group.threads.push((self.channels[&t.channel_id], t, valid));
                    }
                }
                group.last_idx = Some(idx);
                if group.full(batch, batch_bytes) {
                    self.flush(cp, &mut group).await?;
                    if self.spent() {
                        return Ok(PhaseEnd::Yielded);
                    }
                }
            }
            self.flush(cp, &mut group).await?;
            tracing::debug!(
                items = page.items.len(),
                ms = page_started.elapsed().as_millis() as u64,
                waiting_for_reads_ms = read_wait.as_millis() as u64,
                "thread page done"
            );
            cp.page_done(page.items.len());
            if self.scope.full(cp.seen) {
                return Ok(PhaseEnd::Done);
            }
            match page.next {
                Some(k) => cp.next_page(&k),
                None => return self.listing_ended(cp).await,
            }
            if self.spent() {
                // the next page's start is only in memory: commit it with the yield
                self.commit_rejects(Vec::new(), cp.clone()).await?;
                return Ok(PhaseEnd::Yielded);
            }
        }
    }

    /// The phase's listing ended below its cap. A recent phase whose threads were every thread
    /// of the C1 leaves nothing to the all-messages phase: the C1's threads are counted in the
    /// table itself (not the index, which lacks threads without a numeric `last_message_at`),
    /// reading no more than one past what was listed. The count only saves work: when it
    /// fails, the all-messages phase runs as it would have.
    async fn listing_ended(&self, cp: &Checkpoint) -> HopResult<PhaseEnd> {
        if matches!(self.scope, Scope::All) {
            return Ok(PhaseEnd::Done);
        }
        let shopper = self.job.shopper_id.as_str();
        let at_most = cp.listed.saturating_add(1);
        Ok(
            match self.ctx.dynamo.count_threads(shopper, at_most).await {
                Ok(threads) if threads <= cp.listed => PhaseEnd::Covered,
                Ok(_) => PhaseEnd::Done,
                Err(e) => {
                    tracing::info!(error = %e, "threads not counted; the all-messages phase follows");
                    PhaseEnd::Done
                }
            },
        )
    }

    /// A thread written a page at a time (long threads, web chat, a resumed thread); the next
    /// page is read while this one is written. Returns false when the budget ran out inside
    /// the thread (its checkpoint is committed; a continuation resumes it).
    async fn move_thread(
        &mut self,
        cp: &mut Checkpoint,
        idx: usize,
        t: &SourceThread,
        mut page: Page,
    ) -> HopResult<bool> {
        let done = cp.past(idx, 1);
        // where this thread's messages go: a conversation of ours, or starred flags on web chat
        let mut target = if t.is_webchat() {
            if !cp.resumes(&t.thread_id) {
                let rejects = self.star_webchat_thread(t).await?;
                if !rejects.is_empty() {
                    self.commit_rejects(rejects, done.clone()).await?;
                    *cp = done;
                    return Ok(true);
                }
            }
            Target::Webchat
        } else {
            // walk() rejects threads of unknown channels before they get here; the
            // conversation is upserted in the first page's transaction
            Target::Thread(self.channels[&t.channel_id], Box::new(t.clone()))
        };
        loop {
            let next_key = page.next.clone();
            let (valid, rejects) = self.parse_messages(&page.items, t);
            let step = cp.inside(&t.thread_id, next_key.as_ref());
            let write = self.write_page(target, valid, rejects, &step, &done, next_key.is_none());
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
            self.pages += 1;
            self.downloads.spawn(written.pending);
            if written.finished {
                *cp = done;
                return Ok(true);
            }
            *cp = step;
            if self.spent() {
                return Ok(false);
            }
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
            match items::message(item, &t.thread_id, self.job.shopper_id.as_str()) {
                Ok(m) => valid.push(m),
                Err(r) => rejects.push(r),
            }
        }
        (valid, rejects)
    }
}

/// A thread that cannot be migrated, as a reject.
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

/// Why a message whose id another item already used is a reject.
const DUPLICATE_ID: &str = "message_id already migrated from another item (ids must be unique)";

/// A message that cannot be migrated, as a reject.
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
