-- Millions of accounts: every list, count, sweep and prune an operator or the fleet runs is
-- index-backed and bounded, so its cost stays flat from thousands of accounts to millions.

-- Accounts by status, kept by a trigger in the transaction that moves an account (16 rows a
-- status, picked by the account's id, so concurrent moves rarely wait on one row): the gauge,
-- counts and list totals sum a few rows instead of counting millions.
CREATE TABLE account_counts (
    status text     NOT NULL,
    shard  smallint NOT NULL,
    n      bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (status, shard)
);
CREATE FUNCTION account_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO account_counts (status, shard, n)
        VALUES (OLD.migration_status, abs(hashtext(OLD.id::text)) % 16, -1)
        ON CONFLICT (status, shard) DO UPDATE SET n = account_counts.n - 1;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO account_counts (status, shard, n)
        VALUES (NEW.migration_status, abs(hashtext(NEW.id::text)) % 16, 1)
        ON CONFLICT (status, shard) DO UPDATE SET n = account_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER account_counts_insert_delete AFTER INSERT OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION account_counts_keep();
CREATE TRIGGER account_counts_update AFTER UPDATE OF migration_status ON accounts
    FOR EACH ROW WHEN (OLD.migration_status IS DISTINCT FROM NEW.migration_status)
    EXECUTE FUNCTION account_counts_keep();
INSERT INTO account_counts (status, shard, n)
    SELECT migration_status, abs(hashtext(id::text)) % 16, count(*) FROM accounts
    GROUP BY 1, 2;

-- Parked runs and dead letters waiting for an operator, kept the same way (one row each: both
-- move rarely): the counts and the gauges read them.
CREATE TABLE fleet_counts (
    what text PRIMARY KEY CHECK (what IN ('parked', 'dead_letters')),
    n    bigint NOT NULL DEFAULT 0
);
CREATE FUNCTION fleet_counts_add(what text, delta bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO fleet_counts (what, n) VALUES (what, delta)
    ON CONFLICT (what) DO UPDATE SET n = fleet_counts.n + EXCLUDED.n
$$;
CREATE FUNCTION parked_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fleet_counts_add('parked',
        (CASE WHEN TG_OP <> 'DELETE' AND NEW.parked_at IS NOT NULL THEN 1 ELSE 0 END)
        - (CASE WHEN TG_OP <> 'INSERT' AND OLD.parked_at IS NOT NULL THEN 1 ELSE 0 END));
    RETURN NULL;
END $$;
CREATE TRIGGER parked_insert AFTER INSERT ON migration_runs
    FOR EACH ROW WHEN (NEW.parked_at IS NOT NULL) EXECUTE FUNCTION parked_keep();
CREATE TRIGGER parked_update AFTER UPDATE OF parked_at ON migration_runs
    FOR EACH ROW WHEN ((OLD.parked_at IS NULL) <> (NEW.parked_at IS NULL))
    EXECUTE FUNCTION parked_keep();
-- deletes are pruned in batches: counted once a statement
CREATE FUNCTION parked_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fleet_counts_add('parked',
        -(SELECT count(*) FROM old_rows WHERE parked_at IS NOT NULL));
    RETURN NULL;
END $$;
CREATE TRIGGER parked_delete AFTER DELETE ON migration_runs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION parked_deleted();
CREATE FUNCTION dead_letters_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fleet_counts_add('dead_letters',
        (CASE WHEN TG_OP <> 'DELETE' AND NEW.replayed_at IS NULL THEN 1 ELSE 0 END)
        - (CASE WHEN TG_OP <> 'INSERT' AND OLD.replayed_at IS NULL THEN 1 ELSE 0 END));
    RETURN NULL;
END $$;
CREATE TRIGGER dead_letters_insert AFTER INSERT ON dead_letters
    FOR EACH ROW WHEN (NEW.replayed_at IS NULL) EXECUTE FUNCTION dead_letters_keep();
CREATE TRIGGER dead_letters_update AFTER UPDATE OF replayed_at ON dead_letters
    FOR EACH ROW WHEN ((OLD.replayed_at IS NULL) <> (NEW.replayed_at IS NULL))
    EXECUTE FUNCTION dead_letters_keep();
CREATE FUNCTION dead_letters_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fleet_counts_add('dead_letters',
        -(SELECT count(*) FROM old_rows WHERE replayed_at IS NULL));
    RETURN NULL;
END $$;
CREATE TRIGGER dead_letters_delete AFTER DELETE ON dead_letters
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dead_letters_deleted();
INSERT INTO fleet_counts (what, n) VALUES
    ('parked', (SELECT count(*) FROM migration_runs WHERE parked_at IS NOT NULL)),
    ('dead_letters', (SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL));

-- Conversations per account, kept by statement triggers (one row update per statement, not
-- per row): an inbox page's total_count without counting a C1's 200k conversations.
CREATE TABLE conversation_counts (
    account_id uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    n          bigint NOT NULL DEFAULT 0
);
CREATE FUNCTION conversation_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_counts (account_id, n)
        SELECT account_id, count(*) FROM new_rows GROUP BY account_id
    ON CONFLICT (account_id) DO UPDATE SET n = conversation_counts.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE FUNCTION conversation_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversation_counts c SET n = c.n - d.n
        FROM (SELECT account_id, count(*) AS n FROM old_rows GROUP BY account_id) d
        WHERE c.account_id = d.account_id;
    RETURN NULL;
END $$;
CREATE TRIGGER conversation_counts_insert AFTER INSERT ON conversations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION conversation_counts_insert();
CREATE TRIGGER conversation_counts_delete AFTER DELETE ON conversations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION conversation_counts_delete();
INSERT INTO conversation_counts (account_id, n)
    SELECT account_id, count(*) FROM conversations GROUP BY account_id;

-- A run is active while its account's status is in progress (set by the state machine's
-- writer): what the sweeper and the stuck list look for, in small partial indexes.
ALTER TABLE migration_runs ADD COLUMN active boolean NOT NULL DEFAULT false;
UPDATE migration_runs r SET active = true FROM accounts a
    WHERE a.current_run_id = r.id
      AND a.migration_status IN ('migrating', 'channels-migrated', 'recent-messages-migrated');
CREATE INDEX migration_runs_idle ON migration_runs (updated_at, id)
    WHERE active AND lease_owner IS NULL;
CREATE INDEX migration_runs_leased ON migration_runs (lease_expires_at)
    WHERE active AND lease_owner IS NOT NULL;
CREATE INDEX migration_runs_stuck ON migration_runs (updated_at, id) WHERE active;
-- leases of a worker, for the sweeper's look at workers gone (lease_owner is worker/hop/n)
CREATE INDEX migration_runs_lease_worker ON migration_runs (split_part(lease_owner, '/', 1))
    WHERE active AND lease_owner IS NOT NULL;
-- runs held after a failure, not parked: the sweeper's repairs look at the due ones only
CREATE INDEX migration_runs_held ON migration_runs (phase, updated_at)
    WHERE NOT active AND finished_at IS NULL AND parked_at IS NULL;

-- a run superseded by a newer run of its account (set when the writer closes it): kept for
-- runs_retention_days, then pruned; never in an operator's list
ALTER TABLE migration_runs ADD COLUMN superseded boolean NOT NULL DEFAULT false;
UPDATE migration_runs r SET superseded = true
    WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.current_run_id = r.id);

