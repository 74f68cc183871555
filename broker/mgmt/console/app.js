// CipherMQ console: plain JavaScript over the management API (/api/...).
// No build step and no external assets. Every value from the API reaches
// the page through textContent, never as HTML.
"use strict";

const state = { auth: sessionStorage.getItem("cmq-auth") || "", timer: null, whoami: null };
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

class HTTPError extends Error {
  constructor(status, body) { super((body && body.reason) || ("HTTP " + status)); this.status = status; }
}

async function api(method, path, body) {
  const headers = { "X-CipherMQ-Console": "1" };
  if (state.auth) headers["Authorization"] = "Basic " + state.auth;
  const init = { method, headers };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(path, init);
  if (r.status === 204) return null;
  const data = await r.json().catch(() => null);
  if (r.status === 401) { showLogin(data && data.reason); throw new HTTPError(r.status, data); }
  if (!r.ok) throw new HTTPError(r.status, data);
  return data;
}

function showLogin(reason) {
  $("#login").hidden = false;
  $("#page").replaceChildren();
  $("#login-error").textContent = reason || "";
  stopTimer();
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  state.auth = btoa(unescape(encodeURIComponent($("#login-user").value + ":" + $("#login-password").value)));
  sessionStorage.setItem("cmq-auth", state.auth);
  $("#login").hidden = true;
  route();
});

function fmtRate(x) { return (x || 0).toFixed(1) + "/s"; }
function fmtBytes(n) {
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB"]; let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(1) + " " + u[i];
}
function qpath(vhost, name) { return encodeURIComponent(vhost) + "/" + encodeURIComponent(name); }

function stopTimer() { if (state.timer) { clearInterval(state.timer); state.timer = null; } }
function every(ms, fn) { stopTimer(); fn(); state.timer = setInterval(fn, ms); }

function setStatus(err) { $("#status").textContent = err ? String(err.message || err) : ""; }

function card(label, value, id) {
  return el("div", { class: "card" }, el("div", {}, label), el("div", { class: "v", id }, value));
}

