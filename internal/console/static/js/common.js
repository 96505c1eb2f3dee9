// Pieces the Alerts, Targets, Rules and Overview pages share: label
// chips, state badges, runbook links and times.

import { h, timeAgo } from './dom.js';

// labelChips shows a label set as name="value" chips, sorted, without the
// names in skip.
export function labelChips(labels, skip = []) {
  return h('span', { class: 'chips' }, Object.keys(labels || {}).filter((k) => !skip.includes(k)).sort()
    .map((k) => h('span', { class: 'chip' }, h('span', { class: 'k' }, k), '=', h('span', { class: 'v' }, labels[k]))));
}

// runbookHref maps a runbook_url annotation to the console's own runbook
// page when it points into docs/runbooks.md (the rules keep the GitHub URL
// for an external Prometheus); any other URL is kept.
export function runbookHref(url) {
  const m = /runbooks\.md#([A-Za-z0-9_-]+)$/.exec(url || '');
  return m ? `#/runbooks/${m[1].toLowerCase()}` : url;
}

export function runbookLink(annotations) {
  const url = annotations?.runbook_url;
  if (!url) return null;
  const href = runbookHref(url);
  const local = href.startsWith('#');
  return h('a', { href, class: 'runbook', target: local ? null : '_blank', rel: local ? null : 'noopener' }, 'runbook');
}

// badge is a state in colour: ok (green), warn (orange), bad (red), or none.
export function badge(text, kind) {
  return h('span', { class: ['badge', kind] }, text);
}

// since renders a time as "3m 4s ago (12:01:02)"; "–" for none (Go's zero time).
export function since(iso) {
  if (!iso || iso.startsWith('0001-')) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '–';
  return `${timeAgo(d)} (${d.toLocaleTimeString()})`;
}

// poll runs load now and every ms until the page's stop function runs;
// an error is shown in the given element.
export function poll(load, ms, errorEl) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    try {
      await load(() => stopped);
      if (errorEl) errorEl.textContent = '';
    } catch (e) {
      if (!stopped && errorEl) errorEl.textContent = e.message;
    }
  };
  run();
  timer = setInterval(run, ms);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
