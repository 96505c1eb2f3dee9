// Chaos controls: `cloudcart scenario`'s scenarios run from here (the
// console server runs internal/scenario's runner and this page shows its
// timeline live), chaos on/off, every fault in force per target described,
// "Reset all faults", a form for one target's faults, and a traffic
// button. Every call goes through the console server, which holds the
// chaos admin token; the browser never sees it.

import * as api from './api.js';
import { h, replace, timeAgo } from './dom.js';

const pct = (p) => `${Math.round((p ?? 0) * 1000) / 10}%`;
const latency = (l) => `${l.fixed_ms} ms${l.jitter_ms ? ` + up to ${l.jitter_ms} ms` : ''}`;

// describeFaults says in words every fault a target has: request latency,
// errors, timeouts, random faults, an outage, event consume latency, and
// per-route overrides. Exported for the tests' sake of one vocabulary.
export function describeFaults(f) {
  const parts = [];
  if (f.latency) parts.push(`latency ${latency(f.latency)} on ${pct(f.latency.probability)} of requests`);
  if (f.error) parts.push(`error ${f.error.status || 500} on ${pct(f.error.rate)} of requests`);
  if (f.timeout) parts.push(`timeout: hang ${f.timeout.after_ms || 5000} ms then 504 on ${pct(f.timeout.rate)} of requests`);
  if (f.random) parts.push(`random fault (latency, error or timeout) on ${pct(f.random.rate)} of requests`);
  if (f.outage) parts.push('outage: stops listening (connections refused, scrape fails)');
  if (f.consume_latency) parts.push(`consume latency ${latency(f.consume_latency)} on ${pct(f.consume_latency.probability)} of events`);
  for (const [route, rf] of Object.entries(f.routes || {})) parts.push(`route ${route}: ${describeFaults(rf)}`);
  return parts.join('; ') || 'no fault (listed, but nothing set)';
}

const STEP_CLASS = { 'cause applied': 'warn', 'alert firing': 'bad', notification: 'bad', restored: 'ok', resolved: 'ok' };

