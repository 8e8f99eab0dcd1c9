//! How a started migration is answered — 202 with the status in force (app-facing for the app,
//! the real one for operators), 200 when nothing started — and its first hop published after
//! the answer, never before it.

use crate::state::AppState;
use crate::views::app::MigrateBody;
use actix_web::HttpResponse;
use migrator_store::queries::workflow::migration::StartOutcome;
use migrator_store::queries::workflow::outbox::Recorded;

/// Publishes hops just recorded in the outbox, in the background: a request never waits on
/// the broker (down, or slow to confirm); what is not published is the relay's.
pub fn relay(st: &AppState, hops: Vec<Recorded>) {
    if hops.is_empty() {
        return;
    }
    let (pool, publisher) = (st.pool.clone(), st.publisher.clone());
    tokio::spawn(async move {
        for r in &hops {
            migrator_queue::relay::publish_recorded(&pool, &publisher, r).await;
        }
    });
}

/// Who reads a start outcome: the app sees app-facing statuses, operators the real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The mobile app.
    App,
    /// An operator.
    Operator,
}

/// Renders a start outcome after [`publish`]ing it: 202 when a migration started or resumed
/// (its first hop published after the answer), else 200.
pub fn respond(st: &AppState, outcome: StartOutcome, to: Audience) -> HttpResponse {
    publish(st, &outcome);
    answer(outcome, to)
}

/// A start's side of the fleet: its hop published in the background (the outbox's relay
/// publishes what this does not) and counted (`migrator_migrations_started_total`,
/// `migrator_campaign_promoted_total`). Every caller of an operation that starts a migration
/// calls it once — the route and the console alike.
pub fn publish(st: &AppState, outcome: &StartOutcome) {
    match outcome {
        StartOutcome::Started { hop, .. } => {
            metrics::counter!(migrator_core::metrics::MIGRATIONS_STARTED).increment(1);
            relay(st, vec![hop.clone()]);
        }
        StartOutcome::Current(_) => {}
        StartOutcome::Promoted { hop, .. } => {
            metrics::counter!(migrator_core::metrics::CAMPAIGN_PROMOTED).increment(1);
            relay(st, vec![hop.clone()]);
        }
    }
}

/// The answer to a start already [`publish`]ed: 202 when a migration started or resumed, else
/// 200, with the status in force as `to` sees it.
pub fn answer(outcome: StartOutcome, to: Audience) -> HttpResponse {
    let shown = |s: migrator_core::MigrationStatus| MigrateBody {
        migration_status: match to {
            Audience::App => s.app_facing(),
            Audience::Operator => s,
        },
    };
    match outcome {
        StartOutcome::Started { status, .. } => HttpResponse::Accepted().json(shown(status)),
        StartOutcome::Current(status) | StartOutcome::Promoted { status, .. } => {
            HttpResponse::Ok().json(shown(status))
        }
    }
}
