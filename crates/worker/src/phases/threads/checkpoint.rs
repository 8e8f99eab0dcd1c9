//! Where a thread-moving phase stands, stored in `migration_runs.checkpoint` with every
//! committed page: the DynamoDB cursor of the thread page, how many of its items are done, and
//! the message cursor inside the thread in hand.

use migrator_core::source::items::{key_from_json, key_to_json};
use migrator_source::dynamo::Item;
use serde::{Deserialize, Serialize};

/// The checkpoint's stored shape (kept stable: runs in flight resume from it after a deploy).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(super) struct Checkpoint {
    /// ExclusiveStartKey of the thread page in hand (None = first page).
    pub page_key: Option<serde_json::Value>,
    /// Items of that page already done.
    pub done_in_page: usize,
    /// Valid threads done in this phase (the recent cap counts these).
    pub seen: usize,
    /// Thread items on the pages read through so far, rejects included (absent in checkpoints
    /// written before it was kept: 0, which never proves a recent phase covered every thread).
    #[serde(default)]
    pub listed: usize,
    /// The thread in hand and the ExclusiveStartKey of its next message page.
    pub thread: Option<String>,
    pub msg_key: Option<serde_json::Value>,
}

impl Checkpoint {
    /// The run's stored checkpoint, or the start of the phase.
    pub fn load(stored: Option<&serde_json::Value>) -> Self {
        stored
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// As stored.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("checkpoint serialises")
    }

    /// Resuming inside `thread_id`?
    pub fn resumes(&self, thread_id: &str) -> bool {
        self.thread.as_deref() == Some(thread_id)
    }

    /// The message page to resume `thread_id` from (None = its first page).
    pub fn message_key(&self, thread_id: &str) -> Option<Item> {
        if self.resumes(thread_id) {
            self.msg_key.as_ref().and_then(key_from_json)
        } else {
            None
        }
    }

    /// Past the page's items up to `idx`, `seen` more valid threads done, no thread in hand.
    pub fn past(&self, idx: usize, seen: usize) -> Self {
        Self {
            page_key: self.page_key.clone(),
            done_in_page: idx + 1,
            seen: self.seen + seen,
            listed: self.listed,
            thread: None,
            msg_key: None,
        }
    }

    /// Inside `thread_id`, its next message page at `next` (None: the thread is read through).
    pub fn inside(&self, thread_id: &str, next: Option<&Item>) -> Self {
        Self {
            thread: Some(thread_id.to_string()),
            msg_key: next.map(key_to_json),
            ..self.clone()
        }
    }

    /// A thread page of `items` items is read through.
    pub fn page_done(&mut self, items: usize) {
        self.listed += items;
    }

    /// The start of the next thread page.
    pub fn next_page(&mut self, key: &Item) {
        self.page_key = Some(key_to_json(key));
        self.done_in_page = 0;
    }

    /// The thread page to read.
    pub fn page_start(&self) -> Option<Item> {
        self.page_key.as_ref().and_then(key_from_json)
    }
}
