#!/usr/bin/env bash
# A release build: one static binary (musl), its size and start-up time,
# and a smoke test against it.
#
#   deploy/release.sh [OUT_DIR]      (default: target/release-static)
#
# Needs the musl target (`rustup target add x86_64-unknown-linux-musl`) and
# Debian's musl-tools (musl-gcc, for SQLite's and ring's C); it installs
# both when it can. The binary needs nothing from the box: no libc, no
# OpenSSL, no SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-musl
OUT=${1:-target/release-static}

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
command -v musl-gcc >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools
}
cargo build --release --locked --target "$TARGET"
mkdir -p "$OUT"
BIN="$OUT/molecule-tenant"
cp "target/$TARGET/release/molecule-tenant" "$BIN"
# Symbols stay in target/ (for profiling); the shipped copy goes without.
strip "$BIN"
# The container image's empty data dir (deploy/Containerfile).
mkdir -p "$OUT/data"

# Static, or it is not the release.
linked=$(ldd "$BIN" 2>&1 || true)
if [[ $linked != *"statically linked"* && $linked != *"not a dynamic executable"* ]]; then
    echo "error: $BIN is dynamically linked:" >&2
    echo "$linked" >&2
    exit 1
fi
echo "binary: $BIN ($("$BIN" --version)), static, $(du -h "$BIN" | cut -f1) ($(stat -c %s "$BIN") bytes)"

WORK=$(mktemp -d)
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
KEY=$("$BIN" mint-key --label release-smoke --data-dir "$WORK/d" 2>/dev/null)

# Start-up: from exec to the first healthy answer (a fresh data dir holds
# one key; the binary's own healthcheck, so no curl in the loop).
start=$(date +%s%N)
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/d" --log warn >"$WORK/serve.log" 2>&1 &
PID=$!
until "$BIN" healthcheck --url "$URL/health" --timeout 1s >/dev/null 2>&1; do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
    sleep 0.005
done
echo "start-up to healthy: $(( ($(date +%s%N) - start) / 1000000 )) ms"

# Smoke: the guide's first steps, and a revocation that holds.
fail() { echo "smoke test failed: $*" >&2; cat "$WORK/serve.log" >&2; exit 1; }
code() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }
[[ $(code -H "Authorization: Bearer $KEY" "$URL/org/whoami") == 200 ]] || fail "whoami"
[[ $(code -X POST -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"name":"smoke"}' "$URL/workspaces") == 201 ]] || fail "create a workspace"
read -r WS WS_TOKEN < <(python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(b["id"], b["auth_token"])' "$WORK/body")
[[ $(code -X POST -H "Authorization: Bearer $WS_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"workspace_id\":\"$WS\",\"active_tasks\":0}" "$URL/registry/heartbeat") == 200 ]] || fail "an agent's heartbeat"
"$BIN" revoke-key "${KEY:0:16}" --data-dir "$WORK/d" >/dev/null 2>&1 || fail "revoke-key on the box"
[[ $(code -H "Authorization: Bearer $KEY" "$URL/org/whoami") == 401 ]] || fail "the revoked key still works"
"$BIN" healthcheck --url "$URL/health" >/dev/null || fail "healthcheck"
echo "smoke test: passed"
