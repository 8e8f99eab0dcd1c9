//! How a hop walks the listing of threads: a page of threads at a time, the short ones
//! written several to a transaction, the long ones (and web chat, and the thread a checkpoint
//! resumes) a page at a time, committing as it goes and yielding when its budget is spent.

use super::batch::{Group, Target};
use super::checkpoint::Checkpoint;
use super::mover::{reject_thread, Mover, Scope};
use super::read_ahead::ReadAhead;
use crate::error::WorkResult;
use crate::phases::PhaseEnd;
use migrator_core::source::items::{self, Item};
use migrator_core::source::{Reject, SourceThread};
use migrator_source::dynamo::Page;
use std::collections::HashSet;

/// Whether a page's threads were all written.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// All written: the walk goes on.
    Going,
    /// The budget ran out; the checkpoint is committed.
    Yielded,
}

/// What one page of threads is written with.
struct PageWrite {
    /// Threads an earlier phase completed (their messages are not read again).
    complete: HashSet<String>,
    /// The first message pages of the page's threads, read ahead in thread order.
    firsts: ReadAhead,
    /// Time spent waiting for them.
    read_wait: std::time::Duration,
}

/// Where an item went.
enum Added {
    /// Into the group, written with the next flush.
    Grouped,
    /// It is written alone, a page at a time, from its first page.
    Alone(Box<(SourceThread, Page)>),
}

