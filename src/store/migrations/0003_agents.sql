-- Version 3: what agents (register, heartbeat) and the canvas keep on a
-- workspace. Added at the end of the table, as schema.sql has them.
ALTER TABLE workspaces ADD COLUMN x REAL;
ALTER TABLE workspaces ADD COLUMN y REAL;
ALTER TABLE workspaces ADD COLUMN collapsed INTEGER NOT NULL DEFAULT 0 CHECK (collapsed IN (0, 1));
ALTER TABLE workspaces ADD COLUMN budget_limit REAL;
ALTER TABLE workspaces ADD COLUMN max_concurrent_tasks INTEGER;
ALTER TABLE workspaces ADD COLUMN external INTEGER NOT NULL DEFAULT 0 CHECK (external IN (0, 1));
ALTER TABLE workspaces ADD COLUMN url TEXT;
ALTER TABLE workspaces ADD COLUMN agent_card TEXT;
ALTER TABLE workspaces ADD COLUMN delivery_mode TEXT;
ALTER TABLE workspaces ADD COLUMN registered_at INTEGER;
ALTER TABLE workspaces ADD COLUMN error_rate REAL;
ALTER TABLE workspaces ADD COLUMN sample_error TEXT;
ALTER TABLE workspaces ADD COLUMN uptime_seconds INTEGER;
ALTER TABLE workspaces ADD COLUMN runtime_state TEXT;
ALTER TABLE workspaces ADD COLUMN monthly_spend INTEGER;
