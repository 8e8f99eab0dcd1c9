-- Stored files to remove, queued in the transaction that drops what they belonged to (a
-- re-migration's superseded runs, runs pruned by retention, messages a repair replaces) and
-- removed by the sweeper of a process that may write the store (never the api, whose volume is
-- read-only), a batch at a time: retried with backoff on failure, given up after its tries
-- (kept, counted, for an operator), pruned after `worker.dead_letter_retention_days`.
CREATE TABLE blob_removals (
    id           bigserial PRIMARY KEY,
    -- a key prefix (`<account>/<run>`: every file of a run) or one file's key
    prefix       text NOT NULL,
    reason       text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    -- due then; null: given up after its tries
    next_at      timestamptz DEFAULT now(),
    last_error   text
);
CREATE INDEX blob_removals_due ON blob_removals (next_at) WHERE next_at IS NOT NULL;
CREATE INDEX blob_removals_given_up ON blob_removals (requested_at) WHERE next_at IS NULL;
