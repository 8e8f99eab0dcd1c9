//! Attachment downloads, off the critical path and never failing a migration. Each outcome is
//! recorded on its row: stored; failed for good (404, too large, attempts used up); or, after a
//! transient failure (5xx, 429, a timeout, a reset), pending again with the time of its next try
//! (exponential backoff up to `media.retry_max_secs`), retried by a later hop of the account or,
//! once the migration is over, by the sweeper.
//!
//! A refusal of our cert JWT (401/403, twice with fresh tokens) is not final at once: the first
//! leaves the attachment pending for `media.refused_retry_secs`, the second fails it
//! (`forbidden`) — unless refusals are systemic ([`crate::refusals`]): then it stays pending,
//! its refusal not counted, and is tried again every `media.refused_retry_secs` until the media
//! service accepts our tokens again.

use crate::context::Ctx;
use crate::refusals::Service;
use chrono::Utc;
use migrator_core::ids::AccountId;
use migrator_runtime::settings::MediaSettings;
use migrator_source::media::MediaFailure;
use migrator_store::queries::destination::attachments::{self, DownloadOutcome, Due};
use migrator_store::queries::workflow::runs;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Downloads started during one hop (or one sweep).
pub struct Downloads {
    ctx: Ctx,
    account_id: AccountId,
    permits: Arc<Semaphore>,
    tasks: JoinSet<()>,
}

impl Downloads {
    /// A set bounded by `worker.attachment_concurrency`.
    pub fn new(ctx: &Ctx, account_id: AccountId) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(
                ctx.settings.worker.attachment_concurrency.max(1),
            )),
            ctx: ctx.clone(),
            account_id,
            tasks: JoinSet::new(),
        }
    }

    /// Starts the first downloads of attachment rows just committed.
    pub fn spawn(&mut self, pending: Vec<Due>) {
        for due in pending {
            self.spawn_due(due);
        }
    }

    fn spawn_due(&mut self, due: Due) {
        let (ctx, permits) = (self.ctx.clone(), self.permits.clone());
        self.tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            fetch(&ctx, due).await;
        });
    }

    /// Waits for the downloads in flight until `deadline`, then, while time is left, downloads
    /// the account's other due attachments (left by an interrupted hop, or due for a retry).
    /// What is still running at the deadline is stopped and stays pending for later.
    pub async fn finish(mut self, deadline: Instant) {
        loop {
            let drained = tokio::time::timeout_at(deadline, async {
                while self.tasks.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                self.tasks.abort_all();
                return;
            }
            let due = match self.ctx.conn().await {
                Ok(mut c) => attachments::due_of_account(&mut c, self.account_id, 200)
                    .await
                    .unwrap_or_default(),
                Err(_) => return,
            };
            if due.is_empty() {
                return;
            }
            for d in due {
                self.spawn_due(d);
            }
        }
    }
}

/// Retries due attachments of migrations that are over (the sweeper), at most `limit`, until
/// `deadline`; returns how many were tried.
pub async fn retry_due(ctx: &Ctx, limit: i64, deadline: Instant) -> usize {
    let due = match ctx.conn().await {
        Ok(mut c) => attachments::due_after_migration(&mut c, limit)
            .await
            .unwrap_or_default(),
        Err(_) => return 0,
    };
    let n = due.len();
    let permits = Arc::new(Semaphore::new(
        ctx.settings.worker.attachment_concurrency.max(1),
    ));
    let mut tasks = JoinSet::new();
    for d in due {
        let (ctx, permits) = (ctx.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            fetch(&ctx, d).await;
        });
    }
    let drained = tokio::time::timeout_at(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    n
}

/// Where an attachment's bytes are stored: under its run, so removing a superseded run's
/// files never touches a newer run's.
fn blob_key(due: &Due) -> String {
    let run = due.run_id.map_or("legacy".to_string(), |r| r.to_string());
    format!("{}/{run}/{}", due.account_id, due.id)
}

