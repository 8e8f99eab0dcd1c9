//! A preflight estimate of one C1's migration, from the source alone (nothing is written):
//! its channels (configs-migration), its threads (a Query of the threads table), its messages
//! (each thread's `message_count` when it has one, else a `Select=COUNT` of its messages),
//! attachments from a sample of message pages, and a duration from the fleet's measured rates.
//!
//! Bounded: at most `max_counts` COUNT queries and `max_secs` seconds; threads left uncounted
//! are estimated at the mean of those counted, and the answer says so (`messages_exact`).

use crate::conversations::{ConversationsClient, SourceError};
use crate::db::queries::rates::Rates;
use crate::dynamo::DynamoSource;
use crate::ids::ShopperId;
use aws_sdk_dynamodb::types::AttributeValue;
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
    let deadline = Instant::now() + Duration::from_secs(limits.max_secs);
    let (mut counted_threads, mut counted_messages, mut counts) = (0i64, 0i64, 0usize);
    let (mut sampled_messages, mut sampled_attachments, mut sampled) = (0i64, 0i64, 0usize);
    let mut start = None;
    loop {
        let page = dynamo.threads_page(shopper.as_str(), start).await?;
        for item in &page.items {
            let Some(AttributeValue::S(thread_id)) = item.get("thread_id") else {
                continue; // a reject when migrated
            };
            e.threads += 1;
            if matches!(item.get("channel_type"), Some(AttributeValue::S(t)) if t == "webchat") {
                e.webchat_threads += 1;
            }
            let own = match item.get("message_count") {
                Some(AttributeValue::N(n)) => n.parse::<i64>().ok().filter(|n| *n >= 0),
                _ => None,
            };
            let count = match own {
                Some(n) => Some(n),
                None if counts < limits.max_counts && Instant::now() < deadline => {
                    counts += 1;
                    Some(dynamo.count_messages(thread_id).await? as i64)
                }
                None => None,
            };
            match count {
                Some(n) => {
                    counted_threads += 1;
                    counted_messages += n;
                }
                None => e.threads_estimated += 1,
            }
            if sampled < limits.sample_threads && Instant::now() < deadline {
                sampled += 1;
                let p = dynamo.messages_page(thread_id, None).await?;
                sampled_messages += p.items.len() as i64;
                sampled_attachments += p
                    .items
                    .iter()
                    .map(|m| match m.get("attachments") {
                        Some(AttributeValue::L(l)) => l.len() as i64,
                        _ => 0,
                    })
                    .sum::<i64>();
            }
        }
        start = page.next;
        if start.is_none() {
            break;
        }
    }
    let mean = if counted_threads > 0 {
        counted_messages as f64 / counted_threads as f64
    } else {
        0.0
    };
    e.messages = counted_messages + (mean * e.threads_estimated as f64).round() as i64;
    e.messages_exact = e.threads_estimated == 0;
    e.attachments_estimate = (sampled_messages > 0).then(|| {
        (e.messages as f64 * sampled_attachments as f64 / sampled_messages as f64).round() as i64
    });
    (e.estimated_inbox_seconds, e.estimated_seconds) = duration(&rates, e.messages);
    Ok(Some(e))
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
