// The tool reviewers' console: a thin client of /v1/catalog/pending. The bearer token
// lives in sessionStorage (this tab only) and travels in the Authorization header.
"use strict";

const TOKEN_KEY = "gateway.reviewer.token";
const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem(TOKEN_KEY), items: [], selected: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) },
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body.detail || response.statusText), { status: response.status });
  return body;
}

function showSignIn(message = "") {
  $("workspace").hidden = $("who").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
}

async function signIn(token) {
  state.token = token.trim();
  try {
    await refresh();
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    return showSignIn(err.message);
  }
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $("sign-in").hidden = true;
  $("workspace").hidden = $("who").hidden = false;
  try {
    $("who-name").textContent = JSON.parse(atob(state.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
  } catch {
    $("who-name").textContent = "reviewer";
  }
}

async function refresh() {
  const body = await api("/v1/catalog/pending");
  state.items = body.pending;
  $("pending-count").textContent = String(state.items.length);
  $("empty").hidden = state.items.length > 0;
  $("list").replaceChildren(
    ...state.items.map((item) =>
      el(
        "li",
        { role: "option", class: "item", "aria-selected": String(key(item) === state.selected), onclick: () => select(item) },
        el("div", { class: "item-title" }, item.tool),
        el("div", { class: "item-meta" }, `${item.change} · ${item.digest.slice(0, 12)}`),
        el("div", { class: "item-side" }, screeningPill(item)),
      ),
    ),
  );
}

const key = (item) => `${item.tool}@${item.digest}`;

function screeningPill(item) {
  const checks = Object.entries((item.screening && item.screening.checks) || {});
  if (!checks.length) return null;
  return el("span", { class: "badge denied" }, checks.map(([name, n]) => `${name} ${n}`).join(", "));
}

async function select(item) {
  state.selected = key(item);
  const body = await api(`/v1/catalog/pending/${encodeURIComponent(item.tool)}?digest=${item.digest}`);
  const pending = body.pending;
  const diff = el("pre", { class: "arguments diff" });
  for (const line of pending.diff.split("\n")) {
    const kind = line.startsWith("+") ? "added" : line.startsWith("-") ? "removed" : "same";
    diff.append(el("span", { class: `line ${kind}` }, line), "\n");
  }
  const error = el("p", { class: "error", role: "alert" });
  const approve = el("button", { class: "approve", id: "approve" }, "Approve this definition");
  approve.addEventListener("click", async () => {
    approve.disabled = true;
    try {
      await api(`/v1/catalog/pending/${encodeURIComponent(pending.tool)}/approve`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ digest: pending.digest }),
      });
      $("detail").replaceChildren(el("p", { class: "placeholder" }, `${pending.tool} approved: agents see it now.`));
      state.selected = null;
      await refresh();
    } catch (err) {
      error.textContent = err.message;
      approve.disabled = false;
    }
  });
  $("detail").replaceChildren(
    el("div", { class: "detail-head" }, el("h2", {}, pending.tool), el("span", { class: "badge pending" }, pending.change)),
    el(
      "dl",
      { class: "facts" },
      el("dt", {}, "Approved digest"), el("dd", { class: "mono" }, pending.approved_digest || "(none)"),
      el("dt", {}, "Proposed digest"), el("dd", { class: "mono" }, pending.digest),
      el("dt", {}, "Screening"), el("dd", {}, screeningPill(pending) || "nothing found"),
    ),
    el("h3", {}, "What changed"),
    diff,
    el("div", { class: "decide" }, el("div", { class: "buttons" }, approve), error),
  );
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("token").value);
});
$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  showSignIn();
});
if (state.token) signIn(state.token);
else showSignIn();
