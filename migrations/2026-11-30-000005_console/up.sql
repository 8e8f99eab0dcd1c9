-- The operators' console (spec/api.md, Operator console): server-side sessions. The indexes an
-- account's history reads along follow, one migration each: built CONCURRENTLY (outside a
-- transaction, which Postgres needs one statement at a time), so workers keep writing
-- rejects, dead letters and audit rows while they build.

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
