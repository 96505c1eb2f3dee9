// The dashboards page: the Grafana JSON of internal/dashboards, as the
// console server serves it, laid out on Grafana's 24-column grid and
// refreshed at the dashboard's own refresh interval.

import * as api from './api.js';
import { h, replace, hashParams, setHashParams } from './dom.js';
import { parseDuration, formatTime } from './format.js';
import { timeContext, runPanel, render, fleetRange } from './panels.js';

// 'auto' is the fleet's age (panels.fleetRange); the dashboard's own
// default (now-1h) is one of the others.
const RANGES = ['auto', '2m', '5m', '15m', '30m', '1h', '3h', '6h', '12h', '24h'];
const ROW_HEIGHT = 32; // pixels per Grafana grid unit

export function mount(el, path) {
  let stopped = false;
  let timer = null;
  let generation = 0;

  (async () => {
    let cfg;
    try {
      cfg = await api.config();
    } catch (e) {
      replace(el, h('p', { class: 'error' }, e.message));
      return;
    }
    const uid = path[0] || cfg.dashboards[0].uid;
    const tabs = h('div', { class: 'tabs' }, cfg.dashboards.map((d) =>
      h('a', { href: `#/dashboards/${d.uid}`, class: d.uid === uid ? 'active' : null }, d.title)));
    const body = h('div', { class: 'dashboard' }, h('p', { class: 'muted' }, 'Loading the dashboard…'));
    replace(el, tabs, body);
    let dash;
    try {
      dash = await api.get(`dashboards/${encodeURIComponent(uid)}`);
    } catch (e) {
      replace(body, h('p', { class: 'error' }, e.message));
      return;
    }
    if (stopped) return;
    const entry = cfg.dashboards.find((d) => d.uid === uid);
    const params = hashParams();
    const vars = {};
    const allValues = {};
    const toolbar = h('div', { class: 'toolbar' });
    const grid = h('div', { class: 'grid', 'data-dashboard': uid });
    const refreshEvery = parseDuration(dash.refresh || '10s') || 10;
    let rangeText = params.get('range') || 'auto';
    if (rangeText !== 'auto' && !parseDuration(rangeText)) rangeText = 'auto';
    const rangeSeconds = () => (rangeText === 'auto' ? fleetRange(cfg.started_at) : parseDuration(rangeText));
    // A drag across a chart zooms every chart to that span, until reset.
    let zoom = null;
    if (params.get('from') && params.get('to')) zoom = { start: Number(params.get('from')), end: Number(params.get('to')) };
    if (zoom && !(zoom.end > zoom.start)) zoom = null;

    // Variables: the datasource is the engine itself; query variables of the
    // form label_values(metric, label) become selects.
    for (const v of dash.templating?.list || []) {
      if (v.type !== 'query') continue;
      vars[v.name] = params.get(`var-${v.name}`) || '$__all';
      allValues[v.name] = v.allValue || '.*';
      const sel = h('select', { 'aria-label': v.label || v.name, onchange: (ev) => {
        vars[v.name] = ev.target.value;
        params.set(`var-${v.name}`, ev.target.value);
        setHashParams(params);
        refresh();
      } }, h('option', { value: '$__all' }, 'All'));
      toolbar.append(h('label', {}, `${v.label || v.name} `, sel));
      const m = /^label_values\(\s*(.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(typeof v.query === 'string' ? v.query : v.definition || '');
      if (m) {
        const now = Math.floor(Date.now() / 1000);
        api.labelValues(m[2], m[1], now - 3600, now).then((vals) => {
          for (const val of vals) sel.append(h('option', { value: val, selected: val === vars[v.name] }, val));
        }).catch(() => sel.append(h('option', { disabled: true }, '(values unavailable)')));
      }
    }
    const setZoom = (z) => {
      zoom = z;
      if (z) { params.set('from', String(z.start)); params.set('to', String(z.end)); } else { params.delete('from'); params.delete('to'); }
      setHashParams(params);
      showZoom();
      refresh();
    };
    const rangeSel = h('select', { 'aria-label': 'time range', id: 'time-range', onchange: (ev) => {
      rangeText = ev.target.value;
      params.set('range', rangeText);
      setZoom(null);
    } }, RANGES.map((r) => h('option', { value: r, selected: r === rangeText },
      r === 'auto' ? `Fleet age (${Math.round(fleetRange(cfg.started_at) / 60)}m)` : `Last ${r}`)));
    const zoomNote = h('span', { class: 'zoom-note' });
    const showZoom = () => {
      replace(zoomNote, zoom
        ? [h('span', { class: 'muted' }, `Zoomed to ${formatTime(zoom.start * 1000, true)}–${formatTime(zoom.end * 1000, true)} `),
          h('button', { type: 'button', class: 'small secondary', id: 'zoom-reset', onclick: () => setZoom(null) }, 'Reset zoom')]
        : h('span', { class: 'muted small' }, 'Drag across a chart to zoom'));
    };
    showZoom();
    const stamp = h('span', { class: 'muted' });
    toolbar.append(h('label', {}, 'Time ', rangeSel), zoomNote, h('span', { class: 'grow' }),
      h('span', { class: 'muted' }, `Auto-refresh ${dash.refresh || '10s'} · Grafana file deploy/grafana/dashboards/${entry?.file || ''} · `),
      h('a', { href: `/console/api/dashboards/${uid}`, target: '_blank', rel: 'noopener' }, 'JSON'), ' ', stamp);
    replace(body, h('h1', {}, dash.title), dash.description ? h('p', { class: 'muted' }, dash.description) : null, toolbar, grid);

    // Lay out rows and panels on the grid.
    const cells = [];
    for (const p of dash.panels || []) {
      const gp = p.gridPos || { x: 0, y: 0, w: 24, h: 8 };
      if (p.type === 'row') {
        const row = h('h2', { class: 'row-title' }, p.title || '');
        row.style.gridColumn = '1 / span 24';
        row.style.gridRow = `${gp.y + 1} / span 1`;
        grid.append(row);
        continue;
      }
      const chart = h('div', { class: 'panel-body' });
      const note = h('div', { class: 'panel-note' });
      const cell = h('section', { class: 'panel', 'data-state': 'loading', 'data-type': p.type, 'data-title': p.title || '' },
        h('header', {}, h('h3', { title: p.description || '' }, p.title || ''),
          p.description ? h('span', { class: 'info', title: p.description }, 'i') : null),
        chart, note);
      cell.style.gridColumn = `${gp.x + 1} / span ${gp.w}`;
      cell.style.gridRow = `${gp.y + 1} / span ${gp.h}`;
      grid.append(cell);
      cells.push({ panel: p, cell, chart, note });
    }
    const lastRow = Math.max(1, ...(dash.panels || []).map((p) => (p.gridPos?.y || 0) + (p.gridPos?.h || 1)));
    grid.style.gridTemplateRows = `repeat(${lastRow}, ${ROW_HEIGHT}px)`;

    async function refresh() {
      const gen = ++generation;
      const ctx = timeContext(rangeSeconds(), cfg.scrape_interval_seconds, zoom);
      await Promise.all(cells.map(async ({ panel, cell, chart, note }) => {
        try {
          const data = await runPanel(panel, ctx, vars, allValues);
          if (gen !== generation || stopped) return;
          const noValue = panel.fieldConfig?.defaults?.noValue;
          note.textContent = data.count || (noValue && panel.type !== 'timeseries') ? '' : (noValue || 'No data');
          render(chart, panel, data, ctx, { onZoom: (start, end) => setZoom({ start, end }) });
          cell.dataset.state = data.count ? 'data' : 'nodata';
        } catch (e) {
          if (gen !== generation || stopped) return;
          replace(chart);
          note.textContent = e.message;
          cell.dataset.state = 'error';
        }
      }));
      if (gen === generation && !stopped) {
        stamp.textContent = `updated ${new Date().toLocaleTimeString()}`;
        grid.dataset.refreshed = String(gen);
      }
    }
    await refresh();
    // A zoomed view is a fixed span: nothing to refresh until it is reset.
    if (!stopped) timer = setInterval(() => { if (!zoom) refresh(); }, refreshEvery * 1000);
  })().catch((e) => replace(el, h('p', { class: 'error' }, e.message)));

  return () => {
    stopped = true;
    if (timer) clearInterval(timer);
  };
}
