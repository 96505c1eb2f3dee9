// The console's router: #/ (overview), #/dashboards/<uid>, #/alerts,
// #/targets, #/rules, #/runbooks/<anchor>, #/query, #/chaos, #/learn/<lesson>,
// #/traces[/<traceID>]. Each page is
// a module whose mount(el, path) returns a stop function that clears its
// timers. The server answers the same pages by path (/targets, and
// Prometheus's /graph for the query page): a path becomes its hash route.

import { h, replace } from './dom.js';
import * as overview from './overview.js';
import * as dashboards from './dashboards.js';
import * as chaos from './chaos.js';
import * as query from './query.js';
import * as traces from './traces.js';
import * as targets from './targets.js';
import * as rules from './rules.js';
import * as alerts from './alerts.js';
import * as runbooks from './runbooks.js';
import * as learn from './learn.js';

const pages = { overview, dashboards, chaos, query, graph: query, targets, rules, alerts, runbooks, learn, traces };
const navOf = { graph: 'query' };
const app = document.getElementById('app');

// fromPath turns a page path into its hash route: /targets → #/targets,
// and Prometheus's /graph?g0.expr=…&g0.tab=1&g0.range_input=1h into the
// query page with that expression.
function fromPath() {
  const parts = location.pathname.split('/').filter(Boolean);
  if (!parts.length || !pages[parts[0]] || location.hash.length > 2) return;
  let hash = `#/${parts[0] === 'graph' ? 'query' : parts[0]}${parts.length > 1 ? `/${parts.slice(1).join('/')}` : ''}`;
  const src = new URLSearchParams(location.search);
  const q = new URLSearchParams();
  const expr = src.get('g0.expr') || src.get('expr');
  if (expr) q.set('expr', expr);
  if (src.get('g0.tab') === '1' || src.get('mode') === 'instant') q.set('mode', 'instant');
  const r = src.get('g0.range_input') || src.get('range');
  if (r) q.set('range', r);
  if (q.toString()) hash += `?${q}`;
  history.replaceState(null, '', `/${hash}`);
}
let stop = null;
let current = '';

function route() {
  const path = (location.hash.replace(/^#/, '').split('?')[0] || '/').split('/').filter(Boolean);
  const name = path[0] && pages[path[0]] ? path[0] : 'overview';
  const key = `${name}/${path.slice(1).join('/')}`;
  if (key === current && stop) return; // only the query part changed
  current = key;
  if (stop) stop();
  stop = null;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.nav === (navOf[name] || name));
  document.body.dataset.page = name;
  const el = h('div', { class: `page page-${name}` });
  replace(app, el);
  try {
    stop = pages[name].mount(el, path.slice(1));
  } catch (e) {
    replace(el, h('p', { class: 'error' }, `This page failed: ${e.message}`));
  }
}

function tick() {
  document.getElementById('clock').textContent = new Date().toLocaleTimeString();
}

window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (ev) => {
  // Every page catches its own errors; this only keeps a stray one visible
  // on the page rather than in the browser console.
  ev.preventDefault();
  app.prepend(h('p', { class: 'error' }, `Unexpected error: ${ev.reason && ev.reason.message ? ev.reason.message : ev.reason}`));
});
setInterval(tick, 1000);
tick();
fromPath();
route();
