// The approvers' console: a thin client of /v1/approvals. The bearer token lives in
// sessionStorage (this tab only) and travels in the Authorization header; no cookies,
// no localStorage. People sign in with their company's identity provider (authorization
// code with PKCE, run here) or, where the gateway's local issuer exists, paste a token.
"use strict";

const TOKEN_KEY = "gateway.approver.token";
// The PKCE verifier and state between leaving for the identity provider and coming back.
const PENDING_KEY = "gateway.approver.sign-in";
const POLL_MS = 2000;
const PAGE_SIZE = 50;

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  view: "pending",
  order: "newest",
  cursors: [null], // cursor of each page visited; the last one is the page shown
  nextCursor: null,
  total: 0,
  items: [],
  selected: null, // approval id
  detail: null, // full approval of the selected id
  notifications: [], // delivery attempts for the selected id
  clockSkew: 0, // server time minus local time, seconds
  busy: false,
  timer: null,
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function subjectOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).sub || "unknown";
  } catch {
    return "unknown";
  }
}

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) },
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.detail || response.statusText);
  if (typeof body.now === "number") state.clockSkew = body.now - Date.now() / 1000;
  return body;
}

function now() {
  return Date.now() / 1000 + state.clockSkew;
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function when(ts) {
  return ts ? new Date(ts * 1000).toLocaleString() : "";
}

// -- sign-in -------------------------------------------------------------------------

function showSignIn(message = "") {
  stopPolling();
  $("workspace").hidden = true;
  $("tabs").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  ($("paste").hidden ? $("sso-button") : $("token")).focus();
}

// -- single sign-on (authorization code with PKCE) -------------------------------------

let signInOptions = { sso: null, paste_token: true };

async function loadSignInOptions() {
  try {
    const response = await fetch("/console/sign-in.json", { cache: "no-store" });
    if (response.ok) signInOptions = await response.json();
  } catch {
    // Offline or an older gateway: offer what always works.
  }
  $("sso").hidden = !signInOptions.sso;
  $("paste").hidden = !signInOptions.paste_token;
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

function redirectUri() {
  return `${location.origin}/console`;
}

async function providerMetadata(issuer) {
  const response = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`identity provider discovery failed (HTTP ${response.status})`);
  const metadata = await response.json();
  if (metadata.issuer !== issuer) throw new Error(`identity provider names issuer ${metadata.issuer}, not ${issuer}`);
  return metadata;
}

async function startSignOn() {
  const sso = signInOptions.sso;
  try {
    const metadata = await providerMetadata(sso.issuer);
    const verifier = randomString();
    const expected = randomString();
    const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state: expected }));
    const url = new URL(metadata.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: sso.client_id,
      redirect_uri: redirectUri(),
      scope: sso.scope,
      state: expected,
      code_challenge: challenge,
      code_challenge_method: "S256",
      resource: sso.resource,
    });
    location.assign(url.toString());
  } catch (err) {
    showSignIn(err.message);
  }
}

async function finishSignOn(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  sessionStorage.removeItem(PENDING_KEY);
  history.replaceState(null, "", `/console${location.hash}`); // the code is single-use: drop it from the URL
  const sso = signInOptions.sso;
  if (params.has("error")) throw new Error(`sign-in refused: ${params.get("error_description") || params.get("error")}`);
  if (!sso || !pending || params.get("state") !== pending.state) {
    throw new Error("this sign-in response does not belong to a sign-in started in this tab");
  }
  if (params.has("iss") && params.get("iss") !== sso.issuer) throw new Error("sign-in response from another issuer");
  const metadata = await providerMetadata(sso.issuer);
  const response = await fetch(metadata.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code") || "",
      redirect_uri: redirectUri(),
      client_id: sso.client_id,
      code_verifier: pending.verifier,
      resource: sso.resource,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    throw new Error(`token request refused: ${body.error_description || body.error || response.status}`);
  }
  return body.access_token;
}

