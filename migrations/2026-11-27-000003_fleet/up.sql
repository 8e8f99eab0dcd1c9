-- Operators steer the fleet: pause it, resume it, cap its reads of the source. One row, read by
-- every worker before it takes hops; live workers say so, so a fleet-wide cap can be shared.

CREATE TABLE fleet_settings (
    id                    integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    paused                boolean NOT NULL DEFAULT false,
    -- fleet-wide caps on the source (NULL: the settings' own, or none)
    max_reads_per_sec     integer CHECK (max_reads_per_sec > 0),
    max_rest_per_sec      integer CHECK (max_rest_per_sec > 0),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    updated_by            text
);
INSERT INTO fleet_settings (id) VALUES (1);

-- each worker's heartbeat; rows older than a few minutes are pruned by the sweeper
CREATE TABLE fleet_workers (
    worker_id text PRIMARY KEY,
    seen_at   timestamptz NOT NULL DEFAULT now()
);
