//! Every metric of the project, named and described in one place, recorded through the
//! `metrics` facade (no exporter here: `migrator_runtime::metrics` installs the Prometheus
//! recorder once per process, and the api and the worker serve its rendering on `/metrics`).

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// HTTP requests answered, by route template, method and status.
pub const HTTP_REQUESTS: &str = "migrator_http_requests_total";
/// Time to answer an HTTP request, by route template and method.
pub const HTTP_DURATION: &str = "migrator_http_request_duration_seconds";
/// App requests refused with 429, by limit (`requests`, `writes`).
pub const HTTP_RATE_LIMITED: &str = "migrator_http_rate_limited_total";
/// Migrations started or resumed by `POST /migrate` or an operator.
pub const MIGRATIONS_STARTED: &str = "migrator_migrations_started_total";
/// Hops taken by a worker, by phase.
pub const HOPS_STARTED: &str = "migrator_hops_started_total";
/// Hops ended, by phase and outcome (`done`, `yielded`, `retried`, `failed`, `parked`,
/// `lease_lost`, `stale`, `duplicate`).
pub const HOPS_FINISHED: &str = "migrator_hops_finished_total";
/// How long a hop ran, by phase and outcome.
pub const HOP_DURATION: &str = "migrator_hop_duration_seconds";
/// Hops running now in this worker, by phase.
pub const HOPS_IN_FLIGHT: &str = "migrator_hops_in_flight";
/// Hops given up (dead letters), by phase.
pub const DEAD_LETTERS: &str = "migrator_dead_letters_total";
/// Attachment downloads, by outcome (`stored`, `failed`, `retry`, `refused`: pending after a
/// refusal of our cert JWT).
pub const ATTACHMENTS: &str = "migrator_attachments_total";
/// Messages written.
pub const MESSAGES_WRITTEN: &str = "migrator_messages_written_total";
/// Conversations completed.
pub const THREADS_WRITTEN: &str = "migrator_threads_written_total";
/// Source items rejected.
pub const REJECTS: &str = "migrator_rejects_total";
/// DynamoDB Query pages read, by table (`threads`, `messages`).
pub const DYNAMODB_PAGES: &str = "migrator_dynamodb_pages_total";
/// DynamoDB calls that ended throttled after the SDK's retries.
pub const DYNAMODB_THROTTLED: &str = "migrator_dynamodb_throttled_total";
/// Hops that found their lease taken (superseded or taken over).
pub const LEASE_LOSSES: &str = "migrator_lease_losses_total";
/// Leases taken over from a worker that is gone (no liveness lock), before they expired.
pub const LEASE_TAKEOVERS: &str = "migrator_lease_takeovers_total";
/// Accounts by real migration status (read by the api when `/metrics` is scraped).
pub const ACCOUNTS: &str = "migrator_accounts";
/// Outbox rows not yet published (read by the api when scraped).
pub const OUTBOX_BACKLOG: &str = "migrator_outbox_backlog";
/// Parked runs (read by the api when scraped).
pub const PARKED_RUNS: &str = "migrator_parked_runs";
/// From a run's start (`POST /migrate`) to `channels-migrated`: what a C1 waits for an inbox.
pub const TIME_TO_INBOX: &str = "migrator_time_to_inbox_seconds";
/// From a run's start to `completed`.
pub const MIGRATION_DURATION: &str = "migrator_migration_duration_seconds";

/// Time a call waited for the fleet-wide source rate limit, by kind (`reads`, `rest`).
pub const SOURCE_WAIT: &str = "migrator_source_wait_seconds";
/// 1 while operators have paused the fleet (as this worker last read it).
pub const FLEET_PAUSED: &str = "migrator_fleet_paused";

/// Refusals of our credentials by the source (401/403), by service (`media`, `rest`).
pub const SOURCE_REFUSALS: &str = "migrator_source_refusals_total";
/// 1 while this worker sees the source's refusals of our credentials as systemic, by service.
pub const SOURCE_REFUSING: &str = "migrator_source_refusing";

