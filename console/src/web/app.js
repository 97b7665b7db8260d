// teehsm fleet console web UI: plain JavaScript over the JSON API
// (/api/openapi.json). The DOM is built with createElement only; no
// external resources.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const ROLE_RANK = { auditor: 0, operator: 1, admin: 2 };
const REFRESH_MS = 3000;
let me = null;
let timer = null;
// The enrollment token just created: shown on the overview (which refreshes)
// until dismissed or the user leaves the page.
let shownToken = null;

// ---------- DOM helpers ----------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}
function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.setAttribute("class", v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}
function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
function $(id) { return document.getElementById(id); }
function canDo(role) { return me && ROLE_RANK[me.role] >= ROLE_RANK[role]; }

// ---------- formatting ----------
function fmtTime(ms) {
  if (!ms) return "—";
  const d = new Date(ms);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}
function fmtAgo(nowMs, ms) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((nowMs - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}
function fmtBytes(b) {
  if (b === undefined || b === null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, v = b;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + " " + units[i];
}
function fmtPct(v) { return (v === undefined || v === null) ? "—" : v.toFixed(1) + " %"; }

// ---------- API ----------
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (typeof body === "string") {
    opts.headers["Content-Type"] = "text/plain";
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (_) { data = null; }
  if (!r.ok) {
    if (r.status === 401 && path !== "/api/login") showLogin();
    throw new ApiError(r.status, (data && data.error) || ("HTTP " + r.status));
  }
  return data;
}
function flash(msg) {
  const f = $("flash");
  f.textContent = msg || "";
  f.hidden = !msg;
}

// ---------- login ----------
function showLogin() {
  me = null;
  if (timer) { clearTimeout(timer); timer = null; }
  $("app-view").hidden = true;
  $("nav").hidden = true;
  $("whoami").hidden = true;
  $("login-view").hidden = false;
  $("login-name").focus();
}
function showApp() {
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("nav").hidden = false;
  $("whoami").hidden = false;
  $("me-name").textContent = me.name;
  $("me-role").textContent = me.role;
  // --require-second-factor: until it is set up, only the Account page works.
  const setup = !!me.second_factor_setup_required;
  for (const a of document.querySelectorAll("#nav a")) {
    a.hidden = (!!a.dataset.role && !canDo(a.dataset.role)) || (setup && a.dataset.page !== "account");
  }
  route();
}
async function onLogin(ev) {
  ev.preventDefault();
  $("login-error").textContent = "";
  $("login-submit").disabled = true;
  try {
    const body = { name: $("login-name").value, password: $("login-password").value };
    if ($("login-code").value) body.totp = $("login-code").value;
    await api("POST", "/api/login", body);
    $("login-password").value = "";
    $("login-code").value = "";
    me = await api("GET", "/api/me");
    showApp();
  } catch (e) {
    $("login-error").textContent = e.message;
  } finally {
    $("login-submit").disabled = false;
  }
}
async function onLogout() {
  try { await api("POST", "/api/logout"); } catch (_) { /* gone already */ }
  location.hash = "";
  showLogin();
}

// ---------- routing ----------
const PAGES = {
  overview: pageOverview, host: pageHost, alerts: pageAlerts, rollouts: pageRollouts,
  audit: pageAudit, licence: pageLicence, users: pageUsers, account: pageAccount,
};
function route() {
  if (!me) return;
  if (timer) { clearTimeout(timer); timer = null; }
  const parts = (location.hash.replace(/^#\/?/, "") || "overview").split("/");
  const name = PAGES[parts[0]] ? parts[0] : "overview";
  if (me.second_factor_setup_required && name !== "account") { location.hash = "#/account"; return; }
  if (name !== "overview") shownToken = null;
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.page === name || (name === "host" && a.dataset.page === "overview"));
  }
  document.body.dataset.page = name;
  flash("");
  const run = async () => {
    try {
      const content = await PAGES[name](parts.slice(1).map(decodeURIComponent));
      const page = $("page");
      page.replaceChildren(content);
      page.dataset.loaded = name;
    } catch (e) {
      if (e.status !== 401) flash(e.message);
    }
    if (me && ["overview", "host", "alerts"].includes(name)) timer = setTimeout(run, REFRESH_MS);
  };
  run();
}

// ---------- gauges and charts ----------
function gaugeClass(g) {
  if (g.capacity && g.keys >= g.capacity) return " full";
  if (g.threshold_percent !== null && g.percent !== null && g.percent >= g.threshold_percent) return " over";
  return "";
}
function gaugeData(hostId, g) {
  return {
    "data-host": hostId, "data-ta": g.ta, "data-slot": g.slot, "data-keys": g.keys,
    "data-capacity": g.capacity, "data-threshold": g.threshold_percent === null ? "" : g.threshold_percent,
  };
}
function barGauge(hostId, g) {
  const pct = g.percent === null ? 0 : Math.min(100, g.percent);
  const fill = h("div", { class: "fill" });
  fill.style.width = pct + "%";
  const track = h("div", { class: "track" }, fill);
  if (g.threshold_percent !== null) {
    const t = h("div", { class: "threshold", title: g.rule_id + " at " + g.threshold_percent + " %" });
    t.style.left = "calc(" + Math.min(100, g.threshold_percent) + "% - 1px)";
    track.appendChild(t);
  }
  const cap = g.capacity ? g.keys + " / " + g.capacity + " keys" : g.keys + " keys (capacity unknown)";
  return h("div", Object.assign({ class: "gauge bar" + gaugeClass(g), title: g.ta + " slot " + g.slot + " (" + g.label + ")" }, gaugeData(hostId, g)),
    track, h("div", { class: "caption" }, "slot " + g.slot + ": " + cap));
}
function arcPath(cx, cy, r, from, to) {
  // Angles in [0, 1] along the upper half circle, left to right.
  const p = (f) => [cx - r * Math.cos(Math.PI * f), cy - r * Math.sin(Math.PI * f)];
  const [x1, y1] = p(from), [x2, y2] = p(to);
  return "M " + x1.toFixed(2) + " " + y1.toFixed(2) + " A " + r + " " + r + " 0 0 1 " + x2.toFixed(2) + " " + y2.toFixed(2);
}
function dialGauge(hostId, g) {
  const frac = g.percent === null ? 0 : Math.min(1, g.percent / 100);
  const cls = gaugeClass(g);
  const color = cls === " full" ? "#d64545" : cls === " over" ? "#e0a020" : "#1f9d6b";
  const svg = s("svg", { viewBox: "0 0 190 112", role: "img", "aria-label": "key count gauge" },
    s("path", { d: arcPath(95, 95, 78, 0, 1), stroke: "#e8edf2", "stroke-width": 16, fill: "none" }),
    frac > 0 ? s("path", { d: arcPath(95, 95, 78, 0, Math.max(frac, 0.005)), stroke: color, "stroke-width": 16, fill: "none" }) : null,
    s("text", { x: 95, y: 82, "text-anchor": "middle", class: "num" }, g.keys + (g.capacity ? " / " + g.capacity : "")),
    s("text", { x: 95, y: 102, "text-anchor": "middle", class: "sub" }, g.percent === null ? "capacity unknown" : g.percent.toFixed(0) + " % of capacity"));
  if (g.threshold_percent !== null) {
    const f = Math.min(1, g.threshold_percent / 100);
    const a = Math.PI * f;
    svg.appendChild(s("line", {
      x1: (95 - 66 * Math.cos(a)).toFixed(2), y1: (95 - 66 * Math.sin(a)).toFixed(2),
      x2: (95 - 92 * Math.cos(a)).toFixed(2), y2: (95 - 92 * Math.sin(a)).toFixed(2),
      stroke: "#1d2733", "stroke-width": 2.5,
    }, s("title", {}, g.rule_id + " fires at " + g.threshold_percent + " %")));
  }
  return h("div", Object.assign({ class: "gauge dial" + cls }, gaugeData(hostId, g)), svg,
    h("div", { class: "caption" }, g.ta + " · slot " + g.slot + " · " + g.label),
    h("div", { class: "caption" }, g.threshold_percent === null ? "no key-count rule" : "alert at " + g.threshold_percent + " % (" + g.rule_id + ")"));
}
// The smallest of 1, 2, 2.5, 5 x 10^k (times `unit`) that is >= v, so the
// four grid steps get round labels.
function niceCeil(v, unit) {
  const x = v / unit;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p * unit;
  return 10 * p * unit;
}
function lineChart(id, samples, fields, fmt, unitMax, unit) {
  const W = 600, H = 180, L = 56, R = 10, T = 10, B = 24;
  const svg = s("svg", { id, viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img" });
  if (samples.length === 0) {
    svg.appendChild(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "tick" }, "no samples yet"));
    return svg;
  }
  const t0 = samples[0].at_ms, t1 = Math.max(samples[samples.length - 1].at_ms, t0 + 1);
  let max = unitMax || 0;
  for (const sm of samples) for (const f of fields) max = Math.max(max, sm[f.key]);
  if (max <= 0) max = 1;
  max = niceCeil(max * 1.05, unit || 1);
  const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4;
    svg.appendChild(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: i === 0 ? "axis" : "grid" }));
    svg.appendChild(s("text", { x: L - 6, y: y(v) + 3, "text-anchor": "end", class: "tick" }, fmt(v)));
  }
  svg.appendChild(s("text", { x: L, y: H - 6, class: "tick" }, new Date(t0).toISOString().slice(11, 19)));
  svg.appendChild(s("text", { x: W - R, y: H - 6, "text-anchor": "end", class: "tick" }, new Date(t1).toISOString().slice(11, 19) + " UTC"));
  for (const f of fields) {
    const pts = samples.map((sm) => x(sm.at_ms).toFixed(1) + "," + y(sm[f.key]).toFixed(1)).join(" ");
    svg.appendChild(s("polyline", { points: pts, class: f.cls }));
  }
  return svg;
}

