// dashboard.cpp -- see dashboard.hpp.  The page's texts are kept here as
// raw strings so the daemon serves them without files or a build step.
#include "services/dashboard.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include "util/log.hpp"

namespace ses::services {
namespace {

using http::Access;
using http::Request;
using http::Response;

constexpr const char* kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>sesmilter dashboard</title>
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/chart.js" defer></script>
<script src="/static/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>sesmilter</h1>
  <span id="updated" class="muted"></span>
  <span class="spacer"></span>
  <label id="range-box" hidden>Days <select id="range">
    <option value="7">7</option><option value="14" selected>14</option><option value="30">30</option>
  </select></label>
  <button id="refresh" type="button" hidden>Refresh</button>
  <button id="logout" type="button" hidden>Forget key</button>
</header>
<main>
  <section id="login" class="card" hidden>
    <h2>API key</h2>
    <p>Create one with <code>sesctl apikey create NAME</code>. It is kept in this tab only
      (sessionStorage) and sent as <code>Authorization: Bearer</code> to the /v1 API.</p>
    <form id="login-form">
      <input id="key" type="password" autocomplete="off" placeholder="ses_..." size="48" required>
      <button type="submit">Show</button>
    </form>
    <p id="login-error" class="error"></p>
  </section>
  <div id="data" hidden>
    <section class="card">
      <h2>Funnel <span id="funnel-range" class="muted"></span></h2>
      <div id="tiles" class="tiles"></div>
      <div id="chart-box"><canvas id="funnel-chart" aria-label="Daily funnel"></canvas></div>
      <p id="chart-missing" class="muted" hidden>Chart.js is not installed (Debian: libjs-chart.js); the numbers are below.</p>
      <details id="daily"><summary>Daily numbers</summary>
      <div class="scroll"><table id="funnel" class="num"><thead></thead><tbody></tbody><tfoot></tfoot></table></div>
      </details>
      <p id="funnel-error" class="error"></p>
    </section>
    <section class="card">
      <h2>Warm-up <span id="warmup-tz" class="muted"></span></h2>
      <div class="scroll"><table id="warmup" class="num"><thead><tr><th>Identity</th><th>Level</th><th>Day</th>
        <th>Limit today</th><th>Used</th><th>Remaining</th><th>Held</th><th>State</th><th>Top level</th>
        <th>Top limit</th><th>Reached on</th></tr></thead><tbody></tbody></table></div>
      <p id="warmup-error" class="muted"></p>
      <div id="forecast-box" hidden>
        <h3>Forecast <span class="muted">(messages a day allowed, day by day until the top of the plan, if the
          reputation stays as it is)</span></h3>
        <div id="forecast-chart-box"><canvas id="forecast-chart" aria-label="Warm-up forecast"></canvas></div>
        <details id="forecast-days"><summary>Forecast numbers</summary>
        <div class="scroll"><table id="forecast" class="num"><thead></thead><tbody></tbody></table></div>
        </details>
      </div>
    </section>
    <section class="card">
      <h2>Held queue <span id="held-count" class="muted"></span></h2>
      <div class="scroll"><table id="held"><thead><tr><th>Queue id</th><th>Sender</th><th>Identities</th>
        <th class="r">Recipients</th><th>Held at</th><th>Release at</th><th>State</th></tr></thead><tbody></tbody></table></div>
      <p id="held-error" class="muted"></p>
    </section>
    <section class="card">
      <h2>Recent events <span class="muted">(last 24 hours, newest first)</span></h2>
      <div class="scroll"><table id="events"><thead><tr><th>Time</th><th>Type</th><th>Message</th><th>To</th>
        <th>Detail</th></tr></thead><tbody></tbody></table></div>
      <p id="events-error" class="muted"></p>
    </section>
    <section class="card">
      <h2>Failed webhooks</h2>
      <div class="scroll"><table id="failed"><thead><tr><th>Event</th><th>Webhook</th><th>Type</th><th>To</th>
        <th class="r">Attempts</th><th>Gave up</th><th>Last error</th></tr></thead><tbody></tbody></table></div>
      <p id="failed-error" class="muted"></p>
    </section>
    <section class="card" id="groups-card">
      <h2>Recipient groups</h2>
      <div class="scroll"><table id="groups" class="num"><thead><tr><th>Id</th><th>Name</th><th>Recipients</th>
        <th>Created (UTC)</th></tr></thead><tbody></tbody></table></div>
      <p id="groups-error" class="muted"></p>
      <form id="group-form" class="inline">
        <label>New group <input id="group-name" placeholder="name" required></label>
        <button type="submit">Create</button>
      </form>
      <form id="upload-form" class="inline">
        <label>Upload to group <select id="upload-group" required></select></label>
        <input id="upload-file" type="file" accept=".csv,text/csv,.json,application/json" required>
        <button type="submit">Upload</button>
      </form>
      <p class="muted">CSV: a header row with <code>email</code> and one column per template variable
        (docs/tasks.md); or JSON <code>{"Datas": [...]}</code>.</p>
      <p id="upload-result"></p>
      <div class="scroll"><table id="upload-errors"><thead><tr><th>Line</th><th>Problem</th></tr></thead>
        <tbody></tbody></table></div>
    </section>
    <section class="card" id="tasks-card">
      <h2>Tasks</h2>
      <div class="scroll"><table id="tasks" class="num"><thead><tr><th>Id</th><th>Type</th><th>Status</th>
        <th>Group</th><th>Template</th><th>Next run (UTC)</th><th>Requested</th><th>Sent</th><th>Waiting</th>
        <th>Skipped</th><th>Failed</th><th></th></tr></thead><tbody></tbody></table></div>
      <p id="tasks-error" class="muted"></p>
      <form id="task-form" class="inline">
        <label>Type <select id="task-type"><option value="1">1 now</option><option value="2">2 at a time</option>
          <option value="3">3 recurring</option></select></label>
        <label>From <input id="task-from" type="email" placeholder="news@example.com" required></label>
        <label>Group <select id="task-group" required></select></label>
        <label>Template <input id="task-template" required size="12"></label>
        <label>Begin (UTC) <input id="task-begin" placeholder="YYYY-MM-DD HH:MM:SS" size="19"></label>
        <label>Every (hours) <input id="task-interval" type="number" min="1" size="4"></label>
        <button type="submit">Create task</button>
      </form>
      <p id="task-result"></p>
    </section>
    <section class="card" id="templates-card">
      <h2>Templates</h2>
      <div class="scroll"><table id="templates"><thead><tr><th>Id</th><th>Name</th><th>Subject</th><th>Parts</th>
        <th>Updated (UTC)</th><th></th></tr></thead><tbody></tbody></table></div>
      <p id="templates-error" class="muted"></p>
      <div class="grid2">
        <form id="template-form" class="stack">
          <h3>Create or replace</h3>
          <label>Name <input id="template-name" required pattern="[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}"
            placeholder="welcome"></label>
          <label>Subject <input id="template-subject" required placeholder="Welcome, {{name}}!"></label>
          <label>HTML part <textarea id="template-html" rows="6" spellcheck="false"
            placeholder="&lt;p&gt;Hello {{name}}&lt;/p&gt;"></textarea></label>
          <label>Text part <textarea id="template-text" rows="4" spellcheck="false"
            placeholder="Hello {{name}}"></textarea></label>
          <label class="check"><input id="template-strict" type="checkbox" checked> Strict (a missing variable
            refuses the message)</label>
          <div><button type="submit">Save template</button></div>
          <p id="template-result"></p>
        </form>
        <form id="preview-form" class="stack">
          <h3>Preview</h3>
          <label>Template <select id="preview-template" required></select></label>
          <label>Sample data (JSON) <textarea id="preview-data" rows="6" spellcheck="false">{"name": "Ana"}</textarea>
          </label>
          <div><button type="submit">Preview</button></div>
          <p id="preview-error" hidden></p>
          <div id="preview-out" hidden>
            <p><span class="muted">Subject:</span> <strong id="preview-subject"></strong></p>
            <p class="muted" id="preview-html-label">HTML part</p>
            <iframe id="preview-html" sandbox="" title="HTML part, rendered"></iframe>
            <p class="muted">Text part</p>
            <pre id="preview-text"></pre>
          </div>
        </form>
      </div>
      <p class="muted">Mustache syntax and strictness: docs/templates.md. The preview renders with the milter's own
        code; <code>{{unsubscribe_url}}</code> is empty here.</p>
    </section>
  </div>
</main>
</body>
</html>
)html";

constexpr const char* kStyle = R"css(:root {
  --bg: #f4f5f7; --card: #fff; --ink: #1d2330; --muted: #6b7280; --line: #e3e6eb; --accent: #2563eb;
  --bad: #b91c1c;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
header { display: flex; align-items: center; gap: 12px; padding: 10px 24px; background: var(--ink); color: #fff; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; letter-spacing: .02em; }
header .muted { color: #aab1bd; }
header select, header button { font: inherit; }
.spacer { flex: 1; }
main { max-width: 1200px; margin: 0 auto; padding: 18px 24px 40px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px;
  margin-bottom: 18px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
h2 { font-size: 15px; margin: 0 0 10px; font-weight: 600; }
.muted { color: var(--muted); font-weight: normal; }
.error { color: var(--bad); }
#chart-box { position: relative; height: 240px; margin: 6px 0 10px; }
#forecast-chart-box { position: relative; height: 260px; margin: 6px 0 10px; }
h3 { font-size: 13px; margin: 14px 0 4px; font-weight: 600; }
.tiles { display: grid; grid-template-columns: repeat(7, 1fr); gap: 10px; margin-bottom: 8px; }
.tile { border: 1px solid var(--line); border-top: 3px solid var(--muted); border-radius: 6px; padding: 8px 10px; }
.tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.tile .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .rate { color: var(--muted); font-size: 12px; }
details summary { cursor: pointer; color: var(--accent); margin: 4px 0 6px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } .tiles { grid-template-columns: repeat(4, 1fr); } }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
table.num td, table.num th, td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
table.num td:first-child, table.num th:first-child { text-align: left; }
tfoot td { font-weight: 600; border-top: 2px solid var(--line); }
tbody tr:hover { background: #f8fafc; }
td.wrap { white-space: normal; max-width: 420px; }
code { background: #eef0f3; padding: 1px 4px; border-radius: 3px; }
input, button { font: inherit; padding: 5px 10px; border-radius: 5px; border: 1px solid #c7ccd4; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
header button { background: transparent; border-color: #4b5563; color: #fff; }
.tag { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px; background: #eef0f3; }
.tag.bounce, .tag.spamreport, .tag.dropped, .tag.rendering_failure { background: #fde2e2; color: var(--bad); }
.tag.delivered, .tag.open, .tag.click { background: #dcfce7; color: #166534; }
.tag.deferred, .tag.held, .tag.unsubscribe { background: #fef3c7; color: #92400e; }
form.inline { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: center; margin: 8px 0; }
form.inline label { display: flex; gap: 6px; align-items: center; }
select { font: inherit; padding: 4px 6px; }
td button { padding: 1px 8px; margin-left: 4px; }
.tag.s5 { background: #dbeafe; color: #1e40af; } .tag.s6 { background: #fef3c7; color: #92400e; }
.tag.s7 { background: #fde2e2; color: var(--bad); } .tag.s10 { background: #dcfce7; color: #166534; }
form.stack { display: flex; flex-direction: column; gap: 8px; margin: 0; }
form.stack label { display: flex; flex-direction: column; gap: 3px; color: var(--muted); font-size: 12px; }
form.stack label.check { flex-direction: row; align-items: center; gap: 6px; }
form.stack input:not([type=checkbox]), form.stack textarea, form.stack select { color: var(--ink); font-size: 14px; }
textarea { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; padding: 6px 8px; border-radius: 5px;
  border: 1px solid #c7ccd4; resize: vertical; width: 100%; }
#preview-html { width: 100%; height: 180px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
#preview-text { background: #f8fafc; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
  margin: 0; white-space: pre-wrap; font-size: 13px; }
#preview-out p { margin: 6px 0 4px; }
)css";

constexpr const char* kScript = R"js('use strict';
// The sesmilter dashboard: reads the /v1 API with the operator's key.
// The key comes from the form or from the URL fragment (#key=..., never
// sent to the server), lives in sessionStorage (this tab only) and goes out
// only as an Authorization header: no cookie, so no cross-site request can
// ever carry it.
(function () {
  const STORE = 'sesmilter.key';
  const FUNNEL = [
    ['RequestCount', 'Requests', '#64748b'], ['DeliveredCount', 'Delivered', '#16a34a'],
    ['OpenedCount', 'Opened', '#2563eb'], ['ClickCount', 'Clicked', '#7c3aed'],
    ['BounceCount', 'Bounced', '#dc2626'], ['ComplaintCount', 'Complained', '#ea580c'],
    ['UnsubscribeCount', 'Unsubscribed', '#ca8a04'],
  ];
  const $ = (id) => document.getElementById(id);
  const LINES = ['#2563eb', '#16a34a', '#dc2626', '#7c3aed', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];
  let chart = null;
  let forecastChart = null;

  function el(tag, text, attrs) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  function row(cells) {
    const tr = document.createElement('tr');
    for (const c of cells) tr.appendChild(c instanceof Node ? c : el('td', c));
    return tr;
  }
  function when(t) {
    if (typeof t === 'number') t = new Date(t * 1000).toISOString();
    return String(t || '').replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
  }
  function key() { return sessionStorage.getItem(STORE); }

  function showLogin(message) {
    $('login').hidden = false;
    $('data').hidden = true;
    for (const id of ['refresh', 'logout', 'range-box']) $(id).hidden = true;
    $('login-error').textContent = message || '';
    $('key').focus();
  }

  class Unauthorized extends Error {}

  async function api(path) {
    const r = await fetch(path, { headers: { Authorization: 'Bearer ' + key() }, cache: 'no-store' });
    if (r.status === 401) throw new Unauthorized('the key was refused');
    let body = {};
    try { body = await r.json(); } catch (e) { /* not JSON: reported by status */ }
    if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
    return body;
  }

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  async function loadFunnel() {
    const days = Number($('range').value) || 14;
    const to = new Date();
    const from = new Date(to.getTime() - (days - 1) * 86400000);
    const s = await api('/v1/stats?from=' + isoDay(from) + '&to=' + isoDay(to));
    $('funnel-range').textContent = s.From + ' to ' + s.To + ' (UTC)';
    const t = $('funnel');
    const head = row([el('th', 'Date')].concat(FUNNEL.map(([, label]) => el('th', label))));
    t.tHead.replaceChildren(head);
    const body = document.createDocumentFragment();
    for (const d of s.DailyVolumes.slice().reverse()) {
      body.appendChild(row([el('td', d.Date)].concat(
        FUNNEL.map(([f]) => el('td', d[f], { 'data-date': d.Date, 'data-field': f })))));
    }
    t.tBodies[0].replaceChildren(body);
    t.tFoot.replaceChildren(row([el('td', 'Total')].concat(
      FUNNEL.map(([f]) => el('td', s.Total[f], { 'data-date': 'total', 'data-field': f })))));
    const req = s.Total.RequestCount;
    $('tiles').replaceChildren(...FUNNEL.map(([f, label, color]) => {
      const tile = el('div', null, { class: 'tile' });
      tile.style.borderTopColor = color;
      tile.append(el('div', label, { class: 'label' }), el('div', s.Total[f], { id: 'total-' + f, class: 'value' }),
        el('div', f === 'RequestCount' ? 'in ' + s.DailyVolumes.length + ' days'
          : (req ? (100 * s.Total[f] / req).toFixed(1) + '% of requests' : '\u00a0'), { class: 'rate' }));
      return tile;
    }));
    drawChart(s.DailyVolumes);
  }

  function drawChart(daily) {
    if (typeof window.Chart !== 'function') {
      $('chart-box').hidden = true;
      $('chart-missing').hidden = false;
      return;
    }
    const data = {
      labels: daily.map((d) => d.Date.slice(5)),
      datasets: FUNNEL.map(([f, label, color]) => ({
        label, data: daily.map((d) => d[f]), backgroundColor: color, borderColor: color,
        borderWidth: 2, pointRadius: 2, cubicInterpolationMode: 'monotone',
      })),
    };
    if (chart) { chart.data = data; chart.update(); return; }
    chart = new window.Chart($('funnel-chart'), {
      type: 'line', data,
      options: {
        animation: false, maintainAspectRatio: false, interaction: { mode: 'index', intersect: false },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
      },
    });
  }

  async function loadWarmup() {
    const tbody = $('warmup').tBodies[0];
    try {
      const w = await api('/v1/warmup');
      $('warmup-tz').textContent = '(day in ' + w.time_zone + ')';
      tbody.replaceChildren(...w.identities.map((i) => {
        const cell = (f, v) => el('td', v === undefined ? i[f] : v, { 'data-identity': i.identity, 'data-field': f });
        const state = i.paused ? 'paused' : (i.upgrade_expected ? 'level ' + i.next_level + ' next' : '');
        const f = i.forecast || { plan: [] };
        const top = f.plan.length ? f.plan[f.reached ? f.days : f.plan.length - 1] : {};
        return row([cell('identity'), cell('level'), cell('day'), cell('limit'), cell('used'), cell('remaining'),
          cell('held_messages'), cell('state', state), cell('forecast_level', top.level),
          cell('forecast_limit', top.limit),
          cell('forecast_date', f.reached ? f.date : f.note)]);
      }));
      $('warmup').hidden = !w.identities.length;
      $('warmup-error').textContent = w.identities.length ? '' : 'No identity has sent yet.';
      drawForecast(w.identities.filter((i) => i.forecast && i.forecast.plan.length));
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      $('warmup').hidden = true;
      $('warmup-error').textContent = e.message;
    }
  }

  // One line per identity over the union of their days; after an
  // identity's top the line stays flat (the plan allows no more).
  function drawForecast(ids) {
    $('forecast-box').hidden = !ids.length;
    if (!ids.length) return;
    const dates = [...new Set(ids.flatMap((i) => i.forecast.plan.map((d) => d.date)))].sort();
    const at = (i) => {
      const by = new Map(i.forecast.plan.map((d) => [d.date, d]));
      let last = null;
      return dates.map((date) => (last = by.get(date) || last));
    };
    const t = $('forecast');
    t.tHead.replaceChildren(row([el('th', 'Date')].concat(ids.map((i) => el('th', i.identity)))));
    const cols = ids.map(at);
    t.tBodies[0].replaceChildren(...dates.map((date, n) => row([el('td', date)].concat(cols.map((c, k) =>
      el('td', c[n] ? c[n].limit + ' (' + c[n].level + ')' : '',
        { 'data-identity': ids[k].identity, 'data-field': 'limit@' + date }))))));
    if (typeof window.Chart !== 'function') { $('forecast-chart-box').hidden = true; return; }
    const data = {
      labels: dates.map((d) => d.slice(5)),
      datasets: ids.map((i, k) => ({
        label: i.identity, data: cols[k].map((d) => (d ? d.limit : null)),
        levels: cols[k].map((d) => (d ? d.level : null)),
        borderColor: LINES[k % LINES.length], backgroundColor: LINES[k % LINES.length],
        borderWidth: 2, pointRadius: 2, stepped: 'before',
      })),
    };
    if (forecastChart) { forecastChart.data = data; forecastChart.update(); return; }
    forecastChart = new window.Chart($('forecast-chart'), {
      type: 'line', data,
      options: {
        animation: false, maintainAspectRatio: false, interaction: { mode: 'index', intersect: false },
        scales: {
          y: { type: 'logarithmic', title: { display: true, text: 'messages a day (log scale)' },
            ticks: { callback: (v) => ([1, 2, 5].includes(Number(String(v)[0])) && /^\d0*$/.test(String(v).slice(1))
              ? Number(v).toLocaleString('en') : '') } },
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (c) => c.dataset.label + ': ' + Number(c.raw).toLocaleString('en') +
            '/day (level ' + c.dataset.levels[c.dataIndex] + ')' } },
        },
      },
    });
  }

  async function loadHeld() {
    const tbody = $('held').tBodies[0];
    try {
      const h = await api('/v1/queue/held');
      $('held-count').textContent = '(' + h.count + ')';
      tbody.replaceChildren(...h.held.map((m) => row([m.queue_id, m.sender, m.identities.join(', '),
        el('td', m.recipients, { class: 'r' }), when(m.held_at), when(m.release_at), m.state])));
      $('held').hidden = !h.count;
      $('held-error').textContent = h.count ? '' : 'Nothing is held.';
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      $('held').hidden = true;
      $('held-error').textContent = e.message;
    }
  }

  async function loadEvents() {
    const tbody = $('events').tBodies[0];
    try {
      const since = new Date(Date.now() - 86400000).toISOString().replace(/\.\d+Z$/, 'Z');
      const ev = (await api('/v1/events?limit=1000&since=' + encodeURIComponent(since))).Events;
      const recent = ev.slice(-50).reverse();
      tbody.replaceChildren(...recent.map((e) => {
        const detail = [e.BounceType !== 'none' ? e.BounceType : '', e.Dsn, e.Text].filter(Boolean).join(' ');
        return row([when(e.Time), el('td', null).appendChild(el('span', e.Type, { class: 'tag ' + e.Type })).parentNode,
          e.MessageId, e.To, el('td', detail, { class: 'wrap' })]);
      }));
      $('events').hidden = !recent.length;
      $('events-error').textContent = recent.length ? '' : 'No events in the last 24 hours.';
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      $('events').hidden = true;
      $('events-error').textContent = e.message;
    }
  }

  async function loadFailed() {
    const tbody = $('failed').tBodies[0];
    try {
      const f = (await api('/v1/events/failed?limit=100')).Failed;
      tbody.replaceChildren(...f.map((e) => {
        const tr = row([e.EventId, e.Webhook, e.Type, e.To, el('td', e.Attempts, { class: 'r' }), when(e.FailedAt),
          el('td', e.LastError, { class: 'wrap' })]);
        tr.dataset.failed = e.EventId;
        return tr;
      }));
      $('failed').hidden = !f.length;
      $('failed-error').textContent = f.length ? 'Send them again with sesctl events retry --all.'
        : 'No failed webhook deliveries.';
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      $('failed').hidden = true;
      $('failed-error').textContent = e.message;
    }
  }

  // Groups and tasks (docs/tasks.md): the same /v1 routes as curl and
  // sesctl; the forms post JSON or the uploaded file as it is.
  async function send(method, path, body, type) {
    const headers = { Authorization: 'Bearer ' + key() };
    if (body !== undefined) headers['Content-Type'] = type || 'application/json';
    const r = await fetch(path, { method, headers, cache: 'no-store',
      body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)) });
    if (r.status === 401) throw new Unauthorized('the key was refused');
    let out = {};
    try { out = await r.json(); } catch (e) { /* reported by status */ }
    if (!r.ok) throw new Error(out.error || ('HTTP ' + r.status));
    return out;
  }

  async function loadGroups() {
    try {
      const g = (await api('/v1/groups')).Groups;
      $('groups').tBodies[0].replaceChildren(...g.map((x) => {
        const tr = row([x.GroupId, el('td', x.GroupName), el('td', x.Count, { 'data-group': x.GroupId, 'data-field': 'Count' }),
          x.CreateTime]);
        return tr;
      }));
      $('groups').hidden = !g.length;
      $('groups-error').textContent = g.length ? '' : 'No recipient groups yet.';
      for (const sel of [$('upload-group'), $('task-group')]) {
        const was = sel.value;
        sel.replaceChildren(...g.map((x) => el('option', x.GroupId + ' ' + x.GroupName, { value: x.GroupId })));
        if (was) sel.value = was;
      }
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      $('groups-error').textContent = e.message;
    }
  }

  function taskButtons(t) {
    const td = el('td', null);
    const acts = { 1: ['pause', 'cancel'], 5: ['pause', 'cancel'], 6: ['pause', 'cancel'], 7: ['resume', 'cancel'],
      8: ['resume', 'cancel'] }[t.Status] || [];
    for (const a of acts) {
      const b = el('button', a, { type: 'button', 'data-task': t.TaskId, 'data-action': a });
      b.addEventListener('click', () => taskAction(t.TaskId, a));
      td.appendChild(b);
    }
    return td;
  }

  async function loadTasks() {
    try {
      const list = (await api('/v1/tasks')).Tasks;
      $('tasks').tBodies[0].replaceChildren(...list.slice().reverse().map((t) => {
        const cell = (f, v) => el('td', v === undefined ? t[f] : v, { 'data-task': t.TaskId, 'data-field': f });
        const st = el('td', null, { 'data-task': t.TaskId, 'data-field': 'Status', 'data-status': t.Status });
        st.appendChild(el('span', t.StatusText, { class: 'tag s' + t.Status }));
        if (t.Error) st.title = t.Error;
        return row([t.TaskId, t.TaskType, st, t.GroupId, el('td', t.Template.TemplateName), t.NextRunTime,
          cell('RequestCount'), cell('SendCount'), cell('CacheCount'), cell('SkippedCount'), cell('FailedCount'),
          taskButtons(t)]);
      }));
      $('tasks').hidden = !list.length;
      $('tasks-error').textContent = list.length ? '' : 'No tasks yet.';
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      $('tasks-error').textContent = e.message;
    }
  }

  async function taskAction(id, action) {
    try {
      await send('POST', '/v1/tasks/' + id + '/' + action);
      $('task-result').textContent = 'Task ' + id + ': ' + action + ' done.';
      $('task-result').className = '';
    } catch (e) {
      $('task-result').textContent = e.message;
      $('task-result').className = 'error';
    }
    await loadTasks().catch(() => {});
  }

  function startBatchForms() {
    // Counts of running tasks move: their table refreshes more often.
    setInterval(() => { if (key() && !document.hidden && !$('data').hidden) loadTasks().catch(() => {}); }, 3000);
    $('group-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const r = await send('POST', '/v1/groups', { Name: $('group-name').value.trim() });
        $('group-name').value = '';
        await loadGroups();
        $('upload-group').value = r.GroupId;
        $('task-group').value = r.GroupId;
        $('groups-error').textContent = 'Group ' + r.GroupId + ' created.';
      } catch (e) { $('groups-error').textContent = e.message; }
    });
    $('upload-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const file = $('upload-file').files[0];
      const out = $('upload-result');
      $('upload-errors').tBodies[0].replaceChildren();
      $('upload-errors').hidden = true;
      if (!file) return;
      try {
        const isJson = /\.json$/i.test(file.name);
        const r = await send('POST', '/v1/groups/' + $('upload-group').value + '/recipients', await file.text(),
          isJson ? 'application/json' : 'text/csv');
        out.className = '';
        out.textContent = 'Added ' + r.Added + ', replaced ' + r.Replaced + ', duplicates ' + r.Duplicates +
          ', bad rows ' + r.Errors.length + '; the group now holds ' + r.Count + '.';
        out.dataset.added = r.Added;
        $('upload-errors').tBodies[0].replaceChildren(...r.Errors.map((e) =>
          row([el('td', e.Line, { 'data-line': e.Line }), el('td', e.Message, { class: 'wrap' })])));
        $('upload-errors').hidden = !r.Errors.length;
      } catch (e) {
        out.className = 'error';
        out.textContent = e.message;
      }
      await loadGroups().catch(() => {});
    });
    $('task-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const type = Number($('task-type').value);
      const req = { TaskType: type, FromEmailAddress: $('task-from').value.trim(),
        GroupId: Number($('task-group').value), Template: { TemplateName: $('task-template').value.trim() } };
      const begin = $('task-begin').value.trim();
      if (type === 2) req.TimedParam = { BeginTime: begin };
      if (type === 3) req.CycleParam = { BeginTime: begin, IntervalTime: Number($('task-interval').value) };
      try {
        const r = await send('POST', '/v1/tasks', req);
        $('task-result').className = '';
        $('task-result').textContent = 'Task ' + r.TaskId + ' created.';
        $('task-result').dataset.task = r.TaskId;
      } catch (e) {
        $('task-result').className = 'error';
        $('task-result').textContent = e.message;
      }
      await loadTasks().catch(() => {});
    });
  }

  // Templates (docs/api.md): list, create or replace, preview with sample
  // data.  The rendered HTML goes into an iframe with sandbox="" and srcdoc:
  // no script runs, it cannot reach this page, and it inherits the page's
  // self-only CSP (remote images in a template do not load here).
  async function loadTemplates() {
    try {
      const list = (await api('/v1/templates')).Templates;
      $('templates').tBodies[0].replaceChildren(...list.map((t) => {
        const parts = [t.HasText ? 'text' : '', t.HasHtml ? 'html' : ''].filter(Boolean).join('+');
        const acts = el('td', null);
        for (const [label, fn] of [['edit', editTemplate], ['preview', pickPreview], ['delete', deleteTemplate]]) {
          const b = el('button', label, { type: 'button', 'data-template': t.TemplateName, 'data-action': label });
          b.addEventListener('click', () => fn(t));
          acts.appendChild(b);
        }
        return row([t.TemplateID === null ? '-' : t.TemplateID, el('td', t.TemplateName, { 'data-template': t.TemplateName }),
          el('td', t.Subject, { class: 'wrap' }), parts, t.UpdateTime, acts]);
      }));
      $('templates').hidden = !list.length;
      $('templates-error').textContent = list.length ? '' : 'No templates yet.';
      const sel = $('preview-template');
      const was = sel.value;
      sel.replaceChildren(...list.map((t) => el('option', t.TemplateName, { value: t.TemplateName })));
      if (was) sel.value = was;
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      $('templates-error').textContent = e.message;
    }
  }

  async function editTemplate(t) {
    try {
      const d = await api('/v1/templates/' + encodeURIComponent(t.TemplateName));
      $('template-name').value = d.TemplateName;
      $('template-subject').value = d.Subject;
      $('template-html').value = d.Html || '';
      $('template-text').value = d.Text || '';
      $('template-strict').checked = d.Strict;
      $('template-result').textContent = 'Editing ' + d.TemplateName + '.';
      $('template-result').className = '';
    } catch (e) { $('template-result').textContent = e.message; $('template-result').className = 'error'; }
  }

  function pickPreview(t) {
    $('preview-template').value = t.TemplateName;
    $('preview-form').requestSubmit();
  }

  async function deleteTemplate(t) {
    if (!confirm('Delete template ' + t.TemplateName + '?')) return;
    try {
      await send('DELETE', '/v1/templates/' + encodeURIComponent(t.TemplateName));
      $('templates-error').textContent = 'Template ' + t.TemplateName + ' deleted.';
    } catch (e) { $('templates-error').textContent = e.message; }
    await loadTemplates().catch(() => {});
  }

  function startTemplateForms() {
    $('template-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const out = $('template-result');
      const req = { TemplateName: $('template-name').value.trim(), Subject: $('template-subject').value,
        Html: $('template-html').value, Text: $('template-text').value, Strict: $('template-strict').checked };
      try {
        const r = await send('POST', '/v1/templates', req);
        out.className = '';
        out.textContent = 'Template ' + r.TemplateName + ' (id ' + r.TemplateID + '): ' + r.Result + '.';
        out.dataset.saved = r.TemplateName;
        await loadTemplates();
        $('preview-template').value = r.TemplateName;
      } catch (e) {
        out.className = 'error';
        out.textContent = e.message;
        delete out.dataset.saved;
      }
    });
    $('preview-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const err = $('preview-error');
      err.textContent = '';
      err.className = '';
      err.hidden = true;
      $('preview-out').dataset.rendered = '';
      try {
        // The data goes as the product's TemplateData string: the server
        // parses it, so its errors are the API's.
        const r = await send('POST', '/v1/templates/' + encodeURIComponent($('preview-template').value) + '/preview',
          { TemplateData: $('preview-data').value.trim() || '{}' });
        $('preview-subject').textContent = r.Subject;
        $('preview-html').hidden = $('preview-html-label').hidden = r.Html === null;
        $('preview-html').srcdoc = r.Html === null ? '' : r.Html;
        $('preview-text').textContent = r.Text === null ? '(no text part)' : r.Text;
        $('preview-out').hidden = false;
        $('preview-out').dataset.rendered = r.TemplateName;
      } catch (e) {
        $('preview-out').hidden = true;
        err.className = 'error';
        err.textContent = e.message;
        err.hidden = false;
      }
    });
  }

  async function refresh() {
    if (!key()) { showLogin(); return; }
    $('login').hidden = true;
    $('data').hidden = false;
    for (const id of ['refresh', 'logout', 'range-box']) $(id).hidden = false;
    try {
      await Promise.all([
        loadFunnel().catch((e) => { if (e instanceof Unauthorized) throw e; $('funnel-error').textContent = e.message; }),
        loadWarmup(), loadHeld(), loadEvents(), loadFailed(), loadGroups(), loadTasks(), loadTemplates(),
      ]);
      $('funnel-error').textContent = '';
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      document.body.dataset.loaded = 'true';
    } catch (e) {
      if (!(e instanceof Unauthorized)) throw e;
      sessionStorage.removeItem(STORE);
      showLogin('The key was refused (revoked or mistyped).');
    }
  }

  function start() {
    const m = /(?:^#|&)key=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(STORE, decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname + location.search);
    }
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(STORE, $('key').value.trim());
      $('key').value = '';
      refresh();
    });
    $('logout').addEventListener('click', () => { sessionStorage.removeItem(STORE); showLogin(); });
    $('refresh').addEventListener('click', refresh);
    $('range').addEventListener('change', refresh);
    startBatchForms();
    startTemplateForms();
    setInterval(() => { if (key() && !document.hidden) refresh(); }, 30000);
    refresh();
  }
  start();
})();
)js";

