DROP TABLE audit_log;
ALTER TABLE attachments DROP COLUMN failure;
ALTER TABLE channels DROP COLUMN credentials_key_id;
