-- The program: campaigns that migrate the C1s who never open the app before Conversations is
-- switched off, and the completions that say whether the fleet will finish in time.

-- A campaign: its selection (fixed once selected), its pace, and the driver's cursor.
CREATE TABLE campaigns (
    id              uuid PRIMARY KEY,
    state           text NOT NULL CHECK (state IN ('running', 'paused', 'done', 'cancelled')),
    statuses        text[] NOT NULL,
    created_before  timestamptz,
    shopper_ids     text[],
    rate_per_sec    double precision NOT NULL CHECK (rate_per_sec > 0),
    max_in_flight   integer NOT NULL CHECK (max_in_flight > 0),
    deadline        timestamptz NOT NULL,
    -- the selection is taken in batches along accounts' primary key; until it is whole,
    -- `selecting` holds and `select_after` is the last account id looked at
    selecting       boolean NOT NULL DEFAULT true,
    select_after    uuid,
    selected        bigint NOT NULL DEFAULT 0,
    -- the driver's walk over the selection, in account id order: the last account it started
    -- (or found started), written in the transaction that starts it
    cursor          uuid,
    walked          boolean NOT NULL DEFAULT false,
    enqueued        bigint NOT NULL DEFAULT 0,
    -- why the driver last started fewer than its rate allowed (null: it did not hold back)
    held_back       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
-- at most one campaign running or paused at a time
CREATE UNIQUE INDEX campaigns_live ON campaigns ((true)) WHERE state IN ('running', 'paused');
CREATE INDEX campaigns_created ON campaigns (created_at DESC, id);

-- The accounts a campaign selected, with their status followed while it is live (by the
-- trigger below), how often the campaign started each, and whether it gave one up.
CREATE TABLE campaign_accounts (
    campaign_id  uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status       text NOT NULL,
    drives       smallint NOT NULL DEFAULT 0,
    last_drive_at timestamptz,
    given_up     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (campaign_id, account_id)
);
CREATE INDEX campaign_accounts_account ON campaign_accounts (account_id);
-- members the app path gave up on and the campaign drives again
CREATE INDEX campaign_accounts_failed ON campaign_accounts (campaign_id, last_drive_at)
    WHERE status IN ('channel-failure', 'recent-messages-failure') AND NOT given_up;

-- A campaign's members by what they count as (`completed`, `parked` for one it gave up, else
-- the status), 16 rows a key like account_counts: the campaign's figures without counting.
CREATE TABLE campaign_counts (
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    key         text NOT NULL,
    shard       smallint NOT NULL,
    n           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, key, shard)
);
CREATE FUNCTION campaign_key(status text, given_up boolean) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN status = 'completed' THEN 'completed' WHEN given_up THEN 'parked'
                ELSE status END
$$;
CREATE FUNCTION campaign_counts_add(campaign uuid, key text, account uuid, delta bigint)
    RETURNS void LANGUAGE sql AS $$
    INSERT INTO campaign_counts (campaign_id, key, shard, n)
    VALUES (campaign, key, abs(hashtext(account::text)) % 16, delta)
    ON CONFLICT (campaign_id, key, shard) DO UPDATE SET n = campaign_counts.n + EXCLUDED.n
$$;

-- Selecting takes this lock alone (a batch at a time); every status move takes it shared, so
-- a move either commits before a batch reads its accounts or is followed by the trigger
-- after the batch commits: no member's status is ever missed.
CREATE FUNCTION campaign_selection_lock() RETURNS bigint LANGUAGE sql IMMUTABLE AS
    $$ SELECT 7291640155012374021::bigint $$;

CREATE FUNCTION campaign_accounts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE m record;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(campaign_selection_lock());
    FOR m IN
        UPDATE campaign_accounts ca SET status = NEW.migration_status
        FROM campaigns c
        WHERE ca.account_id = NEW.id AND c.id = ca.campaign_id
          AND c.state IN ('running', 'paused')
        RETURNING ca.campaign_id, ca.given_up
    LOOP
        PERFORM campaign_counts_add(m.campaign_id, campaign_key(OLD.migration_status, m.given_up),
                                    NEW.id, -1);
        PERFORM campaign_counts_add(m.campaign_id, campaign_key(NEW.migration_status, m.given_up),
                                    NEW.id, 1);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER campaign_accounts_follow AFTER UPDATE OF migration_status ON accounts
    FOR EACH ROW WHEN (OLD.migration_status IS DISTINCT FROM NEW.migration_status)
    EXECUTE FUNCTION campaign_accounts_follow();

-- A run's lane: `app` hops go to the phase queues, `campaign` hops to the campaign queue
-- (fewer slots, lowest priority). `opened_at` is when the app asked for the run (its start
-- or, for a campaign's run, the C1 opening the app meanwhile): time to inbox is
-- `channels_at - opened_at`, which the driver watches to give way.
ALTER TABLE migration_runs
    ADD COLUMN lane text NOT NULL DEFAULT 'app' CHECK (lane IN ('app', 'campaign')),
    ADD COLUMN campaign_id uuid,
    ADD COLUMN opened_at timestamptz;
CREATE INDEX migration_runs_inbox ON migration_runs (channels_at) WHERE opened_at IS NOT NULL;
-- C1s who opened the app and still wait for their inbox
CREATE INDEX migration_runs_opening ON migration_runs (opened_at)
    WHERE opened_at IS NOT NULL AND channels_at IS NULL AND active;

-- Completions a minute by lane (8 rows a minute and lane, picked by the account): the
-- program's rates without counting; pruned after two days.
CREATE TABLE completions (
    minute timestamptz NOT NULL,
    lane   text NOT NULL,
    shard  smallint NOT NULL,
    n      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, lane, shard)
);
CREATE FUNCTION completions_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO completions (minute, lane, shard, n)
    VALUES (date_trunc('minute', now()),
            coalesce((SELECT lane FROM migration_runs WHERE id = NEW.current_run_id), 'app'),
            abs(hashtext(NEW.id::text)) % 8, 1)
    ON CONFLICT (minute, lane, shard) DO UPDATE SET n = completions.n + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER completions_count AFTER UPDATE OF migration_status ON accounts
    FOR EACH ROW WHEN (NEW.migration_status = 'completed'
                       AND OLD.migration_status IS DISTINCT FROM 'completed')
    EXECUTE FUNCTION completions_count();
