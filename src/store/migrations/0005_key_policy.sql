-- Version 5: what a key carries beyond its role (a description, where it
-- may be used from, a rate), whether it is disabled, where it was last used
-- from; the org's key policy; expiry notices sent; recent requests per key.
ALTER TABLE org_keys ADD COLUMN description TEXT;
ALTER TABLE org_keys ADD COLUMN disabled_at INTEGER;
ALTER TABLE org_keys ADD COLUMN allowed_cidrs TEXT;
ALTER TABLE org_keys ADD COLUMN rate_limit_requests INTEGER;
ALTER TABLE org_keys ADD COLUMN rate_limit_seconds INTEGER;
ALTER TABLE org_keys ADD COLUMN last_used_ip TEXT;
ALTER TABLE org_keys ADD COLUMN last_used_user_agent TEXT;
ALTER TABLE workspace_tokens ADD COLUMN last_used_ip TEXT;
ALTER TABLE workspace_tokens ADD COLUMN last_used_user_agent TEXT;

CREATE TABLE org_policy (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    max_key_lifetime_ms INTEGER,
    require_expiry      INTEGER NOT NULL DEFAULT 0 CHECK (require_expiry IN (0, 1)),
    expiry_channel_id   TEXT,
    updated_at          INTEGER NOT NULL,
    updated_by          TEXT NOT NULL
);

CREATE TABLE expiry_notices (
    key_id      TEXT NOT NULL,
    window_days INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (key_id, window_days)
) WITHOUT ROWID;

CREATE TABLE cred_activity (
    cred_id     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    status      INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    client      TEXT
);
CREATE INDEX cred_activity_by_cred ON cred_activity (cred_id, at);
CREATE INDEX cred_activity_at ON cred_activity (at);
