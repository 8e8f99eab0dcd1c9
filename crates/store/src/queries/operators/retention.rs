//! How long the fleet's own bookkeeping is kept, and its pruning: each growing table's rule in
//! one place, each prune a bounded batch (`LIMIT`) taken oldest first along an index, so a
//! batch costs the same whatever the table's size and the sweeper can loop batches within a
//! time budget until it has caught up.
//!
//! | table | kept | pruned along |
//! |---|---|---|
//! | `outbox` | published rows for `worker.outbox_retention_secs` | `outbox_published` |
//! | `dead_letters` | `worker.dead_letter_retention_days` | `dead_letters_created` |
//! | `audit_log` | `api.audit_retention_days` | `audit_log_created` |
//! | `verifications` | finished ones superseded by a newer one of their account, `verify.retention_days` (each account's newest always kept) | `verifications_superseded` |
//! | `rejects` | `worker.rejects_retention_days` | `rejects_created` |
//! | `completions` | three days (the program's rates read the last day, its chart two) | its primary key |
//! | `fleet_minutes` | three days (the charts read at most two) | `fleet_minutes_minute` |
//! | `burn_down` | 400 days; past three days only the samples on the hour (UTC) | `burn_down_between_hours`, `burn_down_at` |
//! | `campaign_events` | `api.audit_retention_days` (as the audit log) | `campaign_events_at` |
//! | `console_sessions` | until the session expires (idle or absolute, `console.*`) | `console_sessions_expires` |
//! | `migration_runs` | runs superseded by a newer run of their account, `worker.runs_retention_days` after they finished (an account's run in force always kept) | `migration_runs_superseded` |
//!
//! Accounts and what was migrated for them are the product, not bookkeeping: never pruned.

use diesel::sql_types::{BigInt, Double};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use std::time::Duration;

/// A table the sweeper prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Published outbox rows.
    Outbox,
    /// Dead letters.
    DeadLetters,
    /// Operators' writes.
    Audit,
    /// Finished verifications (each account's newest kept).
    Verifications,
    /// Rejected source items.
    Rejects,
    /// Finished runs no account points at.
    Runs,
    /// The program's completions a minute.
    Completions,
    /// The console's expired sessions.
    ConsoleSessions,
    /// File removals given up after their tries.
    BlobRemovals,
    /// The fleet's tallies a minute.
    FleetMinutes,
    /// Burn-down samples.
    BurnDown,
    /// Campaigns' events.
    CampaignEvents,
}

impl Table {
    /// Every table with a retention rule.
    pub const ALL: [Table; 12] = [
        Table::Outbox,
        Table::DeadLetters,
        Table::Audit,
        Table::Verifications,
        Table::Rejects,
        Table::Runs,
        Table::Completions,
        Table::ConsoleSessions,
        Table::BlobRemovals,
        Table::FleetMinutes,
        Table::BurnDown,
        Table::CampaignEvents,
    ];

