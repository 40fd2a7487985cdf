-- molecule-tenant: the whole current schema (version 5).
--
-- Applied in one transaction to an empty database. Later versions append a
-- numbered step to MIGRATIONS in src/db/migrate.rs and fold the same change in
-- here, so a fresh database and a migrated one end up identical.
-- Times are integer Unix milliseconds (UTC).

-- Single-row counters. `cred_seq` is bumped by every transaction that changes
-- a credential, from the server or from the CLI; a running server compares it
-- with what its in-memory credential map has seen to catch changes made by
-- another process.
CREATE TABLE meta (
    k TEXT PRIMARY KEY,
    v INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (k, v) VALUES ('cred_seq', 0);

-- Workspaces are never deleted, only marked: a key bound to a removed
-- workspace must stay bound to nothing rather than become unbound.
CREATE TABLE workspaces (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    role              TEXT,
    tier              INTEGER NOT NULL CHECK (tier BETWEEN 1 AND 4),
    runtime           TEXT NOT NULL,
    parent_id         TEXT REFERENCES workspaces (id),
    paused            INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    last_heartbeat_at INTEGER,
    active_tasks      INTEGER NOT NULL DEFAULT 0,
    current_task      TEXT,
    -- when the workspace last went from busy (or never seen) to zero tasks
    idle_since        INTEGER,
    deleted_at        INTEGER,
    -- Version 3: the canvas's layout and the settings upstream clients send,
    x                 REAL,
    y                 REAL,
    collapsed         INTEGER NOT NULL DEFAULT 0 CHECK (collapsed IN (0, 1)),
    budget_limit      REAL,
    max_concurrent_tasks INTEGER,
    external          INTEGER NOT NULL DEFAULT 0 CHECK (external IN (0, 1)),
    -- what the agent registered (POST /registry/register),
    url               TEXT,
    agent_card        TEXT,
    delivery_mode     TEXT,
    registered_at     INTEGER,
    -- and what its heartbeats report beyond liveness.
    error_rate        REAL,
    sample_error      TEXT,
    uptime_seconds    INTEGER,
    runtime_state     TEXT,
    monthly_spend     INTEGER
);
CREATE INDEX workspaces_parent ON workspaces (parent_id) WHERE deleted_at IS NULL;
CREATE INDEX workspaces_deleted ON workspaces (deleted_at) WHERE deleted_at IS NOT NULL;  -- v4
CREATE INDEX workspaces_live ON workspaces (deleted_at) WHERE deleted_at IS NULL;  -- v6

CREATE TABLE org_keys (
    id           TEXT PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    prefix       TEXT NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'workspace-write', 'read-only')),
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    -- set on the old key when it is rotated
    rotated_to   TEXT,
    seq          INTEGER NOT NULL,
    -- Version 5: a description, disabled (kept, refused), where it may be  -- v5
    -- used from (comma-separated ranges; NULL = anywhere), a rate, and     -- v5
    -- where it was last used from.                                          -- v5
    description  TEXT,  -- v5
    disabled_at  INTEGER,  -- v5
    allowed_cidrs TEXT,  -- v5
    rate_limit_requests INTEGER,  -- v5
    rate_limit_seconds INTEGER,  -- v5
    last_used_ip TEXT,  -- v5
    last_used_user_agent TEXT  -- v5
);
CREATE INDEX org_keys_seq ON org_keys (seq);
CREATE INDEX org_keys_live ON org_keys (created_at) WHERE revoked_at IS NULL;
CREATE INDEX org_keys_ended ON org_keys (coalesce(revoked_at, expires_at));  -- v4

-- An org key with no rows here covers every workspace.
CREATE TABLE org_key_workspaces (
    key_id       TEXT NOT NULL REFERENCES org_keys (id),
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    PRIMARY KEY (key_id, workspace_id)
) WITHOUT ROWID;

CREATE TABLE workspace_tokens (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    token_hash   BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    prefix       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    -- never later than the expiry of the key that minted it
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    seq          INTEGER NOT NULL,
    last_used_ip TEXT,  -- v5
    last_used_user_agent TEXT  -- v5
);
CREATE INDEX workspace_tokens_seq ON workspace_tokens (seq);
CREATE INDEX workspace_tokens_live ON workspace_tokens (workspace_id, created_at) WHERE revoked_at IS NULL;
CREATE INDEX workspace_tokens_ended ON workspace_tokens (coalesce(revoked_at, expires_at));  -- v4

-- Append-only; each row's hash covers its fields and the previous row's hash,
-- keyed with the audit key named by key_id (NULL: a plain hash, for entries
-- written before version 4). The key is never in the database.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT,
    detail    TEXT NOT NULL,
    client    TEXT,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL,
    key_id    TEXT  -- v4
);

-- Secret values, sealed (src/crypto.rs) with their scope and name as
-- associated data. scope is 'global' or a workspace id.
CREATE TABLE secrets (
    scope      TEXT NOT NULL,
    name       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
) WITHOUT ROWID;

