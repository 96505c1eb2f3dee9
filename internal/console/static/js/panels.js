// Grafana panels from the dashboard JSON model, run against the Prometheus
// API and drawn with chart.js. Only what CloudCart's dashboards use is
// supported: timeseries, stat and bargauge panels with Prometheus targets.

import * as api from './api.js';
import { renderTimeSeries, renderStat, renderBarGauge } from './chart.js';
import { seriesName, promDuration } from './format.js';
import * as exemplars from './exemplars.js';

// timeContext is the window a refresh draws: end is now, step follows the
// range (about 240 points), and $__rate_interval is Grafana's
// max($__interval + scrape interval, 4 × scrape interval).
// With zoom ({start, end}, seconds) the window is that span instead.
export function timeContext(rangeSeconds, scrapeSeconds, zoom) {
  const end = zoom ? zoom.end : Math.floor(Date.now() / 1000);
  if (zoom) rangeSeconds = Math.max(1, zoom.end - zoom.start);
  const scrape = scrapeSeconds || 15;
  const step = Math.max(scrape, Math.ceil(rangeSeconds / 240));
  return {
    start: end - rangeSeconds, end, step,
    builtins: {
      __rate_interval: promDuration(Math.max(step + scrape, 4 * scrape)),
      __interval: promDuration(step),
      __range: promDuration(rangeSeconds),
    },
  };
}

// escapeRegex quotes a label value for a =~ matcher.
function escapeRegex(v) {
  return v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// expand substitutes Grafana variables: builtins, then the dashboard's
// variables (vars: name → selected value, "$__all" for All, whose value
// is the variable's allValue).
export function expand(expr, ctx, vars, allValues) {
  return expr.replace(/\$\{([A-Za-z0-9_]+)(?::[A-Za-z]+)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]/g, (ref, a, b, c) => {
    const name = a || b || c;
    if (name in ctx.builtins) return ctx.builtins[name];
    if (vars && name in vars) {
      const v = vars[name];
      return v === '$__all' ? ((allValues && allValues[name]) || '.*') : escapeRegex(v);
    }
    return ref;
  });
}

function values(result) {
  return result.map((r) => ({ metric: r.metric, value: parseFloat(r.value[1]) }));
}

// runPanel runs a panel's targets and returns what render() draws.
export async function runPanel(panel, ctx, vars, allValues) {
  const targets = (panel.targets || []).filter((t) => !t.hide && t.expr);
  if (panel.type === 'timeseries') {
    const exprs = targets.map((t) => expand(t.expr, ctx, vars, allValues));
    const answers = await Promise.all(exprs.map((e) => api.range(e, ctx.start, ctx.end, ctx.step)));
    const series = [];
    answers.forEach((a, i) => {
      for (const r of a.result || []) {
        series.push({
          name: seriesName(r.metric, targets[i].legendFormat),
          points: r.values.map(([t, v]) => [t, parseFloat(v)]),
        });
      }
    });
    return { series, count: series.length, exprs };
  }
  const answers = await Promise.all(targets.map((t) => api.instant(expand(t.expr, ctx, vars, allValues), ctx.end)));
  const items = [];
  answers.forEach((a, i) => {
    if (a.resultType === 'scalar') {
      items.push({ name: targets[i].legendFormat || '', value: parseFloat(a.result[1]) });
      return;
    }
    for (const r of values(a.result || [])) items.push({ name: seriesName(r.metric, targets[i].legendFormat), value: r.value });
  });
  return { items, count: items.length };
}

// fleetRange is the default time range: the fleet's age (how long the
// console's process has run), at least a minute and at most an hour, so
// a young fleet's data fills the chart and an old one's last hour shows.
export function fleetRange(startedAt) {
  const age = startedAt ? Date.now() / 1000 - Date.parse(startedAt) / 1000 : 3600;
  const r = Math.min(3600, Math.max(60, Number.isFinite(age) ? age : 3600));
  return Math.ceil(r / 60) * 60;
}

// render draws a runPanel result into el; extra adds chart options (onZoom,
// layers).
export function render(el, panel, data, ctx, extra) {
  const d = panel.fieldConfig?.defaults || {};
  const opts = {
    ...extra,
    unit: d.unit, decimals: d.decimals, min: d.min, max: d.max, thresholds: d.thresholds, mappings: d.mappings, noValue: d.noValue,
    thresholdLines: (d.custom?.thresholdsStyle?.mode || 'off') !== 'off',
    stacked: (d.custom?.stacking?.mode || 'none') !== 'none',
    start: ctx.start, end: ctx.end, step: ctx.step,
  };
  if (panel.type === 'timeseries' && d.unit === 's' && data.exprs) {
    opts.onDrawn = (g) => { exemplars.draw(g, data.exprs, ctx.start, ctx.end); }; // latency: dots open traces
  }
  if (panel.type === 'timeseries') renderTimeSeries(el, data.series, opts);
  else if (panel.type === 'bargauge') renderBarGauge(el, data.items, opts);
  else renderStat(el, data.items, opts);
}
