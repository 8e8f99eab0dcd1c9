//! Phase 2: the recent threads (by `last_message_at`, newest first) with all their messages.

use super::threads::{move_threads, Scope};
use super::{Ended, LeasedHop, PhaseRunner};
use crate::context::Ctx;
use crate::error::WorkResult;

/// The recent threads of `worker.recent_days`, at most `worker.recent_max_threads`.
pub struct RecentMessagesPhase;

#[async_trait::async_trait]
impl PhaseRunner for RecentMessagesPhase {
    async fn perform(&self, ctx: &Ctx, leased: &LeasedHop) -> WorkResult<Ended> {
        let w = &ctx.settings.worker;
        let since = leased.run.started_at - chrono::Duration::days(w.recent_days);
        let scope = Scope::Recent {
            since_ms: since.timestamp_millis(),
            max: w.recent_max_threads,
        };
        move_threads(ctx, leased, scope).await.map(Ended::from)
    }
}
