// Settings → Org API Keys and Key policy. Loaded after app.js, whose
// helpers ($, el, api, guarded, …) it uses. Like app.js, it puts data into
// the page as text only.
"use strict";

const RATE_UNITS = [
  [60, "minute"],
  [3600, "hour"],
  [86400, "day"],
];

function rateText(r) {
  if (!r) return null;
  const unit = RATE_UNITS.find(([secs]) => secs === r.per_seconds);
  return unit ? `${r.requests}/${unit[1]}` : `${r.requests} per ${r.per_seconds}s`;
}

// "10.0.0.0/8, 192.0.2.7" or one per line → a list; blank → [].
function cidrList(text) {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

// The rate inputs → a body value: null when left blank.
function rateFrom(countId, perId) {
  const raw = $(countId).value.trim();
  if (!raw) return null;
  return { requests: Number(raw), per_seconds: Number($(perId).value) };
}

function setRate(countId, perId, r) {
  $(countId).value = r ? String(r.requests) : "";
  const known = r && RATE_UNITS.some(([secs]) => secs === r.per_seconds);
  $(perId).value = known ? String(r.per_seconds) : "3600";
}

function badge(text, kind) {
  return el("span", { class: `badge badge-${kind}` }, text);
}

// -- the list

async function loadKeys() {
  const [keys, workspaces] = await Promise.all([api("GET", "/org/tokens"), allWorkspaces()]);
  const names = new Map(workspaces.map((w) => [w.id, w.name]));
  const rows = keys.tokens.map((k) => keyRow(k, names));
  fill("keys-table", rows, "keys-empty");
  keysBanner(keys.tokens);
}

function keyRow(k, names) {
  const limits = [
    k.allowed_cidrs.length ? `from ${k.allowed_cidrs.join(", ")}` : null,
    rateText(k.rate_limit),
  ].filter(Boolean);
  const usedFrom = [k.last_used_ip, k.last_used_user_agent].filter(Boolean).join(" · ");
  // Named with the key, so that a screen reader's list of buttons says which.
  const button = (label, cls, fn) =>
    el(
      "button",
      { type: "button", class: `${cls} small`, "aria-label": `${label} ${k.name}`, on: { click: guarded(fn) } },
      label,
    );
  return el(
    "tr",
    { "data-prefix": k.prefix, class: k.disabled ? "disabled-row" : "" },
    el(
      "td",
      {},
      k.name,
      k.disabled ? badge("disabled", "off") : null,
      k.breaks_policy ? badge("breaks policy", "warn") : null,
      k.description ? el("div", { class: "sub" }, k.description) : null,
    ),
    el("td", {}, el("code", {}, k.prefix)),
    el("td", {}, k.role),
    el("td", {}, k.workspaces.length ? k.workspaces.map((id) => names.get(id) || id.slice(0, 8)).join(", ") : "all"),
    el("td", { class: "limits" }, limits.length ? limits.join("; ") : "—"),
    el("td", {}, k.created_by, el("div", { class: "sub" }, when(k.created_at))),
    el("td", {}, when(k.last_used_at), usedFrom ? el("div", { class: "sub ua", title: usedFrom }, usedFrom) : null),
    el(
      "td",
      {},
      k.expires_at ? when(k.expires_at) : "never",
      k.expires_soon ? badge(`within ${k.expires_soon.replace("d", " days")}`, "warn") : null,
    ),
    el(
      "td",
      { class: "row-actions" },
      button("Edit", "secondary", () => editKey(k)),
      button("Activity", "secondary", () => showActivity(k)),
      button(k.disabled ? "Enable" : "Disable", "secondary", () => toggleKey(k)),
      button("Rotate", "secondary", () => rotateKey(k)),
      button("Revoke", "danger", () => revokeKey(k)),
    ),
  );
}

// What needs doing, above the table: keys about to expire, keys that
// break the policy.
function keysBanner(tokens) {
  const soon = tokens.filter((k) => k.expires_soon === "7d").length;
  const month = tokens.filter((k) => k.expires_soon === "30d").length;
  const breaking = tokens.filter((k) => k.breaks_policy).length;
  const parts = [];
  if (soon) parts.push(`${soon} key${soon === 1 ? "" : "s"} expire${soon === 1 ? "s" : ""} within 7 days`);
  if (month) parts.push(`${month} within 30 days`);
  if (breaking) parts.push(`${breaking} break${breaking === 1 ? "s" : ""} the key policy`);
  const expiring = soon + month;
  const advice = expiring ? ` Rotate ${expiring === 1 ? "it" : "them"} before ${expiring === 1 ? "it stops" : "they stop"} working.` : "";
  const banner = $("keys-banner");
  banner.hidden = parts.length === 0;
  banner.textContent = parts.length ? `${parts.join("; ")}.${advice}` : "";
}

// -- new, edit, disable, revoke

async function openNewKey() {
  formError("key-error", null);
  $("key-form").reset();
  $("key-expiry-date").hidden = true;
  const workspaces = await allWorkspaces();
  $("key-workspaces").replaceChildren(...workspaces.map((w) => el("option", { value: w.id }, w.name)));
  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  $("key-expiry-date").min = tomorrow;
  $("dlg-key").showModal();
  $("key-name").focus();
}

async function createKey(ev) {
  ev.preventDefault();
  formError("key-error", null);
  const body = {
    name: $("key-name").value.trim(),
    role: $("key-role").value,
    workspaces: [...$("key-workspaces").selectedOptions].map((o) => o.value),
    allowed_cidrs: cidrList($("key-cidrs").value),
  };
  const description = $("key-description").value.trim();
  if (description) body.description = description;
  const rate = rateFrom("key-rate", "key-rate-per");
  if (rate) body.rate_limit = rate;
  const expiry = $("key-expiry").value;
  if (expiry === "custom") {
    const date = $("key-expiry-date").value;
    if (!date) return formError("key-error", new Error("pick the expiry date"));
    body.expires_at = new Date(`${date}T23:59:59`).toISOString();
  } else if (expiry !== "never") {
    body.expires_in = Number(expiry) * 86400;
  }
  $("key-create").disabled = true;
  try {
    const key = await api("POST", "/org/tokens", body);
    $("dlg-key").close();
    showToken(key.auth_token, `Key “${key.name}” (${key.prefix}, ${key.role}) is ready.`, "MOLECULE_ORG_TOKEN");
    await loadKeys();
  } catch (e) {
    formError("key-error", e);
  } finally {
    $("key-create").disabled = false;
  }
}

let editing = null;

function editKey(k) {
  editing = k;
  formError("edit-error", null);
  $("edit-title").textContent = `Edit “${k.name}” (${k.prefix})`;
  $("edit-name").value = k.name;
  $("edit-description").value = k.description || "";
  $("edit-cidrs").value = k.allowed_cidrs.join("\n");
  setRate("edit-rate", "edit-rate-per", k.rate_limit);
  $("dlg-edit").showModal();
  $("edit-name").focus();
}

async function saveKey(ev) {
  ev.preventDefault();
  const k = editing;
  const description = $("edit-description").value.trim();
  const body = {
    name: $("edit-name").value.trim(),
    description: description || null,
    allowed_cidrs: cidrList($("edit-cidrs").value),
    rate_limit: rateFrom("edit-rate", "edit-rate-per"),
  };
  $("edit-save").disabled = true;
  try {
    await api("PATCH", `/org/tokens/${encodeURIComponent(k.id)}`, body);
    $("dlg-edit").close();
    await loadKeys();
  } catch (e) {
    formError("edit-error", e);
  } finally {
    $("edit-save").disabled = false;
  }
}

async function toggleKey(k) {
  if (!k.disabled) {
    const ok = await confirmDialog(
      "Disable key?",
      `Disable “${k.name}” (${k.prefix})? Every request with it fails until it is enabled again; the sessions it opened end.`,
      "Disable key",
    );
    if (!ok) return;
  }
  await api("PATCH", `/org/tokens/${encodeURIComponent(k.id)}`, { disabled: !k.disabled });
  await loadKeys();
}

async function revokeKey(k) {
  const ok = await confirmDialog(
    "Revoke key?",
    `Revoke “${k.name}” (${k.prefix})? Every request with it fails from now on. This cannot be undone.`,
    "Revoke key",
  );
  if (!ok) return;
  await api("DELETE", `/org/tokens/${encodeURIComponent(k.id)}`);
  await loadKeys();
}

// -- activity

async function showActivity(k) {
  const data = await api("GET", `/org/tokens/${encodeURIComponent(k.id)}/activity`);
  $("activity-title").textContent = `Activity of “${k.name}” (${k.prefix})`;
  const failed = data.requests.filter((r) => r.status >= 400).length;
  $("activity-summary").textContent = data.count
    ? `The latest ${data.count} request${data.count === 1 ? "" : "s"}, newest first (${failed} refused or failed). ` +
      "The last second's may not be listed yet."
    : "No requests recorded in the last 30 days.";
  const rows = data.requests.map((r) =>
    el(
      "tr",
      { class: r.status >= 400 ? "failed-row" : "" },
      el("td", {}, when(r.at)),
      el("td", {}, el("code", {}, `${r.method} ${r.route}`)),
      el("td", {}, String(r.status)),
      el("td", {}, `${r.duration_ms.toFixed(1)} ms`),
      el("td", {}, r.client || "—"),
    ),
  );
  fill("activity-table", rows);
  $("dlg-activity").showModal();
}

// -- rotate

let rotating = null;

function rotateKey(k) {
  rotating = k;
  formError("rotate-error", null);
  $("rotate-text").textContent =
    `A new token replaces “${k.name}” (${k.prefix}), with the same role, bindings and limits.`;
  $("rotate-grace").value = "0";
  $("rotate-expiry").value = "same";
  $("dlg-rotate").showModal();
}

async function doRotate(ev) {
  ev.preventDefault();
  const k = rotating;
  const body = { grace_seconds: Number($("rotate-grace").value) };
  const expiry = $("rotate-expiry").value;
  if (expiry !== "same") body.expires_in = Number(expiry) * 86400;
  $("rotate-go").disabled = true;
  try {
    const key = await api("POST", `/org/tokens/${encodeURIComponent(k.id)}/rotate`, body);
    $("dlg-rotate").close();
    const until = key.old_key_expires_at ? ` The old token works until ${when(key.old_key_expires_at)}.` : "";
    showToken(key.auth_token, `“${key.name}” rotated: this is its new token (${key.prefix}).${until}`, "MOLECULE_ORG_TOKEN");
    await loadKeys();
  } catch (e) {
    formError("rotate-error", e);
  } finally {
    $("rotate-go").disabled = false;
  }
}

// -- the org's key policy

const DAY_SECS = 86400;

async function loadPolicy() {
  formError("policy-error", null);
  $("policy-fields").disabled = true;
  const [policy, workspaces] = await Promise.all([api("GET", "/org/policy"), allWorkspaces()]);
  // Channels live in workspaces: every workspace's, to pick one from.
  const lists = await Promise.all(
    workspaces.map((w) =>
      api("GET", `/workspaces/${encodeURIComponent(w.id)}/channels`).then(
        (chs) => chs.map((c) => ({ ...c, workspace: w.name })),
        () => [],
      ),
    ),
  );
  const channels = lists.flat();
  const none = el("option", { value: "" }, "None: no warnings");
  const options = channels.map((c) =>
    el("option", { value: c.id }, `${c.channel_type} in ${c.workspace}${c.enabled ? "" : " (disabled)"}`),
  );
  $("policy-channel").replaceChildren(none, ...options);
  $("policy-channel").value = policy.expiry_channel_id || "";
  const max = policy.max_key_lifetime_seconds;
  $("policy-max-days").value = max ? String(Math.round((max / DAY_SECS) * 100) / 100) : "";
  $("policy-require").checked = policy.require_expiry;
  showPolicyStatus(policy);
  $("policy-fields").disabled = false;
}

function showPolicyStatus(policy) {
  const n = policy.keys_breaking_policy;
  const by = policy.updated_at ? ` Last set ${when(policy.updated_at)} by ${policy.updated_by}.` : "";
  $("policy-status").textContent =
    (n ? `${n} live key${n === 1 ? "" : "s"} break${n === 1 ? "s" : ""} this policy (flagged in the key list).` : "Every live key keeps to this policy.") + by;
}

async function savePolicy(ev) {
  ev.preventDefault();
  formError("policy-error", null);
  const days = $("policy-max-days").value.trim();
  const body = {
    max_key_lifetime_seconds: days ? Math.round(Number(days) * DAY_SECS) : null,
    require_expiry: $("policy-require").checked,
    expiry_channel_id: $("policy-channel").value || null,
  };
  $("policy-save").disabled = true;
  try {
    showPolicyStatus(await api("PUT", "/org/policy", body));
    $("policy-saved").textContent = "Saved.";
  } catch (e) {
    formError("policy-error", e);
  } finally {
    $("policy-save").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-new").addEventListener("click", guarded(openNewKey));
  $("key-form").addEventListener("submit", createKey);
  $("key-expiry").addEventListener("change", () => {
    $("key-expiry-date").hidden = $("key-expiry").value !== "custom";
  });
  $("edit-form").addEventListener("submit", saveKey);
  $("rotate-form").addEventListener("submit", doRotate);
  $("policy-form").addEventListener("submit", savePolicy);
  $("policy-form").addEventListener("input", () => {
    $("policy-saved").textContent = "";
  });
});
