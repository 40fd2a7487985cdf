#!/usr/bin/env bash
# The user guide's curl example, pointed at this tenant.
#   MOLECULE_ORG_TOKEN  an org API key (mint one with `molecule-tenant mint-key --label me`)
#   MOLECULE_URL        the tenant's address (default http://127.0.0.1:8080)
set -euo pipefail
curl -fsS -H "Authorization: Bearer $MOLECULE_ORG_TOKEN" \
  "${MOLECULE_URL:-http://127.0.0.1:8080}/workspaces"
echo
