ALTER TABLE migration_runs DROP COLUMN verified_at, DROP COLUMN verification;
DROP TABLE verifications;
