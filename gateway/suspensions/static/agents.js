// The kill switch console: a thin client of /v1/admin/suspensions. Shares the bearer
// token of the approvals console (sessionStorage, this tab only); no cookies.
"use strict";

const TOKEN_KEY = "gateway.approver.token";
const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY);
let timer = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...(options.headers || {}) },
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body.detail || response.statusText), { status: response.status });
  return body;
}

function describe(s) {
  if (s.scope === "all") return "everything";
  return `${s.scope} ${s.value}` + (s.tenant ? ` (tenant ${s.tenant})` : "");
}

function render(suspensions) {
  const list = $("suspensions");
  list.replaceChildren();
  $("none").hidden = suspensions.length > 0;
  for (const s of suspensions) {
    const reason = el("input", { placeholder: "why resume (audited)", "aria-label": `Resume reason for ${describe(s)}` });
    const resume = el("button", { class: "primary", type: "button" }, "Resume");
    resume.addEventListener("click", async () => {
      try {
        await api(`/v1/admin/suspensions/${encodeURIComponent(s.suspension_id)}/resume`, {
          method: "POST",
          body: JSON.stringify({ reason: reason.value }),
        });
        await refresh();
      } catch (err) {
        reason.setCustomValidity(err.message);
        reason.reportValidity();
      }
    });
    list.append(
      el("li", { class: "item", "data-id": s.suspension_id },
        el("div", {},
          el("div", { class: "item-title" }, describe(s)),
          el("div", { class: "reason" }, s.reason),
          el("div", { class: "mono" }, `${s.source} · by ${s.suspended_by} · ${new Date(s.suspended_at * 1000).toLocaleString()}`)),
        el("div", {}, reason, resume)),
    );
  }
}

async function refresh() {
  try {
    render((await api("/v1/admin/suspensions?state=active")).suspensions);
  } catch (err) {
    if (err.status === 401 || err.status === 403) showSignIn(err.message);
  }
}

function showSignIn(message = "") {
  clearInterval(timer);
  $("workspace").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
}

async function signIn(candidate) {
  token = candidate.trim();
  try {
    await api("/v1/admin/suspensions?state=active&limit=1");
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(err.message);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("who").hidden = false;
  try {
    $("who-name").textContent = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
  } catch {
    $("who-name").textContent = "unknown";
  }
  await refresh();
  timer = setInterval(refresh, POLL_MS);
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("token").value);
});
$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  showSignIn();
});
$("suspend-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const scope = $("scope").value;
  const body = { scope, reason: $("reason").value };
  if (scope !== "all") body.value = $("value").value || null;
  if (scope === "subject" || scope === "client") body.tenant = $("tenant").value || null;
  try {
    await api("/v1/admin/suspensions", { method: "POST", body: JSON.stringify(body) });
    $("form-error").textContent = "";
    $("reason").value = "";
    await refresh();
  } catch (err) {
    $("form-error").textContent = err.message;
  }
});

if (token) signIn(token);
else showSignIn();
