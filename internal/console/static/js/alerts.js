// The alerts page (Prometheus's /alerts): every alerting rule by state,
// firing first, each active alert with its labels, the time it became
// active, its value and annotations, and its runbook served by this
// console. From /api/v1/rules?type=alert, which lists every alerting rule
// with its active alerts (the overview reads /api/v1/alerts).

import * as api from './api.js';
import { h, replace } from './dom.js';
import { formatValue } from './format.js';
import { badge, labelChips, runbookLink, since, poll } from './common.js';

const ORDER = { firing: 0, pending: 1, inactive: 2 };

export function mount(el) {
  const shown = { firing: true, pending: true, inactive: false };
  const boxes = Object.keys(shown).map((st) => {
    const box = h('input', { type: 'checkbox', id: `alerts-show-${st}`, checked: shown[st] });
    box.addEventListener('change', () => { shown[st] = box.checked; draw(); });
    return h('label', {}, box, ` ${st}`);
  });
  const summary = h('span', { class: 'muted' });
  const body = h('div', { id: 'alert-rules', 'data-state': 'loading' }, h('p', { class: 'muted' }, 'Loading…'));
  const err = h('p', { class: 'error' });
  replace(el, h('h1', {}, 'Alerts'),
    h('div', { class: 'toolbar' }, boxes, summary, h('span', { class: 'grow' }),
      h('span', { class: 'muted small' }, 'Rules in deploy/prometheus/rules/; reasoning in docs/alerts.md. Every 5 s.')),
    err, body);
  let rules = [];

  function draw() {
    // One entry per alerting rule (two rules may share a name), with its
    // active alerts as the rules API lists them.
    const entries = rules.map((r) => {
      const mine = (r.alerts || []).filter((a) => a.state === 'firing' || a.state === 'pending');
      const state = mine.some((a) => a.state === 'firing') ? 'firing' : mine.length ? 'pending' : 'inactive';
      return { rule: r, alerts: mine, state };
    }).sort((a, b) => ORDER[a.state] - ORDER[b.state] || a.rule.name.localeCompare(b.rule.name));
    const count = (st) => entries.filter((e) => e.state === st).length;
    summary.textContent = `${count('firing')} firing, ${count('pending')} pending, ${count('inactive')} inactive rules`;
    const list = entries.filter((e) => shown[e.state]);
    replace(body, list.length ? list.map(({ rule: r, alerts, state }) => h('section', { class: ['card', 'alert-rule', `state-${state}`], 'data-alertname': r.name, 'data-state': state },
      h('h2', {}, badge(state, state === 'firing' ? 'bad' : state === 'pending' ? 'warn' : 'ok'), ' ', r.name, ' ',
        h('span', { class: 'muted small' }, [r.labels?.severity && `severity ${r.labels.severity}`, r.labels?.sli && `sli ${r.labels.sli}`, r.labels?.slo && `slo ${r.labels.slo}`,
          r.duration ? `for ${formatValue(r.duration, 's')}` : 'no for'].filter(Boolean).join(' · ')), ' ', runbookLink(r.annotations)),
      h('details', {}, h('summary', { class: 'muted small' }, 'expression'), h('code', { class: 'expr' }, r.query)),
      alerts.length ? h('table', {}, h('thead', {}, h('tr', {}, ['State', 'Labels', 'Active since', 'Value', 'Summary', 'Runbook'].map((c) => h('th', {}, c)))),
        h('tbody', {}, alerts.sort((a, b) => ORDER[a.state] - ORDER[b.state]).map((a) => h('tr', {
          class: 'alert', 'data-alertname': a.labels.alertname, 'data-state': a.state, 'data-job': a.labels.job || '',
        },
        h('td', {}, badge(a.state, a.state === 'firing' ? 'bad' : 'warn')),
        h('td', {}, labelChips(a.labels, ['alertname'])),
        h('td', { class: 'small' }, since(a.activeAt)),
        h('td', { class: 'num' }, formatValue(parseFloat(a.value), 'none')),
        h('td', { class: 'small' }, a.annotations?.summary || '', a.annotations?.description ? h('div', { class: 'muted' }, a.annotations.description) : null),
        h('td', {}, runbookLink(a.annotations) || '–')))))
        : h('p', { class: 'muted small' }, r.annotations?.summary ? `Quiet. When it fires: ${r.annotations.summary}` : 'Quiet.'))
    ) : h('p', { class: 'muted' }, 'Nothing in the chosen states.'));
    body.dataset.state = 'data';
  }

  return poll(async (stopped) => {
    const groups = await api.rules('alert');
    if (stopped()) return;
    rules = groups.flatMap((g) => g.rules.filter((r) => r.type === 'alerting'));
    draw();
  }, 5000, err);
}
