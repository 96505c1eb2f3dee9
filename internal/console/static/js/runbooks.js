// The runbooks page: docs/runbooks.md as the console server serves it
// (/console/api/runbooks), one section per alert, so an alert's runbook
// link opens here, offline. #/runbooks lists them; #/runbooks/<anchor>
// shows one (the anchor GitHub gives the heading: #/runbooks/higherrorrate).

import * as api from './api.js';
import { h, replace } from './dom.js';
import { render } from './md.js';

export function mount(el, path) {
  const want = (path[0] || '').toLowerCase();
  (async () => {
    const { runbooks, source } = await api.get('runbooks');
    const anchors = new Set(runbooks.map((r) => r.anchor));
    const linkFor = (target) => {
      const m = /^(?:runbooks\.md)?#([A-Za-z0-9_-]+)$/.exec(target);
      return m && anchors.has(m[1].toLowerCase()) ? `#/runbooks/${m[1].toLowerCase()}` : null;
    };
    const current = runbooks.find((r) => r.anchor === want);
    const index = h('aside', { class: 'runbook-index card' }, h('h2', {}, 'Runbooks'),
      h('ul', {}, runbooks.map((r) => h('li', {}, h('a', { href: `#/runbooks/${r.anchor}`, class: r.anchor === want ? 'active' : null }, r.anchor ? r.title : 'Introduction')))),
      h('p', { class: 'muted small' }, `From ${source}, built into this binary.`));
    let article;
    if (want && !current) {
      article = h('article', { class: 'card runbook', 'data-anchor': '' }, h('p', { class: 'error' }, `No runbook "${want}" in ${source}.`));
    } else {
      const r = current || runbooks[0];
      article = h('article', { class: 'card runbook', id: 'runbook', 'data-anchor': r.anchor }, h('h1', {}, r.title), ...render(r.markdown, linkFor));
    }
    replace(el, h('div', { class: 'runbooks' }, index, article));
  })().catch((e) => replace(el, h('p', { class: 'error' }, e.message)));
  return () => {};
}
