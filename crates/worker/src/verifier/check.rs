//! One account's verification: its channels (configs-migration), then its threads page by page
//! (DynamoDB) against the conversations written for them, each thread's messages page by page
//! against their rows (the first pages of a few threads, `worker.thread_concurrency`, read
//! together and looked up in one query), and the web chat threads' starred flags. Memory holds
//! those few pages of each side: rows no source item accounts for are counted from the totals
//! and, only when there are some, listed through session-local sets of the ids seen
//! (Postgres).
//!
//! Rejected source items are not differences (they are in `rejects`); a difference found on an
//! item whose key is a recorded reject is dropped. Native web chat data is never an extra row.

use super::compare;
use crate::context::Ctx;
use crate::error::WorkResult;
use migrator_core::ids::{AccountId, ConversationId, MessageId, ShopperId};
use migrator_core::source::items;
use migrator_core::source::webchat::{webchat_ask, WebchatAsk};
use migrator_core::source::{channels_as_migrated, SourceMessage, SourceThread};
use migrator_core::text::ExactText;
use migrator_store::queries::destination::verify_reads::{self as reads, DestMessage, Seen};
use migrator_store::queries::workflow::verifications::{Diff, Outcome};
use migrator_store::DbConn;
use std::collections::{HashMap, HashSet};

/// Differences found so far: all counted, the first `max_listed` kept.
struct Found {
    outcome: Outcome,
    max_listed: usize,
}

impl Found {
    fn diff(&mut self, kind: &str, source_key: &str, detail: String) {
        self.outcome.diff_count += 1;
        if self.outcome.diffs.len() < self.max_listed {
            self.outcome.diffs.push(Diff {
                kind: kind.into(),
                source_key: source_key.into(),
                detail,
            });
        }
    }

    fn room(&self) -> i64 {
        (self.max_listed - self.outcome.diffs.len()) as i64
    }
}

/// The walk over one account, on one connection (its seen sets live in that session).
struct Walk<'a> {
    ctx: &'a Ctx,
    c: DbConn,
    account: AccountId,
    shopper: String,
    found: Found,
}

/// Verifies the account of `shopper`.
pub async fn account(
    ctx: &Ctx,
    account: AccountId,
    shopper: &str,
    max_listed: usize,
) -> WorkResult<Outcome> {
    let mut w = Walk {
        ctx,
        c: ctx.conn().await?,
        account,
        shopper: shopper.to_string(),
        found: Found {
            outcome: Outcome::default(),
            max_listed,
        },
    };
    w.channels().await?;
    w.threads().await?;
    Ok(w.found.outcome)
}

