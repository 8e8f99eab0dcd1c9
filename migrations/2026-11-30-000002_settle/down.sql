ALTER TABLE outbox DROP COLUMN delay_ms;
