// End-to-end: headless Debian Chromium, driven by playwright-core, against
// the real binary. Run by `cargo test` (tests/api/browser.rs), which passes
// the binary's path in MOLECULE_BIN; or by hand:
//   MOLECULE_BIN=target/debug/molecule-tenant node --test e2e/
// With SCREENSHOT_DIR set, it also saves the screenshots the README shows.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cli as runCli, startServer } from "./serve.mjs";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BIN = process.env.MOLECULE_BIN;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOT_DIR;
// The flags this machine needs: no sandbox as root, and no background
// connections (the network is closed; Chromium would retry them forever).
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const WAIT = { timeout: 15000 };

let dataDir, server, base, browser, admin;

const cli = (...args) => runCli(BIN, dataDir, ...args);


async function http(method, path, token, body) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
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

async function shot(page, name) {
  if (!SHOTS) return;
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

before(async () => {
  assert.ok(BIN, "set MOLECULE_BIN to the molecule-tenant binary");
  dataDir = mkdtempSync(join(tmpdir(), "molecule-e2e-"));
  ({ child: server, base } = await startServer(BIN, dataDir));
  admin = cli("mint-key", "--label", "e2e-setup");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

after(async () => {
  await browser?.close();
  server?.removeAllListeners("exit");
  server?.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("a newcomer signs in with a one-time link, mints a key, uses it, revokes it, signs out", async (t) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const link = cli("login-url", "--base-url", base);
  assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/login\?code=mol_login_/);

  await t.test("without a session the pages ask to sign in", async () => {
    await page.goto(`${base}/ui/`);
    await page.locator("#page-signin").waitFor(WAIT);
    assert.equal(await page.locator("#toolbar").isVisible(), false);
  });

  let cookieValue;
  await t.test("the link signs in and sets an HttpOnly, SameSite=Strict cookie", async () => {
    await page.goto(link);
    await page.locator("#toolbar").waitFor(WAIT);
    assert.equal(new URL(page.url()).pathname, "/ui/", "the code is gone from the address bar");
    const [cookie] = (await context.cookies()).filter((c) => c.name === "molecule_session");
    assert.ok(cookie, "session cookie set");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.secure, false, "http base URL");
    assert.equal(await page.evaluate(() => document.cookie), "", "scripts cannot read it");
    cookieValue = cookie.value;
  });

  await t.test("the same link works only once, and says so in words", async () => {
    const other = await browser.newContext();
    const p = await other.newPage();
    await p.goto(link);
    await p.locator("#alert").waitFor(WAIT);
    assert.match(await p.textContent("#alert-text"), /already used/);
    assert.equal(await p.locator("#page-signin").isVisible(), true);
    assert.equal(new URL(p.url()).search, "", "the code left the address bar");
    assert.equal((await other.cookies()).length, 0);
    await other.close();
  });

  await t.test("fetching a link (a chat unfurler, a scanner) does not spend it", async () => {
    const fresh = cli("login-url", "--base-url", base);
    const fetched = await fetch(fresh);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.headers.get("set-cookie"), null);
    const other = await browser.newContext();
    const p = await other.newPage();
    await p.goto(fresh);
    await p.locator("#toolbar").waitFor(WAIT);
    await other.close();
  });

  let token, prefix;
  await t.test("Ctrl+, opens Settings → Org API Keys; New Key shows the token once", async () => {
    await page.keyboard.press("Control+Comma");
    await page.locator("#panel-keys").waitFor(WAIT);
    assert.match(page.url(), /#\/settings\/keys$/);
    await page.click("#key-new");
    await page.fill("#key-name", "e2e-agent");
    await page.selectOption("#key-role", "admin");
    await page.selectOption("#key-expiry", "30");
    await page.click("#key-create");
    await page.locator("#dlg-token[open]").waitFor(WAIT);
    token = await page.inputValue("#token-value");
    assert.match(token, /^mol_org_[0-9A-Za-z]{49}$/);
    prefix = token.slice(0, 16);
    assert.equal(await page.textContent("#token-snippet-header"), `Authorization: Bearer ${token}`);
    assert.equal(await page.textContent("#token-snippet-export"), `export MOLECULE_ORG_TOKEN=${token}`);
    assert.match(await page.textContent("#dlg-token"), /never be shown again/);
    if (SHOTS) {
      // The picture shows the dialog, never a real token (even a dead one).
      await page.evaluate(() => {
        const fake = "mol_org_" + "•".repeat(49);
        document.getElementById("token-value").value = fake;
        document.getElementById("token-snippet-header").textContent = `Authorization: Bearer ${fake}`;
        document.getElementById("token-snippet-export").textContent = `export MOLECULE_ORG_TOKEN=${fake}`;
      });
      await shot(page, "new-key-token");
      await page.evaluate((t) => {
        document.getElementById("token-value").value = t;
      }, token);
    }
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    await page.click("#token-copy");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
    await page.click("#token-done");
    await page.locator("#dlg-token").waitFor({ state: "hidden", ...WAIT });
    assert.equal(await page.inputValue("#token-value"), "", "closing the dialog forgets the token");
  });

  await t.test("the token works from an HTTP client, and the page lists it by prefix only", async () => {
    const res = await http("GET", "/workspaces", token);
    assert.equal(res.status, 200);
    const row = page.locator(`#keys-table tr[data-prefix="${prefix}"]`);
    await row.waitFor(WAIT);
    assert.match(await row.textContent(), /e2e-agent/);
    assert.match(await row.textContent(), /session:/, "created by the session");
    assert.equal((await page.content()).includes(token), false, "the token is nowhere in the page");
    await shot(page, "org-api-keys");
  });

  await t.test("Revoke, confirmed, makes the very next request fail", async () => {
    const row = page.locator(`#keys-table tr[data-prefix="${prefix}"]`);
    await row.getByRole("button", { name: /^Revoke / }).click();
    assert.match(await page.textContent("#confirm-text"), new RegExp(prefix));
    await page.click("#confirm-ok");
    await row.waitFor({ state: "detached", ...WAIT });
    const res = await http("GET", "/workspaces", token);
    assert.equal(res.status, 401);
    assert.equal(res.body.code, "unauthorized");
  });

  await t.test("a pending approval appears without a reload and is approved", async () => {
    const ws = await http("POST", "/workspaces", admin, { name: "research", role: "analyst", tier: 3 });
    assert.equal(ws.status, 201);
    await http("POST", "/workspaces", admin, { name: "research-sub", parent_id: ws.body.id });
    await page.click('nav a[data-page="approvals"]');
    await page.locator("#ap-empty").waitFor(WAIT);
    const asked = await http("POST", `/workspaces/${ws.body.id}/approvals`, ws.body.auth_token, {
      action: "deploy to production",
      reason: "release 1.4 passed staging",
    });
    assert.equal(asked.status, 201);
    const row = page.locator(`#ap-table tr[data-id="${asked.body.approval_id}"]`);
    await row.waitFor(WAIT);
    await shot(page, "approvals");
    await row.getByRole("button", { name: /^Approve / }).click();
    await row.waitFor({ state: "detached", ...WAIT });
    const got = await http("GET", `/workspaces/${ws.body.id}/approvals/${asked.body.approval_id}`, admin);
    assert.equal(got.body.status, "approved");
    assert.match(got.body.decided_by, /^session:/);
  });

  await t.test("Rotate with a grace period shows the new token once; both work until the grace ends", async () => {
    const minted = await http("POST", "/org/tokens", admin, { name: "to-rotate" });
    await page.click('nav a[data-page="settings"]');
    const row = page.locator(`#keys-table tr[data-prefix="${minted.body.prefix}"]`);
    await row.waitFor(WAIT);
    await row.getByRole("button", { name: /^Rotate / }).click();
    await page.selectOption("#rotate-grace", "3600");
    await page.click("#rotate-go");
    await page.locator("#dlg-token[open]").waitFor(WAIT);
    const fresh = await page.inputValue("#token-value");
    assert.match(fresh, /^mol_org_/);
    assert.notEqual(fresh, minted.body.auth_token);
    assert.match(await page.textContent("#token-what"), /works until/);
    await page.click("#token-done");
    assert.equal((await http("GET", "/org/whoami", fresh)).status, 200);
    assert.equal((await http("GET", "/org/whoami", minted.body.auth_token)).status, 200, "in its grace period");
  });

  await t.test("New workspace shows its agent's token once, and it works", async () => {
    await page.click('nav a[data-page="workspaces"]');
    await page.click("#ws-new");
    await page.fill("#ws-name", "made-in-the-page");
    await page.click("#ws-create");
    await page.locator("#dlg-token[open]").waitFor(WAIT);
    const token = await page.inputValue("#token-value");
    assert.match(token, /^mol_ws_/);
    assert.equal(await page.textContent("#token-snippet-export"), `export MOLECULE_WORKSPACE_TOKEN=${token}`);
    await page.click("#token-done");
    const me = await http("GET", "/org/whoami", token);
    assert.equal(me.body.kind, "workspace");
    await page.locator("#ws-table tbody tr", { hasText: "made-in-the-page" }).waitFor(WAIT);
  });

  await t.test("the workspaces page lists them and deletes with the cascade confirmation", async () => {
    await page.click('nav a[data-page="workspaces"]');
    const row = page.locator("#ws-table tbody tr", { hasText: "research-sub" });
    await row.waitFor(WAIT);
    await shot(page, "workspaces");
    const parent = page.locator("#ws-table tbody tr").filter({ hasText: "analyst" });
    await parent.getByRole("button", { name: /^Delete / }).click();
    await page.click("#confirm-ok");
    await page.locator("#confirm-title", { hasText: "sub-workspaces" }).waitFor(WAIT);
    assert.match(await page.textContent("#confirm-text"), /research-sub/);
    await page.click("#confirm-ok");
    await row.waitFor({ state: "detached", ...WAIT });
    const left = await page.locator("#ws-table tbody tr").allTextContents();
    assert.equal(left.length, 1, "the tree is gone; only the page-made workspace is left");
    assert.match(left[0], /made-in-the-page/);
  });

  await t.test("an API error is shown in words", async () => {
    await page.click("#ws-new");
    await page.fill("#ws-name", "   ");
    await page.click("#ws-create");
    await page.locator("#ws-error").waitFor(WAIT);
    assert.match(await page.textContent("#ws-error"), /name/);
    await page.keyboard.press("Escape");
  });

  await t.test("a write from another site with the cookie is refused", async () => {
    // localhost is another site than 127.0.0.1: the browser treats the
    // evil page as a stranger, as it would evil.example.
    const evil = createServer((req, res) => {
      res.setHeader("Content-Type", "text/html");
      res.end(`<!doctype html><title>evil</title>
        <form id="f" method="POST" action="${base}/org/tokens" enctype="text/plain">
          <input name='{"name":"evil-form","x":"' value='"}'></form>
        <script>
          fetch("${base}/org/tokens", { method: "POST", credentials: "include",
            headers: { "Content-Type": "application/json", "X-Molecule-UI": "1" },
            body: JSON.stringify({ name: "evil-fetch" }) })
            .then((r) => { document.title = "sent " + r.status; }, () => { document.title = "blocked"; });
        </script>`);
    });
    await new Promise((r) => evil.listen(0, "127.0.0.1", r));
    const evilUrl = `http://localhost:${evil.address().port}/`;
    const p = await context.newPage();
    await p.goto(evilUrl);
    await p.waitForFunction(() => document.title !== "evil", null, WAIT);
    assert.equal(await p.title(), "blocked", "the preflight is refused, so the write is never sent");
    const nav = p.waitForNavigation(WAIT);
    await p.evaluate(() => document.getElementById("f").submit());
    const res = await nav;
    assert.ok([401, 403].includes(res.status()), `form post answered ${res.status()}`);
    await p.close();
    evil.close();
    const keys = await http("GET", "/org/tokens", admin);
    assert.deepEqual(
      keys.body.tokens.filter((k) => k.name.startsWith("evil")),
      [],
      "no key was minted from another site",
    );
  });

  await t.test("the audit page says whether the trail is intact", async () => {
    await page.goto(`${base}/ui/#/audit`);
    const line = page.locator("#audit-verdict");
    await line.waitFor(WAIT);
    assert.match(await line.textContent(), /^Audit trail intact: \d+ entries, sealed and chained/);
    assert.ok((await page.locator("#audit-table tbody tr").count()) > 0);
  });

  await t.test("Log out ends the session: the old cookie no longer works", async () => {
    await page.click("#logout");
    await page.locator("#page-signin").waitFor(WAIT);
    const res = await fetch(`${base}/org/whoami`, { headers: { Cookie: `molecule_session=${cookieValue}` } });
    assert.equal(res.status, 401);
  });

  await context.close();
});

test("an admin key pasted into the sign-in form opens a session; other keys are refused in words", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await page.goto(`${base}/ui/`);
  const ro = await http("POST", "/org/tokens", admin, { name: "viewer", role: "read-only" });
  await page.fill("#signin-key", ro.body.auth_token);
  await page.click('#signin-form button[type="submit"]');
  await page.locator("#alert").waitFor(WAIT);
  assert.match(await page.textContent("#alert-text"), /admin/);
  assert.equal(await page.inputValue("#signin-key"), "", "the key is not left in the form");

  await page.fill("#signin-key", admin);
  await page.click('#signin-form button[type="submit"]');
  await page.locator("#toolbar").waitFor(WAIT);
  const [cookie] = (await context.cookies()).filter((c) => c.name === "molecule_session");
  assert.ok(cookie && cookie.httpOnly);
  // Phone width: the page still works; the keys table scrolls sideways.
  await page.keyboard.press("Control+Comma");
  await page.locator("#keys-table tbody tr").first().waitFor(WAIT);
  await page.click("#tab-sessions");
  await page.locator("#sessions-table tbody tr").first().waitFor(WAIT);
  assert.match(await page.textContent("#sessions-table"), /this browser/);
  await context.close();
});

test("an admin limits, edits, watches and disables a key, and sets the key policy", async (t) => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await page.goto(cli("login-url", "--base-url", base));
  await page.locator("#toolbar").waitFor(WAIT);
  await page.goto(`${base}/ui/#/settings/keys`);
  await page.locator("#panel-keys").waitFor(WAIT);

  let token, prefix;
  const row = () => page.locator(`#keys-table tr[data-prefix="${prefix}"]`);
  await t.test("New Key takes a description, address ranges and a rate", async () => {
    await page.click("#key-new");
    await page.fill("#key-name", "nightly-job");
    await page.fill("#key-description", "the nightly export; ask ops");
    await page.fill("#key-cidrs", "10.0.0.0/8");
    await page.fill("#key-rate", "100");
    await page.selectOption("#key-rate-per", "3600");
    await page.selectOption("#key-expiry", "7");
    await page.click("#key-create");
    await page.locator("#dlg-token[open]").waitFor(WAIT);
    token = await page.inputValue("#token-value");
    prefix = token.slice(0, 16);
    await page.click("#token-done");
    await row().waitFor(WAIT);
    const text = await row().textContent();
    assert.match(text, /the nightly export; ask ops/);
    assert.match(text, /from 10\.0\.0\.0\/8; 100\/hour/);
    assert.match(text, /within 7 days/);
    assert.match(await page.textContent("#keys-banner"), /1 key expires within 7 days/);
    const res = await http("GET", "/org/whoami", token);
    assert.equal(res.status, 401, "this machine is outside the key's ranges");
    await shot(page, "org-api-keys-limits");
  });

  await t.test("Edit changes its ranges at once", async () => {
    await row().getByRole("button", { name: /^Edit / }).click();
    assert.equal(await page.inputValue("#edit-cidrs"), "10.0.0.0/8");
    await page.fill("#edit-cidrs", "127.0.0.1/32");
    await page.fill("#edit-name", "nightly-export");
    await page.click("#edit-save");
    await page.locator("#dlg-edit").waitFor({ state: "hidden", ...WAIT });
    await page.locator(`#keys-table tr[data-prefix="${prefix}"]`, { hasText: "nightly-export" }).waitFor(WAIT);
    const res = await fetch(`${base}/org/whoami`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-ratelimit-limit"), "100");
  });

  await t.test("Activity lists its requests, and where it was last used from", async () => {
    await http("GET", "/workspaces", token);
    // The log is written in batches, a second apart.
    const id = (await http("GET", "/org/tokens", admin)).body.tokens.find((k) => k.prefix === prefix).id;
    for (let i = 0; i < 100; i++) {
      const got = await http("GET", `/org/tokens/${id}/activity`, admin);
      if (got.body.requests.some((r) => r.route === "/workspaces")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.reload();
    await row().waitFor(WAIT);
    await row().getByRole("button", { name: /^Activity / }).click();
    await page.locator("#dlg-activity[open]").waitFor(WAIT);
    const rows = await page.locator("#activity-table tbody tr").allTextContents();
    assert.ok(rows.some((r) => /GET \/workspaces.*200/.test(r)), rows.join("\n"));
    assert.ok(rows.some((r) => /GET \/org\/whoami.*401/.test(r)), "the refused request is listed too");
    assert.match(await page.textContent("#activity-summary"), /refused or failed/);
    await shot(page, "key-activity");
    await page.click("#activity-close");
    assert.match(await row().textContent(), /127\.0\.0\.1/);
  });

  await t.test("Disable refuses it until Enable", async () => {
    await row().getByRole("button", { name: /^Disable / }).click();
    await page.click("#confirm-ok");
    await row().getByRole("button", { name: /^Enable / }).waitFor(WAIT);
    assert.match(await row().textContent(), /disabled/);
    assert.equal((await http("GET", "/org/whoami", token)).status, 401);
    await row().getByRole("button", { name: /^Enable / }).click();
    await row().getByRole("button", { name: /^Disable / }).waitFor(WAIT);
    assert.equal((await http("GET", "/org/whoami", token)).status, 200);
  });

  await t.test("the key policy refuses a key that never expires, and flags the old ones", async () => {
    const ws = await http("POST", "/workspaces", admin, { name: "ops-alerts" });
    const ch = await http("POST", `/workspaces/${ws.body.id}/channels`, admin, {
      channel_type: "webhook",
      config: { url: "https://hooks.example.com/molecule" },
    });
    assert.equal(ch.status, 201);
    await page.click("#tab-policy");
    await page.locator("#panel-policy").waitFor(WAIT);
    // The form opens once the policy in force is shown in it.
    await page.locator("#policy-fields:not([disabled])").waitFor(WAIT);
    await page.fill("#policy-max-days", "90");
    await page.check("#policy-require");
    await page.selectOption("#policy-channel", ch.body.id);
    await page.click("#policy-save");
    await page.locator("#policy-saved", { hasText: "Saved" }).waitFor(WAIT);
    assert.match(await page.textContent("#policy-status"), /live keys? breaks? this policy/);
    await shot(page, "key-policy");
    const policy = await http("GET", "/org/policy", admin);
    assert.deepEqual(
      [policy.body.max_key_lifetime_seconds, policy.body.require_expiry, policy.body.expiry_channel_id],
      [90 * 86400, true, ch.body.id],
    );
    await page.click("#tab-keys");
    await page.locator("#keys-banner", { hasText: "break" }).waitFor(WAIT);
    await page.click("#key-new");
    await page.fill("#key-name", "forever");
    await page.selectOption("#key-expiry", "never");
    await page.click("#key-create");
    await page.locator("#key-error").waitFor(WAIT);
    assert.match(await page.textContent("#key-error"), /policy_violation/);
    await page.keyboard.press("Escape");
    // Back as it was, for whoever runs after.
    await http("PUT", "/org/policy", admin, { require_expiry: false });
  });

  await context.close();
});

test("on a phone: a bad pasted key is said, long names wrap, dialogs fit, a shown token survives Esc", async (t) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const inViewport = async (selector) => {
    const box = await page.locator(selector).boundingBox();
    return box && box.x >= 0 && box.y >= 0 && box.x + box.width <= 390 && box.y + box.height <= 844;
  };

  await t.test("a wrong key pasted into the sign-in form gets an error in words", async () => {
    await page.goto(`${base}/ui/`);
    await page.fill("#signin-key", "mol_org_" + "x".repeat(49));
    await page.click('#signin-form button[type="submit"]');
    await page.locator("#alert").waitFor(WAIT);
    assert.match(await page.textContent("#alert-text"), /not accepted/);
    assert.equal(await page.locator("#page-signin").isVisible(), true);
  });

  await t.test("a 255-character name wraps: the page is as wide as the phone", async () => {
    const long = "n".repeat(255);
    const made = await http("POST", "/workspaces", admin, { name: long });
    assert.equal(made.status, 201);
    await page.fill("#signin-key", admin);
    await page.click('#signin-form button[type="submit"]');
    await page.locator("#toolbar").waitFor(WAIT);
    await page.goto(`${base}/ui/#/workspaces`);
    const row = page.locator("#ws-table tbody tr", { hasText: long });
    await row.waitFor(WAIT);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page is ${width}px wide on a 390px screen`);
    // Its Delete button is named with the row, and can be reached.
    const del = row.getByRole("button", { name: `Delete ${long}` });
    await del.scrollIntoViewIfNeeded();
    assert.ok(await del.isVisible());
    await shot(page, "workspaces-phone");
  });

  await t.test("New Key's buttons are on screen, and Esc does not throw the token away", async () => {
    await page.goto(`${base}/ui/#/settings/keys`);
    await page.locator("#panel-keys").waitFor(WAIT);
    await page.click("#key-new");
    await page.locator("#dlg-key[open]").waitFor(WAIT);
    await page.locator("#key-create").scrollIntoViewIfNeeded();
    assert.ok(await inViewport("#key-create"), "Create key can be tapped");
    await page.fill("#key-name", "phone-key");
    await page.click("#key-create");
    await page.locator("#dlg-token[open]").waitFor(WAIT);
    const token = await page.inputValue("#token-value");
    await page.keyboard.press("Escape");
    assert.equal(await page.locator("#dlg-token[open]").count(), 1, "still open after Esc");
    assert.equal(await page.inputValue("#token-value"), token, "and the token is still there");
    await page.locator("#token-done").scrollIntoViewIfNeeded();
    assert.ok(await inViewport("#token-done"), "I have copied it can be tapped");
    await page.click("#token-done");
    await page.locator("#dlg-token").waitFor({ state: "hidden", ...WAIT });
    await shot(page, "org-api-keys-phone");
  });

  await context.close();
});
