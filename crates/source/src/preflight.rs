//! A preflight estimate of one C1's migration, from the source alone (nothing is written):
//! its channels (configs-migration), its threads (a Query of the threads table), its messages
//! (each thread's `message_count` when it has one, else a `Select=COUNT` of its messages),
//! attachments from a sample of message pages, and a duration from the fleet's measured rates.
//!
//! Bounded: at most `max_counts` COUNT queries and `max_secs` seconds; threads left uncounted
//! are estimated at the mean of those counted, and the answer says so (`messages_exact`).

use crate::conversations::{ConversationsClient, SourceError};
use crate::dynamo::DynamoSource;
use migrator_core::ids::ShopperId;
use migrator_core::progress::Rates;
use migrator_core::source::attr::Attr as AttributeValue;
use tokio::time::{Duration, Instant};

/// Bounds of one estimate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `Select=COUNT` queries at most.
    pub max_counts: usize,
    /// Seconds at most (then the rest is estimated).
    pub max_secs: u64,
    /// Threads whose first message page is read for the attachment sample.
    pub sample_threads: usize,
}

/// What a migration of the C1 would move, and how long it would take (the body of the api's
/// preflight, with the shopper and the runs measured).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Estimate {
    /// Conversations has something to move for this C1.
    pub needs_migration: bool,
    pub channels: i64,
    pub threads: i64,
    /// Of which web chat threads (only their stars move).
    pub webchat_threads: i64,
    pub messages: i64,
    /// Every thread's messages counted (COUNT queries or the threads' own counts); false when
    /// some were estimated because the estimate's bounds were reached.
    pub messages_exact: bool,
    /// Threads whose messages were estimated at the mean of the counted ones.
    pub threads_estimated: i64,
    /// Attachments, from the sampled pages' attachments per message; null when nothing was
    /// sampled.
    pub attachments_estimate: Option<i64>,
    /// Seconds from `POST /migrate` to `channels-migrated` at the fleet's recent mean; null
    /// until runs have finished to measure.
    pub estimated_inbox_seconds: Option<f64>,
    /// Seconds to `completed` at the fleet's recent rates; null until measured.
    pub estimated_seconds: Option<f64>,
}

/// Estimates the C1's migration. `Ok(None)`: Conversations does not know the C1.
pub async fn estimate(
    rest: &ConversationsClient,
    dynamo: &DynamoSource,
    shopper: &ShopperId,
    rates: Rates,
    limits: Limits,
) -> Result<Option<Estimate>, SourceError> {
    let Some(eligibility) = rest.eligibility(shopper).await? else {
        return Ok(None);
    };
    let mut e = Estimate {
        needs_migration: eligibility.needs_migration,
        ..Default::default()
    };
    if !e.needs_migration {
        e.messages_exact = true;
        return Ok(Some(e));
    }
    e.channels = rest
        .configs(shopper)
        .await?
        .iter()
        .map(|b| b.channels.len() as i64)
        .sum();
    let mut tally = Tally::new(limits);
    let mut start = None;
    loop {
        let page = dynamo.threads_page(shopper.as_str(), start).await?;
        for item in &page.items {
            tally.thread(dynamo, item).await?;
        }
        start = page.next;
        if start.is_none() {
            break;
        }
    }
    tally.into(&mut e);
    (e.estimated_inbox_seconds, e.estimated_seconds) = duration(&rates, e.messages);
    Ok(Some(e))
}

/// What the walk over the C1's threads counted and sampled, within its bounds.
struct Tally {
    limits: Limits,
    deadline: Instant,
    threads: i64,
    webchat_threads: i64,
    /// Threads whose messages were counted, and those messages.
    counted: (i64, i64),
    /// `Select=COUNT` queries made.
    counts: usize,
    /// Threads whose messages were left to estimate.
    estimated: i64,
    /// Threads sampled, their first pages' messages and attachments.
    sampled: (usize, i64, i64),
}

impl Tally {
    fn new(limits: Limits) -> Self {
        Self {
            deadline: Instant::now() + Duration::from_secs(limits.max_secs),
            limits,
            threads: 0,
            webchat_threads: 0,
            counted: (0, 0),
            counts: 0,
            estimated: 0,
            sampled: (0, 0, 0),
        }
    }

