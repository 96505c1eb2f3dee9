// The rules page (Prometheus's /rules): every rule group with its file,
// interval, last evaluation and evaluation time, and each rule with its
// health, last error and evaluation time, from /api/v1/rules.

import * as api from './api.js';
import { h, replace } from './dom.js';
import { formatValue } from './format.js';
import { badge, labelChips, since, poll } from './common.js';

export function mount(el) {
  const filter = h('input', { type: 'search', id: 'rules-filter', placeholder: 'filter by name, group or expression' });
  const onlyBad = h('input', { type: 'checkbox', id: 'rules-unhealthy' });
  const summary = h('span', { class: 'muted' });
  const body = h('div', { id: 'rules', 'data-state': 'loading' }, h('p', { class: 'muted' }, 'Loading…'));
  const err = h('p', { class: 'error' });
  replace(el, h('h1', {}, 'Rules'),
    h('div', { class: 'toolbar' }, filter, h('label', {}, onlyBad, ' Unhealthy only'), summary, h('span', { class: 'grow' }),
      h('span', { class: 'muted small' }, 'From /api/v1/rules, every 10 s. Files: deploy/prometheus/rules/.')),
    err, body);
  let groups = null;
  const draw = () => {
    if (!groups) return;
    const f = filter.value.trim().toLowerCase();
    let total = 0;
    let bad = 0;
    const sections = [];
    for (const g of groups) {
      total += g.rules.length;
      bad += g.rules.filter((r) => r.health !== 'ok').length;
      const rs = g.rules.filter((r) => (!onlyBad.checked || r.health !== 'ok') &&
        (!f || `${g.name} ${r.name} ${r.query}`.toLowerCase().includes(f)));
      if (!rs.length) continue;
      sections.push(h('section', { class: 'card rule-group', 'data-group': g.name },
        h('h2', {}, g.name, ' ', h('span', { class: 'muted small' },
          `${g.file ? g.file.split('/').pop() : ''} · every ${formatValue(g.interval, 's')} · evaluated ${since(g.lastEvaluation)} in ${formatValue(g.evaluationTime, 's')}`)),
        h('table', {}, h('thead', {}, h('tr', {}, ['Rule', 'Health', 'State', 'Last evaluation', 'Evaluation time'].map((c) => h('th', {}, c)))),
          h('tbody', {}, rs.map((r) => h('tr', { class: 'rule', 'data-rule': r.name, 'data-health': r.health, 'data-type': r.type },
            h('td', { class: 'rule-def' },
              h('div', {}, h('span', { class: 'muted small' }, r.type === 'alerting' ? 'alert: ' : 'record: '), h('b', {}, r.name)),
              h('code', { class: 'expr' }, r.query),
              r.duration ? h('div', { class: 'muted small' }, `for: ${formatValue(r.duration, 's')}`) : null,
              r.labels && Object.keys(r.labels).length ? labelChips(r.labels) : null,
              r.lastError ? h('div', { class: 'error small' }, r.lastError) : null),
            h('td', {}, badge(r.health, r.health === 'ok' ? 'ok' : r.health === 'err' ? 'bad' : 'warn')),
            h('td', {}, r.type === 'alerting' ? badge(r.state, r.state === 'firing' ? 'bad' : r.state === 'pending' ? 'warn' : 'none') : '–'),
            h('td', { class: 'small' }, since(r.lastEvaluation)),
            h('td', { class: 'num' }, formatValue(r.evaluationTime, 's'))))))));
    }
    summary.textContent = `${groups.length} groups, ${total} rules, ${bad} unhealthy`;
    replace(body, sections.length ? sections : h('p', { class: 'muted' }, 'No rule matches.'));
    body.dataset.state = total ? 'data' : 'nodata';
  };
  filter.addEventListener('input', draw);
  onlyBad.addEventListener('change', draw);
  return poll(async (stopped) => {
    const g = await api.rules();
    if (stopped()) return;
    groups = g;
    draw();
  }, 10000, err);
}
