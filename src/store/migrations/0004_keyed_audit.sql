-- Version 4: the audit chain is keyed (the key lives outside the database);
-- entries written before keep their plain hashes (key_id NULL).
ALTER TABLE audit_log ADD COLUMN key_id TEXT;

-- Retention: rows that ended long ago are found without a scan.
CREATE INDEX approvals_ended ON approvals (coalesce(decided_at, expires_at));
CREATE INDEX org_keys_ended ON org_keys (coalesce(revoked_at, expires_at));
CREATE INDEX workspace_tokens_ended ON workspace_tokens (coalesce(revoked_at, expires_at));
CREATE INDEX sessions_ended ON sessions (coalesce(revoked_at, expires_at));
CREATE INDEX login_links_ended ON login_links (coalesce(used_at, expires_at));
CREATE INDEX workspaces_deleted ON workspaces (deleted_at) WHERE deleted_at IS NOT NULL;
