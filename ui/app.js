// The org admin pages. Plain DOM, no framework, no build step. Everything
// shown comes from the JSON API, called with the session cookie; data is
// only ever put into the page as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGES = ["signin", "workspaces", "approvals", "audit", "settings"];
const APPROVALS_REFRESH_MS = 5000;
let me = null;
let refreshTimer = null;
let badgeTimer = null;
let polling = false;

// Runs a refresh as a poll, and not at all while the tab is hidden.
async function poll(fn) {
  if (document.hidden || !me) return;
  polling = true;
  try {
    await fn();
  } catch {
    // A failed refresh is retried on the next tick; a 401 has signed out.
  } finally {
    polling = false;
  }
}

class ApiError extends Error {
  constructor(status, body) {
    const words = body && body.error ? body.error : `the server answered ${status}`;
    super(words);
    this.status = status;
    this.code = body && body.code;
    this.body = body;
  }
}

// Every call names itself as the UI: the server refuses cookie-authenticated
// writes without this header (cross-site request protection).
async function request(method, path, body, extraHeaders) {
  const headers = { "X-Molecule-UI": "1", Accept: "application/json", ...(extraHeaders || {}) };
  // Background refreshes say so: they do not count as use, so a tab left
  // open still lets its session end when idle.
  if (polling) headers["X-Molecule-Poll"] = "1";
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new Error(`cannot reach the server (${e.message})`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 200) };
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && me && !(extraHeaders && extraHeaders.Authorization)) {
      signedOut("Your session has ended. Sign in again.");
    }
    throw err;
  }
  return { data, headers: res.headers };
}

async function api(method, path, body, extraHeaders) {
  return (await request(method, path, body, extraHeaders)).data;
}

// Every workspace, a page of 1000 at a time.
async function allWorkspaces() {
  const all = [];
  let cursor = null;
  do {
    const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const { data, headers } = await request("GET", `/workspaces?limit=1000${q}`);
    all.push(...data);
    cursor = headers.get("X-Next-Cursor");
  } while (cursor);
  return all;
}

// ---- small helpers -------------------------------------------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") node.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function ago(iso) {
  if (!iso) return "—";
  const secs = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (secs < 60) return `${secs}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m`;
  if (secs < 86400) return `${Math.floor(secs / 3600)}h ${Math.floor((secs % 3600) / 60)}m`;
  return `${Math.floor(secs / 86400)}d`;
}

function showError(err) {
  const msg = err instanceof ApiError && err.code ? `${err.message} (${err.code})` : err.message || String(err);
  $("alert-text").textContent = msg;
  $("alert").hidden = false;
}

function clearError() {
  $("alert").hidden = true;
  $("alert-text").textContent = "";
}

function formError(id, err) {
  const p = $(id);
  if (!err) {
    p.hidden = true;
    p.textContent = "";
    return;
  }
  p.textContent = err instanceof ApiError && err.code ? `${err.message} (${err.code})` : err.message;
  p.hidden = false;
}

// Runs an action from a button, showing any failure in words.
function guarded(fn) {
  return async (ev) => {
    const btn = ev && ev.currentTarget;
    if (btn && btn.tagName === "BUTTON") btn.disabled = true;
    try {
      clearError();
      await fn(ev);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) showError(e);
    } finally {
      if (btn && btn.tagName === "BUTTON") btn.disabled = false;
    }
  };
}