Response asset(const char* content_type, std::string body) {
    Response r;
    r.content_type = content_type;
    r.body = std::move(body);
    r.headers.emplace_back("Content-Security-Policy", kDashboardCsp);
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::ostringstream s;
    s << in.rdbuf();
    return in.bad() ? std::string() : s.str();
}

}  // namespace

void add_dashboard_routes(http::Router& router, const std::string& chart_dir) {
    auto chart =
        std::make_shared<const std::string>(chart_dir.empty() ? std::string() : read_file(chart_dir + "/chart.min.js"));
    if (chart->empty())
        log::info("http: dashboard: no " + (chart_dir.empty() ? std::string("[http] dashboard_assets") : chart_dir) +
                  "/chart.min.js (Debian: libjs-chart.js); the dashboard shows tables without the chart");
    router.add("GET", "/", Access::operator_page,
               [](const Request&) { return asset("text/html; charset=utf-8", kPage); });
    router.add("GET", "/static/dashboard.js", Access::operator_page,
               [](const Request&) { return asset("text/javascript; charset=utf-8", kScript); });
    router.add("GET", "/static/dashboard.css", Access::operator_page,
               [](const Request&) { return asset("text/css; charset=utf-8", kStyle); });
    router.add("GET", "/static/chart.js", Access::operator_page, [chart](const Request&) {
        if (chart->empty()) return http::error_response(404, "Chart.js is not installed (libjs-chart.js)");
        return asset("text/javascript; charset=utf-8", *chart);
    });
}

}  // namespace ses::services