/// Rows the sweeper pruned, by table.
pub const PRUNED: &str = "migrator_pruned_rows_total";

/// Verifications finished, by result (`match`, `diff`, `failed`).
pub const VERIFICATIONS: &str = "migrator_verifications_total";
/// Differences the verifications found.
pub const VERIFICATION_DIFFS: &str = "migrator_verification_diffs_total";
/// Catch-ups and repairs finished on completed migrations, by kind (`catch_up`, `repair`).
pub const CATCH_UPS: &str = "migrator_catch_ups_total";
/// Messages the catch-ups and repairs copied (late items, repaired threads' messages).
pub const CATCH_UP_MESSAGES: &str = "migrator_catch_up_messages_total";
/// Runs parked because their copy kept differing after `verify.max_repairs` repairs.
pub const UNCONVERGED: &str = "migrator_unconverged_runs_total";
/// Stored files queued for removal that the sweeper handled, by outcome (`removed`, `failed`,
/// `given_up`).
pub const BLOB_REMOVALS: &str = "migrator_blob_removals_total";
/// Object-store uploads abandoned before their commit (a worker killed mid-upload) that the
/// sweeper aborted.
pub const BLOB_UPLOADS_ABORTED: &str = "migrator_blob_uploads_aborted_total";
/// Object-store calls that failed, by operation (`put`, `part`, `complete`, `get`, `list`,
/// `delete`, `abort`, `presign`).
pub const BLOB_ERRORS: &str = "migrator_blob_errors_total";

/// Accounts a campaign started (or found started), by how (`started`, `redriven`, `visited`,
/// `given_up`).
pub const CAMPAIGN_ACCOUNTS: &str = "migrator_campaign_accounts_total";
/// Driver ticks that started fewer accounts than the rate allowed, by reason (`fleet_paused`,
/// `inbox_slow`, `in_flight_cap`).
pub const CAMPAIGN_HELD_BACK: &str = "migrator_campaign_held_back_total";
/// Campaign runs moved to the app lane because their C1 opened the app.
pub const CAMPAIGN_PROMOTED: &str = "migrator_campaign_promoted_total";
/// The live campaign's accounts, by state (`selected`, `in_flight`, `completed`, `failed`,
/// `parked`, `remaining`); read when the api is scraped.
pub const CAMPAIGN_MEMBERS: &str = "migrator_campaign_accounts";
/// 1, labelled with the build's `version` and `git_sha`.
pub const BUILD_INFO: &str = "migrator_build_info";
/// Connections of this process's Postgres pool, by state (`in_use`, `idle`).
pub const DB_POOL_CONNECTIONS: &str = "migrator_db_pool_connections";
/// The pool's size limit (`database.pool_size`).
pub const DB_POOL_MAX: &str = "migrator_db_pool_max_connections";
/// Tasks waiting for a pooled connection now.
pub const DB_POOL_WAITING: &str = "migrator_db_pool_waiting";
/// Time a task waited for a pooled connection.
pub const DB_POOL_WAIT: &str = "migrator_db_pool_wait_seconds";
/// Waits for a pooled connection that ended without one (`database.pool_wait_ms`).
pub const DB_POOL_TIMEOUTS: &str = "migrator_db_pool_timeouts_total";
/// Age of the oldest outbox row not yet published, in seconds (0 when none; read at scrape).
pub const OUTBOX_OLDEST_AGE: &str = "migrator_outbox_oldest_age_seconds";
/// 1 while a worker holds the fleet lock (`sweeper`, `campaign`); read at scrape.
pub const FLEET_LOCK_HELD: &str = "migrator_fleet_lock_held";

/// Share of all accounts completed (0–1).
pub const PROGRAM_DONE_SHARE: &str = "migrator_program_done_share";
/// When the program is projected to finish at the last hour's rate (Unix seconds; absent
/// without a rate).
pub const PROGRAM_PROJECTED_FINISH: &str = "migrator_program_projected_finish_timestamp_seconds";
/// The program's deadline (Unix seconds; absent without one).
pub const PROGRAM_DEADLINE: &str = "migrator_program_deadline_timestamp_seconds";
/// 1 when the projection meets the deadline, 0 when it misses it (absent when unknown).
pub const PROGRAM_ON_TRACK: &str = "migrator_program_on_track";

