#!/usr/bin/env python3
"""Disk growth per 1,000 workspaces per day, measured.

    bench/growth.py [PATH_TO_molecule-tenant] [--workspaces N]

Simulates one day of a tenant of N workspaces (default 100; figures are
scaled to 1,000): each agent asks for one approval an hour (1 KB of
context) which an admin decides, and each workspace's token is rotated once
(mint a new one, revoke the old). Heartbeats update rows in place and add
nothing. Reports the database's growth, the audit trail's share of it, and
what retention leaves after the period (approvals and revoked tokens older
than it are deleted; the audit trail stays). Needs python3.
"""
import argparse
import http.client
import json
import os
import signal
import sqlite3
import tempfile
import time

from serving import mint_key, serve



class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, token, body=None):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        res = self.conn.getresponse()
        data = res.read()
        if res.status >= 300:
            raise SystemExit(f"{method} {path}: {res.status} {data[:200]!r}")
        return json.loads(data) if data else None


def sizes(db):
    c = sqlite3.connect(db)
    pages = c.execute("PRAGMA page_count").fetchone()[0] * c.execute("PRAGMA page_size").fetchone()[0]
    audit = c.execute(
        "SELECT count(*), coalesce(sum(length(actor) + length(action) + coalesce(length(target), 0)"
        " + length(detail) + coalesce(length(client), 0) + 64 + 12 + 16), 0) FROM audit_log"
    ).fetchone()
    approvals = c.execute(
        "SELECT count(*), coalesce(sum(length(context) + length(action) + 200), 0) FROM approvals"
    ).fetchone()
    c.close()
    return pages, audit, approvals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default="target/release/molecule-tenant")
    ap.add_argument("--workspaces", type=int, default=100)
    a = ap.parse_args()
    binary = os.path.realpath(a.binary)
    work = tempfile.mkdtemp()
    db = os.path.join(work, "molecule.db")
    admin = mint_key(binary, work)
    server, port = serve(binary, work)
    try:
        c = Client(port)
        agents = [c.call("POST", "/workspaces", admin, {"name": f"agent-{i}"}) for i in range(a.workspaces)]
        server.send_signal(signal.SIGTERM)
        server.wait()
        start, _, _ = sizes(db)
        server, _ = serve(binary, work, port)
        c = Client(port)
        context = {"diff": "x" * 1000}
        t0 = time.monotonic()
        for hour in range(24):
            for w in agents:
                r = c.call("POST", f"/workspaces/{w['id']}/approvals", w["auth_token"],
                           {"action": f"deploy-{hour}", "reason": "a daily change", "context": context})
                c.call("POST", f"/workspaces/{w['id']}/approvals/{r['approval_id']}/decide", admin,
                       {"decision": "approved"})
        for w in agents:
            tokens = c.call("GET", f"/workspaces/{w['id']}/tokens", admin)
            c.call("POST", f"/workspaces/{w['id']}/tokens", admin, {})
            for t in tokens if isinstance(tokens, list) else tokens.get("tokens", []):
                c.call("DELETE", f"/workspaces/{w['id']}/tokens/{t['id']}", admin)
        took = time.monotonic() - t0
        server.send_signal(signal.SIGTERM)
        server.wait()
        end, (audit_n, audit_bytes), (appr_n, appr_bytes) = sizes(db)
        scale = 1000 / a.workspaces
        grew = (end - start) * scale
        print(f"one simulated day of {a.workspaces} workspaces ({took:.0f} s of requests), scaled to 1,000:")
        print(f"  database growth per day        {grew / 1e6:8.1f} MB")
        print(f"  audit entries per day          {audit_n * scale:8.0f}  (~{audit_bytes * scale / 1e6:.1f} MB of row data, kept)")
        print(f"  approvals per day              {appr_n * scale:8.0f}  (~{appr_bytes * scale / 1e6:.1f} MB of row data, deleted after retention)")
        kept = audit_bytes * scale
        print(f"  with 30-day retention: all but the audit trail levels off at about "
              f"{(grew - kept) * 30 / 1e9:.2f} GB; the audit trail grows {kept * 365 / 1e9:.1f} GB a year")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait()


if __name__ == "__main__":
    main()