// ---------- pages ----------
function hostStatus(entry, nowMs, intervalMs) {
  const host = entry.host;
  if (host.status !== "active") return ["bad", host.status];
  if (!entry.report) return ["info", "not reported yet"];
  if (nowMs - (host.last_seen_ms || 0) > 2 * intervalMs) return ["critical", "silent"];
  const down = (entry.report.tas || []).filter((t) => !t.up).length;
  if (down) return ["critical", down + " TA down"];
  return ["ok", "ok"];
}
function severityBadge(sev) { return h("span", { class: "badge " + sev }, sev); }
function alertRow(a, withAck, onAck) {
  const ack = a.acknowledged_by
    ? h("span", { class: "muted" }, "acked by " + a.acknowledged_by)
    : (withAck && a.ends_at_ms === null && canDo("operator")
      ? h("button", { class: "small ack", type: "button", onclick: () => onAck(a) }, "Acknowledge")
      : null);
  return h("tr", { class: "alert-row", "data-fingerprint": a.fingerprint, "data-rule": a.rule_id, "data-host": a.host || "" },
    h("td", {}, severityBadge(a.severity)),
    h("td", {}, h("b", {}, a.rule_id)),
    h("td", {}, a.host ? h("a", { href: "#/host/" + encodeURIComponent(a.host) }, a.host) : "—"),
    h("td", {}, a.summary),
    h("td", {}, fmtTime(a.starts_at_ms)),
    h("td", {}, a.ends_at_ms ? h("span", { class: "badge ok" }, "resolved " + fmtTime(a.ends_at_ms)) : h("span", { class: "badge critical" }, "firing")),
    h("td", {}, ack));
}
function alertTable(alerts, withAck, emptyText) {
  if (alerts.length === 0) return h("p", { class: "muted" }, emptyText);
  const onAck = async (a) => {
    try { await api("POST", "/api/alerts/" + encodeURIComponent(a.fingerprint) + "/ack"); route(); } catch (e) { flash(e.message); }
  };
  return h("table", { class: "alerts" },
    h("thead", {}, h("tr", {}, ["Severity", "Alert", "Host", "Summary", "Since", "State", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, alerts.map((a) => alertRow(a, withAck, onAck))));
}

async function pageOverview() {
  const [hostsResp, alertsResp] = await Promise.all([api("GET", "/api/hosts"), api("GET", "/api/alerts")]);
  const hosts = hostsResp.hosts, alerts = alertsResp.alerts;
  const now = hostsResp.now_ms, interval = hostsResp.heartbeat_interval_ms;
  const reporting = hosts.filter((e) => e.report).length;
  const versions = new Set();
  for (const e of hosts) for (const t of (e.report ? e.report.tas : [])) if (t.version) versions.add(t.version);
  const crit = alerts.filter((a) => a.severity === "critical").length;
  const stats = h("div", { class: "stats" },
    h("div", { class: "stat", id: "stat-hosts" }, h("div", { class: "value" }, String(hosts.length)), h("div", { class: "label" }, "hosts enrolled")),
    h("div", { class: "stat" }, h("div", { class: "value" }, String(reporting)), h("div", { class: "label" }, "hosts reporting")),
    h("div", { class: "stat" + (alerts.length ? " bad" : ""), id: "stat-alerts" }, h("div", { class: "value" }, String(alerts.length)),
      h("div", { class: "label" }, "firing alerts" + (crit ? " (" + crit + " critical)" : ""))),
    h("div", { class: "stat" }, h("div", { class: "value" }, String(versions.size)), h("div", { class: "label" }, "TA versions: " + ([...versions].join(", ") || "—"))));
  const rows = hosts.map((e) => {
    const [cls, text] = hostStatus(e, now, interval);
    const r = e.report;
    const id = e.host.id;
    return h("tr", { class: "host-row", "data-host": id, onclick: () => { location.hash = "#/host/" + encodeURIComponent(id); } },
      h("td", {}, h("a", { href: "#/host/" + encodeURIComponent(id) }, h("b", {}, e.host.name || id))),
      h("td", {}, e.host.group),
      h("td", {}, h("span", { class: "badge host-status " + cls }, text)),
      h("td", {}, r ? r.tas.map((t) => t.ta_id + (t.version ? " " + t.version : "")).join(", ") || "—" : "—"),
      h("td", {}, r ? fmtPct(r.ta_cpu_percent) + " / " + fmtPct(r.ca_cpu_percent) : "—"),
      h("td", {}, r ? fmtBytes(r.ta_memory_bytes) + " / " + fmtBytes(r.ca_memory_bytes) : "—"),
      h("td", {}, h("div", { class: "gauges" }, e.gauges.map((g) => barGauge(id, g)))),
      h("td", {}, fmtAgo(now, e.host.last_seen_ms)));
  });
  const toolbar = h("div", { class: "toolbar" }, h("h1", {}, "Fleet overview"),
    canDo("operator") ? h("button", { type: "button", id: "new-token", onclick: newToken }, "New enrollment token") : null);
  return h("div", {}, toolbar, tokenBox(), stats,
    h("div", { class: "card" }, h("h2", {}, "Hosts"),
      hosts.length === 0 ? h("p", { class: "muted" }, "No host enrolled yet: create an enrollment token and run teehsm-agent enroll on the host.")
        : h("table", { id: "hosts" },
          h("thead", {}, h("tr", {}, ["Host", "Group", "Status", "TAs", "CPU TA / CA", "Memory TA / CA", "Key count", "Last heartbeat"].map((t) => h("th", {}, t)))),
          h("tbody", {}, rows))),
    h("div", { class: "card" }, h("h2", {}, "Firing alerts"), alertTable(alerts, true, "No alert is firing.")));
}
function tokenBox() {
  if (!shownToken) return null;
  return h("div", { class: "token-box", id: "token-out" },
    h("div", { class: "toolbar" },
      h("span", {}, "One-time enrollment token, valid until " + fmtTime(shownToken.expires_at_ms) + ". It is shown only now: copy it to the host's teehsm-agent enroll --token."),
      h("button", { class: "small secondary", type: "button", onclick: () => { shownToken = null; route(); } }, "Dismiss")),
    h("code", { id: "token-value" }, shownToken.token));
}
async function newToken() {
  try {
    shownToken = await api("POST", "/api/enrollment-tokens", { ttl_secs: 3600 });
    route();
  } catch (e) { flash(e.message); }
}

// "2.0.0 (active), 1.0.0 (previous)": the versions under the agent's --package-root.
function packageSummary(p) {
  if (!p) return h("span", { class: "muted" }, "not managed by the agent");
  if (p.installed.length === 0) return h("span", { class: "muted" }, "none installed");
  return h("span", {}, p.installed.map((v, i) => h("span", {}, i ? ", " : "", h("code", {}, v),
    v === p.active ? " (active)" : v === p.previous ? " (previous)" : "")));
}

/// The agent certificate's end, with a renewal in progress or overdue.
function certExpiry(d) {
  const host = d.host;
  if (!host.cert_not_after_ms) return h("span", { class: "muted" }, "unknown until the first renewal");
  const days = Math.floor((host.cert_not_after_ms - d.now_ms) / 86400000);
  const note = host.renew_requested ? h("span", { class: "badge info" }, "renewal requested")
    : host.pending_cert_fingerprint ? h("span", { class: "badge info" }, "renewed, not used yet")
    : days < 14 ? h("span", { class: "badge warning" }, "renewal overdue") : "";
  return h("span", {}, fmtTime(host.cert_not_after_ms) + " (in " + days + " days) ", note);
}

async function pageHost(args) {
  const id = args[0] || "";
  const [d, samples, alertsResp, jobs] = await Promise.all([
    api("GET", "/api/hosts/" + encodeURIComponent(id)),
    api("GET", "/api/hosts/" + encodeURIComponent(id) + "/samples"),
    api("GET", "/api/alerts"),
    api("GET", "/api/hosts/" + encodeURIComponent(id) + "/jobs?limit=20"),
  ]);
  const r = d.report;
  const [cls, text] = hostStatus(d, d.now_ms, d.heartbeat_interval_ms);
  const info = h("div", { class: "card" }, h("h2", {}, "Host"),
    h("dl", { class: "kv" },
      h("dt", {}, "Id"), h("dd", {}, d.host.id),
      h("dt", {}, "Group"), h("dd", {}, d.host.group),
      h("dt", {}, "Status"), h("dd", {}, h("span", { class: "badge " + cls }, text)),
      h("dt", {}, "Enrolled"), h("dd", {}, fmtTime(d.host.enrolled_at_ms)),
      h("dt", {}, "Last heartbeat"), h("dd", {}, fmtTime(d.host.last_seen_ms) + " (" + fmtAgo(d.now_ms, d.host.last_seen_ms) + ")"),
      h("dt", {}, "Certificate"), h("dd", { class: "mono" }, d.host.cert_fingerprint),
      h("dt", {}, "Certificate expires"), h("dd", { id: "cert-expiry" }, certExpiry(d)),
      h("dt", {}, "Memory limit"), h("dd", {}, r && r.memory_limit_bytes ? fmtBytes(r.memory_limit_bytes) : "unknown"),
      h("dt", {}, "TA packages"), h("dd", { id: "packages" }, packageSummary(r && r.packages)),
      h("dt", {}, "Desired TA version"), h("dd", { id: "desired" }, d.desired && d.desired.ta_version
        ? h("span", {}, h("code", {}, d.desired.ta_version), r && r.packages && r.packages.active !== d.desired.ta_version ? h("span", { class: "badge warning" }, "converging") : "")
        : h("span", { class: "muted" }, "no opinion"))));
  const tas = h("div", { class: "card" }, h("h2", {}, "Trusted applications"),
    !r || r.tas.length === 0 ? h("p", { class: "muted" }, "No TA reported.") :
      h("table", { id: "tas" },
        h("thead", {}, h("tr", {}, ["TA", "Version", "Platform", "Measurement", "Up", "Self-test", "Audit", "Restarts"].map((t) => h("th", {}, t)))),
        h("tbody", {}, r.tas.map((t) => h("tr", { class: "ta-row", "data-ta": t.ta_id },
          h("td", {}, t.ta_id), h("td", {}, t.version ? h("code", {}, t.version) : h("span", { class: "muted" }, "not reported")),
          h("td", {}, t.platform || h("span", { class: "muted" }, "unknown")),
          h("td", { title: t.measurement || "" }, t.measurement ? h("code", { class: "measurement" }, t.measurement.slice(0, 8) + "…") : h("span", { class: "muted" }, "unknown")),
          h("td", {}, h("span", { class: "badge " + (t.up ? "ok" : "critical") }, t.up ? "up" : "down")),
          h("td", {}, h("span", { class: "badge " + (t.self_test_ok ? "ok" : "critical") }, t.self_test_ok ? "passed" : "failed")),
          h("td", {}, h("span", { class: "badge " + (t.audit_chain_ok ? "ok" : "critical") }, t.audit_chain_ok ? "verified" : "broken")),
          h("td", {}, String(t.restarts_total)))))));
  const gauges = h("div", { class: "card" }, h("h2", {}, "Key count per token (against capacity and alert threshold)"),
    d.gauges.length === 0 ? h("p", { class: "muted" }, "No token reported.") :
      h("div", { class: "gauges" }, d.gauges.map((g) => dialGauge(d.host.id, g))));
  const cpu = h("div", { class: "card chart" }, h("h2", {}, "CPU"),
    lineChart("chart-cpu", samples.samples, [{ key: "ta_cpu_percent", cls: "line-ta" }, { key: "ca_cpu_percent", cls: "line-ca" }], (v) => (Number.isInteger(v) ? v : v.toFixed(1)) + " %", 5),
    h("div", { class: "legend" }, h("span", { class: "ta" }, "■ TA"), "  ", h("span", { class: "ca" }, "■ CA"), " — last hour"));
  const mem = h("div", { class: "card chart" }, h("h2", {}, "Memory"),
    lineChart("chart-memory", samples.samples, [{ key: "ta_memory_bytes", cls: "line-ta" }, { key: "ca_memory_bytes", cls: "line-ca" }], fmtBytes, 0, 1048576),
    h("div", { class: "legend" }, h("span", { class: "ta" }, "■ TA"), "  ", h("span", { class: "ca" }, "■ CA"), " — last hour"));
  const mine = alertsResp.alerts.filter((a) => a.host === id);
  const active = d.host.status === "active";
  const renew = async () => {
    try { await api("POST", "/api/hosts/" + encodeURIComponent(id) + "/agent-certificate/renew"); route(); } catch (e) { flash(e.message); }
  };
  const forget = async () => {
    if (!confirm("Forget host " + id + "? Its record, reports and charts are deleted (jobs and the audit log keep its history); the machine can then enroll again as " + id + ".")) return;
    try { await api("DELETE", "/api/hosts/" + encodeURIComponent(id)); location.hash = "#/overview"; } catch (e) { flash(e.message); }
  };
  const revoke = async () => {
    if (!confirm("Revoke host " + id + "? Its agent is locked out at once and the host cannot come back under this id.")) return;
    try { await api("POST", "/api/hosts/" + encodeURIComponent(id) + "/revoke", {}); route(); } catch (e) { flash(e.message); }
  };
  const policy = active && d.keydist && canDo("operator") ? policyCard(id) : null;
  return h("div", {}, h("div", { class: "toolbar" }, h("h1", {}, "Host " + d.host.id),
      active && canDo("operator") && !d.host.renew_requested ? h("button", { class: "small secondary", id: "renew-cert", type: "button", onclick: renew }, "Renew certificate") : null,
      active && canDo("admin") ? h("button", { class: "small danger", id: "revoke-host", type: "button", onclick: revoke }, "Revoke") : null,
      d.host.status === "revoked" && canDo("admin") ? h("button", { class: "small danger", id: "forget-host", type: "button", onclick: forget }, "Forget") : null,
      h("a", { href: "#/overview" }, "← Overview")),
    h("div", { class: "row" }, info, tas), gauges, h("div", { class: "charts" }, cpu, mem),
    h("div", { class: "card" }, h("h2", {}, "Firing alerts of this host"), alertTable(mine, true, "No alert is firing for this host.")),
    policy,
    h("div", { class: "card" }, h("h2", {}, "Jobs (latest 20)"),
      jobs.jobs.length === 0 ? h("p", { class: "muted" }, "No job for this host yet.") :
        h("table", { id: "host-jobs" },
          h("thead", {}, h("tr", {}, ["Job", "Kind", "State", "Created", "Updated", "History"].map((t) => h("th", {}, t)))),
          h("tbody", {}, jobs.jobs.map((j) => h("tr", { class: "job-row", "data-state": j.state },
            h("td", {}, String(j.id)), h("td", {}, j.kind), h("td", {}, stateBadge(j.state)),
            h("td", {}, fmtTime(j.created_at_ms)), h("td", {}, fmtTime(j.updated_at_ms)), h("td", {}, jobHistory(j))))))));
}

/// The token policy form of the Host page (operators, with key distribution
/// configured): object limit and algorithm rules, signed by the console for
/// the host's attested TA and applied by its agent as a job.
function policyCard(id) {
  const num = (fid, value, min, max) => h("input", { id: fid, type: "number", value: String(value), min: String(min), max: String(max) });
  const slot = num("policy-slot", 0, 0, 63);
  const maxObjects = num("policy-max-objects", 0, 0, 1000000);
  const minRsa = h("select", { id: "policy-min-rsa" }, [["0", "any"], ["2048", "2048"], ["3072", "3072"], ["4096", "4096"]].map(([v, t]) => h("option", { value: v }, t)));
  const RULES = [
    ["forbid_sha1", "No SHA-1 in signatures and MACs"],
    ["forbid_rsa_pkcs1_encryption", "No RSA PKCS#1 v1.5 encryption"],
    ["sm_only", "SM2, SM3 and SM4 only"],
  ];
  const boxes = RULES.map(([name, label]) => h("label", { class: "check" }, h("input", { type: "checkbox", class: "policy-rule", value: name }), " ", label));
  const form = h("form", { class: "inline-form", id: "policy-form" },
    h("div", {}, h("label", { for: "policy-slot" }, "Slot"), slot),
    h("div", {}, h("label", { for: "policy-max-objects" }, "Object limit (0: the TA's)"), maxObjects),
    h("div", {}, h("label", { for: "policy-min-rsa" }, "Smallest RSA key"), minRsa),
    h("div", { class: "rules" }, boxes),
    h("button", { type: "submit", id: "policy-push" }, "Push policy"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const rules = Array.from(form.querySelectorAll(".policy-rule")).filter((b) => b.checked).map((b) => b.value);
    const body = { hosts: [id], slot: Number(slot.value), max_objects: Number(maxObjects.value), min_rsa_bits: Number(minRsa.value), rules };
    try {
      const r = await api("POST", "/api/policy", body);
      route();
      flash("Policy version " + r.version + " queued as job " + r.jobs.map((j) => j.job_id).join(", ") + "; the token applies it if its SO trusts the console's key.");
    } catch (e) { flash(e.message); }
  });
  return h("div", { class: "card", id: "policy-card" }, h("h2", {}, "Token policy"),
    h("p", { class: "muted" }, "Signed by the console for this host's attested TA; the TA enforces it on every key of the token. A later push replaces it."),
    form);
}

async function pageAlerts() {
  const [firing, hist] = await Promise.all([api("GET", "/api/alerts"), api("GET", "/api/alerts?history&limit=200")]);
  return h("div", {}, h("h1", {}, "Alerts"),
    h("div", { class: "card" }, h("h2", {}, "Firing"), alertTable(firing.alerts, true, "No alert is firing.")),
    h("div", { class: "card", id: "alert-history" }, h("h2", {}, "History (newest first; resolved alerts close automatically)"),
      alertTable(hist.alerts, false, "No alert yet.")));
}

function cell(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number" && v > 1e12 && v < 1e14) return fmtTime(v);
  if (typeof v === "object") return h("code", {}, JSON.stringify(v));
  return String(v);
}
function genericTable(id, items) {
  if (!items || items.length === 0) return h("p", { class: "muted" }, "None yet.");
  const cols = [];
  for (const it of items) for (const [k, v] of Object.entries(it)) if (!cols.includes(k) && (typeof v !== "object" || v === null)) cols.push(k);
  return h("table", { id },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c.replace(/_/g, " "))))),
    h("tbody", {}, items.map((it) => h("tr", { class: id + "-row" }, cols.map((c) => h("td", {}, cell(it[c])))))));
}
function stateBadge(st) {
  const cls = { succeeded: "ok", running: "info", pending: "info", partial: "warning", failed: "critical", rolled_back: "warning", halted: "warning", skipped: "warning", queued: "info", paused: "warning" }[st] || "";
  return h("span", { class: "badge " + cls }, String(st).replace(/_/g, " "));
}
function jobHistory(job) {
  const r = job.result;
  if (!r) return "—";
  if (r.cancelled) return h("span", { class: "history" }, "cancelled by " + r.cancelled.by + " at " + fmtTime(r.cancelled.at_ms));
  const steps = Array.isArray(r.history) ? r.history : [];
  const parts = [];
  steps.forEach((x, i) => {
    if (i > 0) parts.push(" → ");
    parts.push(typeof x === "object" && x !== null
      ? h("span", { class: "step", title: x.detail || "" }, x.step || JSON.stringify(x))
      : String(x));
  });
  return h("span", { class: "history" }, parts,
    r.message ? h("div", { class: "muted" }, r.message) : null,
    r.active_version ? h("div", { class: "muted" }, "running " + r.active_version) : null);
}
async function pageRollouts() {
  let rollouts, packages;
  try {
    [rollouts, packages] = await Promise.all([api("GET", "/api/rollouts"), api("GET", "/api/packages")]);
  } catch (e) {
    if (e.status === 404) return h("div", {}, h("h1", {}, "Jobs & rollouts"), h("div", { class: "card" }, h("p", { class: "muted" }, "This console has no rollout API.")));
    throw e;
  }
  const list = rollouts.rollouts || [];
  const cancel = async (ro) => {
    if (!confirm("Cancel rollout " + ro.id + "? Hosts that have not started it will not; upgrades in progress finish.")) return;
    try { await api("POST", "/api/rollouts/" + ro.id + "/cancel"); route(); } catch (e) { flash(e.message); }
  };
  const holdOrGo = async (ro, action) => {
    try { await api("POST", "/api/rollouts/" + ro.id + "/" + action); route(); } catch (e) { flash(e.message); }
  };
  const pausable = (ro) => canDo("operator") && !ro.paused_by && (ro.waiting || []).some((w) => w.state === "pending");
  const resumable = (ro) => canDo("operator") && !!ro.paused_by;
  const cancellable = (ro) => canDo("operator")
    && ((ro.hosts || []).some((x) => x.job.state === "queued") || (ro.waiting || []).some((w) => w.state === "pending"));
  const cards = list.map((ro) => h("div", { class: "card rollout", "data-rollout": ro.id, "data-status": ro.status },
    h("div", { class: "toolbar" }, h("h2", {}, "Rollout " + ro.id + " — TA " + ro.version), stateBadge(ro.status),
      pausable(ro) ? h("button", { class: "small secondary pause-rollout", type: "button", onclick: () => holdOrGo(ro, "pause") }, "Pause") : null,
      resumable(ro) ? h("button", { class: "small resume-rollout", type: "button", onclick: () => holdOrGo(ro, "resume") }, "Resume") : null,
      cancellable(ro) ? h("button", { class: "small secondary cancel-rollout", type: "button", onclick: () => cancel(ro) }, "Cancel") : null),
    h("p", { class: "muted" }, "started " + fmtTime(ro.created_at_ms) + " by " + ro.created_by
      + ((ro.waves || 1) > 1 ? " · " + ro.waves + " waves" + (ro.stop_on_failure ? ", stops after a failed host" : "") : "")
      + (ro.paused_by ? " · paused by " + ro.paused_by + " " + fmtTime(ro.paused_at_ms) + ": no further wave until resumed" : "")),
    h("table", {}, h("thead", {}, h("tr", {}, ["Host", "Wave", "Job", "Kind", "State", "Updated", "History"].map((t) => h("th", {}, t)))),
      h("tbody", {}, (ro.hosts || []).map((x) => h("tr", { class: "job-row", "data-host": x.host_id, "data-state": x.job.state },
        h("td", {}, h("a", { href: "#/host/" + encodeURIComponent(x.host_id) }, x.host_id)), h("td", {}, String(x.wave || 0)),
        h("td", {}, String(x.job.id)), h("td", {}, x.job.kind), h("td", {}, stateBadge(x.job.state)),
        h("td", {}, fmtTime(x.job.updated_at_ms)), h("td", {}, jobHistory(x.job)))),
        (ro.waiting || []).map((w) => h("tr", { class: "job-row waiting", "data-host": w.host_id, "data-state": w.state },
          h("td", {}, h("a", { href: "#/host/" + encodeURIComponent(w.host_id) }, w.host_id)), h("td", {}, String(w.wave)),
          h("td", {}, "—"), h("td", {}, "ta_upgrade"), h("td", {}, stateBadge(w.state)), h("td", {}, "—"),
          h("td", {}, w.state === "pending" ? "waits for wave " + (w.wave - 1) + " to end" : w.note)))))));
  return h("div", {}, h("h1", {}, "Jobs & rollouts"),
    list.length === 0 ? h("div", { class: "card" }, h("p", { class: "muted" }, "No rollout yet (POST /api/rollouts).")) : cards,
    h("div", { class: "card" }, h("h2", {}, "TA packages"), genericTable("packages", packages.packages || [])));
}

