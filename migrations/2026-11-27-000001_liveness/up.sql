-- Liveness: attempts that survive re-enqueues, parked runs, attachments retried later, dead
-- letters kept where operators see them, an outbox relay that never holds a transaction open
-- across the broker.

-- every failed attempt of the run (hop failures, expired leases re-enqueued, repairs); past
-- worker.max_total_attempts the run is parked: failed, and left alone by the sweeper
ALTER TABLE migration_runs
    ADD COLUMN total_attempts      integer NOT NULL DEFAULT 0,
    ADD COLUMN parked_at           timestamptz,
    ADD COLUMN attachments_pending integer NOT NULL DEFAULT 0;
CREATE INDEX migration_runs_parked ON migration_runs (parked_at) WHERE parked_at IS NOT NULL;

-- the run that wrote the attachment (figures, blob keys); a transient download failure leaves
-- it pending with the time of its next attempt
ALTER TABLE attachments
    ADD COLUMN run_id          uuid REFERENCES migration_runs (id) ON DELETE SET NULL,
    ADD COLUMN next_attempt_at timestamptz;
CREATE INDEX attachments_retry ON attachments (next_attempt_at) WHERE status = 'pending';

-- a relay claims rows for a while instead of holding them locked across publisher confirms
ALTER TABLE outbox ADD COLUMN claimed_until timestamptz;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- hops that were given up: what the dead-letter queue holds, kept where the admin API lists and
-- replays them; pruned after worker.dead_letter_retention_days
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    account_id  uuid REFERENCES accounts (id) ON DELETE CASCADE,
    run_id      uuid REFERENCES migration_runs (id) ON DELETE SET NULL,
    phase       text NOT NULL,
    hop         json NOT NULL,
    error       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
CREATE INDEX dead_letters_created ON dead_letters (created_at);
