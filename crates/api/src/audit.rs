//! Operators' writes run together with their audit record (who, what, when, on what) in one
//! transaction: a write that happened is always on record, and a record never describes a write
//! that was rolled back.

use crate::auth::AdminUser;
use crate::error::ApiResult;
use crate::routes::shared::conn;
use crate::state::AppState;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use migrator_core::{CoreError, CoreResult};
use migrator_store::queries::operators::audit;
use migrator_store::queries::workflow::migration::StartOutcome;
use scoped_futures::ScopedBoxFuture;
use serde_json::{json, Value};

/// Runs `write` and records it as `action` on `target` by `who`, with `detail` of its outcome.
pub async fn audited<T, W, D>(
    st: &AppState,
    who: &AdminUser,
    action: &'static str,
    target: &str,
    write: W,
    detail: D,
) -> ApiResult<T>
where
    T: Send,
    W: for<'c> FnOnce(&'c mut AsyncPgConnection) -> ScopedBoxFuture<'static, 'c, CoreResult<T>>
        + Send,
    D: FnOnce(&T) -> Value + Send,
{
    let mut c = conn(st).await?;
    let (actor, target) = (who.sub.clone(), target.to_string());
    let out = c
        .transaction::<T, CoreError, _>(async move |c| {
            let out = write(c).await?;
            audit::record(c, &actor, action, &target, detail(&out)).await?;
            Ok(out)
        })
        .await?;
    tracing::info!(actor = %who.sub, action, "operator action");
    Ok(out)
}

/// What a start outcome records.
pub fn outcome_detail(o: &StartOutcome) -> Value {
    match o {
        StartOutcome::Started { status, hop, .. } => json!({
            "migration_status": status, "run_id": hop.hop.run_id, "phase": hop.hop.phase,
        }),
        StartOutcome::Current(status) | StartOutcome::Promoted { status, .. } => {
            json!({ "migration_status": status })
        }
    }
}
