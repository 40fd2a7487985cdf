#!/usr/bin/env bash
# The agent's side: inside a workspace, call home with the workspace token
# that `POST /workspaces` returned (never the org key).
#   MOLECULE_WORKSPACE_ID     the workspace's id
#   MOLECULE_WORKSPACE_TOKEN  its mol_ws_ token
set -euo pipefail
base="${MOLECULE_URL:-http://127.0.0.1:8080}"
curl -fsS -X POST "$base/workspaces/$MOLECULE_WORKSPACE_ID/heartbeat" \
  -H "Authorization: Bearer $MOLECULE_WORKSPACE_TOKEN" \
  -H 'Content-Type: application/json' \
  -d "{\"active_tasks\": ${ACTIVE_TASKS:-0}, \"current_task\": \"${CURRENT_TASK:-}\"}"
echo
