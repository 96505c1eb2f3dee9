// Chaos controls: scenarios one click away, chaos on/off, the faults in
// force per target, a form for one target's faults, and a traffic button.
// Every call goes through the console server, which holds the chaos admin
// token; the browser never sees it.

import * as api from './api.js';
import { h, replace, timeAgo } from './dom.js';

function describeFaults(f) {
  const parts = [];
  if (f.latency) parts.push(`latency ${f.latency.fixed_ms}ms${f.latency.jitter_ms ? ` +≤${f.latency.jitter_ms}ms` : ''} @ ${f.latency.probability}`);
  if (f.error) parts.push(`error ${f.error.status || 500} @ ${f.error.rate}`);
  if (f.timeout) parts.push(`timeout ${f.timeout.after_ms || 5000}ms @ ${f.timeout.rate}`);
  if (f.random) parts.push(`random @ ${f.random.rate}`);
  for (const [route, rf] of Object.entries(f.routes || {})) parts.push(`${route}: ${describeFaults(rf)}`);
  return parts.join(', ') || 'none';
}

export function mount(el) {
  let stopped = false;
  let timer = null;
  const message = h('p', { class: 'message', id: 'chaos-message', role: 'status' });
  const status = h('section', { class: 'card', id: 'chaos-status', 'data-state': 'loading' }, h('h2', {}, 'Chaos'), h('p', { class: 'muted' }, 'Loading…'));
  const scenarios = h('section', { class: 'card wide', id: 'scenarios' }, h('h2', {}, 'Scenarios'));
  const form = h('section', { class: 'card', id: 'fault-form' }, h('h2', {}, 'Set a fault'));
  const traffic = h('section', { class: 'card', id: 'traffic-control' }, h('h2', {}, 'Traffic'));

  function say(text, bad) {
    message.textContent = text;
    message.className = bad ? 'message error' : 'message ok';
  }

  async function act(what, fn) {
    say(`${what}…`);
    try {
      await fn();
      say(`${what}: done. Watch the Overview and the dashboards react.`);
      await loadStatus();
    } catch (e) {
      say(`${what}: ${e.message}`, true);
    }
  }

  async function loadStatus() {
    const st = await api.get('chaos/settings');
    if (stopped) return;
    const targets = Object.entries(st.targets || {});
    replace(status,
      h('h2', {}, 'Chaos ', h('span', { class: ['pill', st.enabled ? 'bad' : 'ok'], id: 'chaos-enabled', 'data-enabled': st.enabled ? '1' : '0' }, st.enabled ? 'ON' : 'off')),
      h('p', { class: 'muted small' }, `settings version ${st.version}${st.updated_at && !st.updated_at.startsWith('0001') ? `, changed ${timeAgo(new Date(st.updated_at))}` : ''}` +
        (st.payment_failure_rate ? ` · payment failure rate ${st.payment_failure_rate}` : '')),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', id: 'chaos-enable', disabled: st.enabled, onclick: () => act('Enable chaos', () => api.send('POST', 'chaos/enable')) }, 'Enable'),
        h('button', { type: 'button', id: 'chaos-disable', disabled: !st.enabled, onclick: () => act('Disable chaos', () => api.send('POST', 'chaos/disable')) }, 'Disable')),
      targets.length
        ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Target'), h('th', {}, 'Faults'), h('th', {}, ''))),
          h('tbody', {}, targets.map(([t, f]) => h('tr', { 'data-target': t }, h('td', {}, t), h('td', { class: 'small' }, describeFaults(f)),
            h('td', {}, h('button', { type: 'button', class: 'small', onclick: () => act(`Remove the faults of ${t}`, () => api.send('DELETE', `chaos/targets/${encodeURIComponent(t)}`)) }, 'remove'))))))
        : h('p', { class: 'muted' }, 'No fault is configured.'));
    status.dataset.state = 'data';
  }

  async function loadScenarios(cfg) {
    const { scenarios: list, targets } = await api.get('chaos/scenarios');
    replace(scenarios, h('h2', {}, 'Scenarios'), h('p', { class: 'muted small' },
      'Each scenario switches chaos on and sets one service\'s faults (the others stay). Keep traffic flowing (the Traffic card below, or your own load) and watch the Overview for the alert.'),
    h('div', { class: 'scenarios' }, list.map((sc) => h('div', { class: ['scenario', sc.reset ? 'reset' : null] },
      h('h3', {}, sc.title), h('p', { class: 'small' }, sc.description),
      sc.alert ? h('p', { class: 'muted small' }, `Expect: ${sc.alert}`) : null,
      h('button', { type: 'button', 'data-scenario': sc.name, class: sc.reset ? 'secondary' : 'danger',
        onclick: () => act(sc.title, () => api.send('POST', `chaos/scenarios/${sc.name}`)) }, sc.reset ? 'Stop chaos' : 'Apply')))));

    const target = h('select', { name: 'target' }, targets.map((t) => h('option', { value: t }, t === '*' ? '* (every other service)' : t)));
    const kind = h('select', { name: 'kind' }, ['error', 'latency', 'timeout', 'random'].map((k) => h('option', { value: k }, k)));
    const rate = h('input', { type: 'number', name: 'rate', min: '0', max: '1', step: '0.05', value: '0.5' });
    const param = h('input', { type: 'number', name: 'param', min: '0', step: '1', value: '500' });
    const paramLabel = h('span', {}, 'status');
    kind.addEventListener('change', () => {
      const p = { error: ['status', 500], latency: ['delay ms', 500], timeout: ['hang ms', 2000], random: ['–', 0] }[kind.value];
      paramLabel.textContent = p[0];
      param.value = String(p[1]);
      param.disabled = kind.value === 'random';
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
      }[kind.value];
      act(`Set ${kind.value} on ${target.value}`, () => api.send('PUT', `chaos/targets/${encodeURIComponent(target.value)}`, faults));
    };
    replace(form, h('h2', {}, 'Set a fault'),
      h('form', { class: 'fault', onsubmit: submit },
        h('label', {}, 'Target ', target), h('label', {}, 'Fault ', kind),
        h('label', {}, 'Rate (0–1) ', rate), h('label', {}, paramLabel, ' ', param),
        h('button', { type: 'submit' }, 'Set')),
      h('p', { class: 'muted small' }, 'Replaces the target\'s faults. Faults apply while chaos is enabled.'));

    replace(traffic, h('h2', {}, 'Traffic'),
      cfg.orders
        ? [h('p', { class: 'small' }, 'Alerts need requests. Reference 001\'s synthetic load on the order service:'),
          h('div', { class: 'buttons' },
            h('button', { type: 'button', id: 'simulate', onclick: () => act('Simulate 100 orders', () => api.send('POST', 'orders/simulate?count=100')) }, 'Simulate 100 orders'),
            h('button', { type: 'button', class: 'secondary', onclick: () => act('Simulate 100 orders, 30% failing', () => api.send('POST', 'orders/simulate?count=100&error_rate=0.3')) }, '… 30% failing'))]
        : h('p', { class: 'muted' }, 'The order service does not run in this fleet.'),
      cfg.orders_url ? h('p', { class: 'muted small' }, 'Or from a shell: ', h('code', {}, `curl -X POST '${cfg.orders_url}/simulate?count=100'`)) : null);
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
    replace(el, h('h1', {}, 'Chaos'), message, h('div', { class: 'chaos' }, scenarios, status, form, traffic));
    const refresh = async () => {
      try {
        await loadStatus();
      } catch (e) {
        status.dataset.state = 'error';
        say(e.message, true);
      }
    };
    try {
      await loadScenarios(cfg);
    } catch (e) {
      say(e.message, true);
    }
    await refresh();
    if (!stopped) timer = setInterval(refresh, 5000);
  })();

  return () => {
    stopped = true;
    if (timer) clearInterval(timer);
  };
}