/// Every metric name, for checks of what refers to them (the Grafana dashboard).
pub const ALL: [&str; 51] = [
    HTTP_REQUESTS,
    HTTP_DURATION,
    HTTP_RATE_LIMITED,
    MIGRATIONS_STARTED,
    HOPS_STARTED,
    HOPS_FINISHED,
    HOP_DURATION,
    HOPS_IN_FLIGHT,
    DEAD_LETTERS,
    ATTACHMENTS,
    MESSAGES_WRITTEN,
    THREADS_WRITTEN,
    REJECTS,
    DYNAMODB_PAGES,
    DYNAMODB_THROTTLED,
    LEASE_LOSSES,
    LEASE_TAKEOVERS,
    ACCOUNTS,
    OUTBOX_BACKLOG,
    PARKED_RUNS,
    TIME_TO_INBOX,
    MIGRATION_DURATION,
    SOURCE_WAIT,
    FLEET_PAUSED,
    SOURCE_REFUSALS,
    SOURCE_REFUSING,
    PRUNED,
    VERIFICATIONS,
    VERIFICATION_DIFFS,
    CATCH_UPS,
    CATCH_UP_MESSAGES,
    UNCONVERGED,
    BLOB_REMOVALS,
    BLOB_UPLOADS_ABORTED,
    BLOB_ERRORS,
    CAMPAIGN_ACCOUNTS,
    CAMPAIGN_HELD_BACK,
    CAMPAIGN_PROMOTED,
    CAMPAIGN_MEMBERS,
    PROGRAM_DONE_SHARE,
    PROGRAM_PROJECTED_FINISH,
    PROGRAM_DEADLINE,
    PROGRAM_ON_TRACK,
    BUILD_INFO,
    DB_POOL_CONNECTIONS,
    DB_POOL_MAX,
    DB_POOL_WAITING,
    DB_POOL_WAIT,
    DB_POOL_TIMEOUTS,
    OUTBOX_OLDEST_AGE,
    FLEET_LOCK_HELD,
];

/// Buckets of the `_seconds` histograms: a request takes milliseconds, a hop up to a minute.
pub const SECONDS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Buckets of a whole migration: seconds for a small C1, hours for the largest.
pub const MIGRATION_SECONDS: [f64; 11] = [
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 86400.0,
];

