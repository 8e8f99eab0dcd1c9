ALTER TABLE verifications DROP COLUMN repair;
DROP TABLE settle_events;
DROP TABLE run_settling;
ALTER TABLE accounts DROP COLUMN switched_at;
