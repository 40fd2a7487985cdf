#!/usr/bin/env python3
"""What a tenant box needs: memory (RSS) and disk, measured side by side in one run.

    bench/sizing.py BINARY [--workspaces 1000] [--heartbeats 20] [--audit 200000] [--threads 8]

One server on a fresh data dir, one admin key (`mint-key`), then, measured after each step:
  fresh        nothing but the key
  workspaces   W workspaces (POST /workspaces, each with its token)
  heartbeats   H heartbeats from each workspace's own token (POST /workspaces/:id/heartbeat)
  audit        N audit entries, each one real API write: PUT /workspaces/:id/secrets
               (one `secret.set` entry each; ten names, so the secrets table does not grow)
  restarted    the same server stopped (SIGTERM) and started again on the grown database
Each measurement: the server's RSS (VmRSS, and its peak VmHWM, from /proc/PID/status); the
database on disk (molecule.db + molecule.db-wal after a `PRAGMA wal_checkpoint(TRUNCATE)` from
this script's own connection; the server itself never runs one); `molecule_database_bytes` from
GET /metrics; and row counts. Reported per 1,000 workspaces and per million audit entries,
extrapolated linearly from W and N.

Every authenticated request also writes a row to its key's or token's activity log, which keeps
only the newest 1,000 per key or token (and nothing older than 30 days): the admin key's log is
full after the first 1,000 requests and then only turns over, so it does not grow with N. Each
workspace token's log grows with its heartbeats up to 1,000 rows; the script reports the cost
of a row and what 1,000 per token comes to. Needs python3 (stdlib only).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import tempfile
import threading
import time

from serving import mint_key, serve

KEEP_PER_CREDENTIAL = 1000  # src/store/activity.rs


class Client:
    """One keep-alive connection; reconnects once if the server closed it."""

    def __init__(self, port):
        self.port, self.conn = port, None

    def call(self, method, path, token, body=None, want=200):
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body), "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, data, headers)
                res = self.conn.getresponse()
                raw = res.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        if res.status != want:
            raise SystemExit(f"{method} {path}: HTTP {res.status} {raw[:200]!r}")
        return raw


def parallel(port, n_threads, items, work):
    """Runs work(client, item) for every item, on n_threads threads with one connection each."""
    items, lock, errors = list(items), threading.Lock(), []

    def run():
        c = Client(port)
        while True:
            with lock:
                if not items or errors:
                    return
                item = items.pop()
            try:
                work(c, item)
            except BaseException as e:  # noqa: BLE001 - raised below
                errors.append(e)
                return

    threads = [threading.Thread(target=run) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def rss_kib(pid):
    status = open(f"/proc/{pid}/status").read()
    get = lambda k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1))
    return get("VmRSS"), get("VmHWM")


def metric(text, name):
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return int(float(m.group(1))) if m else None


def measure(label, server, port, admin, data_dir, settle=2.0):
    """Waits for the once-a-second flusher (activity, heartbeats), then measures."""
    time.sleep(settle)
    rss, hwm = rss_kib(server.pid)
    text = Client(port).call("GET", "/metrics", admin).decode()
    db = os.path.join(data_dir, "molecule.db")
    conn = sqlite3.connect(db, timeout=30)
    try:
        for _ in range(50):  # busy while the server's flusher holds the write lock: try again
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                break
            time.sleep(0.1)
        count = lambda t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        rows = {t: count(t) for t in ("workspaces", "workspace_tokens", "audit_log", "cred_activity", "secrets")}
        free = conn.execute("PRAGMA freelist_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    wal = db + "-wal"
    return {
        "label": label,
        "rss": rss * 1024,
        "hwm": hwm * 1024,
        "disk": os.path.getsize(db) + (os.path.getsize(wal) if os.path.exists(wal) else 0),
        "metric_db": metric(text, "molecule_database_bytes"),
        "audit_seq": metric(text, "molecule_audit_head_seq"),
        "free": free,
        "rows": rows,
    }


def mb(n):
    return f"{n / 1e6:,.1f} MB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--workspaces", type=int, default=1000, help="workspaces to create (default 1000)")
    ap.add_argument("--heartbeats", type=int, default=20, help="heartbeats per workspace (default 20)")
    ap.add_argument("--audit", type=int, default=200_000, help="audit entries to write (default 200000)")
    ap.add_argument("--threads", type=int, default=8, help="client threads, one connection each (default 8)")
    ap.add_argument("--keep", action="store_true", help="keep the data dir")
    a = ap.parse_args()
    binary = os.path.realpath(a.binary)
    work = tempfile.mkdtemp(prefix="mt-sizing-")
    admin = mint_key(binary, work)
    server, port = serve(binary, work)
    out = []
    try:
        out.append(measure("fresh tenant (one key)", server, port, admin, work))

        t0 = time.monotonic()
        workspaces, lock = [], threading.Lock()

        def create(c, i):
            b = json.loads(c.call("POST", "/workspaces", admin, {"name": f"w-{i}"}, want=201))
            with lock:
                workspaces.append((b["id"], b["auth_token"]))

        parallel(port, a.threads, range(a.workspaces), create)
        t_ws = time.monotonic() - t0
        out.append(measure(f"+ {a.workspaces:,} workspaces, each with its token", server, port, admin, work))

        t0 = time.monotonic()
        beats = [(wid, tok) for _ in range(a.heartbeats) for wid, tok in workspaces]

        def beat(c, w):
            c.call("POST", f"/workspaces/{w[0]}/heartbeat", w[1], {"active_tasks": 0})

        parallel(port, a.threads, beats, beat)
        t_hb = time.monotonic() - t0
        out.append(measure(f"+ {a.heartbeats} heartbeats from each", server, port, admin, work))

        target = workspaces[0][0]
        t0 = time.monotonic()

        def put_secret(c, i):
            c.call("PUT", f"/workspaces/{target}/secrets", admin, {"key": f"S_{i % 10}", "value": f"value-{i:09d}"})

        parallel(port, a.threads, range(a.audit), put_secret)
        t_audit = time.monotonic() - t0
        out.append(measure(f"+ {a.audit:,} audit entries (secret writes)", server, port, admin, work))

        server.send_signal(signal.SIGTERM)
        server.wait()
        server, port = serve(binary, work, port)
        out.append(measure("restarted on that database", server, port, admin, work))
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait()

    fresh, ws, hb, au, rs = out
    print(f"\n{os.path.basename(binary)} on a fresh data dir; {a.threads} client threads with keep-alive connections")
    print(f"{'':46} {'RSS':>9} {'peak RSS':>9} {'on disk':>10} {'metrics':>10} {'audit':>8} {'activity':>9}")
    for m in out:
        print(f"{m['label']:46} {m['rss'] / 2**20:7.1f}Mi {m['hwm'] / 2**20:7.1f}Mi {m['disk'] / 1e6:8.2f}MB "
              f"{m['metric_db'] / 1e6:8.2f}MB {m['audit_seq']:8,} {m['rows']['cred_activity']:9,}")
    print("(on disk: molecule.db + -wal after a TRUNCATE checkpoint; metrics: molecule_database_bytes; "
          "audit: molecule_audit_head_seq; activity: rows in the activity logs)")

    w_scale = 1000 / a.workspaces
    ws_bytes = (ws["disk"] - fresh["disk"]) * w_scale
    hb_rows = hb["rows"]["cred_activity"] - ws["rows"]["cred_activity"]
    per_row = (hb["disk"] - ws["disk"]) / hb_rows if hb_rows else 0
    entries = au["audit_seq"] - hb["audit_seq"]  # counted, not assumed: a write resent on reconnect counts
    per_entry = (au["disk"] - hb["disk"]) / entries
    print(f"\nworkspaces: {a.workspaces:,} created in {t_ws:.1f}s ({a.workspaces / t_ws:,.0f}/s); "
          f"{len(workspaces) * a.heartbeats:,} heartbeats in {t_hb:.1f}s ({len(workspaces) * a.heartbeats / t_hb:,.0f}/s)")
    print(f"  per 1,000 workspaces (rows, tokens, a workspace.create audit entry and an activity row of the "
          f"admin key each; scaled x{w_scale:g}): "
          f"{mb(ws_bytes)} on disk, RSS +{(ws['rss'] - fresh['rss']) * w_scale / 2**20:.1f} MiB")
    print(f"  their tokens' activity logs: {hb_rows:,} rows added by the heartbeats, {per_row:.0f} bytes each; "
          f"full (the newest {KEEP_PER_CREDENTIAL:,} per token, reached after {KEEP_PER_CREDENTIAL:,} requests) "
          f"that is {mb(per_row * KEEP_PER_CREDENTIAL * 1000)} per 1,000 workspaces, "
          f"and it grows no further")
    print(f"audit: {entries:,} entries written in {t_audit:.1f}s ({entries / t_audit:,.0f}/s, durable, group-committed)")
    print(f"  {per_entry:.0f} bytes each on disk: {mb(per_entry * 1e6)} per million entries "
          f"(extrapolated linearly from {entries:,}); RSS {(au['rss'] - hb['rss']) / 2**20:+.1f} MiB meanwhile")
    admin_rows = au["rows"]["cred_activity"] - hb["rows"]["cred_activity"]
    print(f"  the admin key's activity log: {admin_rows:+,} rows over those {entries:,} requests "
          f"(it keeps the newest {KEEP_PER_CREDENTIAL:,} and then only turns over: past them it does not grow with N)")
    print(f"  free pages inside the file: {mb(au['free'])} (reused before the file grows)")
    print(f"restarted on the {mb(rs['disk'])} database: RSS {rs['rss'] / 2**20:.1f} MiB")
    if a.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
