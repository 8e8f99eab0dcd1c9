-- One way to settle a hop: a retry is recorded in the outbox with its delay, in the same
-- transaction that counts the failed attempt, like every other next hop (it was published
-- straight to a delay queue, between two commits).
ALTER TABLE outbox ADD COLUMN delay_ms bigint NOT NULL DEFAULT 0 CHECK (delay_ms >= 0);