function confirmDialog(title, text, okLabel) {
  const dlg = $("dlg-confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  dlg.returnValue = "cancel";
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

// ---- the one-time token dialog -------------------------------------------

function showToken(token, what, envName) {
  $("token-what").textContent = what;
  $("token-value").value = token;
  $("token-snippet-header").textContent = `Authorization: Bearer ${token}`;
  $("token-snippet-export").textContent = `export ${envName}=${token}`;
  $("token-copied").textContent = "";
  $("dlg-token").showModal();
  $("token-value").select();
}

// Closing the dialog forgets the token: nothing of it stays in the page.
function forgetToken() {
  $("token-value").value = "";
  $("token-snippet-header").textContent = "";
  $("token-snippet-export").textContent = "";
  $("token-what").textContent = "";
  $("token-copied").textContent = "";
}

async function copyToken() {
  const value = $("token-value").value;
  try {
    await navigator.clipboard.writeText(value);
  } catch {
    // Clipboard API refused (e.g. plain http on another host): fall back.
    $("token-value").select();
    document.execCommand("copy");
  }
  $("token-copied").textContent = "Copied to the clipboard.";
}

// ---- sign in and out -----------------------------------------------------

// Behind a sign-in link (/login?code=…): the code leaves the address bar and
// the history at once, then is spent with a POST. Fetching the link (a chat
// unfurler, a mail scanner) spends nothing.
async function signInWithLink() {
  const code = new URLSearchParams(location.search).get("code") || "";
  history.replaceState(null, "", "/ui/");
  try {
    await api("POST", "/login", { code });
  } catch (e) {
    signedOut();
    showError(e);
    return;
  }
  await start();
}

function signedOut(message) {
  me = null;
  clearInterval(badgeTimer);
  $("toolbar").hidden = true;
  stopRefresh();
  showPage("signin");
  if (message) showError(new Error(message));
}

async function signInWithKey(ev) {
  ev.preventDefault();
  const input = $("signin-key");
  const key = input.value.trim();
  input.value = "";
  try {
    await api("POST", "/org/sessions", undefined, { Authorization: `Bearer ${key}` });
  } catch (e) {
    // A refused key is said in words (guarded() leaves 401s to the
    // sign-out path, and there is no session here to end).
    if (e instanceof ApiError && e.status === 401) {
      showError(new Error("That key was not accepted: it is unknown, revoked, expired or mistyped."));
      return;
    }
    throw e;
  }
  await start();
}

async function logOut() {
  await api("DELETE", "/org/sessions/current");
  signedOut("You are signed out.");
}

// ---- pages ---------------------------------------------------------------

function showPage(name) {
  for (const p of PAGES) $(`page-${p}`).hidden = p !== name;
  for (const a of document.querySelectorAll(".toolbar nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function stopRefresh() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

async function route() {
  if (!me) return;
  stopRefresh();
  clearError();
  const hash = location.hash || "#/workspaces";
  const [, page, tab] = hash.split("/");
  try {
    if (page === "settings") {
      showPage("settings");
      const tabs = { keys: loadKeys, policy: loadPolicy, sessions: loadSessions };
      const t = tab in tabs ? tab : "keys";
      for (const name of Object.keys(tabs)) {
        $(`panel-${name}`).hidden = name !== t;
        $(`tab-${name}`).setAttribute("aria-selected", String(name === t));
      }
      document.title = "Settings · Molecule";
      await tabs[t]();
    } else if (page === "approvals") {
      showPage("approvals");
      document.title = "Approvals · Molecule";
      await loadApprovals();
      refreshTimer = setInterval(() => poll(loadApprovals), APPROVALS_REFRESH_MS);
    } else if (page === "audit") {
      showPage("audit");
      document.title = "Audit · Molecule";
      await loadAudit();
    } else {
      showPage("workspaces");
      document.title = "Workspaces · Molecule";
      await loadWorkspaces();
    }
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) showError(e);
  }
}

function fill(tableId, rows, emptyId) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...rows);
  if (emptyId) $(emptyId).hidden = rows.length > 0;
}

// -- Org API Keys and the key policy: keys.js

// -- Sessions

async function loadSessions() {
  const data = await api("GET", "/org/sessions");
  const rows = data.sessions.map((s) =>
    el(
      "tr",
      {},
      el("td", {}, el("code", {}, s.prefix), s.current ? el("span", { class: "badge" }, "this browser") : null),
      el("td", {}, s.created_via),
      el("td", {}, when(s.created_at)),
      el("td", {}, when(s.last_seen_at)),
      el("td", {}, when(s.idle_expires_at)),
      el("td", { class: "ua" }, s.user_agent || "—"),
      el(
        "td",
        { class: "row-actions" },
        el(
          "button",
          {
            type: "button",
            class: "danger",
            on: {
              click: guarded(async () => {
                const ok = await confirmDialog("End session?", `Sign out session ${s.prefix} now?`, "End session");
                if (!ok) return;
                await api("DELETE", `/org/sessions/${encodeURIComponent(s.id)}`);
                if (s.current) signedOut("You ended this browser's session.");
                else await loadSessions();
              }),
            },
          },
          "Revoke",
        ),
      ),
    ),
  );
  fill("sessions-table", rows);
}

// -- Workspaces

async function loadWorkspaces() {
  const list = await allWorkspaces();
  const names = new Map(list.map((w) => [w.id, w.name]));
  const rows = list.map((w) =>
    el(
      "tr",
      { "data-id": w.id },
      el("td", {}, w.name, w.role ? el("div", { class: "sub" }, w.role) : null),
      el("td", {}, el("span", { class: `status status-${w.status}` }, w.status.replace("_", " "))),
      el("td", {}, w.idle ? `idle ${ago(w.idle_since)}` : "—"),
      el("td", {}, w.last_heartbeat_at ? `${ago(w.last_heartbeat_at)} ago` : "never"),
      el("td", {}, String(w.active_tasks)),
      el("td", {}, w.parent_id ? names.get(w.parent_id) || w.parent_id.slice(0, 8) : "—"),
      el(
        "td",
        { class: "row-actions" },
        el(
          "button",
          { type: "button", class: "danger", "aria-label": `Delete ${w.name}`, on: { click: guarded(() => deleteWorkspace(w)) } },
          "Delete",
        ),
      ),
    ),
  );
  fill("ws-table", rows, "ws-empty");
}

async function openNewWorkspace() {
  formError("ws-error", null);
  $("ws-form").reset();
  const list = await allWorkspaces();
  $("ws-parent").replaceChildren(
    el("option", { value: "" }, "None (a top-level workspace)"),
    ...list.map((w) => el("option", { value: w.id }, w.name)),
  );
  $("dlg-ws").showModal();
  $("ws-name").focus();
}

async function createWorkspace(ev) {
  ev.preventDefault();
  formError("ws-error", null);
  const body = { name: $("ws-name").value.trim(), tier: Number($("ws-tier").value) };
  const role = $("ws-role").value.trim();
  const runtime = $("ws-runtime").value.trim();
  if (role) body.role = role;
  if (runtime) body.runtime = runtime;
  if ($("ws-parent").value) body.parent_id = $("ws-parent").value;
  $("ws-create").disabled = true;
  try {
    const ws = await api("POST", "/workspaces", body);
    $("dlg-ws").close();
    showToken(
      ws.auth_token,
      `Workspace “${ws.name}” is created. This is its agent's workspace token.`,
      "MOLECULE_WORKSPACE_TOKEN",
    );
    await loadWorkspaces();
  } catch (e) {
    formError("ws-error", e);
  } finally {
    $("ws-create").disabled = false;
  }
}

async function deleteWorkspace(w) {
  const ok = await confirmDialog(
    "Delete workspace?",
    `Delete “${w.name}”? Its tokens are revoked and its secrets and channels erased.`,
    "Delete",
  );
  if (!ok) return;
  const path = `/workspaces/${encodeURIComponent(w.id)}`;
  try {
    await api("DELETE", path);
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "confirmation_required")) throw e;
    const n = e.body.children_count;
    const names = (e.body.children || []).map((c) => c.name).join(", ");
    const again = await confirmDialog(
      "Delete the sub-workspaces too?",
      `“${w.name}” has ${n} sub-workspace${n === 1 ? "" : "s"} (${names}). Deleting it deletes them and everything below them.`,
      "Delete them all",
    );
    if (!again) return;
    await api("DELETE", `${path}?confirm=true`);
  }
  await loadWorkspaces();
}

