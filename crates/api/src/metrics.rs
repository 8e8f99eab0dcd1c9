//! HTTP metrics, recorded through the `metrics` facade (names in core's `metrics`): requests by
//! route template, method and status, and their latency. Labels are bounded: the route is the
//! template (`/conversations/{id}/messages`, `unmatched` for any other path), the method one of
//! the standard ones or `OTHER`.
//!
//! And the fleet's gauges (accounts by status, outbox backlog, parked runs), read from Postgres
//! when `/metrics` is scraped (at most once a second per process), so they are right whenever
//! and wherever they are scraped — not a sweeper's last values.

use actix_web::dev::ServiceResponse;
use migrator_core::metrics::{ACCOUNTS, HTTP_DURATION, HTTP_REQUESTS, OUTBOX_BACKLOG, PARKED_RUNS};
use migrator_store::queries::operators::overview;
use migrator_store::DbPool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The labels of an answered request, bounded.
pub fn labels_of<B>(res: &ServiceResponse<B>) -> (String, &'static str) {
    let req = res.request();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str();
    let method = KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER");
    (route, method)
}

/// Records one answered request.
pub fn record<B>(route: String, method: &'static str, started: Instant, res: &ServiceResponse<B>) {
    let status = res.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
}

/// When the fleet's gauges were last read.
static GAUGES_READ: Mutex<Option<Instant>> = Mutex::new(None);

/// Reads the fleet's gauges from Postgres, unless they were read less than a second ago; a
/// failed read leaves them as they were (the scrape still answers).
pub async fn refresh_fleet_gauges(pool: &DbPool) {
    {
        let mut last = GAUGES_READ.lock().expect("gauges lock");
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *last = Some(Instant::now());
    }
    let read = async {
        let mut c = migrator_store::conn(pool).await?;
        let counts = overview::counts(&mut c).await?;
        let oldest = migrator_store::queries::workflow::outbox::oldest_unpublished(&mut c).await?;
        let locks = migrator_store::queries::workflow::sweeps::fleet_locks_held(&mut c).await?;
        Ok::<_, migrator_core::CoreError>((counts, oldest, locks))
    };
    match read.await {
        Ok((c, oldest, locks)) => {
            use migrator_core::metrics::{FLEET_LOCK_HELD, OUTBOX_OLDEST_AGE};
            let age = oldest.map_or(0.0, |t| {
                (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
            });
            metrics::gauge!(OUTBOX_OLDEST_AGE).set(age);
            for lock in ["sweeper", "campaign"] {
                let held = locks.iter().any(|(n, h)| n == lock && *h);
                metrics::gauge!(FLEET_LOCK_HELD, "lock" => lock).set(f64::from(u8::from(held)));
            }
            for (status, n) in &c.by_status {
                metrics::gauge!(ACCOUNTS, "status" => status.as_str()).set(*n as f64);
            }
            metrics::gauge!(OUTBOX_BACKLOG).set(c.outbox_backlog as f64);
            metrics::gauge!(PARKED_RUNS).set(c.parked as f64);
        }
        Err(e) => tracing::warn!(error = %e, "fleet gauges not read"),
    }
}

/// When the program's gauges were last read.
static PROGRAM_READ: Mutex<Option<Instant>> = Mutex::new(None);

/// Reads the program's gauges (done share, projected finish, deadline, on track; the live
/// campaign's accounts by state), unless read less than 10 s ago. An unknown figure is NaN,
/// which no alert's comparison matches.
pub async fn refresh_program_gauges(st: &crate::state::AppState) {
    use migrator_core::metrics::{
        CAMPAIGN_MEMBERS, PROGRAM_DEADLINE, PROGRAM_DONE_SHARE, PROGRAM_ON_TRACK,
        PROGRAM_PROJECTED_FINISH,
    };
    {
        let mut last = PROGRAM_READ.lock().expect("gauges lock");
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            return;
        }
        *last = Some(Instant::now());
    }
    let read = async {
        let mut c = migrator_store::conn(&st.pool).await?;
        let view = crate::routes::campaigns::program_view(st, &mut c).await?;
        let live = migrator_store::queries::workflow::campaigns::live(&mut c).await?;
        let members = match &live {
            Some(camp) => Some((
                camp.selected,
                migrator_store::queries::workflow::campaigns::members(&mut c, camp.id).await?,
            )),
            None => None,
        };
        Ok::<_, migrator_core::CoreError>((view, members))
    };
    match read.await {
        Ok((view, members)) => {
            let secs = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or(f64::NAN, |t| t.timestamp() as f64)
            };
            metrics::gauge!(PROGRAM_DONE_SHARE).set(view.done_share);
            metrics::gauge!(PROGRAM_PROJECTED_FINISH).set(secs(view.finish));
            metrics::gauge!(PROGRAM_DEADLINE).set(secs(view.deadline));
            metrics::gauge!(PROGRAM_ON_TRACK).set(view.on_track.map_or(f64::NAN, f64::from));
            let (selected, m) = members.unwrap_or_default();
            for (state, n) in [
                ("selected", selected),
                ("in_flight", m.in_flight()),
                ("completed", m.get("completed")),
                ("failed", m.failed()),
                ("parked", m.get("parked")),
                ("remaining", (selected - m.settled()).max(0)),
            ] {
                metrics::gauge!(CAMPAIGN_MEMBERS, "state" => state).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "program gauges not read"),
    }
}
