// The Traces page: #/traces searches the engine's trace store through
// Jaeger's query API (/api/services, /api/traces) and shows the hits as a
// duration-over-time scatter and a list; #/traces/<traceID> draws one trace
// as a waterfall, services coloured, with each span's attributes, events
// and errors, and the log lines the engine kept for it (/api/logs). recentTraces() is the Overview's "slowest recent traces" and
// "recent error traces" card.

import { h, s, replace, clear, hashParams, setHashParams, timeAgo } from './dom.js';
import { PALETTE, formatTime } from './format.js';
import { config } from './api.js';

// jaeger calls the Jaeger query API; errors carry the API's message.
async function jaeger(path) {
  let resp;
  try {
    resp = await fetch(path, { cache: 'no-store' });
  } catch (e) {
    throw new Error(`cannot reach the console server (${e.message})`);
  }
  let body = null;
  try {
    body = await resp.json();
  } catch {
    throw new Error(`${resp.status} ${resp.statusText}: not JSON`);
  }
  if (!resp.ok) {
    const err = new Error(`${resp.status}: ${body?.errors?.[0]?.msg || resp.statusText}`);
    err.status = resp.status;
    throw err;
  }
  return body.data;
}

// traceLogs fetches the log lines kept for a trace (internal/logstore):
// { data: [{time, level, message, component, spanID, attributes}], total, oldest }.
async function traceLogs(id) {
  const resp = await fetch(`/api/logs?traceID=${encodeURIComponent(id)}&limit=1000`, { cache: 'no-store' });
  const body = await resp.json().catch(() => null);
  if (!resp.ok || !body) throw new Error(`${resp.status}: ${body?.error?.message || resp.statusText}`);
  return body;
}

// logTable lists log lines; a click on a line selects its span (onSpan).
function logTable(lines, onSpan) {
  return h('table', { class: 'logs' }, h('tbody', {}, lines.map((l) => h('tr', {
    class: ['log-line', /^(WARN|ERROR)/.test(l.level) ? 'bad' : null], 'data-span-id': l.spanID,
    onclick: onSpan ? () => onSpan(l.spanID) : null,
  },
  h('td', { class: 'muted small mono' }, formatTime(Date.parse(l.time), true)),
  h('td', {}, l.component || ''),
  h('td', { class: 'mono small' }, l.level),
  h('td', {}, h('b', {}, l.message), ' ', h('span', { class: 'mono small muted' },
    Object.entries(l.attributes || {}).map(([k, v]) => `${k}=${v}`).join(' ')))))));
}

// summary reduces a Jaeger trace to what lists and charts show.
export function summary(t) {
  const start = Math.min(...t.spans.map((sp) => sp.startTime));
  const end = Math.max(...t.spans.map((sp) => sp.startTime + sp.duration));
  const ids = new Set(t.spans.map((sp) => sp.spanID));
  const root = t.spans.find((sp) => !sp.references.some((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID))) || t.spans[0];
  const errors = t.spans.filter(isError).length;
  const services = [...new Set(t.spans.map((sp) => t.processes[sp.processID]?.serviceName))];
  return { id: t.traceID, start, duration: end - start, root, rootService: t.processes[root.processID]?.serviceName, errors, services, spans: t.spans.length };
}

function isError(sp) {
  return sp.tags.some((kv) => kv.key === 'error' && kv.value === true);
}

export function formatMicros(us) {
  if (us < 1000) return `${us} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 10000 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

// serviceColor gives each service the same colour everywhere.
const colorOf = new Map();
function serviceColor(name) {
  if (!colorOf.has(name)) colorOf.set(name, PALETTE[colorOf.size % PALETTE.length]);
  return colorOf.get(name);
}

function traceLink(sm) {
  return h('a', { href: `#/traces/${sm.id}`, class: 'trace-link', 'data-trace-id': sm.id },
    `${sm.rootService}: ${sm.root.operationName}`);
}

