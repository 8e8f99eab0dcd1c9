DROP TABLE dead_letters;
DROP INDEX outbox_published;
ALTER TABLE outbox DROP COLUMN claimed_until;
DROP INDEX attachments_retry;
ALTER TABLE attachments DROP COLUMN next_attempt_at, DROP COLUMN run_id;
DROP INDEX migration_runs_parked;
ALTER TABLE migration_runs
    DROP COLUMN total_attempts,
    DROP COLUMN parked_at,
    DROP COLUMN attachments_pending;