function drawChart(canvas, points) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 30;
  ctx.clearRect(0, 0, w, h);
  const series = [["publish", "#1f77b4"], ["deliver", "#2ca02c"], ["ack", "#ff7f0e"]];
  let max = 1;
  for (const p of points) for (const [k] of series) max = Math.max(max, p[k]);
  ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#555"; ctx.font = "11px sans-serif";
  ctx.beginPath(); ctx.moveTo(pad, 5); ctx.lineTo(pad, h - pad); ctx.lineTo(w - 5, h - pad); ctx.stroke();
  ctx.fillText(max.toFixed(0) + "/s", 2, 12); ctx.fillText("0", 2, h - pad);
  if (points.length < 2) { ctx.fillText("collecting samples...", pad + 10, h / 2); return; }
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  for (const [k, color] of series) {
    ctx.strokeStyle = color; ctx.beginPath();
    points.forEach((p, i) => {
      const x = pad + (w - pad - 5) * (p.t - t0) / Math.max(1, t1 - t0);
      const y = (h - pad) - (h - pad - 5) * p[k] / max;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

function healthTable(hl) {
  const rows = [
    ["Memory used", fmtBytes(hl.mem_used)],
    ["Memory budget (high watermark)", hl.mem_limit ? fmtBytes(hl.mem_limit) : "none"],
    ["Memory alarm", hl.mem_alarm ? "ON: publishers blocked" : "off"],
    ["Peak memory", fmtBytes(hl.mem_peak)],
    ["Durable log", hl.durable ? (hl.storage_failed ? "FAILED: " + (hl.storage_error || "") : "ok") : "not configured (in-memory broker)"],
  ];
  if (hl.durable) {
    rows.push(["fsync policy", hl.fsync_policy], ["Log segments", hl.log_segments || 0], ["Log size", fmtBytes(hl.log_bytes || 0)],
      ["Live messages in the log", hl.log_live_messages || 0], ["Records not yet fsynced", hl.log_unsynced_records || 0]);
  }
  rows.push(["Confirms waiting for fsync", hl.pending_confirms]);
  return el("table", { id: "health-table" }, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
}

async function pageOverview(page) {
  const canvas = el("canvas", { id: "rates-chart", width: 640, height: 200 });
  page.replaceChildren(el("h2", {}, "Overview"), el("div", { class: "cards", id: "overview-cards" }),
    el("h3", {}, "Message rates"),
    el("div", { class: "legend" }, el("span", { class: "publish" }, "publish"), el("span", { class: "deliver" }, "deliver"), el("span", { class: "ack" }, "ack")),
    canvas, el("h3", {}, "Health"), el("div", { id: "overview-health" }));
  every(2000, async () => {
    try {
      const o = await api("GET", "/api/overview");
      const ms = o.message_stats;
      $("#overview-cards").replaceChildren(
        card("Ready", o.queue_totals.messages_ready, "ov-ready"), card("Unacked", o.queue_totals.messages_unacknowledged, "ov-unacked"),
        card("Queues", o.object_totals.queues, "ov-queues"), card("Consumers", o.object_totals.consumers, "ov-consumers"),
        card("Connections", o.object_totals.connections ?? "-", "ov-connections"),
        card("Publish", fmtRate(ms.publish_details.rate), "ov-publish-rate"), card("Deliver", fmtRate(ms.deliver_get_details.rate), "ov-deliver-rate"),
        card("Ack", fmtRate(ms.ack_details.rate), "ov-ack-rate"));
      drawChart(canvas, o.rate_history || []);
      if (o.object_totals.connections !== undefined) $("#overview-health").replaceChildren(healthTable(o.health));
      else $("#overview-health").textContent = "Broker health needs the monitoring or administrator tag.";
      setStatus();
    } catch (e) { setStatus(e); }
  });
}

async function pageQueues(page) {
  page.replaceChildren(el("h2", {}, "Queues"), el("div", { id: "queues-body" }));
  every(2000, async () => {
    try {
      const qs = await api("GET", "/api/queues");
      const head = el("tr", {}, ...["Vhost", "Name", "Ready", "Unacked", "Total", "Bytes", "Consumers", "Publish", "Deliver", "Ack"].map((h, i) => el("th", { class: i > 1 ? "num" : "" }, h)));
      const rows = qs.map((q) => el("tr", { "data-vhost": q.vhost, "data-name": q.name },
        el("td", {}, q.vhost),
        el("td", {}, el("a", { href: "#queue/" + qpath(q.vhost, q.name) }, q.name)),
        el("td", { class: "num ready" }, q.messages_ready),
        el("td", { class: "num unacked" }, q.messages_unacknowledged),
        el("td", { class: "num messages" }, q.messages),
        el("td", { class: "num" }, fmtBytes(q.message_bytes)),
        el("td", { class: "num consumers" }, q.consumers),
        el("td", { class: "num" }, fmtRate(q.message_stats.publish_details.rate)),
        el("td", { class: "num" }, fmtRate(q.message_stats.deliver_get_details.rate)),
        el("td", { class: "num" }, fmtRate(q.message_stats.ack_details.rate))));
      $("#queues-body").replaceChildren(el("table", { id: "queues-table" }, head, ...rows));
      setStatus();
    } catch (e) { setStatus(e); }
  });
}

async function pageQueue(page, vhost, name) {
  const base = "/api/queues/" + qpath(vhost, name);
  page.replaceChildren(el("h2", {}, "Queue " + name + " (vhost " + vhost + ")"), el("div", { id: "queue-body" }));
  let purgeArmed = false; // a purge takes two clicks; survives the page's refreshes
  async function refresh() {
    try {
      const q = await api("GET", base);
      const parts = [el("div", { class: "cards" }, card("Ready", q.messages_ready, "q-ready"), card("Unacked", q.messages_unacknowledged, "q-unacked"),
        card("Consumers", q.consumers, "q-consumers"), card("Publish", fmtRate(q.message_stats.publish_details.rate)),
        card("Dead-lettered", q.message_stats.dead_lettered))];
      parts.push(el("h3", {}, "Bindings"), el("table", { id: "queue-bindings" }, el("tr", {}, el("th", {}, "Exchange"), el("th", {}, "Routing key")),
        ...q.bindings.map((b) => el("tr", {}, el("td", {}, b.source), el("td", {}, b.routing_key)))));
      parts.push(el("h3", {}, "Consumers"), el("table", { id: "queue-consumers" }, el("tr", {}, el("th", {}, "Tag"), el("th", {}, "Connection"), el("th", { class: "num" }, "Prefetch"), el("th", { class: "num" }, "Unacked")),
        ...q.consumer_details.map((c) => el("tr", {}, el("td", {}, c.consumer_tag), el("td", {}, el("a", { href: "#connections" }, c.connection)), el("td", { class: "num" }, c.prefetch_count), el("td", { class: "num" }, c.messages_unacknowledged)))));
      if (state.whoami && state.whoami.can_administer) {
        parts.push(el("p", {}, el("button", { class: "danger", id: "purge", onclick: async (ev) => {
          if (!purgeArmed) { purgeArmed = true; ev.target.textContent = "Confirm purge"; return; }
          purgeArmed = false;
          try { const r = await api("DELETE", base + "/contents"); setStatus(new Error("purged " + r.message_count + " message(s)")); } catch (e) { setStatus(e); }
          refresh();
        } }, purgeArmed ? "Confirm purge" : "Purge ready messages")));
      }
      parts.push(el("h3", {}, "Dead-letter queue"));
      if (!q.dead_letter_queue) parts.push(el("p", {}, "This queue has no dead-letter queue."));
      else if (q.dead_letter_hidden) parts.push(el("p", {}, q.dead_letter_queue + ": not visible to you."));
      else {
        const d = await api("GET", base + "/dead-letters?limit=50");
        parts.push(el("p", {}, d.queue + ": " + d.total + " message(s). Metadata only: the broker never holds plaintext."));
        parts.push(el("table", { id: "dead-letters" }, el("tr", {}, ...["Id", "Size", "Reason", "Format", "Sender key", "Signature", "Recipients", "From", "Problem"].map((h) => el("th", {}, h))),
          ...d.messages.map((m) => el("tr", {}, el("td", {}, m.id), el("td", { class: "num" }, m.size), el("td", {}, m.reason), el("td", {}, m.format), el("td", {}, m.sender || "-"),
            el("td", {}, m.sender ? (m.signature_valid ? "valid" : "does not verify") : "-"), el("td", {}, (m.recipients || []).join(" ")),
            el("td", {}, m.exchange + " / " + m.routing_key), el("td", {}, m.problem || "")))));
        if (d.total > 0 && state.whoami && state.whoami.can_administer) {
          parts.push(el("button", { id: "dlq-move", onclick: async () => { const r = await api("POST", base + "/dead-letters/move", {}); setStatus(new Error("moved " + r.moved + ", left " + r.left)); refresh(); } }, "Move them back to " + name));
        }
      }
      $("#queue-body").replaceChildren(...parts);
    } catch (e) { setStatus(e); }
  }
  every(3000, refresh);
}

async function pageConnections(page) {
  page.replaceChildren(el("h2", {}, "Connections"), el("div", { id: "connections-body" }));
  const armed = new Set();
  async function refresh() {
    try {
      const cs = await api("GET", "/api/connections");
      const admin = state.whoami && state.whoami.can_administer;
      const head = el("tr", {}, ...["Name", "Peer", "Protocol", "User", "Vhost", "TLS", "Consumers", "Unacked", ""].map((h) => el("th", {}, h)));
      const rows = cs.map((c) => {
        const btn = admin ? el("button", { class: "danger close-conn", "data-conn": c.name, onclick: async (ev) => {
          if (!armed.has(c.name)) { armed.add(c.name); ev.target.textContent = "Confirm close"; return; }
          try { await api("DELETE", "/api/connections/" + encodeURIComponent(c.name)); } catch (e) { setStatus(e); }
          armed.delete(c.name); refresh();
        } }, armed.has(c.name) ? "Confirm close" : "Close") : "";
        return el("tr", { "data-conn": c.name }, el("td", {}, c.name), el("td", {}, c.peer_host), el("td", {}, c.protocol), el("td", {}, c.user),
          el("td", {}, c.vhost), el("td", {}, c.ssl ? "yes" : "no"), el("td", { class: "num" }, c.consumers), el("td", { class: "num" }, c.messages_unacknowledged), el("td", {}, btn));
      });
      $("#connections-body").replaceChildren(el("table", { id: "connections-table" }, head, ...rows));
      setStatus();
    } catch (e) { setStatus(e); }
  }
  every(3000, refresh);
}

async function pageHealth(page) {
  page.replaceChildren(el("h2", {}, "Health"), el("p", { id: "health-checks" }), el("div", { id: "health-body" }));
  every(3000, async () => {
    try {
      const hl = await api("GET", "/api/health");
      $("#health-body").replaceChildren(healthTable(hl));
      let alarms = "ok";
      try { await api("GET", "/api/health/checks/alarms"); } catch (e) { alarms = e.message; }
      $("#health-checks").textContent = "Alarms: " + alarms;
      setStatus();
    } catch (e) { setStatus(e); }
  });
}

async function route() {
  stopTimer();
  const page = $("#page");
  try {
    state.whoami = await api("GET", "/api/whoami");
  } catch (e) { if (e.status !== 401) setStatus(e); return; }
  $("#login").hidden = true;
  $("#who").textContent = state.whoami.name + " [" + state.whoami.tags.join(", ") + "]";
  const parts = (location.hash.slice(1) || "overview").split("/");
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.id === "nav-" + parts[0]);
  switch (parts[0]) {
    case "queues": return pageQueues(page);
    case "queue": return pageQueue(page, decodeURIComponent(parts[1] || ""), decodeURIComponent(parts.slice(2).join("/")));
    case "connections": return pageConnections(page);
    case "health": return pageHealth(page);
    default: return pageOverview(page);
  }
}

window.addEventListener("hashchange", route);
route();