async function signIn(token) {
  state.token = token.trim();
  try {
    await api("/v1/approvals?limit=1");
  } catch (err) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(err.status === 401 || err.status === 403 ? err.message : `Cannot reach the gateway: ${err.message}`);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $("token").value = "";
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("tabs").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = subjectOf(state.token);
  await refresh();
  startPolling();
  const match = location.hash.match(/^#\/approvals\/([\w-]+)$/);
  if (match) await select(match[1]);
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.items = [];
  state.selected = state.detail = null;
  showSignIn();
}

// -- list ----------------------------------------------------------------------------

function filters() {
  const params = new URLSearchParams({ state: state.view, limit: String(PAGE_SIZE), order: state.order });
  const cursor = state.cursors[state.cursors.length - 1];
  if (cursor) params.set("cursor", cursor);
  for (const name of ["connector", "tool", "agent"]) {
    const value = $(`filter-${name}`).value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

async function refresh() {
  if (!state.token) return;
  try {
    const body = await api(`/v1/approvals?${filters()}`);
    state.items = body.approvals;
    state.nextCursor = body.next_cursor;
    state.total = body.total;
    $("status").textContent = `Updated ${new Date().toLocaleTimeString()}`;
    $("status").classList.remove("error");
  } catch (err) {
    if (err.status === 401) return showSignIn("Your token was refused or has expired. Sign in again.");
    $("status").textContent = `Update failed: ${err.message}`;
    $("status").classList.add("error");
    return;
  }
  if (state.view === "pending") $("pending-count").textContent = String(state.total);
  renderList();
  renderPager();
  if (state.selected) await loadDetail(state.selected, { quiet: true });
}

function renderList() {
  const list = $("list");
  list.replaceChildren(
    ...state.items.map((a) => {
      const left = a.state === "pending" ? `${duration(a.expires_at - now())} left` : a.state;
      return el(
        "li",
        {
          role: "option",
          id: `item-${a.approval_id}`,
          class: `item ${a.state}`,
          "aria-selected": String(a.approval_id === state.selected),
          "data-id": a.approval_id,
          onclick: () => select(a.approval_id),
        },
        el("div", { class: "item-title" }, `${a.connector}.${a.tool}`,
          a.high_impact ? el("span", { class: "impact", title: "high impact: approving asks to confirm" }, "high impact") : null),
        el("div", { class: "item-meta" }, `by ${requester(a)}`),
        el("div", { class: "item-summary" }, a.summary),
        el(
          "div",
          { class: "item-side" },
          el("span", { class: "pill" }, `${a.approvals}/${a.approvals_required}`),
          el("span", { class: "time" }, left),
        ),
      );
    }),
  );
  $("empty").hidden = state.items.length > 0;
  $("empty").textContent = state.view === "pending" ? "Nothing waiting for you." : "No decided requests yet.";
}

function requester(a) {
  return a.requester.tenant ? `${a.requester.subject} (${a.requester.tenant})` : a.requester.subject;
}

// -- paging: every approval is reachable, newest or oldest first ---------------------

function renderPager() {
  const page = state.cursors.length - 1;
  const first = state.items.length ? page * PAGE_SIZE + 1 : 0;
  $("page-info").textContent = `${first}-${page * PAGE_SIZE + state.items.length} of ${state.total}`;
  $("page-prev").disabled = page === 0;
  $("page-next").disabled = !state.nextCursor;
}

function turnPage(delta) {
  if (delta > 0 && state.nextCursor) state.cursors.push(state.nextCursor);
  else if (delta < 0 && state.cursors.length > 1) state.cursors.pop();
  else return;
  refresh();
}

function resetPages() {
  state.cursors = [null];
  refresh();
}

async function select(id) {
  state.selected = id;
  history.replaceState(null, "", `#/approvals/${id}`);
  for (const node of $("list").children) node.setAttribute("aria-selected", String(node.dataset.id === id));
  $(`item-${id}`)?.scrollIntoView({ block: "nearest" });
  await loadDetail(id, { quiet: false });
}

function move(delta) {
  if (!state.items.length) return;
  const index = state.items.findIndex((a) => a.approval_id === state.selected);
  const next = index < 0 ? 0 : Math.min(state.items.length - 1, Math.max(0, index + delta));
  select(state.items[next].approval_id);
}

// -- detail --------------------------------------------------------------------------

async function loadDetail(id, { quiet }) {
  try {
    const path = `/v1/approvals/${encodeURIComponent(id)}`;
    const [body, sent] = await Promise.all([api(path), api(`${path}/notifications`)]);
    if (state.selected !== id) return;
    const keepComment = $("comment")?.value || "";
    const hadFocus = document.activeElement?.id === "comment";
    state.detail = body.approval;
    state.notifications = sent.notifications;
    renderDetail(keepComment);
    if (hadFocus) $("comment")?.focus();
  } catch (err) {
    if (err.status === 401) return showSignIn("Your token was refused or has expired. Sign in again.");
    if (!quiet) $("detail").replaceChildren(el("p", { class: "error" }, err.message));
  }
}

function row(label, ...value) {
  return [el("dt", {}, label), el("dd", {}, ...value)];
}

function renderDetail(comment = "") {
  const a = state.detail;
  const pending = a.state === "pending";
  const facts = el(
    "dl",
    { class: "facts" },
    ...row("Why held", el("span", { id: "rule-reason" }, a.rule_reason || "(no reason recorded)")),
    ...row("Requested by", el("strong", {}, a.requester.subject), a.requester.tenant ? ` (tenant ${a.requester.tenant})` : ""),
    ...row("Roles", el("span", { id: "requester-roles" }, a.requester.roles.join(", ") || "none")),
    ...row("Tool", el("code", {}, `${a.connector}.${a.tool}`)),
    ...row("Summary", el("span", { id: "summary" }, a.summary || "(no arguments)")),
    ...row("Rule", el("code", {}, a.rule || "default"), ` · policy ${a.policy_version}`),
    ...row("Needs", `${a.approvals_required} approval${a.approvals_required === 1 ? "" : "s"}`,
      a.approver_role ? ` from role ${a.approver_role}` : ""),
    ...row("Requested", when(a.requested_at)),
    ...row(pending ? "Time left" : "Decided", pending
      ? el("span", { id: "time-left", "data-expires": String(a.expires_at) }, duration(a.expires_at - now()))
      : when(a.decided_at)),
    ...row("Outcome", el("span", { id: "outcome", class: `outcome ${a.outcome.status.replace(" ", "-")}` }, outcomeText(a.outcome))),
  );
  const votes = a.votes.length
    ? el("ol", { class: "votes" }, ...a.votes.map((v) =>
        el("li", { class: v.approve ? "yes" : "no" },
          el("strong", {}, v.approver), v.approve ? " approved" : " denied",
          v.comment ? el("q", {}, v.comment) : "", el("time", {}, when(v.at)))))
    : el("p", { class: "muted" }, "No votes yet.");
  const children = [
    el("div", { class: "detail-head" },
      el("h2", {}, `${a.connector}.${a.tool}`),
      el("span", { class: `badge ${a.state}` }, a.state),
      el("span", { class: "pill" }, `${a.approvals} of ${a.approvals_required}`),
      a.high_impact ? el("span", { class: "impact" }, "high impact") : null),
    el("p", { class: "muted mono" }, a.approval_id),
    facts,
    el("h3", {}, "Arguments"),
    el("pre", { class: "arguments", id: "arguments" }, JSON.stringify(a.arguments, null, 2)),
    el("h3", {}, "Votes"),
    votes,
    el("h3", {}, "Notifications"),
    notifications(state.notifications || []),
  ];
  if (a.reason) children.push(el("p", { class: "reason" }, a.reason));
  if (pending) {
    const blocked = !a.vote.allowed;
    const box = el("textarea", { id: "comment", rows: "3", placeholder: "Comment (required to deny)" });
    box.value = comment;
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        decide(true);
      }
      if (event.key === "Escape") box.blur();
    });
    children.push(
      el("div", { class: "decide" },
        el("label", { for: "comment" }, "Comment"),
        box,
        el("p", { id: "decide-error", class: "error", role: "alert" }),
        blocked ? el("p", { id: "vote-blocked", class: "muted" }, `You cannot vote: ${a.vote.reason}`) : null,
        el("div", { class: "buttons" },
          el("button", { id: "approve", class: "approve", onclick: () => decide(true), ...disabled(blocked, a) },
            "Approve", el("kbd", {}, "a")),
          el("button", { id: "deny", class: "deny", onclick: () => decide(false), ...disabled(blocked, a) },
            "Deny", el("kbd", {}, "d")))),
    );
  }
  $("detail").replaceChildren(...children);
}

