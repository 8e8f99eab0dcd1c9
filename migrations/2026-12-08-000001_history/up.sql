-- The series the console draws and `GET /admin/program/history` answers, kept cheaply and
-- bounded: no chart ever reads the accounts.

-- What the fleet did a minute: each worker adds its own tallies (hops by outcome, DynamoDB
-- reads, refusals, dead letters, times to an inbox by bucket) with its heartbeat, into the
-- shard its id picks. At most 4 rows a minute and series, read by series and time; pruned
-- after three days.
CREATE TABLE fleet_minutes (
    series text NOT NULL,
    minute timestamptz NOT NULL,
    shard  smallint NOT NULL,
    n      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (series, minute, shard)
);
CREATE INDEX fleet_minutes_minute ON fleet_minutes (minute);

-- Burn-down samples: the accounts and those not yet migrated, of the whole program
-- (scope_id nil) and of each campaign, at most one a five-minute slot (the last one taken
-- wins), written by the sweeper. Past three days only the samples on the hour are kept, and
-- none past 400 days: a year's burn-down is under 10,000 rows.
CREATE TABLE burn_down (
    scope_id  uuid NOT NULL,
    at        timestamptz NOT NULL,
    accounts  bigint NOT NULL,
    remaining bigint NOT NULL,
    -- on the hour (UTC): kept past three days
    hourly    boolean NOT NULL GENERATED ALWAYS AS
                (date_trunc('hour', at AT TIME ZONE 'UTC') = at AT TIME ZONE 'UTC') STORED,
    PRIMARY KEY (scope_id, at)
);
CREATE INDEX burn_down_at ON burn_down (at);
CREATE INDEX burn_down_between_hours ON burn_down (at) WHERE NOT hourly;

-- A campaign's history: started, paused, resumed, finished or cancelled, and each change of
-- why it holds back (the fleet paused, the app's time to inbox past the objective; detail
-- says which), written by triggers on the campaign's row: at most 60 of those an hour a
-- campaign. Pruned with the audit log's retention.
CREATE TABLE campaign_events (
    id          bigserial PRIMARY KEY,
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    detail      text
);
CREATE INDEX campaign_events_campaign ON campaign_events (campaign_id, at);
CREATE INDEX campaign_events_at ON campaign_events (at);

CREATE FUNCTION campaign_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_kind text;
    old_kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO campaign_events (campaign_id, kind) VALUES (NEW.id, 'started');
        RETURN NULL;
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state THEN
        INSERT INTO campaign_events (campaign_id, kind)
        VALUES (NEW.id, CASE NEW.state WHEN 'running' THEN 'resumed' WHEN 'paused' THEN 'paused' WHEN 'done' THEN 'finished'
                                       ELSE NEW.state END);
    END IF;
    -- why it holds back, by kind (its text carries figures that move every tick); the
    -- campaign's own max_in_flight is its pace, not a hold: not recorded
    new_kind := CASE WHEN NEW.held_back LIKE 'the fleet is paused%' THEN 'fleet_paused'
                     WHEN NEW.held_back LIKE 'time to inbox%' THEN 'inbox_slow' END;
    old_kind := CASE WHEN OLD.held_back LIKE 'the fleet is paused%' THEN 'fleet_paused'
                     WHEN OLD.held_back LIKE 'time to inbox%' THEN 'inbox_slow' END;
    -- a reason that comes and goes tick by tick is recorded at most 60 times an hour
    IF new_kind IS DISTINCT FROM old_kind
       AND (SELECT count(*) FROM (SELECT 1 FROM campaign_events
              WHERE campaign_id = NEW.id AND at > now() - interval '1 hour'
                AND kind IN ('held_back', 'released') LIMIT 60) recent) < 60 THEN
        INSERT INTO campaign_events (campaign_id, kind, detail)
        VALUES (NEW.id, CASE WHEN new_kind IS NULL THEN 'released' ELSE 'held_back' END,
                CASE WHEN new_kind IS NULL THEN old_kind ELSE left(NEW.held_back, 200) END);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER campaign_started AFTER INSERT ON campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign_event();
CREATE TRIGGER campaign_moved AFTER UPDATE OF state, held_back ON campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign_event();
