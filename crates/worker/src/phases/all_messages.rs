//! Phase 3: every thread and message, skipping what is already there (also the repair of a
//! failed all-messages phase).

use super::threads::{move_threads, Scope};
use super::{Ended, LeasedHop, PhaseRunner};
use crate::context::Ctx;
use crate::error::WorkResult;

/// Every thread of the C1.
pub struct AllMessagesPhase;

#[async_trait::async_trait]
impl PhaseRunner for AllMessagesPhase {
    async fn perform(&self, ctx: &Ctx, leased: &LeasedHop) -> WorkResult<Ended> {
        move_threads(ctx, leased, Scope::All).await.map(Ended::from)
    }
}