// Every delivery attempt to Slack, Teams or e-mail, as the audit log recorded it.
function notifications(sent) {
  if (!sent.length) return el("p", { class: "muted" }, "No notifications.");
  return el("ol", { class: "notifications", id: "notifications" }, ...sent.map((n) =>
    el("li", { class: n.outcome },
      el("strong", {}, n.channel), ` ${n.event} `, el("span", { class: "outcome" }, n.outcome),
      ` to ${n.target}`, n.error ? el("q", {}, n.error) : "", el("time", {}, when(n.at)))));
}

function disabled(blocked, a) {
  return blocked ? { disabled: "", title: a.vote.reason } : {};
}

function outcomeText(outcome) {
  const label = outcome.executed ? `Executed: ${outcome.status}` : outcome.status[0].toUpperCase() + outcome.status.slice(1);
  return outcome.detail ? `${label} (${outcome.detail})` : label;
}

// A high-impact approval is confirmed in a dialog naming what is approved; resolves true
// only on the dialog's own Approve button.
function confirmImpact(a) {
  const dialog = $("confirm");
  $("confirm-what").textContent = `${a.connector}.${a.tool} by ${requester(a)}`;
  $("confirm-summary").textContent = a.summary;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "approve"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

async function decide(approve) {
  const a = state.detail;
  if (!a || a.state !== "pending" || state.busy || !a.vote.allowed) return;
  const comment = $("comment").value.trim();
  if (!approve && !comment) {
    $("decide-error").textContent = "Say why you deny it: the agent receives your comment as the reason.";
    $("comment").focus();
    return;
  }
  if (approve && a.high_impact && !(await confirmImpact(a))) return;
  state.busy = true;
  for (const id of ["approve", "deny"]) $(id).disabled = true;
  try {
    const body = await api(`/v1/approvals/${encodeURIComponent(a.approval_id)}/${approve ? "approve" : "deny"}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ comment }),
    });
    state.detail = body.approval;
    renderDetail();
    await refresh();
  } catch (err) {
    if (err.status === 401) return showSignIn("Your token was refused or has expired. Sign in again.");
    $("decide-error").textContent = err.message;
    for (const id of ["approve", "deny"]) $(id).disabled = false;
  } finally {
    state.busy = false;
  }
}

// -- live updates ----------------------------------------------------------------------

function startPolling() {
  stopPolling();
  state.timer = setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, POLL_MS);
}

function stopPolling() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

function tick() {
  const left = $("time-left");
  if (left) left.textContent = duration(Number(left.dataset.expires) - now());
}

// -- keyboard ------------------------------------------------------------------------

function typing(event) {
  const tag = event.target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA";
}

function setView(view) {
  state.view = view;
  state.cursors = [null];
  $("tab-pending").setAttribute("aria-selected", String(view === "pending"));
  $("tab-history").setAttribute("aria-selected", String(view !== "pending"));
  refresh();
}

function onKey(event) {
  if ($("workspace").hidden || typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  if ($("confirm").open || $("help").open) return;
  const actions = {
    j: () => move(1),
    ArrowDown: () => move(1),
    k: () => move(-1),
    ArrowUp: () => move(-1),
    a: () => decide(true),
    d: () => decide(false),
    c: () => $("comment")?.focus(),
    p: () => setView("pending"),
    h: () => setView("decided"),
    r: () => refresh(),
    n: () => turnPage(1),
    b: () => turnPage(-1),
    "/": () => $("filter-connector").focus(),
    "?": () => $("help").showModal(),
  };
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

// -- start ---------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!$("paste").hidden && $("token").value.trim()) signIn($("token").value);
  });
  $("sso-button").addEventListener("click", startSignOn);
  $("sign-out").addEventListener("click", signOut);
  $("help-close").addEventListener("click", () => $("help").close());
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("filters").addEventListener("input", () => resetPages());
  $("order").addEventListener("change", () => {
    state.order = $("order").value;
    resetPages();
  });
  $("page-prev").addEventListener("click", () => turnPage(-1));
  $("page-next").addEventListener("click", () => turnPage(1));
  for (const tab of document.querySelectorAll("[data-view]")) {
    tab.addEventListener("click", () => setView(tab.dataset.view));
  }
  document.addEventListener("keydown", onKey);
  setInterval(tick, 1000);
  await loadSignInOptions();
  const params = new URLSearchParams(location.search);
  if (params.has("code") || params.has("error")) {
    try {
      await signIn(await finishSignOn(params));
    } catch (err) {
      showSignIn(err.message);
    }
  } else if (state.token) signIn(state.token);
  else showSignIn();
});