impl Mover<'_> {
    /// Moves the scope's threads from the checkpoint on, a page of the listing at a time,
    /// until they are all moved or the budget is spent.
    pub(super) async fn walk(&mut self, cp: &mut Checkpoint) -> WorkResult<PhaseEnd> {
        loop {
            if self.scope.full(cp.seen) {
                return Ok(PhaseEnd::Done);
            }
            let page = self.thread_page(cp).await?;
            let todo = self.todo(&page, cp);
            if self.write_threads(cp, todo).await? == Progress::Yielded {
                return Ok(PhaseEnd::Yielded);
            }
            cp.page_done(page.items.len());
            if let Some(end) = self.next_page(cp, page.next).await? {
                return Ok(end);
            }
        }
    }

    /// The page's items not yet done, parsed (a bad one is its reject), up to the scope's cap.
    fn todo(&self, page: &Page, cp: &Checkpoint) -> Vec<(usize, Result<SourceThread, Reject>)> {
        let mut todo = Vec::new();
        let mut valid = cp.seen;
        for idx in cp.done_in_page..page.items.len() {
            let parsed = items::thread(&page.items[idx], self.leased.shopper_id.as_str());
            if parsed.is_ok() {
                if self.scope.full(valid) {
                    break;
                }
                valid += 1;
            }
            todo.push((idx, parsed));
        }
        todo
    }

    /// Writes a page's threads in thread order, reading the first message pages of the next
    /// ones ahead: the short ones grouped several to a transaction, the others one by one.
    async fn write_threads(
        &mut self,
        cp: &mut Checkpoint,
        todo: Vec<(usize, Result<SourceThread, Reject>)>,
    ) -> WorkResult<Progress> {
        let complete = self.already_complete(&todo).await?;
        let firsts = self.read_ahead(&todo, &complete, cp);
        let mut page = PageWrite {
            complete,
            firsts,
            read_wait: std::time::Duration::ZERO,
        };
        let (batch, batch_bytes) = self.batch();
        let mut group = Group::default();
        let (started, n) = (std::time::Instant::now(), todo.len());
        for (idx, parsed) in todo {
            match self.add(&mut group, parsed, &mut page, cp).await? {
                Added::Grouped => {
                    group.last_idx = Some(idx);
                    if group.full(batch, batch_bytes) {
                        self.flush(cp, &mut group).await?;
                        if self.spent() {
                            return Ok(Progress::Yielded);
                        }
                    }
                }
                Added::Alone(alone) => {
                    let (t, first) = *alone;
                    self.flush(cp, &mut group).await?;
                    if self.spent() || !self.move_thread(cp, idx, &t, first).await? {
                        return Ok(Progress::Yielded);
                    }
                }
            }
        }
        self.flush(cp, &mut group).await?;
        tracing::debug!(
            items = n,
            ms = started.elapsed().as_millis() as u64,
            waiting_for_reads_ms = page.read_wait.as_millis() as u64,
            "thread page done"
        );
        Ok(Progress::Going)
    }

    /// Starts reading the first message page of each thread whose messages are read (not web
    /// chat-less unknown channels, not threads an earlier phase completed), in thread order.
    fn read_ahead(
        &self,
        todo: &[(usize, Result<SourceThread, Reject>)],
        complete: &HashSet<String>,
        cp: &Checkpoint,
    ) -> ReadAhead {
        let ahead: Vec<(String, Option<Item>)> = todo
            .iter()
            .filter_map(|(_, t)| t.as_ref().ok())
            .filter(|t| self.reads_messages(t) && !complete.contains(&t.thread_id))
            .map(|t| (t.thread_id.clone(), cp.message_key(&t.thread_id)))
            .collect();
        ReadAhead::start(
            self.ctx.sources.dynamo.clone(),
            ahead,
            self.scope.messages_from(),
            self.ctx.settings.worker.thread_concurrency.max(1),
        )
    }

    /// Adds one item to the group (a reject, a thread and its single page of messages, a
    /// complete thread's row), or says it is written alone (long, web chat, resumed).
    async fn add(
        &self,
        group: &mut Group,
        parsed: Result<SourceThread, Reject>,
        page: &mut PageWrite,
        cp: &Checkpoint,
    ) -> WorkResult<Added> {
        let t = match parsed {
            Err(r) => {
                group.reject(r);
                return Ok(Added::Grouped);
            }
            Ok(t) => t,
        };
        if !self.reads_messages(&t) {
            let why = format!(
                "channel_id {:?} is not among the C1's channels",
                t.channel_id
            );
            group.reject(reject_thread(&t, why));
            group.seen += 1;
            return Ok(Added::Grouped);
        }
        let channel = self.channels[&t.channel_id];
        if page.complete.contains(&t.thread_id) {
            // moved in full by the recent phase: only its row again (the star)
            group.seen += 1;
            group.threads.push((channel, t, Vec::new()));
            return Ok(Added::Grouped);
        }
        let wait = std::time::Instant::now();
        let first = page.firsts.next().await?;
        page.read_wait += wait.elapsed();
        if t.is_webchat() || first.next.is_some() || cp.resumes(&t.thread_id) {
            return Ok(Added::Alone(Box::new((t, first))));
        }
        let (valid, rejects) = self.parse_messages(&first.items, &t);
        for r in rejects {
            group.reject(r);
        }
        group.messages += valid.len();
        group.bytes += valid
            .iter()
            .map(migrator_core::source::SourceMessage::approx_bytes)
            .sum::<usize>();
        group.seen += 1;
        group.threads.push((channel, t, valid));
        Ok(Added::Grouped)
    }

    /// After a page of the listing: the phase ends (its cap, the listing's end), or goes on
    /// with the next page — in this hop, or, its budget spent, in a continuation from a
    /// committed checkpoint.
    async fn next_page(
        &mut self,
        cp: &mut Checkpoint,
        next: Option<Item>,
    ) -> WorkResult<Option<PhaseEnd>> {
        if self.scope.full(cp.seen) {
            return Ok(Some(PhaseEnd::Done));
        }
        let Some(k) = next else {
            return self.listing_ended(cp).await.map(Some);
        };
        cp.next_page(&k);
        if self.spent() {
            // the next page's start is only in memory: commit it with the yield
            self.commit_rejects(Vec::new(), cp.clone()).await?;
            return Ok(Some(PhaseEnd::Yielded));
        }
        Ok(None)
    }

    /// The phase's listing ended below its cap. A recent phase whose threads were every thread
    /// of the C1 leaves nothing to the all-messages phase: the C1's threads are counted in the
    /// table itself (not the index, which lacks threads without a numeric `last_message_at`),
    /// reading no more than one past what was listed. The count only saves work: when it
    /// fails, the all-messages phase runs as it would have.
    async fn listing_ended(&self, cp: &Checkpoint) -> WorkResult<PhaseEnd> {
        if !matches!(self.scope, Scope::Recent { .. }) {
            return Ok(PhaseEnd::Done);
        }
        let shopper = self.leased.shopper_id.as_str();
        let at_most = cp.listed.saturating_add(1);
        Ok(
            match self
                .ctx
                .sources
                .dynamo
                .count_threads(shopper, at_most)
                .await
            {
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
    ) -> WorkResult<bool> {
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
            let from = self.scope.messages_from();
            let read = async {
                match &next_key {
                    Some(k) => self
                        .ctx
                        .sources
                        .dynamo
                        .messages_page_from(&t.thread_id, from.as_deref(), Some(k.clone()))
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
}
