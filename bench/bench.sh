#!/usr/bin/env bash
# Our own benchmark: ratios measured within one run, on one machine.
#
#   bench/bench.sh [PATH_TO_molecule-tenant] [--seconds S] [--rounds N]
#
# Reports, each as a ratio of two figures measured back to back:
#   auth overhead    authenticated GET /org/whoami vs unauthenticated /health
#   key scaling      whoami with 100,000 live keys vs with 10
#   list scaling     GET /workspaces?limit=100 out of 10,000 vs a tenant of 100
#   durable mints    POST /org/tokens per second (each a FULL-synced commit)
# Needs wrk (apt-get install wrk) and python3. Bulk rows (keys, workspaces)
# are inserted straight into SQLite before the server starts, since minting
# 100,000 keys one by one would take the whole run.
set -euo pipefail
BIN=${1:-target/release/molecule-tenant}
[[ ${1:-} == --* ]] && BIN=target/release/molecule-tenant
SECS=3
ROUNDS=3
while [[ $# -gt 0 ]]; do case "$1" in --seconds) SECS=$2; shift 2 ;; --rounds) ROUNDS=$2; shift 2 ;; *) shift ;; esac; done
BIN=$(realpath "$BIN")
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || { echo "wrk is required" >&2; exit 2; }; }
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # dir -> sets URL
  local p; p=$(port)
  MOLECULE_LOG=warn "$BIN" serve --listen "127.0.0.1:$p" --data-dir "$1" >"$1.log" 2>&1 &
  PIDS+=($!); URL="http://127.0.0.1:$p"
  for _ in $(seq 1 100); do curl -fs "$URL/health" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "server did not start" >&2; exit 1
}
stop() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }
# Requests per second; a run with any non-2xx answer counts as a failure.
rps() {
  local out; out=$(wrk -t2 -c32 -d"${SECS}s" "$@" 2>/dev/null)
  if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx answers from $*" >&2; echo 0; return; fi
  awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out"
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
seed() { # db keys workspaces: bulk rows, as the server itself would store them
  python3 - "$@" <<'PY'
import os, sqlite3, sys, time, uuid
db, keys, spaces = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
now = int(time.time() * 1000)
seq = c.execute("SELECT v FROM meta WHERE k='cred_seq'").fetchone()[0] + 1
c.execute("UPDATE meta SET v=? WHERE k='cred_seq'", (seq,))
c.executemany("INSERT INTO org_keys (id, token_hash, prefix, name, role, created_by, created_at, seq) VALUES (?,?,?,?,?,?,?,?)",
              ((str(uuid.uuid4()), os.urandom(32), "mol_org_bench000", "bulk", "read-only", "bench", now, seq) for _ in range(keys)))
c.executemany("INSERT INTO workspaces (id, name, tier, runtime, created_at, updated_at) VALUES (?,?,?,?,?,?)",
              ((str(uuid.uuid4()), f"w{i}", 2, "langgraph", now, now) for i in range(spaces)))
c.commit()
PY
}
tenant() { # dir keys workspaces -> prints an admin token
  "$BIN" mint-key --label bench --data-dir "$1" 2>/dev/null
  seed "$1/molecule.db" "$2" "$3"
}

printf '%-28s %12s %12s %8s\n' figure measured baseline ratio
# Both tenants run side by side, so each ratio's two figures are measured
# back to back, ROUNDS times, interleaved; the best of each is kept (this
# machine is shared: a slow sample says more about the neighbours).
# Small tenant: 10 keys, 100 workspaces. Large: 100,000 keys, 10,000.
SMALL=$WORK/small; TOK_S=$(tenant "$SMALL" 9 100); start "$SMALL"; URL_S=$URL
LARGE=$WORK/large; TOK_L=$(tenant "$LARGE" 99999 10000); start "$LARGE"; URL_L=$URL
best() { local a=${1:-0} b=${2:-0}; echo $(( a > b ? a : b )); }
health=0 whoami_small=0 whoami_large=0 list_small=0 list_large=0
for _ in $(seq 1 "$ROUNDS"); do
  health=$(best "$health" "$(rps "$URL_S/health")")
  whoami_small=$(best "$whoami_small" "$(rps "$URL_S/org/whoami" -H "Authorization: Bearer $TOK_S")")
  whoami_large=$(best "$whoami_large" "$(rps "$URL_L/org/whoami" -H "Authorization: Bearer $TOK_L")")
  list_small=$(best "$list_small" "$(rps "$URL_S/workspaces" -H "Authorization: Bearer $TOK_S")")
  list_large=$(best "$list_large" "$(rps "$URL_L/workspaces?limit=100" -H "Authorization: Bearer $TOK_L")")
done
# Set method, body and one header; -H Authorization is kept by wrk.
cat >"$WORK/mint.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"bench-mint"}'
wrk.headers["Content-Type"] = "application/json"
LUA
mints=$(rps "$URL_S/org/tokens" -s "$WORK/mint.lua" -H "Authorization: Bearer $TOK_S")
stop; stop

printf '%-28s %12s %12s %8s\n' "auth overhead (whoami/health)" "$whoami_small" "$health" "$(ratio "$whoami_small" "$health")"
printf '%-28s %12s %12s %8s\n' "keys: 100k vs 10 (whoami)" "$whoami_large" "$whoami_small" "$(ratio "$whoami_large" "$whoami_small")"
printf '%-28s %12s %12s %8s\n' "list: 100 of 10k vs of 100" "$list_large" "$list_small" "$(ratio "$list_large" "$list_small")"
printf '%-28s %12s %12s %8s\n' "durable mints per second" "$mints" "-" "-"
