// llm-failover dashboard. Reads /api/status and /api/explain (the admin
// API's messages as JSON, proto field names) and follows /api/events, a
// server-sent event stream of the audit events: the timeline is pushed, not
// polled. Every text from the server is set with textContent.
'use strict';

const STATES = {
  BREAKER_STATE_CLOSED: 'closed',
  BREAKER_STATE_OPEN: 'open',
  BREAKER_STATE_HALF_OPEN: 'half-open',
  BREAKER_STATE_RECOVERING: 'recovering',
};
const MAX_EVENTS = 200; // timeline entries kept in the page

let status = null;      // the last GetStatusResponse
let plans = {};         // chain name -> ExplainPlanResponse
let skew = 0;           // server time - local time, in ms
let refreshing = false;
let again = false;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c instanceof Node) e.append(c); else if (c) e.append(document.createTextNode(c));
  }
  return e;
}

// seconds parses a protobuf JSON Duration ("1.5s").
function seconds(d) { return d ? parseFloat(d) : 0; }

function fmtSeconds(s) {
  if (s <= 0) return '';
  if (s < 1) return Math.round(s * 1000) + ' ms';
  if (s < 90) return Math.round(s) + ' s';
  return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
}

function fmtMs(d) { return d ? Math.round(seconds(d) * 1000) + ' ms' : '–'; }

function pct(f) { return Math.round((f || 0) * 100) + '%'; }

function targetName(t) { return t ? t.provider + '/' + t.model : ''; }

function cooldownLeft(t) {
  if (!t.cooldown_until) return '';
  return fmtSeconds((Date.parse(t.cooldown_until) - (Date.now() + skew)) / 1000);
}

function reasonText(t) {
  if (!t.reason) return '';
  let r = t.reason;
  const what = [];
  if (t.opened_failures) what.push(t.opened_failures + ' failures');
  if (t.opened_status) what.push('HTTP ' + t.opened_status);
  if (t.opened_detail) what.push(t.opened_detail);
  if (what.length) r += ' (' + what.join(', ') + ')';
  return r;
}

function errorRate(t) {
  const s = t.stats || {};
  if (s.attempts) return pct(s.error_rate) + ' of ' + s.attempts;
  if (t.window_requests) return pct((t.window_failures || 0) / t.window_requests) + ' of ' + t.window_requests;
  return '–';
}

// ledText is the share of the chain's plans a target led, and how many.
function ledText(t) { return t.led ? pct(t.led_share) + ' (' + t.led + ')' : '–'; }

// tierText is "1 · w3" for a tier's target.
function tierText(t) { return t.tier ? t.tier + ' · w' + t.weight : ''; }

function renderChain(c) {
  const targets = c.targets || [];
  const tiered = targets.some((t) => t.tier);
  const regional = targets.some((t) => t.region);
  const rows = targets.map((t, i) => {
    const state = STATES[t.state] || 'unknown';
    const s = t.stats || {};
    return el('tr', { 'data-target': targetName(t.target), 'data-state': state },
      el('td', { 'data-label': '#', class: 'num' }, String(i + 1)),
      el('td', { 'data-label': 'target' }, targetName(t.target)),
      tiered ? el('td', { 'data-label': 'tier', class: 'num tier' }, tierText(t)) : null,
      regional ? el('td', { 'data-label': 'region', class: 'region' }, t.region || '') : null,
      el('td', { 'data-label': 'led', class: 'num led' }, ledText(t)),
      el('td', { 'data-label': 'state', class: 'state ' + state }, state),
      el('td', { 'data-label': 'reason', class: 'reason' }, reasonText(t)),
      el('td', { 'data-label': 'cooldown left', class: 'num cooldown', 'data-until': t.cooldown_until || '' }, cooldownLeft(t)),
      el('td', { 'data-label': 'stage', class: 'num' }, t.recovery_stage ? t.recovery_stage + ' / ' + t.recovery_stages : ''),
      el('td', { 'data-label': 'traffic share', class: 'num' }, pct(t.traffic_share)),
      el('td', { 'data-label': 'TTFB p50 / p95', class: 'num' }, fmtMs(s.ttfb_p50) + ' / ' + fmtMs(s.ttfb_p95)),
      el('td', { 'data-label': 'error rate', class: 'num' }, errorRate(t)),
      el('td', { 'data-label': 'tokens', class: 'num' }, s.tokens ? String(s.tokens) : '0'));
  });
  const cols = ['#', 'target'].concat(tiered ? ['tier'] : [], regional ? ['region'] : [],
    ['led', 'state', 'reason', 'cooldown left', 'stage', 'share', 'TTFB p50 / p95', 'error rate', 'tokens']);
  const head = el('tr', {}, ...cols.map((h) => el('th', {}, h)));
  const models = (c.models || []).join(', ');
  return el('article', { class: 'chain', 'data-chain': c.name },
    el('h2', {}, c.name, ' ', el('span', { class: 'muted small' }, models ? 'models: ' + models : (c.name === status.default_chain ? 'default chain' : ''))),
    el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)),
    renderPlan(plans[c.name]));
}