async function pageAudit() {
  const all = [];
  let after = 0;
  for (let i = 0; i < 50; i++) {
    const page = await api("GET", "/api/audit?after=" + after + "&limit=1000");
    all.push(...page.entries);
    if (page.entries.length < 1000) break;
    after = page.entries[page.entries.length - 1].seq;
  }
  const latest = all.slice(-500).reverse();
  const v = await api("GET", "/api/audit/verify");
  const c = v.check;
  const chain = h("p", { id: "audit-chain", "data-ok": String(v.ok) }, v.ok
    ? [h("span", { class: "badge ok" }, "chain verified"), " " + c.entries + " entries checked against the console's audit key"
        + (c.unprotected ? " (" + c.unprotected + " from before the chain began)" : "")]
    : [h("span", { class: "badge critical" }, "chain broken"), " at entry " + c.broken_at + ": " + c.reason]);
  return h("div", {}, h("h1", {}, "Audit log"), chain,
    h("div", { class: "card" }, h("h2", {}, "Latest " + latest.length + " of " + all.length + " entries, newest first"),
      latest.length === 0 ? h("p", { class: "muted" }, "Empty.") :
        h("table", { id: "audit" },
          h("thead", {}, h("tr", {}, ["#", "Time", "Actor", "Action", "Target", "Details"].map((t) => h("th", {}, t)))),
          h("tbody", {}, latest.map((e) => h("tr", { class: "audit-row", "data-action": e.action },
            h("td", {}, String(e.seq)), h("td", {}, fmtTime(e.at_ms)), h("td", {}, e.actor), h("td", {}, h("b", {}, e.action)),
            h("td", {}, e.target), h("td", {}, h("code", {}, JSON.stringify(e.details)))))))));
}

