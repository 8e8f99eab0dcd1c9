-- An account's rejects, newest first, walked by cursor.
-- CONCURRENTLY: writers are not blocked while it builds (outside a transaction: metadata.toml);
-- IF NOT EXISTS: a failed build is retried by dropping the invalid index first (docs/operations.md).
CREATE INDEX CONCURRENTLY IF NOT EXISTS rejects_account ON rejects (account_id, id DESC);
