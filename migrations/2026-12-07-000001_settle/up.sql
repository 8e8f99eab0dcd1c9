-- A living source (spec/source-contract.md section 5): items keep landing in Conversations for a
-- while after a C1's switch (the settle window). A completed migration catches up with them
-- (the catch-up phase, a hop on the run), at the window's middle and at its end, and is
-- verified once it has settled; a verification's differences are repaired the same way.

-- When configs-migration first switched the C1's channels (the instant before the call; kept
-- across runs: the contract's late items date from the first switch).
ALTER TABLE accounts ADD COLUMN switched_at timestamptz;

-- A completed run settling: one row from its completion (a run that never completes has none),
-- removed with its run.
CREATE TABLE run_settling (
    run_id         uuid PRIMARY KEY REFERENCES migration_runs (id) ON DELETE CASCADE,
    account_id     uuid NOT NULL,
    -- the end of the settle window (null: no window, `conversations.settle_window_secs` = 0)
    settle_until   timestamptz,
    -- the next catch-up is due then (null: none pending)
    catch_up_at    timestamptz,
    -- that catch-up is the last of the window (the verification follows it)
    catch_up_final boolean NOT NULL DEFAULT false,
    -- what the catch-up in hand moves: {"since_ms": …} (late items) or {"repair": [thread ids]}
    plan           jsonb,
    catch_ups      integer NOT NULL DEFAULT 0,
    repairs        integer NOT NULL DEFAULT 0,
    -- the last catch-up or repair ended (the sweeper re-sends a catch-up that went missing)
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- the catch-ups due, in order: the sweeper's batches and the program's count of C1s settling
-- read along it (runs with a catch-up pending: bounded by the window, never the population)
CREATE INDEX run_settling_due ON run_settling (catch_up_at) WHERE catch_up_at IS NOT NULL;

-- Each catch-up and repair, for the operators' timeline: what it moved. Pruned with its run.
CREATE TABLE settle_events (
    id          bigserial PRIMARY KEY,
    run_id      uuid NOT NULL REFERENCES migration_runs (id) ON DELETE CASCADE,
    account_id  uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('catch_up', 'repair')),
    at          timestamptz NOT NULL DEFAULT now(),
    threads     integer NOT NULL DEFAULT 0,
    messages    bigint NOT NULL DEFAULT 0,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX settle_events_account ON settle_events (account_id, id DESC);
CREATE INDEX settle_events_run ON settle_events (run_id);

-- A verification that repairs what it finds (the automatic ones after settling, an operator's
-- `verify --repair`): its differing threads are copied again and verified again.
ALTER TABLE verifications ADD COLUMN repair boolean NOT NULL DEFAULT false;
