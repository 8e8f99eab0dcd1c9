-- re:amaze side of the Conversations migration.
-- Every row created by the migration carries its Conversations id (source_id) under a UNIQUE
-- constraint, so re-running any hop leaves the same rows. Native rows (created in re:amaze,
-- e.g. by the web chat initiative) have native = true and survive a forced re-migration.

CREATE TABLE accounts (
    id               uuid PRIMARY KEY,
    shopper_id       text NOT NULL UNIQUE,
    name             text NOT NULL,
    status           text NOT NULL DEFAULT 'active',
    migration_status text NOT NULL DEFAULT 'not-started',
    current_run_id   uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_migration_status ON accounts (migration_status);

CREATE TABLE brands (
    id         uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    source_id  text,
    name       text NOT NULL,
    website    text,
    native     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, source_id)
);

CREATE TABLE channels (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    brand_id        uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    kind            text NOT NULL,
    name            text NOT NULL,
    address         text,
    settings        json NOT NULL DEFAULT '{}',
    -- AES-256-GCM: nonce || ciphertext; never returned by the API
    credentials_enc bytea,
    native          boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX channels_account ON channels (account_id);

-- Conversations channel ids -> re:amaze channels. Several source web chat channels may map to
-- the one native web chat channel; that is how web chat is matched, never duplicated.
CREATE TABLE channel_sources (
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    source_id  text NOT NULL,
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    PRIMARY KEY (account_id, source_id)
);

CREATE TABLE contacts (
    id         uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- migrated contacts: "name\x1fphone\x1femail" of the source thread's contact
    source_id  text,
    name       text,
    phone      text,
    email      text,
    native     boolean NOT NULL DEFAULT false,
    UNIQUE (account_id, source_id)
);

CREATE TABLE conversations (
    id                uuid PRIMARY KEY,
    account_id        uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    channel_id        uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    contact_id        uuid REFERENCES contacts (id) ON DELETE SET NULL,
    source_id         text,
    subject           text,
    status            text NOT NULL,
    starred           boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL,
    last_message_at   timestamptz NOT NULL,
    message_count     integer NOT NULL DEFAULT 0,
    -- all of the source thread's messages have been read and written
    messages_complete boolean NOT NULL DEFAULT false,
    native            boolean NOT NULL DEFAULT false,
    UNIQUE (account_id, source_id)
);
CREATE INDEX conversations_inbox ON conversations (account_id, last_message_at DESC, id);

CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    source_id       text,
    -- the source sort key: orders messages sent in the same millisecond
    source_sort     text,
    direction       text NOT NULL,
    author_name     text,
    -- UTF-8 bytes: the contract allows any Unicode, including U+0000, which text refuses
    body            bytea,
    sent_at         timestamptz NOT NULL,
    starred         boolean NOT NULL DEFAULT false,
    -- telephony data and unlisted source attributes (json keeps U+0000, jsonb does not)
    metadata        json,
    native          boolean NOT NULL DEFAULT false,
    UNIQUE (account_id, source_id)
);
CREATE INDEX messages_thread ON messages (conversation_id, sent_at, source_sort, id);

CREATE TABLE attachments (
    id             uuid PRIMARY KEY,
    account_id     uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    message_id     uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position       integer NOT NULL,
    media_url      text,
    file_name      text,
    content_type   text,
    size_bytes     bigint,
    -- pending | stored | failed
    status         text NOT NULL DEFAULT 'pending',
    attempts       integer NOT NULL DEFAULT 0,
    failure_reason text,
    blob_key       text,
    UNIQUE (message_id, position)
);
CREATE INDEX attachments_pending ON attachments (account_id) WHERE status = 'pending';

CREATE TABLE migration_runs (
    id                 uuid PRIMARY KEY,
    account_id         uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- channels | recent-messages | all-messages | done
    phase              text NOT NULL,
    cancelled          boolean NOT NULL DEFAULT false,
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    hop_attempts       integer NOT NULL DEFAULT 0,
    last_error         text,
    lease_owner        text,
    lease_expires_at   timestamptz,
    checkpoint         json,
    threads_total      integer NOT NULL DEFAULT 0,
    threads_migrated   integer NOT NULL DEFAULT 0,
    messages_migrated  bigint NOT NULL DEFAULT 0,
    attachments_stored integer NOT NULL DEFAULT 0,
    attachments_failed integer NOT NULL DEFAULT 0,
    rejects            integer NOT NULL DEFAULT 0,
    channels_migrated  integer NOT NULL DEFAULT 0,
    channels_at        timestamptz,
    recent_at          timestamptz,
    completed_at       timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX migration_runs_account ON migration_runs (account_id);
ALTER TABLE accounts ADD FOREIGN KEY (current_run_id) REFERENCES migration_runs (id) ON DELETE SET NULL;

-- Source items that broke the contract: kept raw with the reason; counted in the figures.
CREATE TABLE rejects (
    id           bigserial PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    run_id       uuid REFERENCES migration_runs (id) ON DELETE SET NULL,
    source_table text NOT NULL,
    source_key   text NOT NULL,
    reason       text NOT NULL,
    raw          json NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, source_table, source_key)
);

-- Transactional outbox: a hop is recorded with the state change that causes it and relayed to
-- RabbitMQ after commit, so no accepted request or next hop is lost when the broker is down.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    payload      json NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Fleet-wide singletons (the sweeper): one holder at a time, with expiry.
CREATE TABLE fleet_locks (
    name       text PRIMARY KEY,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL
);