impl Walk<'_> {
    /// Whether an item with one of these keys was rejected (then it is not a difference).
    async fn rejected(&mut self, table: &str, keys: &[String]) -> WorkResult<bool> {
        let keys: Vec<ExactText> = keys.iter().map(|k| k.as_str().into()).collect();
        Ok(reads::is_rejected(&mut self.c, self.account, table, &keys).await?)
    }

    async fn channels(&mut self) -> WorkResult<()> {
        let shopper = ShopperId::parse(&self.shopper).map_err(|e| {
            crate::error::WorkError::Permanent(format!("shopper id of the account: {e}"))
        })?;
        let brands = self.ctx.sources.rest.configs(&shopper).await?;
        let carried = reads::channels_by_source(&mut self.c, self.account).await?;
        // read as the channels phase wrote it: a channel id listed twice is its last listing
        for (_, ch) in channels_as_migrated(&brands) {
            self.found.outcome.channels += 1;
            let dest = carried.get(&ch.channel_id).cloned();
            let detail = match dest {
                None => {
                    let why = format!("{} channel {:?} not carried over", ch.kind, ch.name);
                    self.found.diff("missing_channel", &ch.channel_id, why);
                    continue;
                }
                // web chat joins the account's own channel, under its own name
                Some((kind, _, _)) if ch.kind == "webchat" => {
                    (kind != "webchat").then(|| format!("kind: destination {kind}"))
                }
                Some((kind, name, _)) => {
                    let want = ch.name.as_deref().unwrap_or(&ch.kind);
                    let mut why = Vec::new();
                    if kind != *ch.kind.as_str() {
                        why.push(format!("kind: source {:?}, destination {kind:?}", ch.kind));
                    }
                    if name != *want {
                        why.push(format!("name: source {want:?}, destination {name:?}"));
                    }
                    (!why.is_empty()).then(|| why.join("; "))
                }
            };
            if let Some(d) = detail {
                self.found.diff("changed_channel", &ch.channel_id, d);
            }
        }
        Ok(())
    }

    async fn threads(&mut self) -> WorkResult<()> {
        let (mut start, mut matched) = (None, 0i64);
        let together = self.ctx.settings.worker.thread_concurrency.max(1);
        loop {
            let page = self
                .ctx
                .sources
                .dynamo
                .threads_page(&self.shopper, start)
                .await?;
            let (webchat, threads): (Vec<SourceThread>, Vec<SourceThread>) = self
                .valid_threads(&page)
                .partition(SourceThread::is_webchat);
            for t in &webchat {
                self.webchat_stars(t).await?;
            }
            let ids: Vec<ExactText> = threads
                .iter()
                .map(|t| t.thread_id.as_str().into())
                .collect();
            let dest: HashMap<String, _> =
                reads::threads_by_source(&mut self.c, self.account, &ids)
                    .await?
                    .into_iter()
                    .map(|d| (d.source_id.as_str().to_string(), d))
                    .collect();
            // the rows each conversation holds, for the page's threads at once
            let ids: Vec<ConversationId> = dest.values().map(|d| d.id).collect();
            let rows = reads::message_counts(&mut self.c, &ids).await?;
            let mut carried = Vec::with_capacity(threads.len());
            for t in &threads {
                self.found.outcome.threads += 1;
                let keys = [
                    t.thread_id.clone(),
                    format!("{}#{}", self.shopper, t.thread_id),
                ];
                let Some(d) = dest.get(&t.thread_id) else {
                    if !self.rejected(items::THREADS, &keys).await? {
                        let why = "no conversation for this thread".to_string();
                        self.found.diff("missing_thread", &t.thread_id, why);
                    }
                    continue;
                };
                matched += 1;
                if let Some(why) = compare::thread(t, d) {
                    if !self.rejected(items::THREADS, &keys).await? {
                        self.found.diff("changed_thread", &t.thread_id, why);
                    }
                }
                carried.push((t, d.id, rows.get(&d.id).copied().unwrap_or(0)));
            }
            for few in carried.chunks(together) {
                self.messages(few).await?;
            }
            start = page.next;
            if start.is_none() {
                break;
            }
        }
        let extra = reads::migrated_thread_count(&mut self.c, self.account).await? - matched;
        if extra > 0 {
            self.extra_threads(extra).await?;
        }
        Ok(())
    }

    /// Lists the account's conversations no source thread accounts for: a second pass over the
    /// thread ids (only when the counts say there are some). [`Self::extra_messages`] walks a
    /// thread's messages the same way; their pages, ids and lists differ in type, so each has
    /// its own loop.
    async fn extra_threads(&mut self, extra: i64) -> WorkResult<()> {
        reads::seen_reset(&mut self.c, Seen::Threads).await?;
        let mut start = None;
        loop {
            let page = self
                .ctx
                .sources
                .dynamo
                .threads_page(&self.shopper, start)
                .await?;
            let ids: Vec<ExactText> = self
                .valid_threads(&page)
                .filter(|t| !t.is_webchat())
                .map(|t| t.thread_id.as_str().into())
                .collect();
            reads::seen_add(&mut self.c, Seen::Threads, &ids).await?;
            start = page.next;
            if start.is_none() {
                break;
            }
        }
        let listed = reads::unseen_threads(&mut self.c, self.account, self.found.room()).await?;
        for key in &listed {
            self.found
                .diff("extra_thread", key, "no source thread".into());
        }
        self.found.outcome.diff_count += (extra - listed.len() as i64).max(0);
        Ok(())
    }

    /// The valid threads of a source page (rejected items aside).
    fn valid_threads<'p>(
        &self,
        page: &'p migrator_source::dynamo::Page,
    ) -> impl Iterator<Item = SourceThread> + 'p {
        let shopper = self.shopper.clone();
        page.items
            .iter()
            .filter_map(move |i| items::thread(i, &shopper).ok())
    }

    /// The valid messages of a source page (rejected items aside).
    fn valid(&self, page: &migrator_source::dynamo::Page, t: &SourceThread) -> Vec<SourceMessage> {
        page.items
            .iter()
            .filter_map(|i| items::message(i, &t.thread_id, &self.shopper).ok())
            .collect()
    }

    /// The messages of a few threads against the rows of their conversations (`held` rows
    /// each): their first pages read together and looked up in one query, any further pages
    /// one at a time.
    async fn messages(
        &mut self,
        threads: &[(&SourceThread, ConversationId, i64)],
    ) -> WorkResult<()> {
        let ctx = self.ctx;
        let firsts = futures::future::try_join_all(
            threads
                .iter()
                .map(|(t, _, _)| ctx.sources.dynamo.messages_page(&t.thread_id, None)),
        )
        .await?;
        let valid: Vec<Vec<SourceMessage>> = threads
            .iter()
            .zip(&firsts)
            .map(|((t, _, _), page)| self.valid(page, t))
            .collect();
        let dest = self.dest_messages(valid.iter().flatten()).await?;
        for (((t, conversation, held), first), valid) in threads.iter().zip(firsts).zip(valid) {
            let mut matched = self.compare(t, *conversation, &valid, &dest).await?;
            let mut start = first.next;
            while let Some(key) = start {
                let page = ctx
                    .sources
                    .dynamo
                    .messages_page(&t.thread_id, Some(key))
                    .await?;
                let valid = self.valid(&page, t);
                let dest = self.dest_messages(valid.iter()).await?;
                matched += self.compare(t, *conversation, &valid, &dest).await?;
                start = page.next;
            }
            let extra = held - matched;
            if extra > 0 {
                self.extra_messages(t, *conversation, extra).await?;
            }
        }
        Ok(())
    }

    /// The rows migrated from these source messages, by source id.
    async fn dest_messages<'m>(
        &mut self,
        messages: impl Iterator<Item = &'m SourceMessage>,
    ) -> WorkResult<HashMap<String, DestMessage>> {
        let ids: Vec<ExactText> = messages.map(|m| m.message_id.as_str().into()).collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(reads::messages_by_source(&mut self.c, self.account, &ids)
            .await?
            .into_iter()
            .map(|d| (d.source_id.as_str().to_string(), d))
            .collect())
    }

    /// A page of a thread's valid messages against their rows; returns how many rows of the
    /// thread's own conversation it accounts for.
    async fn compare(
        &mut self,
        t: &SourceThread,
        conversation: ConversationId,
        valid: &[SourceMessage],
        dest: &HashMap<String, DestMessage>,
    ) -> WorkResult<i64> {
        let (mut counted, mut matched) = (HashSet::new(), 0i64);
        for m in valid {
            self.found.outcome.messages += 1;
            self.found.outcome.attachments += m.attachments.len() as i64;
            let key = format!("{}#{}", t.thread_id, m.sort_key);
            let (kind, why) = match dest.get(&m.message_id) {
                None => ("missing_message", "no message for this item".to_string()),
                Some(d) => {
                    let here = d.conversation_id == conversation;
                    if here && counted.insert(m.message_id.as_str()) {
                        matched += 1;
                    }
                    match compare::message(m, d, here) {
                        None => continue,
                        Some(why) => ("changed_message", why),
                    }
                }
            };
            if !self
                .rejected(items::MESSAGES, std::slice::from_ref(&key))
                .await?
            {
                self.found.diff(kind, &key, why);
            }
        }
        Ok(matched)
    }

    /// Lists the conversation's rows no source message accounts for: a second pass over the
    /// thread's ids (only when the counts say there are some).
    async fn extra_messages(
        &mut self,
        t: &SourceThread,
        conversation: ConversationId,
        extra: i64,
    ) -> WorkResult<()> {
        reads::seen_reset(&mut self.c, Seen::Messages).await?;
        let mut start = None;
        loop {
            let page = self
                .ctx
                .sources
                .dynamo
                .messages_page(&t.thread_id, start)
                .await?;
            let ids: Vec<ExactText> = self
                .valid(&page, t)
                .iter()
                .map(|m| m.message_id.as_str().into())
                .collect();
            reads::seen_add(&mut self.c, Seen::Messages, &ids).await?;
            start = page.next;
            if start.is_none() {
                break;
            }
        }
        let room = self.found.room();
        let listed = reads::unseen_messages(&mut self.c, conversation, room).await?;
        for id in &listed {
            let key = format!("{}#{id}", t.thread_id);
            self.found
                .diff("extra_message", &key, "no source message".into());
        }
        self.found.outcome.diff_count += (extra - listed.len() as i64).max(0);
        Ok(())
    }

    /// A web chat thread: its starred flags on the native conversation and messages, as
    /// [`webchat_ask`] says (the copy's rule): a thread naming no conversation of this account
    /// is a reject, and none of its messages' flags is expected.
    async fn webchat_stars(&mut self, t: &SourceThread) -> WorkResult<()> {
        self.found.outcome.threads += 1;
        let conv = t
            .webchat_conversation_id
            .as_deref()
            .and_then(|i| i.parse().ok());
        let dest = match conv {
            Some(conv) => reads::conversation_starred(&mut self.c, self.account, conv).await?,
            None => None,
        };
        if let WebchatAsk::Reject(_) = webchat_ask(t, dest.is_some()) {
            return Ok(());
        }
        if let Some(starred) = dest.filter(|s| *s != t.starred) {
            let why = format!(
                "conversation starred: source {}, destination {starred}",
                t.starred
            );
            self.found.diff("changed_star", &t.thread_id, why);
        }
        let mut start = None;
        loop {
            let page = self
                .ctx
                .sources
                .dynamo
                .messages_page(&t.thread_id, start)
                .await?;
            for m in self.valid(&page, t) {
                self.found.outcome.messages += 1;
                let id: Option<MessageId> =
                    m.webchat_message_id.as_deref().and_then(|i| i.parse().ok());
                let Some(id) = id else { continue };
                let dest = reads::message_starred(&mut self.c, self.account, id).await?;
                if let Some(starred) = dest.filter(|s| *s != m.starred) {
                    let key = format!("{}#{}", t.thread_id, m.sort_key);
                    let why = format!(
                        "message starred: source {}, destination {starred}",
                        m.starred
                    );
                    self.found.diff("changed_star", &key, why);
                }
            }
            start = page.next;
            if start.is_none() {
                break;
            }
        }
        Ok(())
    }
}
