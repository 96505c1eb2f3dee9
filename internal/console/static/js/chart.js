// The console's charts, drawn with SVG by this file alone: a time series
// chart with axes, threshold lines, a one-line legend (the whole legend
// opens over the chart on hover, so it never takes the plot's height), a
// hover tooltip and drag-to-zoom; big stat values; horizontal bar gauges.
// Each takes a container element and fills it. Other modules can draw on
// a time series chart through the `layers` option (see renderTimeSeries).

import { h, s, clear } from './dom.js';
import { color, formatValue, formatTime, thresholdColor, mapValue, seriesColors, NO_DATA } from './format.js';

// niceTicks returns about n round values covering [lo, hi].
function niceTicks(lo, hi, n) {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw) || raw;
  const ticks = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function timeTicks(start, end, n) {
  const spans = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const raw = (end - start) / n;
  const step = spans.find((v) => v >= raw) || 86400;
  const ticks = [];
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) ticks.push(t);
  return { ticks, withSeconds: step < 60 };
}

// stackSeries adds each series to the ones before it, point by point.
function stackSeries(series) {
  const acc = new Map();
  return series.map((se) => ({
    ...se,
    points: se.points.map(([t, v]) => {
      const base = acc.get(t) || 0;
      const top = Number.isFinite(v) ? base + v : base;
      acc.set(t, top);
      return [t, Number.isFinite(v) ? top : NaN];
    }),
  }));
}