async function pageLicence() {
  const l = await api("GET", "/api/licence");
  const body = [h("p", { id: "licence-message" }, l.message)];
  if (l.installed) {
    const st = l.status.status;
    body.unshift(h("p", {}, h("span", { class: "badge " + (st === "valid" ? "ok" : st === "expires_soon" ? "warning" : "critical") }, st.replace(/_/g, " "))));
    body.push(h("dl", { class: "kv" },
      h("dt", {}, "Licence"), h("dd", {}, l.licence.licence_id),
      h("dt", {}, "Customer"), h("dd", {}, l.licence.customer),
      h("dt", {}, "Hosts"), h("dd", {}, l.hosts + " of " + l.licence.max_hosts),
      h("dt", {}, "Valid"), h("dd", {}, fmtTime(l.licence.not_before_ms) + " — " + fmtTime(l.licence.expires_ms)),
      h("dt", {}, "Features"), h("dd", {}, (l.licence.features || []).join(", ") || "—")));
  }
  const cards = [h("div", { class: "card", id: "licence" }, body)];
  if (canDo("admin")) {
    const install = async (ev) => {
      ev.preventDefault();
      const file = $("licence-file").files[0];
      if (!file) { flash("Choose the licence file from the vendor first."); return; }
      try { await api("PUT", "/api/licence", await file.text()); flash("Licence installed."); route(); } catch (e) { flash(e.message); }
    };
    cards.push(h("div", { class: "card" }, h("h2", {}, "Install a licence"),
      h("form", { class: "inline-form", id: "licence-form", onsubmit: install },
        h("div", {}, h("label", { for: "licence-file" }, "Licence file"), h("input", { id: "licence-file", type: "file", accept: ".lic,.txt,.toml,text/plain" })),
        h("button", { type: "submit" }, "Install")),
      h("p", { class: "muted" }, "The file must be signed by a vendor key the console was started with (--vendor-key); it takes effect at once.")));
  }
  return h("div", {}, h("h1", {}, "Licence"), cards);
}