export function mount(el) {
  let stopped = false;
  let timer = null;
  const message = h('p', { class: 'message', id: 'chaos-message', role: 'status' });
  const status = h('section', { class: 'card', id: 'chaos-status', 'data-state': 'loading' }, h('h2', {}, 'Chaos'), h('p', { class: 'muted' }, 'Loading…'));
  const scenarios = h('section', { class: 'card wide', id: 'scenarios' }, h('h2', {}, 'Scenarios'));
  const run = h('section', { class: 'card wide', id: 'scenario-run', 'data-state': 'none' });
  const form = h('section', { class: 'card', id: 'fault-form' }, h('h2', {}, 'Set a fault'));
  const traffic = h('section', { class: 'card', id: 'traffic-control' }, h('h2', {}, 'Traffic'));
  let running = false;

  function say(text, bad) {
    message.textContent = text;
    message.className = bad ? 'message error' : 'message ok';
  }

  async function act(what, fn, done = 'done.') {
    say(`${what}…`);
    try {
      await fn();
      say(`${what}: ${done}`);
      await refresh();
    } catch (e) {
      say(`${what}: ${e.message}`, true);
    }
  }

  async function loadStatus() {
    const st = await api.get('chaos/settings');
    if (stopped) return;
    const targets = Object.entries(st.targets || {}).sort(([a], [b]) => a.localeCompare(b));
    const anything = targets.length > 0 || st.payment_failure_rate > 0;
    replace(status,
      h('h2', {}, 'Chaos ', h('span', { class: ['pill', st.enabled ? 'bad' : 'ok'], id: 'chaos-enabled', 'data-enabled': st.enabled ? '1' : '0' }, st.enabled ? 'ON' : 'off')),
      h('p', { class: 'muted small' }, `settings version ${st.version}${st.updated_at && !st.updated_at.startsWith('0001') ? `, changed ${timeAgo(new Date(st.updated_at))}` : ''}.`,
        st.enabled ? ' Faults below apply now.' : anything ? ' Chaos is off: the faults below are configured but apply only when it is enabled.' : ''),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', id: 'chaos-enable', disabled: st.enabled, onclick: () => act('Enable chaos', () => api.send('POST', 'chaos/enable')) }, 'Enable'),
        h('button', { type: 'button', id: 'chaos-disable', class: 'secondary', disabled: !st.enabled, onclick: () => act('Disable chaos', () => api.send('POST', 'chaos/disable')) }, 'Disable'),
        h('button', { type: 'button', id: 'chaos-reset', class: 'danger', disabled: !st.enabled && !anything && !running,
          title: 'Stop a running scenario, remove every target\'s faults, set the payment failure rate to 0 and switch chaos off',
          onclick: () => act('Reset all faults', () => api.send('POST', 'chaos/reset')) }, 'Reset all faults')),
      h('table', { id: 'chaos-faults' }, h('thead', {}, h('tr', {}, h('th', {}, 'Target'), h('th', {}, 'Faults'), h('th', {}, ''))),
        h('tbody', {},
          targets.map(([t, f]) => h('tr', { 'data-target': t }, h('td', {}, t === '*' ? '* (every other service)' : t), h('td', { class: 'small fault-text' }, describeFaults(f)),
            h('td', {}, h('button', { type: 'button', class: 'small secondary', onclick: () => act(`Remove the faults of ${t}`, () => api.send('DELETE', `chaos/targets/${encodeURIComponent(t)}`)) }, 'remove')))),
          h('tr', { 'data-target': 'payments' }, h('td', {}, 'payments'), h('td', { class: 'small fault-text' },
            st.payment_failure_rate > 0 ? `the payment provider declines ${pct(st.payment_failure_rate)} of payments` : 'no fault'), h('td', {})))),
      !targets.length ? h('p', { class: 'muted small' }, 'No service has a fault configured.') : null);
    status.dataset.state = 'data';
    status.dataset.faults = String(targets.length);
  }

  function drawRun(r) {
    running = !!(r && r.running);
    for (const b of scenarios.querySelectorAll('button[data-scenario]')) b.disabled = running || b.dataset.available !== '1';
    if (!r) {
      replace(run, h('h2', {}, 'Scenario run'), h('p', { class: 'muted' }, 'No scenario has run from this console yet.'));
      run.dataset.state = 'none';
      return;
    }
    const res = r.result;
    const verdict = r.running ? h('span', { class: 'pill bad' }, 'running')
      : res && res.passed ? h('span', { class: 'pill ok' }, 'PASS') : h('span', { class: 'pill bad' }, 'FAIL');
    replace(run, h('h2', {}, `Scenario ${r.scenario}: ${r.title} `, verdict),
      h('p', { class: 'muted small' }, `Expecting ${r.alert}. Started ${timeAgo(new Date(r.started_at))}.`,
        r.running ? ' The runner waits for the alert and its notification, restores, then waits for the resolution.' : ''),
      r.running ? h('div', { class: 'buttons' }, h('button', { type: 'button', class: 'secondary', id: 'scenario-stop', onclick: () => act(`Stop ${r.scenario}`, () => api.send('DELETE', 'chaos/scenarios/run')) }, 'Stop and restore')) : null,
      (r.events || []).length ? h('table', { class: 'timeline' }, h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'time'), h('th', {}, 'step'), h('th', {}, 'detail'))),
        h('tbody', {}, [...(r.events || [])].sort((a, b) => a.offset_seconds - b.offset_seconds).map((e) => h('tr', { 'data-step': e.step },
          h('td', { class: 'num' }, `${e.offset_seconds < 0 ? '−' : '+'}${Math.abs(e.offset_seconds).toFixed(1)} s`),
          h('td', {}, h('span', { class: ['step', STEP_CLASS[e.step] || ''] }, e.step)), h('td', { class: 'small' }, e.detail || '')))))
        : h('p', { class: 'muted' }, 'Preparing: waiting for the alert to be quiet before the cause…'),
      res && !res.passed && res.error ? h('p', { class: 'error small' }, res.error) : null,
      res && res.passed ? h('p', { class: 'ok small' }, `Notified ${res.cause_to_notification_seconds.toFixed(1)} s after the cause` +
        (res.restore_to_resolved_seconds > 0 ? `, resolved ${res.restore_to_resolved_seconds.toFixed(1)} s after the restore.` : '.')) : null);
    run.dataset.state = r.running ? 'running' : res && res.passed ? 'passed' : 'failed';
    run.dataset.scenario = r.scenario;
  }

  async function loadScenarios(cfg) {
    const { scenarios: list, targets, run: current } = await api.get('chaos/scenarios');
    replace(scenarios, h('h2', {}, 'Scenarios'), h('p', { class: 'muted small' },
      'The scenarios of ', h('code', {}, 'cloudcart scenario'), ', same names and same code: each applies its cause, keeps shoppers on the shop, waits for the alert to fire and be notified, restores what it changed and waits for the alert to resolve. One at a time.'),
    h('div', { class: 'scenarios' }, list.map((sc) => h('div', { class: 'scenario', 'data-name': sc.name },
      h('h3', {}, h('code', {}, sc.name), ' ', sc.title), h('p', { class: 'small' }, sc.description),
      h('p', { class: 'muted small' }, `Cause: ${sc.cause}`),
      h('p', { class: 'muted small' }, `Expect: ${alertText(sc.expect)} (${sc.severity})${sc.also?.length ? `; also ${sc.also.join(', ')}` : ''}`),
      sc.available ? null : h('p', { class: 'small error' }, sc.unavailable),
      h('button', { type: 'button', 'data-scenario': sc.name, 'data-available': sc.available ? '1' : '0', class: 'danger', disabled: !sc.available,
        onclick: () => act(`Run ${sc.name}`, () => api.send('POST', `chaos/scenarios/${sc.name}`), 'started; its timeline follows below.') }, 'Run')))));
    drawRun(current);

    const target = h('select', { name: 'target' }, targets.map((t) => h('option', { value: t }, t === '*' ? '* (every other service)' : t)));
    const kinds = {
      error: ['status', 500], latency: ['delay ms', 500], timeout: ['hang ms', 2000], random: ['–', 0],
      outage: ['–', 0], consume_latency: ['delay ms', 5000],
    };
    const kind = h('select', { name: 'kind' }, Object.keys(kinds).map((k) => h('option', { value: k }, k.replace('_', ' '))));
    const rate = h('input', { type: 'number', name: 'rate', min: '0', max: '1', step: '0.05', value: '0.5' });
    const param = h('input', { type: 'number', name: 'param', min: '0', step: '1', value: '500' });
    const paramLabel = h('span', {}, 'status');
    kind.addEventListener('change', () => {
      const p = kinds[kind.value];
      paramLabel.textContent = p[0];
      param.value = String(p[1]);
      param.disabled = p[0] === '–';
      rate.disabled = kind.value === 'outage';
    });
    const submit = (ev) => {
      ev.preventDefault();
      const r = parseFloat(rate.value);
      const v = parseInt(param.value, 10);
      const faults = {
        error: { error: { rate: r, status: v } },
        latency: { latency: { probability: r, fixed_ms: v } },
        timeout: { timeout: { rate: r, after_ms: v } },
        random: { random: { rate: r } },
        outage: { outage: true },
        consume_latency: { consume_latency: { probability: r, fixed_ms: v } },
      }[kind.value];
      act(`Set ${kind.value} on ${target.value}`, () => api.send('PUT', `chaos/targets/${encodeURIComponent(target.value)}`, faults));
    };
    replace(form, h('h2', {}, 'Set a fault'),
      h('form', { class: 'fault', onsubmit: submit },
        h('label', {}, 'Target ', target), h('label', {}, 'Fault ', kind),
        h('label', {}, 'Rate (0–1) ', rate), h('label', {}, paramLabel, ' ', param),
        h('button', { type: 'submit' }, 'Set')),
      h('p', { class: 'muted small' }, 'Replaces the target\'s faults. Faults apply while chaos is enabled. Outage: one named service, not the notifier. Consume latency: the notifier\'s event handling.'));

    replace(traffic, h('h2', {}, 'Traffic'),
      cfg.orders
        ? [h('p', { class: 'small' }, 'Alerts need requests. Reference 001\'s synthetic load on the order service:'),
          h('div', { class: 'buttons' },
            h('button', { type: 'button', id: 'simulate', onclick: () => act('Simulate 100 orders', () => api.send('POST', 'orders/simulate?count=100')) }, 'Simulate 100 orders'),
            h('button', { type: 'button', class: 'secondary', onclick: () => act('Simulate 100 orders, 30% failing', () => api.send('POST', 'orders/simulate?count=100&error_rate=0.3')) }, '… 30% failing'))]
        : h('p', { class: 'muted' }, 'The order service does not run in this fleet.'),
      cfg.orders_url ? h('p', { class: 'muted small' }, 'Or from a shell: ', h('code', {}, `curl -s -X POST '${cfg.orders_url}/simulate?count=100'`)) : null);
  }

  async function refresh() {
    try {
      const [, r] = await Promise.all([loadStatus(), api.get('chaos/scenarios/run')]);
      if (!stopped) drawRun(r.run);
    } catch (e) {
      status.dataset.state = 'error';
      say(e.message, true);
    }
  }

  (async () => {
    let cfg;
    try {
      cfg = await api.config();
    } catch (e) {
      replace(el, h('p', { class: 'error' }, e.message));
      return;
    }
    if (!cfg.chaos) {
      replace(el, h('h1', {}, 'Chaos'), h('p', { class: 'muted', id: 'chaos-off' }, cfg.chaos_note || 'The chaos service does not run in this fleet (cloudcart run starts it with every other service).'));
      return;
    }
    replace(el, h('h1', {}, 'Chaos'), message, h('div', { class: 'chaos' }, status, run, scenarios, form, traffic));
    try {
      await loadScenarios(cfg);
    } catch (e) {
      say(e.message, true);
    }
    await refresh();
    if (!stopped) timer = setInterval(refresh, 2000);
  })();

  return () => {
    stopped = true;
    if (timer) clearInterval(timer);
  };
}

function alertText(a) {
  const labels = Object.entries(a.labels || {}).sort(([x], [y]) => x.localeCompare(y)).map(([k, v]) => `${k}="${v}"`).join(',');
  return labels ? `${a.alertname}{${labels}}` : a.alertname;
}
