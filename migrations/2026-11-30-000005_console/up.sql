-- The operators' console (spec/api.md, Operator console): server-side sessions, and the
-- indexes an account's history reads along.

-- A signed-in browser. The cookie holds a random secret; only its SHA-256 is stored, so a
-- read of this table signs nobody in. `expires_at` slides with use (the idle timeout) and
-- never passes `absolute_until` (the longest a session lives); the sweeper prunes rows past
-- `expires_at` along `console_sessions_expires`.
CREATE TABLE console_sessions (
    id bigserial PRIMARY KEY,
    secret_sha256 bytea NOT NULL UNIQUE,
    operator text NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    absolute_until timestamptz NOT NULL,
    CHECK (expires_at <= absolute_until)
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- An account's history: the operators' writes on it (their target is its shopper id) and its
-- dead letters, newest first, a bounded number each.
CREATE INDEX audit_log_target ON audit_log (target, id DESC);
CREATE INDEX dead_letters_account ON dead_letters (account_id, id DESC) WHERE account_id IS NOT NULL;
-- An account's rejects, newest first, walked by cursor.
CREATE INDEX rejects_account ON rejects (account_id, id DESC);
