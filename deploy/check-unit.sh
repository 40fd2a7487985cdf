#!/usr/bin/env bash
# Checks deploy/molecule-tenant.service with systemd's own tools, against a
# built binary: `systemd-analyze verify` must say nothing, and the offline
# security review must rate its exposure 2.0 or better (0 is best, 10 worst).
#
#   deploy/check-unit.sh [BINARY]      (default: target/release-static/molecule-tenant)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/release-static/molecule-tenant}")
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found; unit not checked"; exit 0; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
sed "s#/usr/local/bin/molecule-tenant#$BIN#g" deploy/molecule-tenant.service >"$WORK/molecule-tenant.service"
out=$(systemd-analyze verify "$WORK/molecule-tenant.service" 2>&1)
if [[ -n $out ]]; then
    echo "systemd-analyze verify:" >&2
    echo "$out" >&2
    exit 1
fi
echo "systemd-analyze verify: clean"
systemd-analyze security --offline=true --threshold=20 "$WORK/molecule-tenant.service" | tail -1
