-- Version 6: what a request reads is found by live rows only, so its cost
-- does not grow with what was deleted, decided or ended before.
-- The live workspaces in list order (every key is NULL: the entries are in
-- rowid order), not a walk past every deleted one.
CREATE INDEX workspaces_live ON workspaces (deleted_at) WHERE deleted_at IS NULL;
-- A workspace's pending approvals (the count checked at each request).
CREATE INDEX approvals_pending_by_workspace ON approvals (workspace_id, expires_at) WHERE status = 'pending';
-- Open sessions (the list, and ending them all).
CREATE INDEX sessions_open ON sessions (expires_at) WHERE revoked_at IS NULL;
