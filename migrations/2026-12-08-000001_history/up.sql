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
    PRIMARY KEY (scope_id, at)
);
CREATE INDEX burn_down_at ON burn_down (at);

-- A campaign's history: started, paused, resumed, finished or cancelled, and each change of
-- why it holds back (detail), written by triggers on the campaign's row. Pruned with the audit
-- log's retention.
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
    IF NEW.held_back IS DISTINCT FROM OLD.held_back THEN
        INSERT INTO campaign_events (campaign_id, kind, detail)
        VALUES (NEW.id, CASE WHEN NEW.held_back IS NULL THEN 'released' ELSE 'held_back' END,
                left(NEW.held_back, 200));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER campaign_started AFTER INSERT ON campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign_event();
CREATE TRIGGER campaign_moved AFTER UPDATE OF state, held_back ON campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign_event();