// renderTimeSeries draws series ([{name, points: [[unixSeconds, value]]}])
// between opts.start and opts.end (seconds). Options besides the units and
// thresholds: legend (false: none; the query page lists series in a
// table), onZoom(start, end) (drag across the plot to call it), and
// layers: functions called with ({svg, x, y, start, end, lo, hi}) after
// the series are drawn, to add marks of their own.
export function renderTimeSeries(el, series, opts) {
  clear(el);
  el.classList.add('ts');
  const plot = h('div', { class: 'plot' });
  el.append(plot);
  const colors = seriesColors(series.map((se) => se.name));
  if (opts.legend !== false && series.length) {
    const legend = h('ul', { class: 'legend', title: series.length > 1 ? 'hover to see every series' : null });
    series.forEach((se, i) => {
      const sw = h('span', { class: 'swatch' });
      sw.style.background = colors[i];
      const last = [...se.points].reverse().find(([, v]) => Number.isFinite(v));
      legend.append(h('li', { title: se.name }, sw, h('span', { class: 'name' }, se.name),
        h('span', { class: 'last' }, last ? formatValue(last[1], opts.unit, opts.decimals) : NO_DATA)));
    });
    el.append(h('div', { class: 'legend-slot' }, legend));
  }
  // Measured once the legend slot (one fixed line) has its height.
  const width = Math.max(plot.clientWidth || el.clientWidth || 400, 120);
  const height = Math.max(plot.clientHeight || 160, 60);
  const drawn = opts.stacked ? stackSeries(series) : series;

  let lo = Infinity;
  let hi = -Infinity;
  for (const se of drawn) {
    for (const [, v] of se.points) {
      if (!Number.isFinite(v)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (lo === Infinity) { lo = 0; hi = 1; }
  if (opts.min !== undefined && opts.min !== null) lo = opts.min;
  else if (lo > 0) lo = 0; // counts and rates read best from zero
  if (opts.max !== undefined && opts.max !== null) hi = opts.max;
  if (hi <= lo) {
    // Flat data: show up to the first threshold above it, so an alert's
    // line is in view, or one unit.
    const above = ((opts.thresholds && opts.thresholds.steps) || []).map((st) => st.value).filter((v) => Number.isFinite(v) && v > lo);
    hi = above.length ? Math.min(...above) : lo + (Math.abs(lo) || 1);
  }
  const yt = niceTicks(lo, hi, Math.max(2, Math.floor(height / 40)));
  lo = Math.min(lo, yt[0]);
  hi = Math.max(hi, yt[yt.length - 1]);

  const labels = yt.map((v) => formatValue(v, opts.unit, opts.decimals));
  const left = Math.min(90, 8 + 6.5 * Math.max(...labels.map((l) => l.length)));
  const pad = { left, right: 10, top: 8, bottom: 20 };
  const w = width - pad.left - pad.right;
  const ht = height - pad.top - pad.bottom;
  const x = (t) => pad.left + ((t - opts.start) / (opts.end - opts.start)) * w;
  const y = (v) => pad.top + ht - ((v - lo) / (hi - lo)) * ht;

  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img' });
  yt.forEach((v, i) => {
    svg.append(s('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: pad.left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, labels[i]));
  });
  const { ticks, withSeconds } = timeTicks(opts.start, opts.end, Math.max(2, Math.floor(w / 90)));
  for (const t of ticks) {
    svg.append(s('line', { x1: x(t), x2: x(t), y1: pad.top, y2: pad.top + ht, class: 'grid' }));
    svg.append(s('text', { x: x(t), y: height - 5, class: 'axis', 'text-anchor': 'middle' }, formatTime(t * 1000, withSeconds)));
  }
  if (opts.thresholdLines && opts.thresholds) {
    for (const st of opts.thresholds.steps || []) {
      if (st.value === null || st.value === undefined || st.value < lo || st.value > hi) continue;
      const line = s('line', { x1: pad.left, x2: width - pad.right, y1: y(st.value), y2: y(st.value), class: 'threshold', stroke: color(st.color) });
      svg.append(line);
    }
  }
  const gap = (opts.step || 15) * 2.5;
  drawn.forEach((se, i) => {
    let d = '';
    let prev = null;
    for (const [t, v] of se.points) {
      if (!Number.isFinite(v)) { prev = null; continue; }
      d += `${prev === null || t - prev > gap ? 'M' : 'L'}${x(t).toFixed(1)},${y(Math.min(Math.max(v, lo), hi)).toFixed(1)}`;
      prev = t;
    }
    if (d) svg.append(s('path', { d, class: 'series', stroke: colors[i] }));
  });
  if (opts.onDrawn) opts.onDrawn({ svg, x, y, lo, hi }); // e.g. exemplars.js
  const cursor = s('line', { x1: 0, x2: 0, y1: pad.top, y2: pad.top + ht, class: 'cursor' });
  svg.append(cursor);
  plot.append(svg);

  const tip = h('div', { class: 'tooltip' });
  plot.append(tip);
  svg.addEventListener('mousemove', (ev) => {
    const rect = svg.getBoundingClientRect();
    const px = ev.clientX - rect.left;
    const t = opts.start + ((px - pad.left) / w) * (opts.end - opts.start);
    const rows = [];
    let at = null;
    series.forEach((se, i) => {
      let best = null;
      for (const p of se.points) if (best === null || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
      if (best && Math.abs(best[0] - t) <= gap) {
        at = best[0];
        rows.push(h('div', {}, h('span', { class: 'swatch' }, ''), ` ${se.name}: `, h('b', {}, formatValue(best[1], opts.unit, opts.decimals))));
        rows[rows.length - 1].firstChild.style.background = colors[i];
      }
    });
    if (at === null) { tip.classList.remove('on'); return; }
    cursor.setAttribute('x1', x(at));
    cursor.setAttribute('x2', x(at));
    cursor.classList.add('on');
    clear(tip).append(h('div', { class: 'when' }, formatTime(at * 1000, true)), ...rows.slice(0, 12));
    tip.classList.add('on');
    tip.style.left = `${Math.min(px + 12, width - 220)}px`;
    tip.style.top = `${pad.top}px`;
  });
  svg.addEventListener('mouseleave', () => { tip.classList.remove('on'); cursor.classList.remove('on'); });

  for (const layer of opts.layers || []) layer({ svg, x, y, start: opts.start, end: opts.end, lo, hi, pad, width, height });

  if (opts.onZoom) {
    // Drag across the plot to zoom to that time span.
    svg.classList.add('zoomable');
    const band = s('rect', { x: 0, y: pad.top, width: 0, height: ht, class: 'zoom-band' });
    svg.append(band);
    const timeAt = (px) => opts.start + ((Math.min(Math.max(px, pad.left), pad.left + w) - pad.left) / w) * (opts.end - opts.start);
    let from = null;
    const px = (ev) => ev.clientX - svg.getBoundingClientRect().left;
    svg.addEventListener('mousedown', (ev) => {
      if (ev.button !== 0) return;
      ev.preventDefault();
      from = Math.min(Math.max(px(ev), pad.left), pad.left + w);
    });
    svg.addEventListener('mousemove', (ev) => {
      if (from === null) return;
      const to = Math.min(Math.max(px(ev), pad.left), pad.left + w);
      band.setAttribute('x', Math.min(from, to));
      band.setAttribute('width', Math.abs(to - from));
      band.classList.add('on');
    });
    const finish = (ev) => {
      if (from === null) return;
      const to = px(ev);
      const a = timeAt(Math.min(from, to));
      const b = timeAt(Math.max(from, to));
      from = null;
      band.classList.remove('on');
      if (b - a >= Math.max(opts.step || 1, 1) * 2) opts.onZoom(Math.floor(a), Math.ceil(b));
    };
    svg.addEventListener('mouseup', finish);
    svg.addEventListener('mouseleave', (ev) => { if (from !== null) finish(ev); });
  }
}

// renderStat shows one big value per item ({name, value}); opts.noValue
// (Grafana's "No value" text) when there is none.
export function renderStat(el, items, opts) {
  clear(el);
  el.classList.add('stat');
  if (!items.length && opts.noValue) el.append(h('div', { class: 'stat-item no-value' }, h('div', { class: 'value' }, opts.noValue)));
  for (const it of items) {
    const mapped = mapValue(it.value, opts.mappings);
    const text = mapped?.text ?? formatValue(it.value, opts.unit, opts.decimals);
    const big = h('div', { class: 'value' }, text);
    big.style.color = mapped?.color || (Number.isFinite(it.value) ? thresholdColor(it.value, opts.thresholds) : color('text'));
    el.append(h('div', { class: 'stat-item', title: it.name }, big, items.length > 1 ? h('div', { class: 'label' }, it.name) : null));
  }
}

// renderBarGauge draws one horizontal bar per item ({name, value}) on a
// scale from opts.min (else the lowest value, or 0) to opts.max (else the
// highest). A value outside the scale is drawn empty or full with its own
// number, and marked: an error budget of −517% on a 0–100% scale is an
// empty, outlined bar, never a partly full one.
export function renderBarGauge(el, items, opts) {
  clear(el);
  el.classList.add('bars');
  if (!items.length && opts.noValue) el.append(h('p', { class: 'no-value' }, opts.noValue));
  const finite = items.map((it) => it.value).filter(Number.isFinite);
  const lo = opts.min ?? Math.min(0, ...finite);
  const hi = opts.max ?? Math.max(...finite, lo + 1e-9);
  for (const it of items) {
    const ok = Number.isFinite(it.value);
    const frac = ok ? Math.min(1, Math.max(0, (it.value - lo) / (hi - lo || 1))) : 0;
    const fill = h('div', { class: 'fill' });
    fill.style.width = `${(frac * 100).toFixed(1)}%`;
    fill.style.background = ok ? thresholdColor(it.value, opts.thresholds) : color('text');
    const val = h('span', { class: 'val' }, formatValue(it.value, opts.unit, opts.decimals));
    val.style.color = fill.style.background;
    const out = ok && (it.value < lo ? 'below' : it.value > hi ? 'above' : null);
    const track = h('div', { class: ['track', out && `out-${out}`], title: out ? `${formatValue(it.value, opts.unit, opts.decimals)} is ${out} the scale (${formatValue(lo, opts.unit)} to ${formatValue(hi, opts.unit)})` : null }, fill);
    if (out) track.style.borderColor = fill.style.background;
    el.append(h('div', { class: 'bar', title: it.name, 'data-value': ok ? String(it.value) : '', 'data-fill': frac.toFixed(3) },
      h('span', { class: 'name' }, it.name), track, val));
  }
}