// -- Approvals

async function loadApprovals() {
  const list = await api("GET", "/approvals/pending");
  const badge = $("pending-count");
  badge.textContent = String(list.length);
  badge.hidden = list.length === 0;
  if ($("page-approvals").hidden) return;
  const decide = (a, decision) =>
    guarded(async () => {
      await api("POST", `/workspaces/${encodeURIComponent(a.workspace_id)}/approvals/${encodeURIComponent(a.id)}/decide`, {
        decision,
      });
      await loadApprovals();
    });
  const rows = list.map((a) =>
    el(
      "tr",
      { "data-id": a.id },
      el("td", {}, a.workspace_name),
      el("td", {}, a.action),
      el("td", {}, a.reason || "—"),
      el("td", { title: when(a.created_at) }, ago(a.created_at)),
      el(
        "td",
        { class: "row-actions" },
        el("button", { type: "button", "aria-label": `Approve ${a.action}`, on: { click: decide(a, "approved") } }, "Approve"),
        el(
          "button",
          { type: "button", class: "danger", "aria-label": `Deny ${a.action}`, on: { click: decide(a, "denied") } },
          "Deny",
        ),
      ),
    ),
  );
  fill("ap-table", rows, "ap-empty");
}

// -- Audit

async function loadAudit() {
  const data = await api("GET", "/org/audit?limit=100");
  const rows = data.entries.map((e) =>
    el(
      "tr",
      {},
      el("td", {}, when(e.at)),
      el("td", {}, el("code", {}, e.actor)),
      el("td", {}, e.action),
      el("td", {}, e.target ? el("code", {}, e.target) : "—"),
      el("td", {}, e.client || "—"),
    ),
  );
  fill("audit-table", rows);
  await showVerdict();
}

