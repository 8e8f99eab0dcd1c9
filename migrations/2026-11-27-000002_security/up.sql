-- Security: credentials sealed with a key id (rotation) and the account as associated data; a
-- short failure code shown to the app apart from the full reason; operators' writes audited.

-- the key that sealed credentials_enc (crypto.credentials_keys); rows sealed before keys had
-- ids have none and cannot be opened: they are re-sealed when the channels phase runs again
ALTER TABLE channels ADD COLUMN credentials_key_id text;

-- short code the app sees (not_found, too_large, forbidden_origin, …); failure_reason keeps
-- the full error for operators
ALTER TABLE attachments ADD COLUMN failure text;

-- every operator write: who (token sub), what, when, on what; pruned after
-- api.audit_retention_days
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    actor      text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    detail     json NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created ON audit_log (created_at);
