#!/usr/bin/env python3
"""Admin write latency, alone and while agents heartbeat.

    bench/heartbeats.py [PATH_TO_molecule-tenant] [--seconds S] [--workspaces N]

Three figures, each the median latency of durable writes (key mints, one at
a time, each answered only once FULL-synced) measured back to back on one
server:
  idle        nothing else going on
  fleet       N workspaces (default 1,000) each heartbeating every 10 s
  flood       16 connections heartbeating as fast as they can with one token
and the ratios fleet/idle and flood/idle (1.00 = heartbeats cost writes
nothing). Heartbeats are held in memory and written in one batch a second,
so neither should move the writer. Needs python3 and wrk (for the flood).
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from serving import mint_key, serve



class Client:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path, body):
        self.conn.request("POST", path, json.dumps(body), self.auth)
        res = self.conn.getresponse()
        data = res.read()
        if res.status >= 300:
            raise RuntimeError(f"{path}: {res.status} {data[:200]!r}")
        return json.loads(data)


def write_latencies(port, token, seconds):
    c = Client(port, token)
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        c.post("/org/tokens", {"name": "bench"})
        out.append((time.perf_counter() - t) * 1000)
    return out


def heartbeat_path(ws, legacy):
    return f"/workspaces/{ws}/heartbeat" if legacy else "/registry/heartbeat"


def fleet(port, tokens, stop, legacy):
    """Each workspace heartbeats every 10 s: len(tokens)/10 a second, spread evenly."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(4)]
    interval = 10.0 / len(tokens)
    i, next_at = 0, time.monotonic()
    while not stop.is_set():
        ws, tok = tokens[i % len(tokens)]
        c = conns[i % len(conns)]
        report = {"active_tasks": i % 3, "current_task": "bench"}
        if not legacy:
            report |= {"workspace_id": ws, "uptime_seconds": i}
        body = json.dumps(report)
        c.request("POST", heartbeat_path(ws, legacy), body, {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"})
        res = c.getresponse()
        res.read()
        if res.status != 200:
            raise SystemExit(f"heartbeat answered {res.status}")
        i += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default="target/release/molecule-tenant")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--workspaces", type=int, default=1000)
    # Binaries before /registry/heartbeat: their own route, same body.
    ap.add_argument("--legacy", action="store_true")
    a = ap.parse_args()
    binary = os.path.realpath(a.binary)
    work = tempfile.mkdtemp()
    admin = mint_key(binary, work)
    server, port = serve(binary, work)
    try:
        c = Client(port, admin)
        tokens = []
        for i in range(a.workspaces):
            w = c.post("/workspaces", {"name": f"agent-{i}"})
            tokens.append((w["id"], w["auth_token"]))

        idle = statistics.median(write_latencies(port, admin, a.seconds))

        stop = threading.Event()
        t = threading.Thread(target=fleet, args=(port, tokens, stop, a.legacy), daemon=True)
        t.start()
        time.sleep(1)
        with_fleet = statistics.median(write_latencies(port, admin, a.seconds))
        stop.set()
        t.join()

        floods = {}
        if shutil.which("wrk"):
            ws, tok = tokens[0]
            body = {"active_tasks": 1} if a.legacy else {"workspace_id": ws, "active_tasks": 1}
            script = os.path.join(work, "hb.lua")
            with open(script, "w") as f:
                f.write('wrk.method = "POST"\n')
                f.write(f"wrk.body = '{json.dumps(body)}'\n")
                f.write('wrk.headers["Content-Type"] = "application/json"\n')
            # The load generator gets one core of its own where it can (as a
            # flood from elsewhere would); both floods alike.
            pin = ["taskset", "-c", "1"] if shutil.which("taskset") and os.cpu_count() > 1 else []
            for name, args in [
                ("heartbeat", ["-s", script, "-H", f"Authorization: Bearer {tok}",
                               f"http://127.0.0.1:{port}{heartbeat_path(ws, a.legacy)}"]),
                ("health", [f"http://127.0.0.1:{port}/health"]),
            ]:
                w = subprocess.Popen(pin + ["wrk", "-t1", "-c16", f"-d{int(a.seconds) + 2}s"] + args,
                                     stdout=subprocess.PIPE, text=True)
                time.sleep(1)
                lat = statistics.median(write_latencies(port, admin, a.seconds))
                out, _ = w.communicate()
                if "Non-2xx" in out:
                    raise SystemExit(f"the {name} flood got errors:\n{out}")
                rps = next((line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")), "?")
                floods[name] = (lat, rps)
        print(f"{'figure':<52} {'p50 ms':>8} {'ratio':>7}")
        print(f"{'durable write, idle':<52} {idle:8.2f} {1:7.2f}")
        print(f"{f'with {a.workspaces} workspaces heartbeating every 10 s':<52} {with_fleet:8.2f} {with_fleet / idle:7.2f}")
        if floods:
            hb, rps = floods["heartbeat"]
            health, hrps = floods["health"]
            print(f"{f'with a heartbeat flood ({float(rps):.0f}/s, one token)':<52} {hb:8.2f} {hb / idle:7.2f}")
            print(f"{f'with a GET /health flood ({float(hrps):.0f}/s)':<52} {health:8.2f} {health / idle:7.2f}")
            print(f"{'heartbeat flood vs an as-busy flood that writes nothing':<52} {'':>8} {hb / health:7.2f}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