/// Describes every metric (help text, units) to the recorder installed: the exporter's
/// installer calls it (`migrator_runtime::metrics`).
#[allow(clippy::too_many_lines, reason = "a table: one description per metric")]
pub fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "time to answer an HTTP request"
    );
    describe_counter!(
        HTTP_RATE_LIMITED,
        "app requests refused with 429, by limit (requests, writes)"
    );
    describe_counter!(MIGRATIONS_STARTED, "migrations started or resumed");
    describe_counter!(HOPS_STARTED, "hops taken");
    describe_counter!(HOPS_FINISHED, "hops ended, by outcome");
    describe_histogram!(HOP_DURATION, Unit::Seconds, "how long a hop ran");
    describe_gauge!(HOPS_IN_FLIGHT, "hops running now in this worker");
    describe_counter!(DEAD_LETTERS, "hops given up");
    describe_counter!(ATTACHMENTS, "attachment downloads, by outcome");
    describe_counter!(MESSAGES_WRITTEN, "messages written");
    describe_counter!(THREADS_WRITTEN, "conversations completed");
    describe_counter!(REJECTS, "source items rejected");
    describe_counter!(DYNAMODB_PAGES, "DynamoDB Query pages read");
    describe_counter!(DYNAMODB_THROTTLED, "DynamoDB calls throttled after retries");
    describe_counter!(LEASE_LOSSES, "hops that lost their lease");
    describe_counter!(
        LEASE_TAKEOVERS,
        "leases taken over from a worker that is gone, before they expired"
    );
    describe_gauge!(
        BUILD_INFO,
        "1, labelled with the build's version and git_sha"
    );
    describe_gauge!(DB_POOL_CONNECTIONS, "Postgres pool connections, by state");
    describe_gauge!(DB_POOL_MAX, "the Postgres pool's size limit");
    describe_gauge!(DB_POOL_WAITING, "tasks waiting for a pooled connection");
    describe_histogram!(
        DB_POOL_WAIT,
        Unit::Seconds,
        "time waited for a pooled connection"
    );
    describe_counter!(
        DB_POOL_TIMEOUTS,
        "waits for a pooled connection that ended without one"
    );
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        Unit::Seconds,
        "age of the oldest unpublished outbox row"
    );
    describe_gauge!(FLEET_LOCK_HELD, "1 while a worker holds the fleet lock");
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "git_sha" => env!("MIGRATOR_GIT_SHA")).set(1.0);
    describe_gauge!(ACCOUNTS, "accounts by migration status");
    describe_gauge!(OUTBOX_BACKLOG, "outbox rows not yet published");
    describe_gauge!(PARKED_RUNS, "runs parked after their attempts");
    describe_histogram!(
        TIME_TO_INBOX,
        Unit::Seconds,
        "from a run's start to channels-migrated"
    );
    describe_histogram!(
        MIGRATION_DURATION,
        Unit::Seconds,
        "from a run's start to completed"
    );
    describe_histogram!(
        SOURCE_WAIT,
        Unit::Seconds,
        "time spent waiting for the fleet-wide source rate limit, by kind"
    );
    describe_gauge!(FLEET_PAUSED, "1 while operators have paused the fleet");
    describe_counter!(
        SOURCE_REFUSALS,
        "refusals of our credentials by the source (401/403), by service"
    );
    describe_gauge!(
        SOURCE_REFUSING,
        "1 while the source's refusals of our credentials are systemic, by service"
    );
    describe_counter!(PRUNED, "rows the sweeper pruned, by table");
    describe_counter!(VERIFICATIONS, "verifications finished, by result");
    describe_counter!(VERIFICATION_DIFFS, "differences verifications found");
    describe_counter!(
        CATCH_UPS,
        "catch-ups and repairs finished on completed migrations, by kind"
    );
    describe_counter!(
        CATCH_UP_MESSAGES,
        "messages catch-ups and repairs copied (items that landed after the switch)"
    );
    describe_counter!(
        BLOB_REMOVALS,
        "stored files queued for removal the sweeper handled, by outcome"
    );
    describe_counter!(
        BLOB_UPLOADS_ABORTED,
        "object-store uploads abandoned before their commit that the sweeper aborted"
    );
    describe_counter!(BLOB_ERRORS, "object-store calls that failed, by operation");
    describe_counter!(
        UNCONVERGED,
        "runs parked: their copy kept differing after verify.max_repairs repairs"
    );
    describe_counter!(CAMPAIGN_ACCOUNTS, "accounts a campaign drove, by how");
    describe_counter!(
        CAMPAIGN_HELD_BACK,
        "campaign driver ticks held back, by reason"
    );
    describe_counter!(
        CAMPAIGN_PROMOTED,
        "campaign runs moved to the app lane when their C1 opened the app"
    );
    describe_gauge!(CAMPAIGN_MEMBERS, "the live campaign's accounts, by state");
    describe_gauge!(PROGRAM_DONE_SHARE, "share of all accounts completed");
    describe_gauge!(
        PROGRAM_PROJECTED_FINISH,
        "projected end of the program at the last hour's rate, Unix seconds"
    );
    describe_gauge!(PROGRAM_DEADLINE, "the program's deadline, Unix seconds");
    describe_gauge!(
        PROGRAM_ON_TRACK,
        "1 when the projected finish meets the deadline, 0 when it misses it"
    );
}
