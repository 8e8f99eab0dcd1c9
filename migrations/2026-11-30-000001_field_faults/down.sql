ALTER TABLE fleet_workers DROP COLUMN rest_refusals, DROP COLUMN media_refusals;
ALTER TABLE attachments DROP COLUMN refusals;
