// The query page (Prometheus's /graph): PromQL against the embedded
// engine, instant (table) or range (chart and table). The expression, mode
// and range live in the URL (#/query?expr=...&mode=range&range=1h), so a
// query can be linked; /graph?g0.expr=... (Prometheus's links) lands here.
// The range defaults to the fleet's age; drag across the chart to zoom.

import * as api from './api.js';
import { h, replace, hashParams, setHashParams } from './dom.js';
import { formatValue, formatTime, parseDuration, seriesName, seriesColors } from './format.js';
import { renderTimeSeries } from './chart.js';
import * as exemplars from './exemplars.js';
import { fleetRange } from './panels.js';

const RANGES = ['auto', '2m', '5m', '15m', '30m', '1h', '3h', '6h', '24h'];
const EXAMPLES = [
  'job:http_requests:rate5m',
  'sum by (status) (rate(orders_processed_total[1m]))',
  'histogram_quantile(0.95, sum by (le) (rate(order_duration_seconds_bucket[5m])))',
  'topk(5, sum by (route) (rate(http_requests_total{job="api-gateway"}[5m])))',
  'ALERTS',
];

export function mount(el) {
  const params = hashParams();
  const expr = h('textarea', { id: 'expr', rows: 3, spellcheck: 'false', placeholder: 'PromQL, e.g. job:http_requests:rate5m' });
  expr.value = params.get('expr') || '';
  const mode = h('select', { id: 'mode', 'aria-label': 'mode' },
    h('option', { value: 'range', selected: params.get('mode') !== 'instant' }, 'Range (chart)'),
    h('option', { value: 'instant', selected: params.get('mode') === 'instant' }, 'Instant (table)'));
  const rangeSel = h('select', { id: 'range', 'aria-label': 'range' },
    RANGES.map((r) => h('option', { value: r, selected: r === (params.get('range') || 'auto') }, r === 'auto' ? 'Fleet age' : `Last ${r}`)));
  const out = h('div', { id: 'result', 'data-state': 'idle' });
  const stats = h('span', { class: 'muted small' });
  const zoomNote = h('span', { class: 'zoom-note' });
  let zoom = null;
  let cfg = { scrape_interval_seconds: 15 };
  const ready = api.config().then((c) => {
    cfg = c;
    rangeSel.options[0].textContent = `Fleet age (${Math.round(fleetRange(c.started_at) / 60)}m)`;
  }).catch(() => {});
  const setZoom = (z) => {
    zoom = z;
    replace(zoomNote, z ? [h('span', { class: 'muted small' }, `Zoomed to ${formatTime(z.start * 1000, true)}–${formatTime(z.end * 1000, true)} `),
      h('button', { type: 'button', class: 'small secondary', id: 'zoom-reset', onclick: () => { setZoom(null); run(); } }, 'Reset zoom')] : null);
  };

  async function run() {
    const q = expr.value.trim();
    const p = new URLSearchParams({ expr: q, mode: mode.value, range: rangeSel.value });
    mode.onchange = rangeSel.onchange = () => { setZoom(null); run(); };
    setHashParams(p);
    if (!q) return;
    out.dataset.state = 'loading';
    stats.textContent = 'running…';
    const began = performance.now();
    try {
      if (mode.value === 'instant') {
        const a = await api.instant(q);
        showInstant(a);
        stats.textContent = `${a.resultType}, ${Array.isArray(a.result) ? a.result.length : 1} result(s) in ${Math.round(performance.now() - began)} ms`;
      } else {
        let span = rangeSel.value === 'auto' ? fleetRange(cfg.started_at) : parseDuration(rangeSel.value);
        let end = Math.floor(Date.now() / 1000);
        if (zoom) { span = zoom.end - zoom.start; end = zoom.end; }
        const step = Math.max(cfg.scrape_interval_seconds || 1, Math.ceil(span / 240));
        const a = await api.range(q, end - span, end, step);
        showRange(a, end - span, end, step);
        stats.textContent = `${a.result.length} series, step ${step}s, in ${Math.round(performance.now() - began)} ms`;
      }
    } catch (e) {
      replace(out, h('p', { class: 'error' }, e.message));
      out.dataset.state = 'error';
      stats.textContent = '';
    }
  }

  function showInstant(a) {
    if (a.resultType === 'scalar' || a.resultType === 'string') {
      const v = a.resultType === 'scalar' ? formatValue(parseFloat(a.result[1]), 'none') : String(a.result[1]);
      replace(out, h('table', { class: 'results' }, h('tbody', {}, h('tr', {}, h('td', {}, a.resultType), h('td', { class: 'num' }, v)))));
      out.dataset.state = 'data';
      return;
    }
    const rows = a.result.map((r) => h('tr', {}, h('td', { class: 'labels' }, seriesName(r.metric)),
      h('td', { class: 'num' }, r.value ? formatValue(parseFloat(r.value[1]), 'none') : `${r.values.length} samples`)));
    replace(out, rows.length ? h('table', { class: 'results' }, h('thead', {}, h('tr', {}, h('th', {}, 'Series'), h('th', { class: 'num' }, 'Value'))), h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'Empty result.'));
    out.dataset.state = rows.length ? 'data' : 'nodata';
  }

  function showRange(a, start, end, step) {
    const series = a.result.map((r) => ({ name: seriesName(r.metric), points: r.values.map(([t, v]) => [t, parseFloat(v)]) }));
    const chart = h('div', { class: 'query-chart' });
    const colors = seriesColors(series.map((se) => se.name));
    const rows = a.result.map((r, i) => {
      const last = r.values[r.values.length - 1];
      const sw = h('span', { class: 'swatch' });
      sw.style.background = colors[i];
      return h('tr', {}, h('td', { class: 'labels' }, sw, ' ', seriesName(r.metric)), h('td', { class: 'num' }, last ? formatValue(parseFloat(last[1]), 'none') : '–'),
        h('td', { class: 'num muted' }, String(r.values.length)));
    });
    replace(out, chart, rows.length ? h('table', { class: 'results' }, h('thead', {}, h('tr', {}, h('th', {}, 'Series'),
      h('th', { class: 'num' }, 'Last value'), h('th', { class: 'num' }, 'Samples'))), h('tbody', {}, rows)) : h('p', { class: 'muted' }, 'Empty result.'));
    renderTimeSeries(chart, series, { unit: 'none', start, end, step, legend: false, onZoom: (a, b) => { setZoom({ start: a, end: b }); run(); },
      onDrawn: (g) => { exemplars.draw(g, [expr.value], start, end); } });
    out.dataset.state = rows.length ? 'data' : 'nodata';
  }

  expr.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey || !ev.shiftKey)) {
      ev.preventDefault();
      run();
    }
  });
  replace(el, h('h1', {}, 'Query'),
    h('div', { class: 'card wide query' },
      expr,
      h('div', { class: 'toolbar' }, mode, rangeSel, h('button', { type: 'button', id: 'run', onclick: run }, 'Run'), stats, zoomNote,
        h('span', { class: 'grow' }), h('span', { class: 'muted small' }, 'Enter runs · Shift+Enter for a new line')),
      h('div', { class: 'examples small' }, 'Try: ', EXAMPLES.map((x) => h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); expr.value = x; run(); } }, h('code', {}, x))))),
    out);
  if (expr.value) ready.then(run);
  return () => {};
}
