// Units, colours and names the way Grafana shows them, for the units and
// colours CloudCart's dashboards use.

// Grafana's named colours (dark theme).
const NAMED = {
  green: '#73bf69', red: '#f2495c', orange: '#ff9830', yellow: '#fade2a', blue: '#5794f2',
  purple: '#b877d9', 'dark-red': '#c4162a', 'dark-green': '#37872d', 'dark-orange': '#fa6400',
  'dark-yellow': '#e0b400', 'dark-blue': '#1f60c4', text: '#ccccdc',
};

export function color(name) {
  return NAMED[name] || name || NAMED.text;
}

// Colour rules by series name ({class, pattern, color}), from the
// console's config: internal/dashboards' SemanticColors, the rules the
// Grafana dashboards carry as overrides. The first match from the end wins.
let rules = [];

export function setSeriesColors(list) {
  rules = (list || []).map((r) => ({ cls: r.class, re: new RegExp(r.pattern, 'i') }));
}

// semanticClass is the colour class a series' name calls for: failures,
// errors and 5xx 'red', 4xx 'orange', successes and 2xx 'green';
// undefined otherwise.
export function semanticClass(name) {
  for (let i = rules.length - 1; i >= 0; i--) if (rules[i].re.test(String(name || ''))) return rules[i].cls;
  return undefined;
}

const SHADES = {
  red: ['#f2495c', '#c4162a', '#ff7383', '#8f1d2a', '#ffa6b0'],
  orange: ['#ff9830', '#fa6400', '#ffb357', '#c15c17'],
  green: ['#73bf69', '#37872d', '#96d98d', '#56a64b', '#c8f2c2'],
};

// seriesColors gives each series name its colour: a shade of its semantic
// colour, or the next palette colour.
export function seriesColors(names) {
  const used = { red: 0, orange: 0, green: 0, palette: 0 };
  return names.map((name) => {
    const cls = semanticClass(name);
    if (cls) return SHADES[cls][used[cls]++ % SHADES[cls].length];
    return PALETTE[used.palette++ % PALETTE.length];
  });
}

// The series palette: Grafana's classic colours, without the pure reds and
// greens semanticColor reserves.
export const PALETTE = ['#5794f2', '#eab839', '#6ed0e0', '#b877d9', '#1f78c1', '#ba43a9', '#705da0',
  '#cca300', '#447ebc', '#0a437c', '#6d1f62', '#584477', '#8ab8ff', '#ffcb7d', '#9ac48a', '#ca95e5'];

// thresholdColor is the colour of the highest step at or below v.
export function thresholdColor(v, thresholds) {
  const steps = (thresholds && thresholds.steps) || [];
  let c = steps.length ? steps[0].color : 'text';
  for (const st of steps) {
    if (st.value === null || st.value === undefined) continue;
    if (v >= st.value) c = st.color;
  }
  return color(c);
}

// mapValue applies value mappings ({type: value, options: {"0": {text, color}}}).
export function mapValue(v, mappings) {
  for (const m of mappings || []) {
    if (m.type !== 'value' || !m.options) continue;
    const hit = m.options[String(v)];
    if (hit) return { text: hit.text, color: hit.color ? color(hit.color) : undefined };
  }
  return null;
}

function trim(n, decimals) {
  if (decimals !== undefined && decimals !== null) return n.toFixed(decimals);
  const a = Math.abs(n);
  if (a === 0) return '0';
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1).replace(/\.0$/, '');
  if (a >= 1) return n.toFixed(2).replace(/\.?0+$/, '');
  return n.toPrecision(2).replace(/\.?0+$/, '');
}

function si(n, decimals) {
  const a = Math.abs(n);
  for (const [f, sfx] of [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']]) {
    if (a >= f) return trim(n / f, decimals) + sfx;
  }
  return trim(n, decimals);
}

function seconds(n, decimals) {
  const a = Math.abs(n);
  if (a === 0) return '0 s';
  if (a < 1e-6) return `${trim(n * 1e9, decimals)} ns`;
  if (a < 1e-3) return `${trim(n * 1e6, decimals)} µs`;
  if (a < 1) return `${trim(n * 1e3, decimals)} ms`;
  if (a < 60) return `${trim(n, decimals)} s`;
  if (a < 3600) return `${trim(n / 60, decimals)} min`;
  if (a < 86400) return `${trim(n / 3600, decimals)} hour`;
  return `${trim(n / 86400, decimals)} day`;
}

// NO_DATA is what the console shows where there is no number: an idle
// service's ratio (0/0), a quantile of no observations, a missing series.
// NaN and ±Inf never reach the page.
export const NO_DATA = '–';

// formatValue renders v in a Grafana unit; NO_DATA for null, NaN or ±Inf.
export function formatValue(v, unit, decimals) {
  if (v === null || v === undefined || typeof v !== 'number' || !Number.isFinite(v)) return NO_DATA;
  unit = unit || 'short';
  if (unit.startsWith('suffix:')) return trim(v, decimals) + unit.slice(7);
  switch (unit) {
    case 'percentunit': return `${trim(v * 100, decimals)}%`;
    case 'percent': return `${trim(v, decimals)}%`;
    case 's': return seconds(v, decimals);
    case 'ms': return seconds(v / 1000, decimals);
    case 'ops': return `${si(v, decimals)} ops/s`;
    case 'reqps': return `${si(v, decimals)} req/s`;
    case 'currencyUSD': return (v < 0 ? '-$' : '$') + si(Math.abs(v), decimals ?? (Math.abs(v) < 1000 ? 2 : undefined));
    case 'bytes': {
      const a = Math.abs(v);
      for (const [f, sfx] of [[2 ** 40, 'TiB'], [2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB']]) {
        if (a >= f) return `${trim(v / f, decimals)} ${sfx}`;
      }
      return `${trim(v, decimals)} B`;
    }
    case 'none': return trim(v, decimals);
    default: return si(v, decimals);
  }
}

// seriesName renders a Grafana legend format ("{{job}} p95") for labels;
// without one, the series' label set as Prometheus prints it.
export function seriesName(metric, legend) {
  if (legend) return legend.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, l) => metric[l] ?? '');
  const name = metric.__name__ || '';
  const labels = Object.entries(metric).filter(([k]) => k !== '__name__')
    .map(([k, v]) => `${k}="${v}"`).join(', ');
  return labels ? `${name}{${labels}}` : (name || '{}');
}

// parseDuration reads a Prometheus/Grafana duration ("30m", "1h30m") into seconds.
export function parseDuration(d) {
  const units = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/g;
  let m;
  let matched = '';
  while ((m = re.exec(d)) !== null) {
    total += parseFloat(m[1]) * units[m[2]];
    matched += m[0];
  }
  return matched === d && total > 0 ? total : NaN;
}

// promDuration writes seconds as a PromQL duration.
export function promDuration(sec) {
  return `${Math.max(1, Math.ceil(sec))}s`;
}

export function formatTime(ms, withSeconds) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${withSeconds ? ':' + pad(d.getSeconds()) : ''}`;
}