function renderPlan(p) {
  const box = el('ol', { class: 'plan', 'aria-label': 'next plan' });
  if (!p) return box;
  box.append(el('li', {}, el('strong', {}, 'Next plan: '),
    p.error ? p.error : (p.steps || []).map((s) => targetName(s.target) + ' (' + s.reason + (s.placement ? '; ' + s.placement : '') + ')').join(' → ')));
  for (const v of p.targets || []) {
    if (!v.included) box.append(el('li', { class: 'out' }, 'left out: ' + targetName(v.target) + ': ' + v.reason));
  }
  return box;
}

function render() {
  if (!status) return;
  const box = document.getElementById('chains');
  box.replaceChildren(...(status.chains || []).map(renderChain));
  const regions = (status.regions || []).map((r) => r.region + (r.outage ? ' OUTAGE' : ' ok') + ' (' + (r.open || 0) + '/' + r.targets + ' open)');
  document.getElementById('summary').textContent = (status.streams || 0) + ' streams in flight' +
    (regions.length ? '; regions: ' + regions.join(', ') : '');
}

// tick counts the cooldowns down between refreshes.
function tick() {
  for (const td of document.querySelectorAll('td.cooldown[data-until]')) {
    const until = td.getAttribute('data-until');
    if (until) td.textContent = cooldownLeft({ cooldown_until: until });
  }
}

async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    const r = await fetch('/api/status');
    if (!r.ok) throw new Error('status ' + r.status);
    status = await r.json();
    if (status.time) skew = Date.parse(status.time) - Date.now();
    const got = await Promise.all((status.chains || []).map((c) =>
      fetch('/api/explain?chain=' + encodeURIComponent(c.name)).then((x) => x.ok ? x.json() : null).catch(() => null)));
    plans = {};
    (status.chains || []).forEach((c, i) => { plans[c.name] = got[i]; });
    render();
  } catch (e) {
    document.getElementById('summary').textContent = 'cannot read the status: ' + e.message;
  } finally {
    refreshing = false;
    if (again) { again = false; refresh(); }
  }
}

function describe(e) {
  const parts = [];
  if (e.from) parts.push(targetName(e.from));
  if (e.to) parts.push('→ ' + targetName(e.to));
  if (e.breaker_from || e.breaker_to) parts.push((e.breaker_from || '?') + ' → ' + (e.breaker_to || '?'));
  if (e.reason) parts.push(e.reason);
  if (e.status) parts.push('HTTP ' + e.status);
  if (e.added_latency_ms) parts.push('+' + e.added_latency_ms + ' ms');
  if (e.detail) parts.push(e.detail);
  if (e.chain) parts.push('chain ' + e.chain);
  if (e.request_id) parts.push('req ' + e.request_id);
  return parts.join(' · ');
}

function addEvent(e) {
  const list = document.getElementById('events');
  const empty = list.querySelector('.empty');
  if (empty) empty.remove();
  const t = e.time ? new Date(e.time) : new Date();
  list.prepend(el('li', { class: e.kind, 'data-kind': e.kind, 'data-seq': String(e.seq || '') },
    el('time', { datetime: e.time || '' }, t.toLocaleTimeString()),
    el('span', { class: 'kind' }, e.kind), ' ', describe(e)));
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

function follow() {
  const conn = document.getElementById('conn');
  const es = new EventSource('/api/events?history=1');
  es.onopen = () => { conn.textContent = 'live'; conn.dataset.state = 'live'; };
  es.onerror = () => { conn.textContent = 'reconnecting…'; conn.dataset.state = 'reconnecting'; };
  es.addEventListener('audit', (m) => {
    addEvent(JSON.parse(m.data));
    refresh(); // a breaker may have changed: read the status now
  });
  es.addEventListener('reset', () => { document.getElementById('events').replaceChildren(); });
}

refresh();
follow();
setInterval(tick, 1000);
setInterval(refresh, 5000); // traffic share, latency and counters move without events
