// The console's router: #/ (overview), #/dashboards/<uid>, #/chaos,
// #/query, #/traces[/<traceID>]. Each page is a module whose mount(el, path) returns a stop
// function that clears its timers.

import { h, replace } from './dom.js';
import * as overview from './overview.js';
import * as dashboards from './dashboards.js';
import * as chaos from './chaos.js';
import * as query from './query.js';
import * as traces from './traces.js';

const pages = { overview, dashboards, chaos, query, traces };
const app = document.getElementById('app');
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
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.nav === name);
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
route();
