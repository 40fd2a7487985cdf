#!/usr/bin/env python3
"""A tenant that has lived a while, against a fresh one, side by side.

    bench/old_tenant.py [PATH_TO_molecule-tenant] [--requests N] [--rounds R]
                        [--deleted 100000] [--approvals 100000] [--sessions 100000]
                        [--audit 1000000]

Both tenants hold the same live data (one admin key, 100 live workspaces,
one agent's workspace). The old one also holds history: deleted
workspaces, decided approvals (all on the agent's workspace), ended
sessions and audit entries, inserted straight into SQLite while its server
is stopped (making them through the API would take the whole run; the
server reads them as it reads its own). Then, rounds alternating between
the two servers, the median latency of each operation:

  list      GET /workspaces?limit=100, after a write (so never from cache)
  create    POST /workspaces
  approval  POST /workspaces/:id/approvals (each then decided, untimed)
  sign-in   POST /org/sessions with the admin key
  mint      POST /org/tokens

and the ratio old/fresh (1.00 = history costs nothing; the target is
within 1.20). Needs python3 only.
"""
import argparse
import http.client
import json
import os
import secrets
import sqlite3
import statistics
import tempfile
import time

from serving import mint_key, serve


class Api:
    def __init__(self, port, token):
        self.port, self.token = port, token
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None, token=None):
        headers = {"Authorization": f"Bearer {token or self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            self.c.request(method, path, body=data, headers=headers)
            r = self.c.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # An idle keep-alive connection the server closed (after 5 s).
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.c.request(method, path, body=data, headers=headers)
            r = self.c.getresponse()
        raw = r.read()
        if r.status >= 300:
            raise SystemExit(f"{method} {path}: {r.status} {raw[:200]!r}")
        return json.loads(raw) if raw else None


def setup(binary, data_dir):
    """The live data both tenants share; returns (admin key, agent workspace, its token)."""
    admin = mint_key(binary, data_dir)
    proc, port = serve(binary, data_dir)
    api = Api(port, admin)
    agent = api.call("POST", "/workspaces", {"name": "agent"})
    for i in range(100):
        api.call("POST", "/workspaces", {"name": f"live-{i}"})
    proc.terminate()
    proc.wait()
    return admin, agent["id"], agent["auth_token"]


def age(db_path, ws, args):
    """History, straight into the database of a stopped server."""
    db = sqlite3.connect(db_path)
    now = int(time.time() * 1000)
    old = now - 3600_000
    db.executemany(
        "INSERT INTO workspaces (id, name, tier, runtime, created_at, updated_at, deleted_at) "
        "VALUES (?, ?, 2, 'langgraph', ?, ?, ?)",
        ((f"00000000-0000-4000-8000-{i:012d}", f"gone-{i}", old, old, old) for i in range(args.deleted)),
    )
    db.executemany(
        "INSERT INTO approvals (id, workspace_id, action, context, status, created_at, expires_at, decided_at, "
        "decided_by) VALUES (?, ?, 'deploy', '{}', 'approved', ?, ?, ?, 'admin')",
        ((f"10000000-0000-4000-8000-{i:012d}", ws, old, old + 600_000, old + 1) for i in range(args.approvals)),
    )
    seq = db.execute("SELECT v FROM meta WHERE k = 'cred_seq'").fetchone()[0]
    db.executemany(
        "INSERT INTO sessions (id, token_hash, created_via, created_at, expires_at, idle_ms, revoked_at, seq) "
        "VALUES (?, ?, 'login-link', ?, ?, 1800000, ?, ?)",
        ((f"20000000-0000-4000-8000-{i:012d}", secrets.token_bytes(32), old, old + 1, old + 1, seq)
         for i in range(args.sessions)),
    )
    key_id, = db.execute("SELECT key_id FROM audit_log WHERE key_id IS NOT NULL LIMIT 1").fetchone()
    head, = db.execute("SELECT max(id) FROM audit_log").fetchone()
    # Entries below the trail's first: the chain the server extends (and
    # `audit verify` checks from its anchor) is untouched.
    db.executemany(
        "INSERT INTO audit_log (id, at, actor, action, target, detail, client, prev_hash, hash, key_id) "
        "VALUES (?, ?, 'org-token:mol_org_bench', 'secret.set', NULL, '{\"name\":\"K\"}', '127.0.0.1', ?, ?, ?)",
        ((-(i + 1), old, secrets.token_bytes(32), secrets.token_bytes(32), key_id) for i in range(args.audit)),
    )
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return head


def measure(op, api, ws, ws_token, n):
    times = []
    for i in range(n):
        if op == "list":
            api.call("POST", f"/workspaces/{ws}/heartbeat", {}, token=ws_token)
        start = time.perf_counter()
        if op == "list":
            api.call("GET", "/workspaces?limit=100")
        elif op == "create":
            api.call("POST", "/workspaces", {"name": f"w-{i}"})
        elif op == "approval":
            a = api.call("POST", f"/workspaces/{ws}/approvals", {"action": "deploy"}, token=ws_token)
        elif op == "sign-in":
            api.call("POST", "/org/sessions")
        elif op == "mint":
            api.call("POST", "/org/tokens", {"name": f"k-{i}"})
        times.append(time.perf_counter() - start)
        if op == "approval":
            api.call("POST", f"/workspaces/{ws}/approvals/{a['approval_id']}/decide", {"decision": "approved"})
    return statistics.median(times) * 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary", nargs="?", default="target/release/molecule-tenant")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--deleted", type=int, default=100_000)
    p.add_argument("--approvals", type=int, default=100_000)
    p.add_argument("--sessions", type=int, default=100_000)
    p.add_argument("--audit", type=int, default=1_000_000)
    args = p.parse_args()
    binary = os.path.abspath(args.binary)
    with tempfile.TemporaryDirectory() as tmp:
        tenants = {}
        for name in ("fresh", "old"):
            d = os.path.join(tmp, name)
            tenants[name] = (d, *setup(binary, d))
        t0 = time.time()
        age(os.path.join(tenants["old"][0], "molecule.db"), tenants["old"][2], args)
        size = os.path.getsize(os.path.join(tenants["old"][0], "molecule.db")) / 2**20
        print(f"old tenant: {args.deleted:,} deleted workspaces, {args.approvals:,} decided approvals, "
              f"{args.sessions:,} ended sessions, {args.audit:,} audit entries ({size:.0f} MiB; "
              f"inserted in {time.time() - t0:.0f}s)")
        servers, apis = [], {}
        for name, (d, admin, ws, ws_token) in tenants.items():
            proc, port = serve(binary, d)
            servers.append(proc)
            apis[name] = (Api(port, admin), ws, ws_token)
        try:
            ops = ["list", "create", "approval", "sign-in", "mint"]
            results = {op: {"fresh": [], "old": []} for op in ops}
            for _ in range(args.rounds):
                for op in ops:
                    for name in ("fresh", "old"):
                        api, ws, ws_token = apis[name]
                        results[op][name].append(measure(op, api, ws, ws_token, args.requests))
            print(f"{'operation':<10} {'fresh p50 ms':>13} {'old p50 ms':>11} {'old/fresh':>10}")
            worst = 0.0
            for op in ops:
                f = statistics.median(results[op]["fresh"])
                o = statistics.median(results[op]["old"])
                worst = max(worst, o / f)
                print(f"{op:<10} {f:>13.3f} {o:>11.3f} {o / f:>10.2f}")
            print(f"worst ratio {worst:.2f} (target: within 1.20)")
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait()


if __name__ == "__main__":
    main()
