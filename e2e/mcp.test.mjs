// MCP, end to end: the official MCP Inspector's CLI (npm
// @modelcontextprotocol/inspector) drives both transports of the real
// binary — POST /mcp (streamable HTTP, bearer key) and `molecule-tenant mcp`
// (stdio, MOLECULE_ORG_TOKEN). Run by `cargo test` (tests/api/e2e.rs) with
// MOLECULE_BIN set; or by hand:
//   MOLECULE_BIN=target/debug/molecule-tenant node --test e2e/mcp.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cli as runCli, startServer } from "./serve.mjs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = process.env.MOLECULE_BIN;
const INSPECTOR = join(dirname(fileURLToPath(import.meta.url)), "node_modules", ".bin", "mcp-inspector");

let dataDir, home, server, base, admin, readOnly;

const cli = (...args) => runCli(BIN, dataDir, ...args);


async function http(method, path, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
  // A keep-alive connection the server closed as it was reused (its 5 s
  // idle limit): once more, on a fresh one. Any other failure stands.
  const res = await fetch(base + path, init).catch((e) => {
    if (e.cause?.code === "UND_ERR_SOCKET") return fetch(base + path, init);
    throw e;
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// One Inspector run; `via` is "http" or "stdio". Returns its exit code and
// its JSON answer ({result} or {error}).
function inspect(via, key, method, tool, args) {
  const target =
    via === "http"
      ? [`${base}/mcp`, "--header", `Authorization: Bearer ${key}`, "--stored-auth-only"]
      : ["-e", `MOLECULE_URL=${base}`, "-e", `MOLECULE_ORG_TOKEN=${key}`];
  const call = ["--method", method, ...(tool ? ["--tool-name", tool, "--tool-args-json", JSON.stringify(args ?? {})] : [])];
  const argv = ["--cli", ...target, "--format", "json", "-q", ...call, ...(via === "stdio" ? ["--", BIN, "mcp"] : [])];
  const r = spawnSync(INSPECTOR, argv, { encoding: "utf8", env: { ...process.env, HOME: home }, timeout: 60000 });
  let out = null;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    out = { raw: r.stdout, stderr: r.stderr };
  }
  return { code: r.status, out };
}

function toolNames(via, key) {
  const r = inspect(via, key, "tools/list");
  assert.equal(r.code, 0, JSON.stringify(r.out));
  return r.out.result.tools.map((t) => t.name).sort();
}

function callOk(via, key, tool, args) {
  const r = inspect(via, key, "tools/call", tool, args);
  assert.equal(r.code, 0, `${tool}: ${JSON.stringify(r.out)}`);
  assert.notEqual(r.out.result.isError, true, `${tool}: ${JSON.stringify(r.out)}`);
  return JSON.parse(r.out.result.content[0].text);
}

before(async () => {
  assert.ok(BIN, "set MOLECULE_BIN to the molecule-tenant binary");
  dataDir = mkdtempSync(join(tmpdir(), "molecule-mcp-"));
  home = mkdtempSync(join(tmpdir(), "molecule-mcp-home-"));
  ({ child: server, base } = await startServer(BIN, dataDir));
  admin = cli("mint-key", "--label", "mcp-admin");
  readOnly = cli("mint-key", "--label", "mcp-reader", "--role", "read-only");
});

after(() => {
  server?.removeAllListeners("exit");
  server?.kill("SIGTERM");
  for (const d of [dataDir, home]) if (d) rmSync(d, { recursive: true, force: true });
});

test("an admin key and a read-only key see different tools, over both transports", () => {
  for (const via of ["http", "stdio"]) {
    const all = toolNames(via, admin);
    const reads = toolNames(via, readOnly);
    for (const t of ["create_workspace", "delete_workspace", "decide_approval", "mint_org_key", "set_secret"]) {
      assert.ok(all.includes(t), `${via}: admin sees ${t}`);
      assert.ok(!reads.includes(t), `${via}: read-only does not see ${t}`);
    }
    for (const t of ["list_workspaces", "get_workspace", "list_pending_approvals", "list_audit", "whoami"]) {
      assert.ok(reads.includes(t), `${via}: read-only sees ${t}`);
    }
    assert.ok(reads.length < all.length);
  }
});

test("workspaces are created and listed, an approval decided, each call audited as the key via MCP", async () => {
  const made = callOk("http", admin, "create_workspace", { name: "from-mcp-http", tier: 2 });
  assert.match(made.auth_token, /^mol_ws_/);
  const viaStdio = callOk("stdio", admin, "create_workspace", { name: "from-mcp-stdio" });
  const listed = callOk("stdio", admin, "list_workspaces", {});
  const names = listed.map((w) => w.name);
  assert.ok(names.includes("from-mcp-http") && names.includes("from-mcp-stdio"), names.join(","));

  // The agent asks (with its own token, over REST); the admin decides over MCP.
  const asked = await http("POST", `/workspaces/${made.id}/approvals`, made.auth_token, { action: "deploy" });
  assert.equal(asked.status, 201, JSON.stringify(asked.body));
  const pending = callOk("http", readOnly, "list_pending_approvals", {});
  assert.equal(pending.length, 1);
  const decided = callOk("stdio", admin, "decide_approval", {
    workspace_id: made.id,
    approval_id: asked.body.approval_id,
    decision: "approved",
    decided_by: "mcp-client",
  });
  assert.equal(decided.status, "approved");

  const trail = (await http("GET", "/org/audit?limit=100", admin)).body.entries;
  const byMcp = trail.filter((e) => e.detail?.via === "mcp");
  for (const action of ["workspace.create", "approval.decide", "mcp.tool_call"]) {
    assert.ok(byMcp.some((e) => e.action === action), `${action} via mcp in ${JSON.stringify(byMcp.map((e) => e.action))}`);
  }
  const prefix = admin.slice(0, 16);
  assert.ok(byMcp.filter((e) => e.action === "workspace.create").every((e) => e.actor === `org-token:${prefix}`));
  const calls = trail.filter((e) => e.action === "mcp.tool_call").map((e) => e.detail.tool);
  for (const tool of ["create_workspace", "list_workspaces", "list_pending_approvals", "decide_approval"]) {
    assert.ok(calls.includes(tool), `${tool} recorded`);
  }
  assert.ok(viaStdio.id);
});

test("the read-only key is refused a destructive tool, and a revoked key its next call", async () => {
  const victim = callOk("http", admin, "create_workspace", { name: "keep-me" });
  for (const via of ["http", "stdio"]) {
    const r = inspect(via, readOnly, "tools/call", "delete_workspace", { workspace_id: victim.id, confirm: true });
    assert.notEqual(r.code, 0, `${via}: ${JSON.stringify(r.out)}`);
  }
  assert.equal((await http("GET", `/workspaces/${victim.id}`, admin)).status, 200, "still there");

  const whoami = (await http("GET", "/org/whoami", readOnly)).body;
  assert.equal((await http("DELETE", `/org/tokens/${whoami.id}`, admin)).status, 200);
  const overHttp = inspect("http", readOnly, "tools/list");
  assert.notEqual(overHttp.code, 0, JSON.stringify(overHttp.out));
  const overStdio = inspect("stdio", readOnly, "tools/call", "whoami", {});
  assert.notEqual(overStdio.code, 0, JSON.stringify(overStdio.out));
  assert.match(JSON.stringify(overStdio.out), /401/);
});