// The chain's verdict, for those allowed to ask (org-wide admins).
async function showVerdict() {
  const line = $("audit-verdict");
  let v;
  try {
    v = await api("GET", "/org/audit/verify");
  } catch (e) {
    line.hidden = true;
    if (e instanceof ApiError && e.status === 403) return;
    throw e;
  }
  line.hidden = false;
  line.className = v.intact ? "verdict ok" : "verdict broken";
  const anchor = v.anchor ? `; the anchor witnessed #${v.anchor.seq}` : "";
  line.textContent = v.intact
    ? `Audit trail intact: ${v.entries} entries, sealed and chained${anchor}.`
    : `Audit trail broken at #${v.broken_at}: ${v.reason}${anchor}.`;
}

// ---- start ---------------------------------------------------------------

async function start() {
  clearError();
  try {
    me = await api("GET", "/org/whoami");
  } catch (e) {
    signedOut();
    if (!(e instanceof ApiError && e.status === 401)) showError(e);
    return;
  }
  $("who").textContent = me.kind === "session" ? `session ${me.prefix}` : `${me.prefix} (${me.role})`;
  $("logout").hidden = me.kind !== "session";
  $("toolbar").hidden = false;
  // The pending count in the toolbar stays current on every page.
  loadApprovals().catch(() => {});
  clearInterval(badgeTimer);
  badgeTimer = setInterval(() => {
    if ($("page-approvals").hidden) poll(loadApprovals);
  }, APPROVALS_REFRESH_MS);
  await route();
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", guarded(signInWithKey));
  $("logout").addEventListener("click", guarded(logOut));
  $("alert-close").addEventListener("click", clearError);
  $("ws-new").addEventListener("click", guarded(openNewWorkspace));
  $("ws-form").addEventListener("submit", createWorkspace);
  $("token-copy").addEventListener("click", guarded(copyToken));
  // Forget on the button (before the dialog closes). Esc does not close
  // it: a token shown once is not thrown away by a stray key.
  $("token-done").addEventListener("click", forgetToken);
  $("dlg-token").addEventListener("close", forgetToken);
  $("dlg-token").addEventListener("cancel", (ev) => ev.preventDefault());
  for (const btn of document.querySelectorAll("[data-close]")) {
    btn.addEventListener("click", () => btn.closest("dialog").close());
  }
  window.addEventListener("hashchange", route);
  // Settings: ⌘, on a Mac, Ctrl+, elsewhere.
  document.addEventListener("keydown", (ev) => {
    if ((ev.metaKey || ev.ctrlKey) && ev.key === ",") {
      ev.preventDefault();
      if (me) location.hash = "#/settings/keys";
    }
  });
  if (location.pathname === "/login") signInWithLink();
  else start();
});