/// One download and its outcome on the row (and on its run's figures when settled).
async fn fetch(ctx: &Ctx, due: Due) {
    let key = blob_key(&due);
    let (res, tries) = ctx
        .media
        .download(&due.media_url, due.size_bytes, ctx.blobs.as_ref(), &key)
        .await;
    let m = &ctx.settings.media;
    let refused = res.as_ref().is_err_and(|f| f.refused);
    let systemic = ctx.steering.refusals.record(Service::Media, refused);
    // tries held back by a systemic refusal use up none of the attachment's attempts
    let attempts = match (refused, systemic) {
        (true, true) => due.attempts,
        _ => due.attempts.saturating_add(tries as i32),
    };
    let reason = res.as_ref().err().map(|f| match (f.refused, systemic) {
        (true, true) => format!(
            "{}; held: the media service refuses our cert JWTs across the fleet (systemic), \
             not counted against this attachment",
            f.reason()
        ),
        _ => f.reason(),
    });
    let reason = reason.as_deref().unwrap_or_default();
    let outcome = match &res {
        Ok(f) => DownloadOutcome::Stored {
            blob_key: &key,
            size: f.size as i64,
            content_type: f.content_type.as_deref(),
        },
        Err(f) => match after_failure(f, attempts, due.refusals, systemic, m) {
            AfterFailure::Refused { after, counted } => DownloadOutcome::Refused {
                reason,
                at: Utc::now() + after,
                counted,
            },
            AfterFailure::Retry { after } => DownloadOutcome::Retry {
                reason,
                at: Utc::now() + after,
            },
            AfterFailure::Failed { code } => DownloadOutcome::Failed { code, reason },
        },
    };
    let label = match outcome {
        DownloadOutcome::Stored { .. } => "stored",
        DownloadOutcome::Failed { .. } => "failed",
        DownloadOutcome::Retry { .. } => "retry",
        DownloadOutcome::Refused { .. } => "refused",
    };
    metrics::counter!(migrator_core::metrics::ATTACHMENTS, "outcome" => label).increment(1);
    match &res {
        // held by a systemic refusal: said once for the fleet (crate::refusals), not per item
        Err(f) if refused && systemic => {
            tracing::debug!(attachment = %due.id, reason = %f.reason(), "attachment held")
        }
        Err(f) => {
            let retry_at = at_of(&outcome);
            tracing::warn!(attachment = %due.id, reason = %f.reason(), attempts, ?retry_at, "attachment download failed");
        }
        Ok(_) => {}
    }
    let Ok(mut conn) = ctx.conn().await else {
        return; // stays pending: due again for a later hop or the sweeper
    };
    if let Ok(true) = attachments::record_download(&mut conn, due.id, attempts, outcome).await {
        if let Some(run) = due.run_id {
            let ok = matches!(outcome, DownloadOutcome::Stored { .. });
            let _ = runs::attachment_settled(&mut conn, run, ok).await;
        }
    }
}

/// What a failed download leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterFailure {
    /// Pending after a refusal of our cert JWT, tried again `after`; `counted` against the
    /// attachment unless refusals are systemic.
    Refused {
        after: std::time::Duration,
        counted: bool,
    },
    /// Pending after a transient failure, tried again `after`.
    Retry { after: std::time::Duration },
    /// Final, with the code the app sees.
    Failed { code: &'static str },
}

/// What follows failure `f` of an attachment tried `attempts` times in all and refused
/// `refusals` times before (counted ones), refusals being `systemic` or not (see the module's
/// top): decided from these alone.
fn after_failure(
    f: &MediaFailure,
    attempts: i32,
    refusals: i32,
    systemic: bool,
    m: &MediaSettings,
) -> AfterFailure {
    let refused_again = std::time::Duration::from_secs(m.refused_retry_secs);
    match f {
        f if f.refused && (systemic || refusals < 1) => AfterFailure::Refused {
            after: refused_again,
            counted: !systemic,
        },
        f if f.transient && attempts < m.max_attempts as i32 => AfterFailure::Retry {
            after: m.retry_backoff().delay(attempts.max(1) as u32),
        },
        f => AfterFailure::Failed {
            code: if f.transient { "unavailable" } else { f.code },
        },
    }
}

fn at_of(s: &DownloadOutcome<'_>) -> Option<chrono::DateTime<chrono::Utc>> {
    match s {
        DownloadOutcome::Retry { at, .. } | DownloadOutcome::Refused { at, .. } => Some(*at),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn media() -> MediaSettings {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
        let mut m = migrator_runtime::settings::Settings::load_from(std::path::Path::new(dir))
            .expect("config/default.toml")
            .media;
        m.max_attempts = 3;
        m.refused_retry_secs = 60;
        m
    }

    #[test]
    fn a_refusal_waits_once_then_fails_unless_refusals_are_systemic() {
        let (m, refused) = (media(), MediaFailure::refused(401));
        let wait = Duration::from_secs(60);
        assert_eq!(
            after_failure(&refused, 2, 0, false, &m),
            AfterFailure::Refused {
                after: wait,
                counted: true
            }
        );
        assert_eq!(
            after_failure(&refused, 4, 1, false, &m),
            AfterFailure::Failed { code: "forbidden" }
        );
        for refusals in [0, 1, 7] {
            assert_eq!(
                after_failure(&refused, 40, refusals, true, &m),
                AfterFailure::Refused {
                    after: wait,
                    counted: false
                },
                "held, uncounted, however often refused before"
            );
        }
    }

    #[test]
    fn a_transient_failure_is_retried_until_the_attempts_are_used_and_others_are_final() {
        let m = media();
        let flaky = MediaFailure::transient("503".into());
        assert!(matches!(
            after_failure(&flaky, 2, 0, true, &m),
            AfterFailure::Retry { .. }
        ));
        assert_eq!(
            after_failure(&flaky, 3, 0, false, &m),
            AfterFailure::Failed {
                code: "unavailable"
            }
        );
        let gone = MediaFailure::fatal("not_found", "404".into());
        assert_eq!(
            after_failure(&gone, 1, 0, true, &m),
            AfterFailure::Failed { code: "not_found" }
        );
    }
}