-- A pending approval past expires_at reads as denied by "expired"; nothing
-- writes that on a read.
CREATE TABLE approvals (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    task_id      TEXT,
    action       TEXT NOT NULL,
    reason       TEXT,
    context      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    decided_at   INTEGER,
    decided_by   TEXT,
    note         TEXT
);
CREATE INDEX approvals_pending ON approvals (created_at) WHERE status = 'pending';
-- Retention (src/store/retention.rs) finds rows that ended long ago by the
-- `_ended` indexes.
CREATE INDEX approvals_ended ON approvals (coalesce(decided_at, expires_at));  -- v4
CREATE INDEX approvals_workspace ON approvals (workspace_id, created_at);
CREATE INDEX approvals_pending_by_workspace ON approvals (workspace_id, expires_at) WHERE status = 'pending';  -- v6

-- One channel per type per workspace. Credential-bearing fields are sealed
-- together as one JSON object; the rest is plain JSON.
CREATE TABLE channels (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    type          TEXT NOT NULL,
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    config        TEXT NOT NULL,
    allowed_users TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    nonce         BLOB NOT NULL,
    ciphertext    BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (workspace_id, type)
);

-- Registered org templates: the files of each, org.yaml the entry point.
CREATE TABLE org_templates (
    dir         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    files       TEXT NOT NULL,
    -- the listing (name, counts, env), computed once at registration
    summary     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Workspace templates (POST /templates/import), applied by POST /workspaces.
CREATE TABLE workspace_templates (
    name        TEXT PRIMARY KEY,
    description TEXT,
    runtime     TEXT,
    model       TEXT,
    tier        INTEGER,
    files       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE plugins (
    name        TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    description TEXT,
    runtimes    TEXT NOT NULL,
    files       TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Empty: every registered plugin may be installed. Otherwise only these.
CREATE TABLE plugin_allowlist (
    plugin_name TEXT PRIMARY KEY,
    enabled_by  TEXT NOT NULL,
    enabled_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE workspace_plugins (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    plugin_name  TEXT NOT NULL,
    source       TEXT NOT NULL,
    installed_by TEXT NOT NULL,
    installed_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, plugin_name)
) WITHOUT ROWID;

-- What a template, bundle or org import gave a workspace (prompts, files,
-- schedules, model); its agent reads it with its own token.
CREATE TABLE workspace_config (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id),
    source       TEXT NOT NULL,
    config       TEXT NOT NULL
) WITHOUT ROWID;

-- Browser sign-in (version 2). A one-time link from `login-url`: only the
-- hash of its code is kept; used_at makes it single-use.
CREATE TABLE login_links (
    code_hash  BLOB PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    -- The link's base URL was https, so the session cookie is Secure.
    secure     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_links_ended ON login_links (coalesce(used_at, expires_at));  -- v4

-- Browser sessions: the cookie holds a token whose blake3 hash is kept here.
-- Each row carries its own limits, fixed when it was created. seq works as
-- on org_keys (see meta.cred_seq).
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    created_via  TEXT NOT NULL,
    -- The org key that opened it (NULL for a login link): revoking the key
    -- ends the session, and rotating it ends the session with the old key.
    key_id       TEXT REFERENCES org_keys (id),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    idle_ms      INTEGER NOT NULL,
    last_seen_at INTEGER,
    revoked_at   INTEGER,
    user_agent   TEXT,
    client       TEXT,
    seq          INTEGER NOT NULL
);
CREATE INDEX sessions_seq ON sessions (seq);
CREATE INDEX sessions_key ON sessions (key_id) WHERE key_id IS NOT NULL;
CREATE INDEX sessions_ended ON sessions (coalesce(revoked_at, expires_at));  -- v4
CREATE INDEX sessions_open ON sessions (expires_at) WHERE revoked_at IS NULL;  -- v6

-- The org's key policy, expiry notices sent, recent requests per credential  -- v5
-- (version 5).  -- v5
CREATE TABLE org_policy (  -- v5
    id                  INTEGER PRIMARY KEY CHECK (id = 1),  -- v5
    max_key_lifetime_ms INTEGER,  -- v5
    require_expiry      INTEGER NOT NULL DEFAULT 0 CHECK (require_expiry IN (0, 1)),  -- v5
    expiry_channel_id   TEXT,  -- v5
    updated_at          INTEGER NOT NULL,  -- v5
    updated_by          TEXT NOT NULL  -- v5
);  -- v5

CREATE TABLE expiry_notices (  -- v5
    key_id      TEXT NOT NULL,  -- v5
    window_days INTEGER NOT NULL,  -- v5
    sent_at     INTEGER NOT NULL,  -- v5
    PRIMARY KEY (key_id, window_days)  -- v5
) WITHOUT ROWID;  -- v5

CREATE TABLE cred_activity (  -- v5
    cred_id     TEXT NOT NULL,  -- v5
    at          INTEGER NOT NULL,  -- v5
    method      TEXT NOT NULL,  -- v5
    route       TEXT NOT NULL,  -- v5
    status      INTEGER NOT NULL,  -- v5
    duration_us INTEGER NOT NULL,  -- v5
    client      TEXT  -- v5
);  -- v5
CREATE INDEX cred_activity_by_cred ON cred_activity (cred_id, at);  -- v5
CREATE INDEX cred_activity_at ON cred_activity (at);  -- v5
