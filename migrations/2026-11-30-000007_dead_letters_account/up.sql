-- An account's history: its dead letters, newest first.
-- CONCURRENTLY: writers are not blocked while it builds (outside a transaction: metadata.toml);
-- IF NOT EXISTS: a failed build is retried by dropping the invalid index first (docs/operations.md).
CREATE INDEX CONCURRENTLY IF NOT EXISTS dead_letters_account ON dead_letters (account_id, id DESC)
    WHERE account_id IS NOT NULL;
