// Exemplars on latency charts: the embedded engine's
// /api/v1/query_exemplars for a chart's expressions, drawn as dots on the
// chart; a click opens the trace behind the dot (traces.js). chart.js
// calls draw through its onDrawn option.

import { s } from './dom.js';
import { config } from './api.js';

async function fetchExemplars(expr, start, end) {
  const p = new URLSearchParams({ query: expr, start: String(start), end: String(end) });
  const resp = await fetch('/api/v1/query_exemplars', { method: 'POST', body: p, cache: 'no-store' });
  if (!resp.ok) return [];
  const body = await resp.json();
  return (body.data || []).flatMap((se) => se.exemplars || []);
}

// draw adds the exemplars of exprs (those over a histogram's _bucket
// series) to a drawn chart: g is {svg, x, y, lo, hi} from chart.js.
export async function draw(g, exprs, start, end) {
  const wanted = exprs.filter((e) => /_bucket\b/.test(e));
  if (!wanted.length || !(await config()).traces) return; // no store: the dots would open nothing
  const all = (await Promise.all(wanted.map((e) => fetchExemplars(e, start, end).catch(() => [])))).flat();
  for (const ex of all) {
    const id = ex.labels?.trace_id;
    const v = parseFloat(ex.value);
    if (!id || !Number.isFinite(v)) continue;
    // An observation above a quantile's line sits on the chart's edge.
    const dot = s('circle', { cx: g.x(ex.timestamp), cy: g.y(Math.min(Math.max(v, g.lo), g.hi)), r: 3.5, class: 'exemplar', 'data-trace-id': id },
      s('title', {}, `exemplar: ${v.toFixed(4)} s — open trace ${id}`));
    dot.addEventListener('click', (ev) => {
      ev.stopPropagation();
      location.hash = `#/traces/${id}`;
    });
    g.svg.append(dot);
  }
  g.svg.dataset.exemplars = String(g.svg.querySelectorAll('circle.exemplar').length);
}
