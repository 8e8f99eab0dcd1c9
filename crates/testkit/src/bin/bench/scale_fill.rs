//! The project's schema filled by SQL (`generate_series`) to a late stage of the program, for
//! the scale figure: `n` accounts (60 % not-started, 35 % completed, 3 % in flight, 2 % failed),
//! a run for each started one (≈0.4 n) plus superseded ones (0.01 n), 0.5 n published outbox
//! rows, 0.1 n rejects, ≈0.39 n verifications, 0.025 n dead letters, 0.01 n audit entries, and
//! one C1 (`scale-60`) with 0.1 n conversations of 5 messages each. At 2,000,000 accounts: the
//! shape of issue 20 (800k runs, 1M outbox rows, 200k rejects, 770k verifications, 50k dead
//! letters, a C1 with 200k conversations and 1M messages).
//!
//! Ages are spread so that each table holds rows its retention rule prunes and rows it keeps;
//! nothing is due for the sweeper (leases held by a live worker, failed runs parked or failed
//! a moment ago), so its steps measure their look, not their work.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// The statements, with `{n}` the number of accounts.
const FILL: &[&str] = &[
    // no triggers or foreign-key checks while filling; the summaries are computed at the end
    "SET session_replication_role = replica",
    "INSERT INTO accounts (id, shopper_id, name, migration_status, current_run_id, created_at, \
       updated_at) \
     SELECT md5('a' || g)::uuid, 'scale-' || g, 'Shop', \
       CASE WHEN k < 60 THEN 'not-started' WHEN k < 95 THEN 'completed' \
            WHEN k = 95 THEN 'migrating' WHEN k = 96 THEN 'channels-migrated' \
            WHEN k = 97 THEN 'recent-messages-migrated' WHEN k = 98 THEN 'messages-failure' \
            ELSE 'channel-failure' END, \
       CASE WHEN k >= 60 THEN md5('r' || g)::uuid END, now() - interval '60 days', at \
     FROM (SELECT g, g % 100 AS k, now() - (g % 43200) * interval '1 minute' AS at \
           FROM generate_series(1, {n}) g) s",
    "INSERT INTO migration_runs (id, account_id, phase, started_at, finished_at, updated_at, \
       completed_at, channels_at, recent_at, active, lease_owner, lease_expires_at, last_error, \
       parked_at, verification, verified_at, threads_total, threads_migrated, \
       messages_migrated, total_attempts) \
     SELECT md5('r' || g)::uuid, md5('a' || g)::uuid, \
       CASE WHEN k < 95 THEN 'done' WHEN k IN (95, 99) THEN 'channels' \
            WHEN k = 96 THEN 'recent-messages' ELSE 'all-messages' END, \
       at - interval '5 minutes', CASE WHEN k < 95 THEN at END, \
       CASE WHEN k = 98 AND g % 2 = 1 THEN now() - (g % 200) * interval '1 second' ELSE at END, \
       CASE WHEN k < 95 THEN at END, at - interval '4 minutes', at - interval '3 minutes', \
       k BETWEEN 95 AND 97, \
       CASE WHEN k BETWEEN 95 AND 97 THEN 'scale-w/h/' || g END, \
       CASE WHEN k BETWEEN 95 AND 97 THEN now() + interval '1 hour' END, \
       CASE WHEN k = 98 THEN 'HTTP 503 from DynamoDB (throttled), try ' || (g % 50) \
            WHEN k = 99 THEN 'channel config refused: 404 not found' \
            WHEN g % 1000 = 61 THEN 'lease lost (a worker died or hung)' END, \
       CASE WHEN k = 99 OR (k = 98 AND g % 2 = 0) THEN at END, \
       CASE WHEN k < 95 THEN (CASE WHEN g % 1000 = 62 THEN 'diff' ELSE 'match' END) END, \
       CASE WHEN k < 95 THEN at END, 25, 25, 125, 3 \
     FROM (SELECT g, g % 100 AS k, now() - (g % 43200) * interval '1 minute' AS at \
           FROM generate_series(1, {n}) g) s WHERE k >= 60",
    // runs superseded by a re-migration, half of them past their retention
    "INSERT INTO migration_runs (id, account_id, phase, finished_at, updated_at, superseded, \
       cancelled) \
     SELECT md5('s' || g)::uuid, md5('a' || ((g - 1) * 100 + 61))::uuid, 'channels', \
       now() - (g % 2 * 80 + 20) * interval '1 day', now() - interval '20 days', true, true \
     FROM generate_series(1, {n} / 100) g",
    "INSERT INTO outbox (payload, created_at, published_at) \
     SELECT json_build_object('account_id', md5('a' || g)::uuid, 'run_id', md5('r' || g)::uuid, \
       'phase', 'channels', 'attempt', 1, 'hop_id', md5('h' || g)::uuid), \
       now() - (g % 7200) * interval '1 second', now() - (g % 7200) * interval '1 second' \
     FROM generate_series(1, {n} / 2) g",
    "INSERT INTO rejects (account_id, run_id, source_table, source_key, reason, raw, created_at) \
     SELECT md5('a' || (g * 10 % {n} + 1))::uuid, NULL, 'messages', 'm-' || g, \
       'sent_at is not an RFC 3339 time', json_build_object('message_id', 'm-' || g), \
       now() - (g % 120) * interval '1 day' \
     FROM generate_series(1, {n} / 10) g",
    // each completed account's verification, and an older superseded one for some
    "INSERT INTO verifications (id, account_id, run_id, status, requested_by, requested_at, \
       finished_at, result, superseded) \
     SELECT md5('v' || g)::uuid, md5('a' || g)::uuid, md5('r' || g)::uuid, 'done', 'auto', \
       now() - (g % 43200) * interval '1 minute', now() - (g % 43200) * interval '1 minute', \
       'match', false \
     FROM generate_series(1, {n}) g WHERE g % 100 BETWEEN 60 AND 94",
    "INSERT INTO verifications (id, account_id, run_id, status, requested_by, requested_at, \
       finished_at, result, superseded) \
     SELECT md5('o' || g)::uuid, md5('a' || g)::uuid, NULL, 'done', 'auto', \
       now() - (g % 180 + 31) * interval '1 day', now() - (g % 180 + 30) * interval '1 day', \
       'diff', true \
     FROM generate_series(1, {n}) g WHERE g % 100 BETWEEN 60 AND 63",
    "INSERT INTO dead_letters (account_id, run_id, phase, hop, error, created_at) \
     SELECT md5('a' || g)::uuid, NULL, 'all-messages', json_build_object('attempt', 9), \
       'parked after 9 failed attempts', now() - (g % 60) * interval '1 day' \
     FROM generate_series(40, {n}, 40) g",
    "INSERT INTO audit_log (actor, action, target, detail, created_at) \
     SELECT 'ops-' || (g % 7), 'retry', 'scale-' || g, '{}', now() - (g % 730) * interval '1 day' \
     FROM generate_series(1, {n} / 100) g",
    "INSERT INTO fleet_workers (worker_id, seen_at) VALUES ('scale-w', now())",
    // one large C1: 0.1 n conversations of five messages
    "INSERT INTO brands (id, account_id, name) VALUES (md5('brand')::uuid, md5('a60')::uuid, 'Big')",
    "INSERT INTO channels (id, account_id, brand_id, kind, name) \
     VALUES (md5('chan')::uuid, md5('a60')::uuid, md5('brand')::uuid, 'sms', 'Big SMS')",
    "INSERT INTO conversations (id, account_id, channel_id, source_id, subject, status, \
       created_at, last_message_at, message_count, messages_complete) \
     SELECT md5('c' || g)::uuid, md5('a60')::uuid, md5('chan')::uuid, 't-' || g, \
       'Subject ' || g, 'open', now() - interval '400 days', now() - g * interval '1 minute', \
       5, true \
     FROM generate_series(1, {n} / 10) g",
    "INSERT INTO messages (id, account_id, conversation_id, source_id, source_sort, direction, \
       author_name, body, sent_at) \
     SELECT md5('m' || g || '-' || j)::uuid, md5('a60')::uuid, md5('c' || g)::uuid, \
       'm-' || g || '-' || j, lpad(j::text, 4, '0') || '#m-' || g, 'inbound', 'Alice', \
       convert_to('hello ' || j, 'UTF8'), \
       now() - g * interval '1 minute' - (5 - j) * interval '1 second' \
     FROM generate_series(1, {n} / 10) g, generate_series(1, 5) j",
    "SET session_replication_role = DEFAULT",
    // the summaries the triggers keep, computed once for the filled rows
    "TRUNCATE account_counts, conversation_counts, fleet_counts",
    "INSERT INTO account_counts (status, shard, n) \
     SELECT migration_status, abs(hashtext(id::text)) % 16, count(*) FROM accounts GROUP BY 1, 2",
    "INSERT INTO conversation_counts (account_id, n) \
     SELECT account_id, count(*) FROM conversations GROUP BY 1",
    "INSERT INTO fleet_counts (what, n) VALUES \
     ('parked', (SELECT count(*) FROM migration_runs WHERE parked_at IS NOT NULL)), \
     ('dead_letters', (SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL))",
    "VACUUM ANALYZE",
];

