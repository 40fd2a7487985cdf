#!/usr/bin/env bash
# Register the fixture org template (twelve workspaces, with includes),
# dry-run it, import it, then wipe and recreate with mode=replace.
#   MOLECULE_ORG_TOKEN  an admin org key;  MOLECULE_URL  default http://127.0.0.1:8080
# The template needs global secrets OPENAI_API_KEY and ANTHROPIC_API_KEY (or
# pass "force": true) and the plugins git-tools, web-search, rust-analyzer and
# terraform (this script registers them).
set -euo pipefail
base="${MOLECULE_URL:-http://127.0.0.1:8080}"
H=(-H "Authorization: Bearer $MOLECULE_ORG_TOKEN" -H 'Content-Type: application/json')
dir="$(cd "$(dirname "$0")/../fixtures/org-templates/acme-engineering" && pwd)"
files=$(cd "$dir" && python3 -c 'import json,pathlib; print(json.dumps({str(p): p.read_text() for p in pathlib.Path(".").rglob("*") if p.is_file()}))')
for p in git-tools web-search rust-analyzer terraform; do
  curl -s "${H[@]}" -d "{\"name\": \"$p\", \"version\": \"1.0.0\", \"files\": {\"plugin.yaml\": \"name: $p\\n\"}}" "$base/plugins" >/dev/null
done
curl -fsS "${H[@]}" -d "{\"name\": \"Acme Engineering\", \"files\": $files}" "$base/org/templates?replace=true"; echo
curl -fsS "${H[@]}" -d '{"dir": "acme-engineering", "dry_run": true, "force": true}' "$base/org/import"; echo
curl -fsS "${H[@]}" -d '{"dir": "acme-engineering", "force": true}' "$base/org/import" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["count"], "workspaces imported")'
curl -fsS "${H[@]}" -d '{"dir": "acme-engineering", "mode": "replace", "force": true}' "$base/org/import" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["count"], "workspaces after replace; removed", len(r["removed"]), "old roots")'