/// The signed-in user's own settings: the second factor.
async function pageAccount() {
  const mine = await api("GET", "/api/me");
  const card = h("div", { class: "card", id: "totp-card", "data-totp": String(!!mine.totp) }, h("h2", {}, "Second factor (authenticator app)"));
  if (mine.via !== "session" && mine.via !== "bearer") {
    card.append(h("p", { class: "muted" }, "This session has no password to add a second factor to."));
  } else if (mine.totp) {
    card.append(h("p", {}, h("span", { class: "badge ok" }, "on"), " Logging in needs your password and the code of your authenticator. An admin removes it if you lose the device."));
  } else {
    const out = h("div", { id: "totp-setup" });
    const start = async () => {
      try {
        const s = await api("POST", "/api/me/totp");
        const code = h("input", { id: "totp-code", inputmode: "numeric", maxlength: 6, autocomplete: "one-time-code" });
        const confirmForm = h("form", { class: "inline-form", id: "totp-confirm" },
          h("div", {}, h("label", { for: "totp-code" }, "Code the app shows now"), code), h("button", { type: "submit" }, "Turn on"));
        confirmForm.addEventListener("submit", async (ev) => {
          ev.preventDefault();
          try {
            await api("POST", "/api/me/totp/confirm", { code: code.value });
            const wasHeld = me && me.second_factor_setup_required;
            me = await api("GET", "/api/me");
            if (wasHeld) { location.hash = "#/overview"; showApp(); } else route();
          } catch (e) { flash(e.message); }
        });
        out.replaceChildren(
          h("p", {}, "Add this key to your authenticator app (manual entry, time-based, 6 digits, 30 s), then type the code it shows. It is shown once."),
          h("p", {}, "Key: ", h("code", { id: "totp-secret" }, s.secret.replace(/(.{4})/g, "$1 ").trim())),
          h("p", { class: "muted" }, "Or as a link for apps that take one: ", h("code", { id: "totp-uri" }, s.otpauth_uri)),
          confirmForm);
      } catch (e) { flash(e.message); }
    };
    out.append(h("p", {}, h("span", { class: "badge warning" }, "off"), " Your password alone opens the console. "),
      h("button", { type: "button", id: "totp-start", onclick: start }, "Set up a second factor"));
    card.append(out);
  }
  const held = mine.second_factor_setup_required
    ? h("div", { class: "card", id: "totp-required" }, h("p", {}, h("span", { class: "badge critical" }, "required"),
      " This console requires a second factor for ", mine.role, " users. Set it up below to continue; until then the other pages are closed to you."))
    : "";
  return h("div", {}, h("h1", {}, "Account"), held, h("div", { class: "card" }, h("p", {}, "Signed in as ", h("b", {}, mine.name), " (", mine.role, ")")), card);
}