    /// Its name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Outbox => "outbox",
            Table::DeadLetters => "dead_letters",
            Table::Audit => "audit_log",
            Table::Verifications => "verifications",
            Table::Rejects => "rejects",
            Table::Runs => "migration_runs",
            Table::Completions => "completions",
            Table::ConsoleSessions => "console_sessions",
            Table::BlobRemovals => "blob_removals",
            Table::FleetMinutes => "fleet_minutes",
            Table::BurnDown => "burn_down",
            Table::CampaignEvents => "campaign_events",
        }
    }

    /// How long its rows are kept, by the settings (the table above).
    pub fn kept(self, s: &migrator_runtime::settings::Settings) -> Duration {
        let w = &s.worker;
        let day = |d: i64| Duration::from_secs(d.max(0) as u64 * 86_400);
        match self {
            Table::Outbox => Duration::from_secs(w.outbox_retention_secs.max(0) as u64),
            Table::DeadLetters => day(w.dead_letter_retention_days),
            Table::Audit => day(s.api.audit_retention_days),
            Table::Verifications => day(s.verify.retention_days),
            Table::Rejects => day(w.rejects_retention_days),
            Table::Runs => day(w.runs_retention_days),
            // fixed: the program reads a day of them, its chart two
            Table::Completions | Table::FleetMinutes => day(3),
            // fixed: the samples between hours go after three days (the statement), all after
            // 400
            Table::BurnDown => day(3),
            Table::CampaignEvents => day(s.api.audit_retention_days),
            // `expires_at` is already the end of its life
            Table::ConsoleSessions => Duration::ZERO,
            Table::BlobRemovals => day(w.dead_letter_retention_days),
        }
    }

    /// The batch's statement: `$1` the age in seconds, `$2` the batch size.
    fn sql(self) -> &'static str {
        match self {
            Table::Outbox => {
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
                 WHERE published_at < now() - make_interval(secs => $1) \
                 ORDER BY published_at LIMIT $2)"
            }
            Table::DeadLetters => {
                "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters \
                 WHERE created_at < now() - make_interval(secs => $1) \
                 ORDER BY created_at LIMIT $2)"
            }
            Table::Audit => {
                "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log \
                 WHERE created_at < now() - make_interval(secs => $1) \
                 ORDER BY created_at LIMIT $2)"
            }
            Table::Verifications => {
                "DELETE FROM verifications WHERE id IN (SELECT id FROM verifications \
                 WHERE superseded AND status IN ('done', 'failed') \
                   AND finished_at < now() - make_interval(secs => $1) \
                 ORDER BY finished_at LIMIT $2)"
            }
            Table::Rejects => {
                "DELETE FROM rejects WHERE id IN (SELECT id FROM rejects \
                 WHERE created_at < now() - make_interval(secs => $1) \
                 ORDER BY created_at LIMIT $2)"
            }
            // a pruned run's files are removed with it (queued for the sweeper)
            Table::Runs => {
                "WITH gone AS (DELETE FROM migration_runs WHERE id IN (SELECT r.id \
                   FROM migration_runs r \
                   WHERE r.superseded AND r.finished_at < now() - make_interval(secs => $1) \
                     AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.current_run_id = r.id) \
                   ORDER BY r.finished_at LIMIT $2) RETURNING account_id, id) \
                 INSERT INTO blob_removals (prefix, reason) \
                 SELECT account_id::text || '/' || id::text, 'retention' FROM gone"
            }
            Table::BlobRemovals => {
                "DELETE FROM blob_removals WHERE id IN (SELECT id FROM blob_removals \
                 WHERE next_at IS NULL AND requested_at < now() - make_interval(secs => $1) \
                 ORDER BY requested_at LIMIT $2)"
            }
            Table::Completions => {
                "DELETE FROM completions WHERE (minute, lane, shard) IN (SELECT minute, lane, \
                 shard FROM completions WHERE minute < now() - make_interval(secs => $1) \
                 ORDER BY minute LIMIT $2)"
            }
            Table::FleetMinutes => {
                "DELETE FROM fleet_minutes WHERE (series, minute, shard) IN (SELECT series, \
                 minute, shard FROM fleet_minutes WHERE minute < now() - make_interval(secs => $1) \
                 ORDER BY minute LIMIT $2)"
            }
            Table::BurnDown => {
                "DELETE FROM burn_down WHERE (scope_id, at) IN (SELECT scope_id, at FROM burn_down \
                 WHERE NOT hourly AND at < now() - make_interval(secs => $1) \
                 ORDER BY at LIMIT $2) \
                 OR (scope_id, at) IN (SELECT scope_id, at FROM burn_down \
                 WHERE at < now() - interval '400 days' ORDER BY at LIMIT $2)"
            }
            Table::CampaignEvents => {
                "DELETE FROM campaign_events WHERE id IN (SELECT id FROM campaign_events \
                 WHERE at < now() - make_interval(secs => $1) ORDER BY at LIMIT $2)"
            }
            Table::ConsoleSessions => {
                "DELETE FROM console_sessions WHERE id IN (SELECT id FROM console_sessions \
                 WHERE expires_at < now() - make_interval(secs => $1) \
                 ORDER BY expires_at LIMIT $2)"
            }
        }
    }
}

/// Deletes up to `limit` rows of `table` older than `kept`, oldest first; returns how many.
pub async fn prune(
    conn: &mut AsyncPgConnection,
    table: Table,
    kept: Duration,
    limit: i64,
) -> CoreResult<usize> {
    Ok(diesel::sql_query(table.sql())
        .bind::<Double, _>(kept.as_secs_f64())
        .bind::<BigInt, _>(limit)
        .execute(conn)
        .await?)
}
