// The overview: every service up or down with its request rate, error
// ratio and p95 (from the golden-signal recording rules), the firing and
// pending alerts with their runbooks, and the notification worker's recent
// notifications: alert notifications first, events (orders, chaos
// changes) behind a filter, so a busy shop does not push alerts away.

import * as api from './api.js';
import { recentTraces } from './traces.js';
import { h, replace, timeAgo } from './dom.js';
import { formatValue, thresholdColor } from './format.js';
import { renderTimeSeries } from './chart.js';
import { fleetRange } from './panels.js';
import { runbookLink } from './common.js';

const REFRESH_MS = 5000;

// Thresholds of the alerts on these signals (docs/alerts.md).
const ERROR_RATIO = { steps: [{ value: null, color: 'green' }, { value: 0.05, color: 'red' }] };
const P95 = { steps: [{ value: null, color: 'green' }, { value: 1, color: 'red' }] };

function byJob(result) {
  const out = {};
  for (const r of result || []) out[r.metric.job] = parseFloat(r.value[1]);
  return out;
}

export function mount(el) {
  let stopped = false;
  const services = h('section', { class: 'card', id: 'services', 'data-state': 'loading' }, h('h2', {}, 'Services'), h('p', { class: 'muted' }, 'Loading…'));
  const alerts = h('section', { class: 'card', id: 'alerts', 'data-state': 'loading' }, h('h2', {}, 'Alerts'), h('p', { class: 'muted' }, 'Loading…'));
  const notes = h('section', { class: 'card wide', id: 'notifications', 'data-state': 'loading' }, h('h2', {}, 'Recent notifications'), h('p', { class: 'muted' }, 'Loading…'));
  const traffic = h('section', { class: 'card wide', id: 'traffic', 'data-state': 'loading' }, h('h2', {}, 'Requests per second'), h('div', { class: 'panel-body' }));
  replace(el, h('h1', {}, 'Overview'), h('div', { class: 'overview' }, services, alerts, notes, traffic, recentTraces()));
  // Which notifications show: alert notifications (the default), events, or both.
  let noteFilter = 'alert';

  async function loadServices() {
    const [up, rate, errors, p95] = await Promise.all([
      api.instant('up'),
      api.instant('job:http_requests:rate5m'),
      api.instant('job:http_errors:ratio_rate5m'),
      api.instant('job:http_request_duration_seconds:p95_5m'),
    ]);
    const r = byJob(rate.result);
    const e = byJob(errors.result);
    const p = byJob(p95.result);
    const rows = (up.result || []).slice().sort((a, b) => a.metric.job.localeCompare(b.metric.job)).map((s) => {
      const job = s.metric.job;
      const isUp = s.value[1] === '1';
      const cell = (v, unit, th) => {
        const td = h('td', { class: 'num' }, v === undefined ? '–' : formatValue(v, unit));
        if (v !== undefined && th && Number.isFinite(v)) td.style.color = thresholdColor(v, th);
        return td;
      };
      return h('tr', { 'data-job': job, 'data-up': isUp ? '1' : '0' },
        h('td', {}, h('span', { class: ['badge', isUp ? 'ok' : 'bad'] }, isUp ? 'UP' : 'DOWN')),
        h('td', {}, job, h('div', { class: 'muted small' }, s.metric.instance)),
        cell(r[job], 'reqps'), cell(e[job], 'percentunit', ERROR_RATIO), cell(p[job], 's', P95));
    });
    const down = rows.filter((row) => row.dataset.up === '0').length;
    replace(services, h('h2', {}, 'Services ', h('span', { class: ['pill', down ? 'bad' : 'ok'] }, down ? `${down} down` : `all ${rows.length} up`)),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'State'), h('th', {}, 'Service (job)'), h('th', { class: 'num' }, 'Requests'),
        h('th', { class: 'num' }, '5xx ratio'), h('th', { class: 'num' }, 'p95'))), h('tbody', {}, rows)),
      h('p', { class: 'muted small' }, 'Rates and ratios over 5m from the recording rules job:http_requests:rate5m, job:http_errors:ratio_rate5m, job:http_request_duration_seconds:p95_5m.'));
    services.dataset.state = rows.length ? 'data' : 'nodata';
  }

  async function loadAlerts() {
    const list = (await api.alerts()).filter((a) => a.state === 'firing' || a.state === 'pending');
    list.sort((a, b) => (a.state === b.state ? a.labels.alertname.localeCompare(b.labels.alertname) : a.state === 'firing' ? -1 : 1));
    const firing = list.filter((a) => a.state === 'firing').length;
    const rows = list.map((a) => {
      const l = a.labels;
      const who = [l.job, l.slo, l.sli && `sli=${l.sli}`, l.topic, l.query_type].filter(Boolean).join(' · ');
      return h('tr', { class: 'alert', 'data-alertname': l.alertname, 'data-state': a.state, 'data-job': l.job || '' },
        h('td', {}, h('span', { class: ['badge', a.state === 'firing' ? 'bad' : 'warn'] }, a.state)),
        h('td', {}, h('b', {}, l.alertname), h('div', { class: 'muted small' }, who)),
        h('td', {}, h('span', { class: ['sev', `sev-${l.severity || 'none'}`] }, l.severity || '–')),
        h('td', {}, a.annotations?.summary || '', h('div', { class: 'muted small' }, a.activeAt ? `active since ${timeAgo(new Date(a.activeAt))}` : '')),
        h('td', {}, runbookLink(a.annotations) || '–'));
    });
    replace(alerts, h('h2', {}, 'Alerts ', h('span', { class: ['pill', firing ? 'bad' : 'ok'] }, `${firing} firing, ${list.length - firing} pending`)),
      rows.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'State'), h('th', {}, 'Alert'), h('th', {}, 'Severity'),
        h('th', {}, 'Summary'), h('th', {}, 'Runbook'))), h('tbody', {}, rows))
        : h('p', { class: 'muted' }, 'No alert is firing or pending. Break something on the Chaos page and watch.'),
      h('p', { class: 'muted small' }, h('a', { href: '#/alerts' }, 'Every alerting rule'), ' · ', h('a', { href: '#/targets' }, 'targets'), ' · ', h('a', { href: '#/rules' }, 'rules')));
    alerts.dataset.state = 'data';
  }

  async function loadTraffic(cfg) {
    const end = Math.floor(Date.now() / 1000);
    const span = fleetRange(cfg.started_at);
    const step = Math.max(cfg.scrape_interval_seconds || 5, Math.ceil(span / 240));
    const a = await api.range('job:http_requests:rate5m', end - span, end, step);
    const series = (a.result || []).map((r) => ({ name: r.metric.job, points: r.values.map(([t, v]) => [t, parseFloat(v)]) }));
    traffic.querySelector('h2').textContent = `Requests per second (last ${Math.round(span / 60)} minutes)`;
    const body = traffic.querySelector('.panel-body');
    renderTimeSeries(body, series, { unit: 'reqps', start: end - span, end, step, min: 0 });
    traffic.dataset.state = series.length ? 'data' : 'nodata';
  }

  async function loadNotifications(cfg) {
    if (!cfg.notifier) {
      replace(notes, h('h2', {}, 'Recent notifications'), h('p', { class: 'muted' }, 'The notification worker does not run in this fleet.'));
      notes.dataset.state = 'nodata';
      return;
    }
    // Alerts are asked for by kind; events are the newest notifications
    // that are not alerts.
    const [alertList, recent] = await Promise.all([api.get('notifications?limit=8&kind=alert'), api.get('notifications?limit=30')]);
    const alertNotes = alertList.notifications || [];
    const eventNotes = (recent.notifications || []).filter((n) => n.kind !== 'alert').slice(0, 8);
    const shown = noteFilter === 'alert' ? alertNotes : noteFilter === 'event' ? eventNotes
      : [...alertNotes, ...eventNotes]; // alerts first, then events
    const item = (n) => h('li', { class: `note note-${n.severity}`, 'data-kind': n.kind },
      h('div', {}, h('span', { class: ['kind', n.kind === 'alert' ? 'kind-alert' : 'kind-event'] }, n.kind === 'alert' ? 'alert' : n.kind), ' ',
        h('b', {}, n.title), ' ', h('span', { class: 'muted small' }, timeAgo(new Date(n.created_at)))),
      n.text ? h('div', { class: 'small' }, n.text) : null,
      h('div', { class: 'muted small' }, (n.deliveries || []).map((d) => `${d.channel}: ${d.status}`).join(' · ') || 'no channel configured'));
    const tab = (key, label, count) => h('button', { type: 'button', class: ['small', key === noteFilter ? null : 'secondary'], 'data-filter': key,
      'aria-pressed': key === noteFilter ? 'true' : 'false', onclick: () => { noteFilter = key; loadNotifications(cfg).catch(() => {}); } }, `${label} (${count})`);
    replace(notes, h('h2', {}, 'Recent notifications'),
      h('div', { class: 'buttons', id: 'note-filters' }, tab('alert', 'Alerts', alertNotes.length), tab('event', 'Events', eventNotes.length),
        tab('all', 'All', alertNotes.length + eventNotes.length)),
      shown.length ? h('ul', { class: 'notes' }, shown.map(item))
        : h('p', { class: 'muted' }, noteFilter === 'alert' ? 'No alert notification yet: an alert that fires (or resolves) becomes one.'
          : 'None yet: events (orders, chaos changes) become notifications.'));
    notes.dataset.state = shown.length ? 'data' : 'nodata';
    notes.dataset.filter = noteFilter;
    notes.dataset.alerts = String(alertNotes.length);
  }

  const guard = (section, fn) => async () => {
    try {
      await fn();
    } catch (e) {
      if (stopped) return;
      section.dataset.state = 'error';
      const p = section.querySelector('p.error') || h('p', { class: 'error' });
      p.textContent = e.message;
      section.append(p);
    }
  };
  let timer = null;
  (async () => {
    let cfg = { notifier: false };
    try {
      cfg = await api.config();
    } catch (e) {
      el.prepend(h('p', { class: 'error' }, e.message));
    }
    const jobs = [guard(services, loadServices), guard(alerts, loadAlerts), guard(traffic, () => loadTraffic(cfg)), guard(notes, () => loadNotifications(cfg))];
    const run = () => { if (!stopped) jobs.forEach((j) => j()); };
    run();
    timer = setInterval(run, REFRESH_MS);
    if (stopped) clearInterval(timer);
  })();
  return () => {
    stopped = true;
    if (timer) clearInterval(timer);
  };
}
