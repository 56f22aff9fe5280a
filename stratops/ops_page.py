"""The operator page itself: one HTML document with its script. It renders the server's
JSON with ``textContent`` only (journal text never becomes markup), follows
``/api/events`` (server-sent events), and holds the CSRF token in memory; the session cookie
is HttpOnly, so no script can read it, and no key ever reaches the browser."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stratops operator</title>
<style>
body{font:13px system-ui,sans-serif;margin:12px;background:#fafafa;color:#111}
h1{font-size:18px;margin:0 0 6px} h2{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse;background:#fff;margin-bottom:6px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b00;font-weight:bold} .ok{color:#070} .muted{color:#666}
#signin,#status{background:#fff;border:1px solid #ccc;padding:6px;margin:6px 0}
code{background:#eee;padding:1px 3px;word-break:break-all}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:0 18px}
</style></head><body>
<h1>stratops operator page</h1>
<div id="status">mode <b id="mode">-</b> &middot; journal seq <b id="seq">0</b>
 &middot; <span id="journal" class="muted"></span>
 &middot; stream <span id="stream">connecting</span>
 &middot; <span id="updated" class="muted"></span></div>
<div id="signin">
 <span id="who">read-only (not signed in)</span>
 <button id="btn-challenge">sign in</button> <button id="btn-logout" hidden>sign out</button>
 <div id="login-step" hidden>Run on your own machine (your key never enters the browser):<br>
  <code id="login-cmd"></code><br>
  paste the token it prints: <input id="token" size="60"> <button id="btn-login">submit</button>
 </div>
 <div id="action-msg"></div>
</div>
<div class="grid"><div>
<h2>P&amp;L net of costs (INR)</h2><table id="pnl"><thead><tr><th>strategy</th><th>realised</th>
<th>unrealised</th><th>charges</th><th>net</th></tr></thead><tbody></tbody></table>
<h2>Positions</h2><table id="positions"><thead><tr><th>strategy</th><th>symbol</th><th>net qty</th>
<th>avg</th><th>last</th><th>unrealised</th><th>realised</th></tr></thead><tbody></tbody></table>
<h2>Per-strategy health</h2><table id="health"><thead><tr><th>strategy</th><th>kill</th>
<th>mode</th><th>refusals</th><th>signals</th><th>orders</th><th>fills</th><th>last decision</th>
<th>actions</th></tr></thead><tbody></tbody></table>
<div>kill switch: scope <input id="kill-scope" value="all" size="12">
 <select id="kill-mode"><option>halt</option><option>reduce</option>
 <option>flatten</option></select>
 reason <input id="kill-reason" size="24"> <button id="btn-kill">pull</button>
 <button id="btn-rearm">request re-arm</button></div>
<h2>Working orders</h2><table id="orders"><thead><tr><th>client key</th><th>strategy</th>
<th>symbol</th><th>side</th><th>qty</th><th>filled</th><th>status</th><th>type</th><th>trace</th>
</tr></thead><tbody></tbody></table>
<h2>Fills</h2><table id="fills"><thead><tr><th>seq</th><th>time</th><th>strategy</th><th>symbol</th>
<th>side</th><th>qty</th><th>price</th><th>charges</th><th>trace</th></tr></thead><tbody></tbody></table>
</div><div>
<h2>Risk-limit utilisation <span id="risk-note" class="muted"></span></h2><table id="risk"><thead>
<tr><th>area</th><th>item</th><th>value</th><th>limit</th><th>utilisation</th></tr></thead>
<tbody></tbody></table>
<h2>Alerts</h2><table id="alerts"><thead><tr><th>seq</th><th>time</th><th>severity</th><th>code</th>
<th>message</th><th>trace</th></tr></thead><tbody></tbody></table>
<h2>Promotion state <span id="promotion-note" class="muted"></span></h2>
<table id="deployments"><thead><tr><th>strategy</th><th>stage</th><th>approved version</th>
<th>registry alias</th></tr></thead><tbody></tbody></table>
<table id="requests"><thead><tr><th>request</th><th>kind</th><th>subject</th><th>what</th>
<th>maker</th><th>state</th><th>decided by</th></tr></thead><tbody></tbody></table>
<h2>Trace</h2><input id="trace-id" size="40" placeholder="trace id">
<button id="btn-trace">show</button>
<table id="trace"><thead><tr><th>seq</th><th>time</th><th>kind</th><th>+ms from start</th>
<th>+ms from previous</th><th>journaled +ms after previous</th></tr></thead>
<tbody></tbody></table>
</div></div>
<script>
"use strict";
let csrf = null;
const $ = (id) => document.getElementById(id);
function fmt(v, digits) { return (v === null || v === undefined) ? "-" :
  (typeof v === "number" ? v.toLocaleString("en-IN", {minimumFractionDigits: digits,
   maximumFractionDigits: digits}) : String(v)); }
// numeric: 1 = money/price (2 decimals), 2 = a count (none)
function cell(tr, v, numeric) { const td = document.createElement("td");
  td.textContent = fmt(v, numeric === 2 ? 0 : 2); if (numeric) { td.className = "n";
  if (typeof v === "number") td.dataset.value = String(v); } tr.appendChild(td); return td; }
function traceCell(tr, id) { const td = document.createElement("td");
  const a = document.createElement("a"); a.href = "#"; a.textContent = id;
  a.addEventListener("click", (e) => { e.preventDefault(); showTrace(id); });
  td.appendChild(a); tr.appendChild(td); }
function fill(table, rows, build) { const body = $(table).querySelector("tbody");
  body.replaceChildren(); for (const r of rows) { const tr = document.createElement("tr");
  build(tr, r); body.appendChild(tr); } }
function render(s) {
  $("mode").textContent = s.mode || "-"; $("seq").textContent = String(s.seq || 0);
  $("journal").textContent = s.broken ? s.broken : (s.journal || "chain checked");
  $("journal").className = s.broken ? "bad" : "muted";
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  fill("pnl", s.pnl || [], (tr, r) => { tr.dataset.strategy = r.strategy; cell(tr, r.strategy);
    cell(tr, r.realised_inr, 1); cell(tr, r.unrealised_inr, 1); cell(tr, r.charges_inr, 1);
    cell(tr, r.net_inr, 1); });
  fill("positions", s.positions || [], (tr, r) => { tr.dataset.strategy = r.strategy;
    tr.dataset.symbol = r.symbol; cell(tr, r.strategy); cell(tr, r.symbol);
    cell(tr, r.net_qty, 2); cell(tr, r.avg_price, 1); cell(tr, r.last, 1);
    cell(tr, r.unrealised_inr, 1); cell(tr, r.realised_inr, 1); });
  fill("health", s.health || [], (tr, r) => { tr.dataset.strategy = r.strategy;
    cell(tr, r.strategy); const k = cell(tr, r.kill); k.className = r.kill === "off" ? "ok" : "bad";
    cell(tr, r.mode); cell(tr, r.refusals, 2); cell(tr, r.signals, 2); cell(tr, r.orders, 2);
    cell(tr, r.fills, 2);
    cell(tr, (r.last_decision_ts || "").slice(11, 19) + " " + r.last_decision);
    const td = document.createElement("td");
    const p = document.createElement("button"); p.textContent = "pause"; p.className = "pause";
    p.addEventListener("click", () => act("/api/pause", {strategy: r.strategy,
      reason: $("kill-reason").value || "paused from the operator page"}));
    const u = document.createElement("button"); u.textContent = "resume (request)";
    u.addEventListener("click", () => act("/api/rearm", {scope: r.strategy,
      reason: $("kill-reason").value || "resume requested from the operator page"}));
    td.append(p, u); tr.appendChild(td); });
  fill("orders", s.working_orders || [], (tr, r) => { cell(tr, r.client_key); cell(tr, r.strategy);
    cell(tr, r.symbol); cell(tr, r.side); cell(tr, r.qty, 2); cell(tr, r.filled_qty, 2);
    cell(tr, r.status); cell(tr, r.type); traceCell(tr, r.trace_id); });
  fill("fills", s.fills || [], (tr, r) => { tr.dataset.seq = String(r.seq); cell(tr, r.seq, 2);
    cell(tr, r.ts); cell(tr, r.strategy); cell(tr, r.symbol); cell(tr, r.side); cell(tr, r.qty, 2);
    cell(tr, r.price, 1); cell(tr, r.charges_inr, 1); traceCell(tr, r.trace_id); });
  fill("alerts", s.alerts || [], (tr, r) => { cell(tr, r.seq, 2); cell(tr, r.ts);
    const sev = cell(tr, r.severity); if (r.severity !== "info") sev.className = "bad";
    cell(tr, r.code); cell(tr, r.message); traceCell(tr, r.trace_id); });
  const risk = s.risk || {};
  $("risk-note").textContent = risk.error ? risk.error :
    (risk.as_of ? "as of " + risk.as_of + ", risk.yaml v" + risk.risk_version : "");
  fill("risk", risk.rows || [], (tr, r) => { cell(tr, r.area); cell(tr, r.item);
    cell(tr, r.value, 1); cell(tr, r.limit, 1);
    const u = cell(tr, r.utilisation === null ? null : (100 * r.utilisation).toFixed(1) + "%", 1);
    if (r.utilisation !== null && r.utilisation > 1) u.className = "n bad"; });
  const pr = s.promotion || {}; const aliases = pr.aliases || {};
  $("promotion-note").textContent = pr.error || "";
  fill("deployments", pr.deployments || [], (tr, r) => { cell(tr, r.strategy); cell(tr, r.stage);
    cell(tr, r.version, 2); const a = (aliases[r.strategy] || {})[r.stage];
    const c = cell(tr, a === undefined ? "none" : a);
    if (String(a) !== String(r.version)) c.className = "bad"; });
  fill("requests", pr.requests || [], (tr, r) => { cell(tr, r.id); cell(tr, r.kind);
    cell(tr, r.subject); cell(tr, r.what); cell(tr, r.maker); cell(tr, r.state);
    cell(tr, r.decided_by); });
}
async function showTrace(id) { $("trace-id").value = id;
  const r = await fetch("/api/trace/" + encodeURIComponent(id)); const t = await r.json();
  fill("trace", t.entries, (tr, e) => { cell(tr, e.seq, 2); cell(tr, e.ts); cell(tr, e.kind);
    cell(tr, e.since_start_ms, 1); cell(tr, e.since_prev_ms, 1);
    cell(tr, e.recorded_after_prev_ms, 1); }); }
function showSession(s) { csrf = s.user ? s.csrf : null;
  $("who").textContent = s.user ? "signed in as " + s.user + " (" + s.roles.join(", ") +
    ") until " + s.expires : "read-only (not signed in)";
  $("btn-logout").hidden = !s.user; $("login-step").hidden = true; }
async function act(url, body) {
  const headers = {"Content-Type": "application/json"}; if (csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch(url, {method: "POST", headers, body: JSON.stringify(body),
    credentials: "same-origin"}); const j = await r.json();
  const m = $("action-msg"); const problems = (j.checkpoint_problems || []).join("; ");
  m.textContent = j.ok ? j.message + (problems ? " (" + problems + ")" : "")
    : (j.error || JSON.stringify(j.detail));
  m.className = j.ok && !problems ? "ok" : "bad"; }
$("btn-challenge").addEventListener("click", async () => {
  const r = await fetch("/api/challenge", {method: "POST"}); const c = await r.json();
  $("login-cmd").textContent = "stratops ops login --as <you> --challenge " + c.challenge;
  $("login-step").hidden = false; });
$("btn-login").addEventListener("click", async () => {
  const r = await fetch("/api/login", {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({token: $("token").value.trim()}), credentials: "same-origin"});
  const j = await r.json(); $("token").value = "";
  if (j.ok) { showSession(j); $("action-msg").textContent = ""; }
  else { $("action-msg").textContent = j.error || "sign-in refused";
    $("action-msg").className = "bad"; } });
$("btn-logout").addEventListener("click", async () => {
  await fetch("/api/logout", {method: "POST"}); showSession({user: null}); });
$("btn-kill").addEventListener("click", () => act("/api/kill", {scope: $("kill-scope").value,
  mode: $("kill-mode").value, reason: $("kill-reason").value}));
$("btn-rearm").addEventListener("click", () => act("/api/rearm", {scope: $("kill-scope").value,
  reason: $("kill-reason").value}));
$("btn-trace").addEventListener("click", () => showTrace($("trace-id").value.trim()));
fetch("/api/session").then((r) => r.json()).then(showSession);
const es = new EventSource("/api/events");
es.addEventListener("state", (e) => { $("stream").textContent = "live";
  render(JSON.parse(e.data)); });
es.onerror = () => { $("stream").textContent = "reconnecting"; };
</script></body></html>
"""