    fn in_time(&self) -> bool {
        Instant::now() < self.deadline
    }

    /// One thread item: counted, its messages counted (its own `message_count`, else a
    /// `Select=COUNT` while the bounds allow) or left to estimate, its first page sampled for
    /// attachments while the bounds allow.
    async fn thread(
        &mut self,
        dynamo: &DynamoSource,
        item: &migrator_core::source::items::Item,
    ) -> Result<(), SourceError> {
        let Some(AttributeValue::S(thread_id)) = item.get("thread_id") else {
            return Ok(()); // a reject when migrated
        };
        self.threads += 1;
        if matches!(item.get("channel_type"), Some(AttributeValue::S(t)) if t == "webchat") {
            self.webchat_threads += 1;
        }
        let own = match item.get("message_count") {
            Some(AttributeValue::N(n)) => n.parse::<i64>().ok().filter(|n| *n >= 0),
            _ => None,
        };
        let count = match own {
            Some(n) => Some(n),
            None if self.counts < self.limits.max_counts && self.in_time() => {
                self.counts += 1;
                Some(dynamo.count_messages(thread_id).await? as i64)
            }
            None => None,
        };
        match count {
            Some(n) => self.counted = (self.counted.0 + 1, self.counted.1 + n),
            None => self.estimated += 1,
        }
        if self.sampled.0 < self.limits.sample_threads && self.in_time() {
            let p = dynamo.messages_page(thread_id, None).await?;
            let attachments: i64 = p
                .items
                .iter()
                .map(|m| match m.get("attachments") {
                    Some(AttributeValue::L(l)) => l.len() as i64,
                    _ => 0,
                })
                .sum();
            let (n, messages, atts) = self.sampled;
            self.sampled = (n + 1, messages + p.items.len() as i64, atts + attachments);
        }
        Ok(())
    }

    /// The estimate's figures: messages left to estimate at the mean of the counted threads,
    /// attachments at the sample's rate.
    fn into(self, e: &mut Estimate) {
        let (threads_counted, messages_counted) = self.counted;
        let mean = if threads_counted > 0 {
            messages_counted as f64 / threads_counted as f64
        } else {
            0.0
        };
        e.threads = self.threads;
        e.webchat_threads = self.webchat_threads;
        e.threads_estimated = self.estimated;
        e.messages = messages_counted + (mean * self.estimated as f64).round() as i64;
        e.messages_exact = self.estimated == 0;
        let (_, sampled_messages, sampled_attachments) = self.sampled;
        e.attachments_estimate = (sampled_messages > 0).then(|| {
            (e.messages as f64 * sampled_attachments as f64 / sampled_messages as f64).round()
                as i64
        });
    }
}

/// (seconds to an inbox, seconds to `completed`) for `messages` at `rates`; unknown without
/// finished runs to measure.
pub fn duration(rates: &Rates, messages: i64) -> (Option<f64>, Option<f64>) {
    if rates.runs == 0 {
        return (None, None);
    }
    let inbox = rates.inbox_secs;
    let rest = rates
        .messages_per_sec
        .filter(|r| *r > 0.0)
        .map(|r| messages.max(0) as f64 / r);
    let total = match (inbox, rest) {
        (Some(i), Some(r)) => Some(i + r),
        (Some(i), None) if messages == 0 => Some(i),
        _ => None,
    };
    (inbox, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duration_comes_from_the_fleet_rates_or_is_unknown() {
        let none = Rates {
            runs: 0,
            inbox_secs: None,
            messages_per_sec: None,
        };
        assert_eq!(duration(&none, 1000), (None, None));
        let r = Rates {
            runs: 12,
            inbox_secs: Some(0.5),
            messages_per_sec: Some(1000.0),
        };
        assert_eq!(duration(&r, 10_000), (Some(0.5), Some(10.5)));
        assert_eq!(duration(&r, 0), (Some(0.5), Some(0.5)));
        let no_rate = Rates {
            messages_per_sec: None,
            ..r
        };
        assert_eq!(duration(&no_rate, 10), (Some(0.5), None));
    }
}
