-- An account's history: the operators' writes on it (their target is its shopper id), newest
-- first.
-- CONCURRENTLY: writers are not blocked while it builds (outside a transaction: metadata.toml);
-- IF NOT EXISTS: a failed build is retried by dropping the invalid index first (docs/operations.md).
CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_log_target ON audit_log (target, id DESC);
