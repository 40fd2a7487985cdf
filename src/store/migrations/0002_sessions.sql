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
