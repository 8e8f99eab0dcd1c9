-- Verifications: an account's destination compared with its source, on request or after the
-- all-messages phase. Workers claim pending rows (a lease: claimed_until), so a verification
-- whose worker died is taken again; the result (first diffs listed, all counted) stays on the
-- row and its outcome on the run. Done rows older than verify.retention_days are pruned,
-- except each account's newest.

CREATE TABLE verifications (
    id                  uuid PRIMARY KEY,
    account_id          uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    run_id              uuid REFERENCES migration_runs (id) ON DELETE SET NULL,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'running', 'done', 'failed')),
    requested_by        text NOT NULL,
    requested_at        timestamptz NOT NULL DEFAULT now(),
    claimed_by          text,
    claimed_until       timestamptz,
    attempts            integer NOT NULL DEFAULT 0,
    finished_at         timestamptz,
    result              text CHECK (result IN ('match', 'diff')),
    channels_checked    integer NOT NULL DEFAULT 0,
    threads_checked     integer NOT NULL DEFAULT 0,
    messages_checked    bigint NOT NULL DEFAULT 0,
    attachments_checked bigint NOT NULL DEFAULT 0,
    diff_count          bigint NOT NULL DEFAULT 0,
    diffs               json NOT NULL DEFAULT '[]',
    error               text
);
CREATE INDEX verifications_open ON verifications (requested_at)
    WHERE status IN ('pending', 'running');
CREATE INDEX verifications_account ON verifications (account_id, requested_at DESC);
-- one open verification per account at a time
CREATE UNIQUE INDEX verifications_one_open ON verifications (account_id)
    WHERE status IN ('pending', 'running');

ALTER TABLE migration_runs
    ADD COLUMN verification text CHECK (verification IN ('match', 'diff')),
    ADD COLUMN verified_at timestamptz;
