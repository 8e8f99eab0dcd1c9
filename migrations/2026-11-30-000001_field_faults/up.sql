-- Faults real deployments hit. A refused cert JWT (401/403) is not final at once: the
-- attachment counts its refusals, and each worker reports the refusals it met in the last
-- minute with its heartbeat, so the fleet can tell a systemic refusal (our key, token or
-- clock) from one attachment's.
ALTER TABLE attachments ADD COLUMN refusals integer NOT NULL DEFAULT 0;
ALTER TABLE fleet_workers
    ADD COLUMN media_refusals integer NOT NULL DEFAULT 0,
    ADD COLUMN rest_refusals  integer NOT NULL DEFAULT 0;
