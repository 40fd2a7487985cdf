#!/usr/bin/env bash
# Two binaries side by side: requests per second on the hot paths, rounds
# alternating A and B so the machine's noise falls on both alike.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY [--seconds S] [--rounds N]
#
# Paths: GET /health (no credential) and GET /org/whoami (an org key): the
# per-request cost of middleware (request metrics, headers) with and without
# authentication. Prints each round and the median ratio B/A. Needs wrk.
set -euo pipefail
A=$(realpath "$1"); B=$(realpath "$2"); shift 2
SECS=3; ROUNDS=5
while [[ $# -gt 0 ]]; do case "$1" in --seconds) SECS=$2; shift 2 ;; --rounds) ROUNDS=$2; shift 2 ;; *) shift ;; esac; done
command -v wrk >/dev/null || { echo "wrk is required" >&2; exit 2; }
WORK=$(mktemp -d); PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run() { # binary dir path [auth] -> rps
  local p key; p=$(port)
  MOLECULE_LOG=warn "$1" serve --listen "127.0.0.1:$p" --data-dir "$2" >/dev/null 2>&1 & PID=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$p/health" >/dev/null 2>&1 && break; sleep 0.1; done
  local h=(); [[ -n ${4:-} ]] && h=(-H "Authorization: Bearer $4")
  wrk -t2 -c32 -d"${SECS}s" "${h[@]}" "http://127.0.0.1:$p$3" 2>/dev/null | awk '/Requests\/sec/ {printf "%d", $2}'
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
}
for bin in A B; do
  mkdir -p "$WORK/$bin"
  eval "KEY_$bin=\$(\"\$$bin\" mint-key --label bench --data-dir \"$WORK/$bin\" 2>/dev/null)"
done
for path in /health /org/whoami; do
  ratios=()
  for r in $(seq 1 "$ROUNDS"); do
    a=$(run "$A" "$WORK/A" "$path" "$([[ $path == /health ]] || echo "$KEY_A")")
    b=$(run "$B" "$WORK/B" "$path" "$([[ $path == /health ]] || echo "$KEY_B")")
    ratio=$(python3 -c "print(f'{$b/$a:.3f}')")
    ratios+=("$ratio")
    echo "$path round $r: A $a/s  B $b/s  B/A $ratio"
  done
  echo "$path median B/A: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")"
done
