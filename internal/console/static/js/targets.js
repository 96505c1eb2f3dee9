// The targets page (Prometheus's /targets): every scrape target of the
// engine by job, with its health, last scrape, scrape duration, last
// error and labels, from /api/v1/targets.

import * as api from './api.js';
import { h, replace } from './dom.js';
import { formatValue } from './format.js';
import { badge, labelChips, since, poll } from './common.js';

export function mount(el) {
  const onlyBad = h('input', { type: 'checkbox', id: 'targets-unhealthy' });
  const summary = h('span', { class: 'muted' });
  const body = h('div', { id: 'targets', 'data-state': 'loading' }, h('p', { class: 'muted' }, 'Loading…'));
  const err = h('p', { class: 'error' });
  replace(el, h('h1', {}, 'Targets'),
    h('div', { class: 'toolbar' }, h('label', {}, onlyBad, ' Unhealthy only'), summary, h('span', { class: 'grow' }),
      h('span', { class: 'muted small' }, 'From /api/v1/targets, every 5 s. The scrape interval and timeout are the engine\'s profile.')),
    err, body);
  let last = null;
  const draw = () => {
    if (!last) return;
    const all = last.activeTargets || [];
    const shown = all.filter((t) => !onlyBad.checked || t.health !== 'up');
    const pools = new Map();
    for (const t of shown) {
      if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
      pools.get(t.scrapePool).push(t);
    }
    const up = all.filter((t) => t.health === 'up').length;
    summary.textContent = `${up} of ${all.length} up`;
    replace(body, pools.size ? [...pools.keys()].sort().map((pool) => {
      const ts = pools.get(pool);
      const poolUp = ts.filter((t) => t.health === 'up').length;
      return h('section', { class: 'card target-pool', 'data-pool': pool },
        h('h2', {}, pool, ' ', h('span', { class: ['pill', poolUp === ts.length ? 'ok' : 'bad'] }, `${poolUp}/${ts.length} up`)),
        h('table', {}, h('thead', {}, h('tr', {}, ['Endpoint', 'State', 'Labels', 'Last scrape', 'Scrape duration', 'Error'].map((c) => h('th', {}, c)))),
          h('tbody', {}, ts.map((t) => h('tr', { class: 'target', 'data-health': t.health, 'data-job': t.labels?.job || '' },
            h('td', {}, h('code', {}, t.scrapeUrl)),
            h('td', {}, badge(t.health.toUpperCase(), t.health === 'up' ? 'ok' : t.health === 'down' ? 'bad' : 'warn')),
            h('td', {}, labelChips(t.labels)),
            h('td', { class: 'small' }, since(t.lastScrape)),
            h('td', { class: 'num' }, formatValue(t.lastScrapeDuration, 's')),
            h('td', { class: ['small', t.lastError ? 'error' : 'muted'] }, t.lastError || '–'))))));
    }) : h('p', { class: 'muted' }, onlyBad.checked ? 'Every target is up.' : 'No target.'));
    body.dataset.state = all.length ? 'data' : 'nodata';
  };
  onlyBad.addEventListener('change', draw);
  return poll(async (stopped) => {
    const t = await api.targets();
    if (stopped()) return;
    last = t;
    draw();
  }, 5000, err);
}