/// Creates database `name` with the project's schema, filled to `n` accounts; returns its URL.
pub async fn fill(name: &str, n: u64, say: impl Fn(&str)) -> anyhow::Result<String> {
    use migrator_testkit::db::{create_database, drop_database, pg_server};
    drop_database(name).await?;
    create_database(name).await?;
    let url = format!("{}/{name}", pg_server());
    migrator_store::run_migrations(&url).await?;
    let mut c = AsyncPgConnection::establish(&url).await?;
    for sql in FILL {
        let sql = sql.replace("{n}", &n.to_string());
        let head: String = sql.chars().take(48).collect();
        say(&format!("{name}: {head}…"));
        diesel::sql_query(sql).execute(&mut c).await?;
    }
    Ok(url)
}

/// Each table's size on disk (table, indexes and TOAST), in bytes, and its rows.
pub async fn sizes(url: &str) -> anyhow::Result<Vec<(String, i64, i64)>> {
    #[derive(diesel::QueryableByName)]
    struct Size {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bytes: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        rows: i64,
    }
    let mut c = AsyncPgConnection::establish(url).await?;
    let rows: Vec<Size> = diesel::sql_query(
        "SELECT c.relname::text AS name, pg_total_relation_size(c.oid) AS bytes, \
           greatest(c.reltuples, 0)::bigint AS rows \
         FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
         WHERE s.nspname = 'public' AND c.relkind = 'r' \
         ORDER BY pg_total_relation_size(c.oid) DESC",
    )
    .load(&mut c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.name, r.bytes, r.rows))
        .collect())
}