-- operators' lists: a keyset order behind each filter
CREATE INDEX accounts_status_changed ON accounts (migration_status, updated_at, id);
CREATE INDEX accounts_changed ON accounts (updated_at, id);
DROP INDEX accounts_migration_status;
CREATE INDEX accounts_current_run ON accounts (current_run_id);
CREATE INDEX migration_runs_verification ON migration_runs (verification, updated_at, id)
    WHERE verification IS NOT NULL AND NOT superseded;
DROP INDEX migration_runs_parked;
CREATE INDEX migration_runs_parked ON migration_runs (parked_at DESC, id) WHERE parked_at IS NOT NULL;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX migration_runs_error ON migration_runs USING gin (last_error gin_trgm_ops)
    WHERE last_error IS NOT NULL;
-- runs with an error in the list's order: a common error's page is read along it, a rare
-- one's through the trigram index (the planner picks by the text's selectivity)
CREATE INDEX migration_runs_errored ON migration_runs (updated_at, id) WHERE last_error IS NOT NULL;

-- an account's attachments by status (the operators' list), walked by id
CREATE INDEX attachments_by_status ON attachments (account_id, status, id);

-- pruning by key, oldest first, along indexes holding only what may go: runs superseded by a
-- newer run of their account (set when the writer closes them), verifications superseded by
-- a newer one of their account (set when it is asked for), rejects
CREATE INDEX migration_runs_superseded ON migration_runs (finished_at) WHERE superseded;
ALTER TABLE verifications ADD COLUMN superseded boolean NOT NULL DEFAULT false;
UPDATE verifications v SET superseded = true
    WHERE EXISTS (SELECT 1 FROM verifications n
                  WHERE n.account_id = v.account_id AND n.requested_at > v.requested_at);
CREATE INDEX verifications_superseded ON verifications (finished_at)
    WHERE superseded AND status IN ('done', 'failed');
CREATE INDEX rejects_created ON rejects (created_at);

-- the foreign keys a delete checks: without these a run's or a contact's delete reads whole
-- tables
CREATE INDEX attachments_run ON attachments (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX rejects_run ON rejects (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX dead_letters_run ON dead_letters (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX verifications_run ON verifications (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX conversations_contact ON conversations (contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX channels_brand ON channels (brand_id);
CREATE INDEX channel_sources_channel ON channel_sources (channel_id);