function traceRows(list) {
  return h('table', { class: 'results traces-list' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Trace'), h('th', {}, 'Started'), h('th', { class: 'num' }, 'Duration'),
      h('th', { class: 'num' }, 'Spans'), h('th', {}, 'Services'), h('th', { class: 'num' }, 'Errors'))),
    h('tbody', {}, list.map((sm) => h('tr', { 'data-trace-id': sm.id, class: sm.errors ? 'has-error' : null },
      h('td', {}, traceLink(sm), h('div', { class: 'muted small mono' }, sm.id)),
      h('td', {}, timeAgo(new Date(sm.start / 1000))),
      h('td', { class: 'num' }, formatMicros(sm.duration)),
      h('td', { class: 'num' }, String(sm.spans)),
      h('td', {}, sm.services.map((svc) => {
        const b = h('span', { class: 'svc' }, svc);
        b.style.borderColor = serviceColor(svc);
        return b;
      })),
      h('td', { class: 'num' }, sm.errors ? h('span', { class: 'badge bad' }, String(sm.errors)) : '0')))));
}

// scatter draws each trace as a dot: start time across, duration up, errors red.
function scatter(el, list, startUs, endUs) {
  clear(el);
  const width = Math.max(el.clientWidth || 600, 300);
  const height = 200;
  const pad = { left: 64, right: 12, top: 10, bottom: 22 };
  const maxD = Math.max(1, ...list.map((sm) => sm.duration)) * 1.1;
  const x = (t) => pad.left + ((t - startUs) / Math.max(1, endUs - startUs)) * (width - pad.left - pad.right);
  const y = (d) => pad.top + (1 - d / maxD) * (height - pad.top - pad.bottom);
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'chart scatter', role: 'img' });
  for (const f of [0, 0.5, 1]) {
    svg.append(s('line', { x1: pad.left, x2: width - pad.right, y1: y(maxD * f), y2: y(maxD * f), class: 'grid' }),
      s('text', { x: pad.left - 6, y: y(maxD * f) + 4, class: 'axis', 'text-anchor': 'end' }, formatMicros(Math.round(maxD * f))));
  }
  for (const f of [0, 0.5, 1]) {
    const t = startUs + (endUs - startUs) * f;
    svg.append(s('text', { x: x(t), y: height - 5, class: 'axis', 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' }, formatTime(t / 1000, true)));
  }
  for (const sm of list) {
    const dot = s('circle', { cx: x(sm.start), cy: y(sm.duration), r: 4, class: ['trace-dot', sm.errors ? 'error' : null], 'data-trace-id': sm.id },
      s('title', {}, `${sm.rootService}: ${sm.root.operationName} · ${formatMicros(sm.duration)}${sm.errors ? ` · ${sm.errors} errors` : ''}`));
    dot.addEventListener('click', () => { location.hash = `#/traces/${sm.id}`; });
    svg.append(dot);
  }
  el.append(svg);
}

const LOOKBACKS = [['5m', 300], ['15m', 900], ['1h', 3600], ['6h', 21600]];

function searchPage(el) {
  const params = hashParams();
  const service = h('select', { id: 'trace-service' }, h('option', { value: '' }, 'All services'));
  const operation = h('select', { id: 'trace-operation' }, h('option', { value: '' }, 'All operations'));
  const status = h('select', { id: 'trace-status' }, h('option', { value: '' }, 'Any status'), h('option', { value: 'error', selected: params.get('status') === 'error' }, 'Errors only'));
  const minDuration = h('input', { id: 'trace-min', placeholder: 'min duration, e.g. 100ms', value: params.get('minDuration') || '', size: 22 });
  const lookback = h('select', { id: 'trace-lookback' }, LOOKBACKS.map(([name]) => h('option', { value: name, selected: name === (params.get('lookback') || '15m') }, `last ${name}`)));
  const chart = h('div', { class: 'trace-scatter' });
  const out = h('section', { class: 'card wide', id: 'trace-results', 'data-state': 'loading' }, h('p', { class: 'muted' }, 'Loading…'));

  async function loadOperations() {
    clear(operation).append(h('option', { value: '' }, 'All operations'));
    if (!service.value) return;
    const ops = await jaeger(`/api/services/${encodeURIComponent(service.value)}/operations`);
    for (const op of ops) operation.append(h('option', { value: op, selected: op === params.get('operation') }, op));
  }

  async function run() {
    const p = new URLSearchParams();
    for (const [k, v] of [['service', service.value], ['operation', operation.value], ['minDuration', minDuration.value.trim()], ['lookback', lookback.value]]) if (v) p.set(k, v);
    if (status.value === 'error') p.set('status', 'error');
    setHashParams(p);
    const q = new URLSearchParams(p);
    q.delete('status');
    if (status.value === 'error') q.set('tags', JSON.stringify({ error: 'true' }));
    q.set('limit', '100'); // whole traces: an order's is about 100 spans
    out.dataset.state = 'loading';
    try {
      const list = (await jaeger(`/api/traces?${q}`)).map(summary);
      const endUs = Date.now() * 1000;
      const startUs = endUs - LOOKBACKS.find(([n]) => n === lookback.value)[1] * 1e6;
      replace(out, h('h2', {}, `${list.length} traces`), chart, list.length ? traceRows(list) : h('p', { class: 'muted' }, 'No trace matches. Traces live in memory: see the store\'s budget on the engine\'s /metrics (cloudcart_traces_oldest_age_seconds).'));
      scatter(chart, list, startUs, endUs);
      out.dataset.state = list.length ? 'data' : 'nodata';
    } catch (e) {
      replace(out, h('p', { class: 'error' }, e.message));
      out.dataset.state = 'error';
    }
  }

  service.addEventListener('change', () => { loadOperations().then(run, showError); });
  for (const c of [operation, status, lookback]) c.addEventListener('change', run);
  minDuration.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') run(); });
  function showError(e) {
    replace(out, h('p', { class: 'error' }, e.message));
    out.dataset.state = 'error';
  }
  replace(el, h('h1', {}, 'Traces'),
    h('div', { class: 'card wide toolbar trace-search' }, service, operation, status, minDuration, lookback,
      h('button', { type: 'button', id: 'trace-run', onclick: run }, 'Search'),
      h('span', { class: 'muted small' }, 'Kept in memory by `cloudcart run`; also at /api/traces for Grafana\'s Jaeger data source.')),
    out);
  jaeger('/api/services').then(async (svcs) => {
    for (const svc of svcs) service.append(h('option', { value: svc, selected: svc === params.get('service') }, svc));
    await loadOperations();
    await run();
  }).catch(showError);
  return () => {};
}

// order puts children right under their parent, siblings by start time.
function treeOrder(t) {
  const byParent = new Map();
  const ids = new Set(t.spans.map((sp) => sp.spanID));
  for (const sp of t.spans) {
    const parent = sp.references.find((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID))?.spanID || '';
    if (!byParent.has(parent)) byParent.set(parent, []);
    byParent.get(parent).push(sp);
  }
  const out = [];
  const walk = (id, depth) => {
    for (const sp of (byParent.get(id) || []).sort((a, b) => a.startTime - b.startTime)) {
      out.push({ sp, depth });
      walk(sp.spanID, depth + 1);
    }
  };
  walk('', 0);
  return out;
}

function kvTable(kvs) {
  return h('table', { class: 'kv' }, h('tbody', {}, kvs.map((kv) => h('tr', {}, h('td', { class: 'key' }, kv.key), h('td', { class: 'mono' }, String(kv.value))))));
}

function traceView(el, id, cfg) {
  const body = h('section', { class: 'card wide', id: 'trace-view', 'data-state': 'loading' }, h('p', { class: 'muted' }, 'Loading…'));
  replace(el, h('h1', {}, h('a', { href: '#/traces' }, 'Traces'), ' / ', h('span', { class: 'mono' }, id)), body);
  const logsP = cfg.logs ? traceLogs(id) : Promise.resolve(null);
  jaeger(`/api/traces/${encodeURIComponent(id)}`).then(([t]) => {
    const sm = summary(t);
    let logs = null; // the kept lines, once fetched
    let shown = null;
    const rows = treeOrder(t);
    const detail = h('div', { class: 'span-detail', id: 'span-detail' }, h('p', { class: 'muted' }, 'Click a span for its attributes and events.'));
    const notable = new Map();
    for (const { sp } of rows) for (const kv of sp.tags) if (/^(order|user|product)\.id$/.test(kv.key)) notable.set(`${kv.key}=${kv.value}`, kv);
    const show = (sp) => {
      shown = sp;
      const svc = t.processes[sp.processID];
      const spanLogs = logs ? logs.data.filter((l) => l.spanID === sp.spanID) : [];
      replace(detail, h('h3', {}, `${svc.serviceName}: ${sp.operationName}`),
        h('p', { class: 'small' }, `${formatMicros(sp.duration)} · span ${sp.spanID} · `,
          h('a', { href: `#/dashboards/cloudcart-sre?var-job=${encodeURIComponent(svc.serviceName)}` }, `${svc.serviceName} dashboard`)),
        isError(sp) ? h('p', { class: 'error' }, sp.tags.find((kv) => kv.key === 'otel.status_description')?.value || 'error') : null,
        h('h4', {}, 'Attributes'), kvTable(sp.tags),
        sp.logs.length ? [h('h4', {}, 'Events'), sp.logs.map((l) => h('div', { class: 'event' }, h('div', { class: 'muted small' }, formatTime(l.timestamp / 1000, true)), kvTable(l.fields)))] : null,
        spanLogs.length ? h('div', { class: 'span-logs' }, h('h4', {}, 'Logs'), logTable(spanLogs)) : null,
        h('h4', {}, 'Process'), kvTable(svc.tags));
    };
    const waterfall = h('div', { class: 'waterfall' }, rows.map(({ sp, depth }) => {
      const svc = t.processes[sp.processID].serviceName;
      const bar = h('div', { class: 'wf-bar' });
      bar.style.left = `${((sp.startTime - sm.start) / Math.max(1, sm.duration)) * 100}%`;
      bar.style.width = `${Math.max(0.3, (sp.duration / Math.max(1, sm.duration)) * 100)}%`;
      bar.style.background = serviceColor(svc);
      const label = h('div', { class: 'label' }, h('span', { class: 'svc' }, svc), ` ${sp.operationName}`);
      label.style.paddingLeft = `${depth * 12}px`;
      label.firstChild.style.borderColor = serviceColor(svc);
      const row = h('div', { class: ['span-row', isError(sp) ? 'error' : null], 'data-service': svc, 'data-span-id': sp.spanID, onclick: () => show(sp) },
        label, h('div', { class: 'wf-track' }, bar, h('span', { class: 'dur' }, formatMicros(sp.duration))));
      return row;
    }));
    const logSection = h('div', { id: 'trace-logs', 'data-state': cfg.logs ? 'loading' : 'off' }, h('h3', {}, 'Logs'),
      h('p', { class: 'muted' }, cfg.logs ? 'Loading…' : 'This process keeps no log lines (--logs.max-bytes 0, or not `cloudcart run`): search its output for the trace id.'));
    const selectSpan = (spanID) => {
      const sp = t.spans.find((x) => x.spanID === spanID);
      if (sp) show(sp);
    };
    logsP.then((l) => {
      if (!l) return;
      logs = l;
      replace(logSection, h('h3', {}, 'Logs'), l.data.length
        ? [l.total > l.data.length ? h('p', { class: 'muted small' }, `The latest ${l.data.length} of ${l.total} lines.`) : null, logTable(l.data, selectSpan)]
        : h('p', { class: 'muted' }, l.oldest && Date.parse(l.oldest) > sm.start / 1000
          ? `No log lines kept: the store (--logs.max-bytes) reaches back to ${formatTime(Date.parse(l.oldest), true)}, after this trace.`
          : 'No log lines were written inside this trace\'s spans.'));
      logSection.dataset.state = 'data';
      if (shown) show(shown);
    }).catch((e) => {
      replace(logSection, h('h3', {}, 'Logs'), h('p', { class: 'error' }, e.message));
      logSection.dataset.state = 'error';
    });
    replace(body,
      h('h2', {}, `${sm.rootService}: ${sm.root.operationName}`),
      h('p', {}, `${formatMicros(sm.duration)} · ${sm.spans} spans · ${sm.services.length} services · started ${formatTime(sm.start / 1000, true)}`,
        sm.errors ? h('span', { class: 'badge bad' }, `${sm.errors} errors`) : null),
      notable.size ? h('p', { class: 'ids' }, [...notable.values()].map((kv) => h('span', { class: 'id-tag', 'data-key': kv.key }, `${kv.key}: `, h('b', { class: 'mono' }, String(kv.value))))) : null,
      h('div', { class: 'trace-layout' }, waterfall, detail),
      logSection);
    body.dataset.state = 'data';
    show((rows.find(({ sp }) => isError(sp)) || rows[0]).sp);
  }).catch((e) => {
    replace(body, h('p', { class: 'error' }, e.status === 404
      ? 'This trace is not in the store: it was never recorded here, or the store has evicted it (it keeps the newest traces within --traces.max-bytes, errors and the slowest longer).'
      : e.message));
    body.dataset.state = e.status === 404 ? 'notfound' : 'error';
  });
  return () => {};
}

export function mount(el, path) {
  let stop = () => {};
  config().then((cfg) => {
    if (!cfg.traces) {
      replace(el, h('h1', {}, 'Traces'), h('p', { class: 'muted' }, 'This process keeps no traces: it runs with --traces.max-bytes 0. See docs/traces.md.'));
      return;
    }
    stop = path[0] ? traceView(el, path[0], cfg) : searchPage(el);
  }).catch((e) => replace(el, h('p', { class: 'error' }, e.message)));
  return () => stop();
}

// recentTraces fills the Overview's card: the slowest of the latest 100
// traces through the gateway (last 15 minutes), and the five latest error
// traces. The API returns whole traces, so the sample stays small.
export function recentTraces() {
  const card = h('section', { class: 'card wide', id: 'recent-traces', 'data-state': 'loading' }, h('h2', {}, 'Traces'), h('p', { class: 'muted' }, 'Loading…'));
  const since = Date.now() * 1000 - 900e6;
  config().then((cfg) => {
    if (!cfg.traces) {
      const e = new Error('no trace store');
      e.status = 404;
      throw e;
    }
  }).then(() => Promise.all([
    jaeger(`/api/traces?service=api-gateway&limit=100&start=${since}`),
    jaeger(`/api/traces?tags=${encodeURIComponent('{"error":"true"}')}&limit=5&start=${since}`),
  ])).then(([recent, errors]) => {
    const slow = recent.map(summary) // the latest 100: slowest among them.sort((a, b) => b.duration - a.duration).slice(0, 5);
    replace(card, h('h2', {}, 'Traces ', h('a', { href: '#/traces', class: 'small' }, 'search')),
      h('div', { class: 'two' },
        h('div', { id: 'slowest-traces' }, h('h3', {}, 'Slowest recent requests'), slow.length ? traceRows(slow) : h('p', { class: 'muted' }, 'None yet.')),
        h('div', { id: 'error-traces' }, h('h3', {}, 'Recent error traces'), errors.length ? traceRows(errors.map(summary)) : h('p', { class: 'muted' }, 'None in the last 15 minutes.'))));
    card.dataset.state = 'data';
  }).catch((e) => {
    replace(card, h('h2', {}, 'Traces'), h('p', { class: 'muted' }, e.status === 404 ? 'This process keeps no traces (--traces.max-bytes 0).' : e.message));
    card.dataset.state = 'error';
  });
  return card;
}
