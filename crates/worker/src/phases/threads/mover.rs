//! One hop moving threads: what it holds ([`Mover`]: its leased, its scope, the C1's channels,
//! its downloads, the pages it committed), how it starts ([`move_threads`]), the questions it
//! asks along the way, and the rejects it makes. How it walks the listing is in `walk`, how it
//! writes in `batch`, web chat in `webchat`.

use super::checkpoint::Checkpoint;
use crate::attachments::Downloads;
use crate::context::Ctx;
use crate::error::WorkResult;
use crate::phases::{LeasedHop, PhaseEnd};
use migrator_core::ids::{AccountId, ChannelId, RunId};
use migrator_core::source::items::{self, Item};
use migrator_core::source::{Reject, SourceMessage, SourceThread};
use migrator_source::dynamo::Page;
use migrator_store::queries::{destination::brands, destination::conversations};
use std::collections::{HashMap, HashSet};

/// Which threads a phase moves.
#[derive(Debug, Clone)]
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
    /// What landed after the switch (a catch-up): every thread with `last_message_at >=
    /// since_ms` (the GSI), and of each only its messages sent at or after `since_ms` (a
    /// `sort_key` range), threads the copy completed included.
    Since {
        /// Lower bound, epoch ms.
        since_ms: i64,
    },
    /// These threads in full, threads the copy completed included (a repair: their migrated
    /// messages were removed first).
    Threads(Vec<String>),
}

impl Scope {
    /// The recent cap is reached.
    pub(super) fn full(&self, seen: usize) -> bool {
        matches!(*self, Scope::Recent { max, .. } if seen >= max)
    }

    /// The lower bound of the messages read (`<sent_at as 13 digits>`), when the scope has one.
    pub(super) fn messages_from(&self) -> Option<String> {
        match self {
            Scope::Since { since_ms } => Some(format!("{:013}", (*since_ms).max(0))),
            _ => None,
        }
    }

    /// Whether threads an earlier pass completed are written again (a catch-up's and a
    /// repair's are; a phase skips them).
    pub(super) fn rewrites_complete(&self) -> bool {
        matches!(self, Scope::Since { .. } | Scope::Threads(_))
    }
}

/// One hop moving threads, and what it has done so far.
pub(super) struct Mover<'a> {
    pub ctx: &'a Ctx,
    pub leased: &'a LeasedHop,
    pub scope: Scope,
    pub channels: HashMap<String, ChannelId>,
    pub downloads: Downloads,
    pub account: AccountId,
    pub run: RunId,
    /// Pages committed by this hop (the budget counts them).
    pub pages: u32,
}

/// Moves the threads of `scope`, resuming from the run's checkpoint, until they are all moved
/// or the hop's budget is spent (then a continuation resumes from the committed checkpoint).
pub async fn move_threads(ctx: &Ctx, leased: &LeasedHop, scope: Scope) -> WorkResult<PhaseEnd> {
    let (account, run) = (leased.hop.account_id, leased.hop.run_id);
    let channels = {
        let mut c = ctx.conn().await?;
        brands::channel_map(&mut c, account).await?
    };
    let mut cp = Checkpoint::load(leased.run.checkpoint.as_ref());
    let mut mover = Mover {
        ctx,
        leased,
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
    mover
        .downloads
        .finish(leased.budget.deadline.max(grace))
        .await;
    res
}

impl Mover<'_> {
    pub(super) async fn thread_page(&self, cp: &Checkpoint) -> WorkResult<Page> {
        let start = cp.page_start();
        let shopper = self.leased.shopper_id.as_str();
        let dynamo = &self.ctx.sources.dynamo;
        Ok(match &self.scope {
            Scope::All => dynamo.threads_page(shopper, start).await?,
            Scope::Recent { since_ms, max } => {
                let left = max.saturating_sub(cp.seen).max(1);
                let limit = left.min(i32::MAX as usize) as i32;
                dynamo
                    .recent_threads_page(shopper, *since_ms, start, limit)
                    .await?
            }
            Scope::Since { since_ms } => {
                let limit = self.ctx.settings.dynamodb.page_size;
                dynamo
                    .recent_threads_page(shopper, *since_ms, start, limit)
                    .await?
            }
            // one page: the listed threads that the source still has, in the list's order
            Scope::Threads(ids) => {
                let mut items = Vec::with_capacity(ids.len());
                for id in ids {
                    items.extend(dynamo.thread(shopper, id).await?);
                }
                Page { items, next: None }
            }
        })
    }

    /// Threads whose messages are read: web chat ones (starred flags) and those of a known
    /// channel (the others are rejects).
    pub(super) fn reads_messages(&self, t: &SourceThread) -> bool {
        t.is_webchat() || self.channels.contains_key(&t.channel_id)
    }

    /// Threads of the page whose messages an earlier phase of this run wrote in full (the
    /// recent phase's): their messages are not read again. Asked in the all-messages phase of
    /// a run that has completed threads (one statement a page), never for web chat threads.
    pub(super) async fn already_complete(
        &self,
        todo: &[(usize, Result<SourceThread, Reject>)],
    ) -> WorkResult<HashSet<String>> {
        if !matches!(self.scope, Scope::All) || self.leased.run.threads_migrated == 0 {
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
    pub(super) fn spent(&self) -> bool {
        self.pages > 0 && self.leased.budget.spent(self.pages)
    }

    pub(super) fn parse_messages(
        &self,
        items: &[Item],
        t: &SourceThread,
    ) -> (Vec<SourceMessage>, Vec<Reject>) {
        let mut valid = Vec::with_capacity(items.len());
        let mut rejects = Vec::new();
        for item in items {
            match items::message(item, &t.thread_id, self.leased.shopper_id.as_str()) {
                Ok(m) => valid.push(m),
                Err(r) => rejects.push(r),
            }
        }
        (valid, rejects)
    }
}

/// A thread that cannot be migrated, as a reject.
pub(super) fn reject_thread(t: &SourceThread, reason: String) -> Reject {
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
pub(super) const DUPLICATE_ID: &str =
    "message_id already migrated from another item (ids must be unique)";

/// A message that cannot be migrated, as a reject.
pub(super) fn reject_message(m: &SourceMessage, reason: &str) -> Reject {
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