async function pageUsers() {
  if (!canDo("admin")) return h("p", { class: "muted" }, "Only admins manage users.");
  const u = await api("GET", "/api/users");
  const del = async (name) => {
    if (!confirm("Delete user " + name + "?")) return;
    try { await api("DELETE", "/api/users/" + encodeURIComponent(name)); route(); } catch (e) { flash(e.message); }
  };
  const resetTotp = async (name) => {
    if (!confirm("Remove the second factor of " + name + "? They log in with the password alone until they set up a new one.")) return;
    try { await api("DELETE", "/api/users/" + encodeURIComponent(name) + "/totp"); route(); } catch (e) { flash(e.message); }
  };
  const form = h("form", { class: "inline-form", id: "user-form" },
    h("div", {}, h("label", { for: "nu-name" }, "Name"), h("input", { id: "nu-name", required: true, maxlength: 64 })),
    h("div", {}, h("label", { for: "nu-role" }, "Role"), h("select", { id: "nu-role" },
      ["auditor", "operator", "admin"].map((r) => h("option", { value: r }, r)))),
    h("div", {}, h("label", { for: "nu-password" }, "Password (12+ characters)"), h("input", { id: "nu-password", type: "password", required: true, minlength: 12, autocomplete: "new-password" })),
    h("button", { type: "submit" }, "Add user"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", "/api/users", { name: $("nu-name").value, role: $("nu-role").value, password: $("nu-password").value });
      route();
    } catch (e) { flash(e.message); }
  });
  return h("div", {}, h("h1", {}, "Users"),
    h("div", { class: "card" }, h("table", { id: "users" },
      h("thead", {}, h("tr", {}, ["Name", "Role", "Second factor", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, u.users.map((x) => h("tr", { class: "user-row", "data-user": x.name }, h("td", {}, x.name), h("td", {}, h("span", { class: "badge" }, x.role)),
        h("td", {}, x.totp ? [h("span", { class: "badge ok" }, "on"), " ", h("button", { class: "small secondary reset-totp", type: "button", onclick: () => resetTotp(x.name) }, "Remove")] : h("span", { class: "muted" }, "off")),
        h("td", {}, x.name === me.name ? h("span", { class: "muted" }, "you") : h("button", { class: "small secondary", type: "button", onclick: () => del(x.name) }, "Delete"))))))),
    h("div", { class: "card" }, h("h2", {}, "Add a user"), form),
    h("div", { class: "card" }, h("h2", {}, "Roles"),
      h("p", {}, h("b", {}, "auditor"), ": reads everything, including the audit log. ",
        h("b", {}, "operator"), ": also acknowledges alerts, creates enrollment tokens, starts rollouts. ",
        h("b", {}, "admin"), ": also manages users.")));
}

// ---------- start ----------
async function start() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  window.addEventListener("hashchange", route);
  try {
    me = await api("GET", "/api/me");
    showApp();
  } catch (_) {
    showLogin();
  }
}
document.addEventListener("DOMContentLoaded", start);
