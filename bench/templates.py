#!/usr/bin/env python3
"""Registering and importing a large org template: time and memory.

    bench/templates.py [PATH_TO_molecule-tenant] [--files N] [--workspaces W]

Writes a template of N files (default 2,000: org.yaml, one team file per
ten workspaces, and the rest prompt and doc files spread over W workspaces'
files_dir, default 200), then measures, on one server:
  add       `molecule-tenant org-template add DIR` (its own time and peak RSS)
  upload    POST /org/templates with the directory as a tar.gz
  dry run   POST /org/import {"dir": ..., "dry_run": true}
  import    POST /org/import {"dir": ...}
each with the server's RSS after it. Needs python3.
"""
import argparse
import http.client
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

from serving import serve



def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def write_template(root, files, workspaces):
    teams = max(1, workspaces // 10)
    per_ws = max(1, (files - 1 - teams - workspaces) // workspaces)
    lorem = ("An agent's prompt runs to a few paragraphs: what it owns, how it works, "
             "when it asks a person, what it must never do. ") * 30
    written = 0

    def put(rel, text):
        nonlocal written
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        written += 1

    includes = []
    for t in range(teams):
        members = []
        for m in range(workspaces // teams):
            w = t * (workspaces // teams) + m
            d = f"role-{w:04d}"
            for k in range(per_ws):
                name = "system-prompt.md" if k == 0 else f"docs/note-{k:02d}.md"
                put(f"{d}/{name}", f"# {d} {name}\n\n{lorem}\n")
            members.append(
                f"      - name: Agent {w}\n        role: does part {w} of the work\n"
                f"        files_dir: {d}\n        system_prompt_file: system-prompt.md\n"
                f"        plugins: [git, search]\n        schedules:\n"
                f"          - name: daily\n            cron_expr: \"0 9 * * *\"\n            prompt: check in\n")
        put(f"teams/team-{t:03d}.yaml",
            f"name: Team {t}\nrole: team {t}\ntier: 2\nchildren:\n" + "".join(members).replace("      -", "  -").replace("\n        ", "\n    "))
        includes.append(f"  - !include teams/team-{t:03d}.yaml\n")
    while written < files - 1:
        put(f"docs/extra-{written:05d}.md", lorem)
    put("org.yaml", "name: Bench Org\ndescription: a large template\ndefaults:\n  runtime: claude-code\n"
        "  tier: 2\nworkspaces:\n" + "".join(includes))
    return written


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default="target/release/molecule-tenant")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--workspaces", type=int, default=200)
    a = ap.parse_args()
    binary = os.path.realpath(a.binary)
    work = tempfile.mkdtemp()
    tpl, data = os.path.join(work, "template"), os.path.join(work, "data")
    n = write_template(tpl, a.files, a.workspaces)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tpl) for f in fs)
    token = subprocess.run([binary, "mint-key", "--label", "bench", "--data-dir", data],
                           capture_output=True, text=True, check=True).stdout.strip()
    rows = [("template", f"{n} files, {size / 1e6:.1f} MB, {a.workspaces + max(1, a.workspaces // 10)} workspaces")]

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run([binary, "org-template", "add", tpl, "--name", "bench-cli", "--data-dir", data],
                   capture_output=True, check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rows.append(("org-template add", f"{(time.perf_counter() - t) * 1000:.0f} ms, peak RSS {max(peak, before) / 1024:.0f} MiB"))

    server, port = serve(binary, data)
    try:
        rows.append(("server RSS, started", f"{rss_kib(server.pid) / 1024:.0f} MiB"))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(tpl, arcname="bench-template")

        def call(method, path, body, ctype):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            t = time.perf_counter()
            c.request(method, path, body, {"Authorization": f"Bearer {token}", "Content-Type": ctype})
            res = c.getresponse()
            data = res.read()
            ms = (time.perf_counter() - t) * 1000
            if res.status >= 300:
                raise SystemExit(f"{path}: {res.status} {data[:300]!r}")
            return ms, json.loads(data)

        ms, _ = call("POST", "/org/templates?name=bench-http", buf.getvalue(), "application/gzip")
        rows.append(("upload (tar.gz over HTTP)", f"{ms:.0f} ms, {len(buf.getvalue()) / 1e6:.1f} MB sent, server RSS {rss_kib(server.pid) / 1024:.0f} MiB"))
        ms, plan = call("POST", "/org/import", json.dumps({"dir": "bench-http", "dry_run": True, "force": True}), "application/json")
        rows.append(("dry run", f"{ms:.0f} ms, {plan['count']} planned, server RSS {rss_kib(server.pid) / 1024:.0f} MiB"))
        ms, done = call("POST", "/org/import", json.dumps({"dir": "bench-http", "force": True}), "application/json")
        rows.append(("import", f"{ms:.0f} ms, {done['count']} workspaces, server RSS {rss_kib(server.pid) / 1024:.0f} MiB"))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    for k, v in rows:
        print(f"{k:<28} {v}")


if __name__ == "__main__":
    sys.exit(main())
