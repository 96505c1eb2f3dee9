// The Learn page: CloudCart's lessons (internal/learn), each with its
// explanation, its actions as buttons (run by the console's server side,
// which only runs the requests written in the lesson table), its live
// checks re-evaluated every few seconds against the embedded Prometheus,
// an exercise comparing the learner's PromQL with the reference, and the
// key question. #/learn lists the lessons with progress; #/learn/<id>
// opens one. Progress (lessons whose checks all passed together) is kept
// in this browser's localStorage.

import * as api from './api.js';
import { h, replace } from './dom.js';

const DONE_KEY = 'cloudcart.learn.done';
const POLL_MS = 2000;

function doneSet() {
  try {
    return new Set(JSON.parse(localStorage.getItem(DONE_KEY) || '[]'));
  } catch {
    return new Set();
  }
}

function markDone(id) {
  const d = doneSet();
  d.add(id);
  localStorage.setItem(DONE_KEY, JSON.stringify([...d]));
}

// prose renders the lessons' light markup: paragraphs split by blank
// lines, `code` and **bold**, built as elements (never as HTML).
function prose(text) {
  return text.split(/\n\s*\n/).map((para) => {
    const p = h('p');
    for (const part of para.split(/(`[^`]+`|\*\*[^*]+\*\*)/)) {
      if (part.startsWith('`') && part.endsWith('`') && part.length > 1) p.append(h('code', {}, part.slice(1, -1)));
      else if (part.startsWith('**') && part.endsWith('**')) p.append(h('strong', {}, part.slice(2, -2)));
      else if (part) p.append(part.replace(/\*([^*]+)\*/g, '$1'));
    }
    return p;
  });
}

async function checkPasses(c) {
  if (c.query) {
    const a = await api.instant(c.query);
    return Array.isArray(a.result) ? a.result.length > 0 : true;
  }
  const now = Math.floor(Date.now() / 1000);
  const path = c.api.replace('{start}', String(now - 900)).replace('{end}', String(now));
  const resp = await fetch(path, { cache: 'no-store' });
  if (!resp.ok) throw new Error(`${resp.status} ${resp.statusText}`);
  const body = await resp.json();
  return Array.isArray(body.data) && body.data.length > 0;
}

export function mount(el, path) {
  const state = { timer: null, stopped: false };
  const root = h('div', { class: 'learn' });
  replace(el, root);
  api.get('lessons').then(({ lessons }) => {
    if (state.stopped) return;
    const id = path[0];
    const i = lessons.findIndex((l) => l.id === id);
    if (id && i < 0) {
      replace(root, h('p', { class: 'error' }, `No lesson "${id}". `, h('a', { href: '#/learn' }, 'All lessons')));
    } else if (i < 0) {
      showIndex(root, lessons);
    } else {
      showLesson(root, lessons, i, state);
    }
  }).catch((e) => replace(root, h('p', { class: 'error' }, `Cannot load the lessons: ${e.message}`)));
  return () => {
    state.stopped = true;
    clearTimeout(state.timer);
  };
}

function showIndex(root, lessons) {
  const done = doneSet();
  const n = lessons.filter((l) => done.has(l.id)).length;
  replace(root,
    h('h1', {}, 'Learn'),
    h('p', { class: 'muted' }, 'A guided path through what the reference documents teach, on this running fleet. ',
      'Each lesson explains one idea, gives you something to do, and checks the data until your action shows up. ',
      'The same path is in docs/tutorial.md.'),
    h('p', { id: 'learn-progress', 'data-done': String(n), 'data-total': String(lessons.length) },
      `${n} of ${lessons.length} lessons done`),
    h('ol', { class: 'lessons', id: 'lessons' }, lessons.map((l) =>
      h('li', { 'data-id': l.id, 'data-done': done.has(l.id) ? '1' : '0' },
        h('a', { href: `#/learn/${l.id}` }, l.title), ' ',
        h('span', { class: 'muted small' }, l.source),
        done.has(l.id) ? h('span', { class: 'badge ok' }, 'done') : null))));
}

function showLesson(root, lessons, i, state) {
  const l = lessons[i];
  const checks = l.checks.map((c) => ({ c, el: h('li', { class: 'check', 'data-ok': '0' }, h('span', { class: 'mark' }, '○'), ' ', c.description, ' ', h('code', { class: 'small' }, c.query || `GET ${c.api}`)) }));
  const status = h('p', { id: 'lesson-status', class: 'muted' }, 'Checking…');
  const nav = h('p', { class: 'lesson-nav' },
    h('a', { href: '#/learn' }, 'All lessons'),
    i > 0 ? [' · ', h('a', { href: `#/learn/${lessons[i - 1].id}` }, `← ${lessons[i - 1].title}`)] : null,
    i + 1 < lessons.length ? [' · ', h('a', { href: `#/learn/${lessons[i + 1].id}`, id: 'next-lesson' }, `${lessons[i + 1].title} →`)] : null);

  replace(root,
    nav,
    h('article', { id: 'lesson', 'data-id': l.id },
      h('h1', {}, `${i + 1}. ${l.title}`),
      h('p', { class: 'muted' }, l.source, ' — ', l.goal),
      prose(l.explain),
      h('h2', {}, 'Do this'),
      h('ol', { class: 'actions' }, l.actions.map((a, n) => action(l, a, n))),
      h('h2', {}, 'Check'),
      h('ul', { class: 'checks', id: 'checks' }, checks.map((x) => x.el)),
      status,
      l.exercise ? exercise(l) : null,
      h('details', { class: 'question' },
        h('summary', {}, h('strong', {}, 'Key question: '), l.question),
        prose(l.answer))));

  async function poll() {
    let all = true;
    for (const x of checks) {
      try {
        const ok = await checkPasses(x.c);
        x.el.dataset.ok = ok ? '1' : '0';
        x.el.querySelector('.mark').textContent = ok ? '✓' : '○';
        x.el.classList.toggle('ok', ok);
        x.el.title = '';
        all = all && ok;
      } catch (e) {
        x.el.dataset.ok = 'error';
        x.el.querySelector('.mark').textContent = '!';
        x.el.title = e.message;
        all = false;
      }
    }
    if (state.stopped) return;
    if (all) markDone(l.id);
    status.textContent = all ? 'Every check passed: lesson done.' : 'Waiting for the data… (checked every 2 s)';
    status.dataset.done = all ? '1' : '0';
    state.timer = setTimeout(poll, POLL_MS);
  }
  poll();
}

function action(l, a, n) {
  const li = h('li', { class: 'action' });
  if (a.link) {
    li.append(h('a', { href: a.link }, a.label));
    return li;
  }
  if (a.command) {
    li.append(a.label, h('pre', {}, h('code', {}, a.command)));
    return li;
  }
  const result = h('span', { class: 'result small muted' });
  if (a.runnable) {
    const btn = h('button', { type: 'button', 'data-action': String(n) }, a.label);
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      result.textContent = 'running…';
      try {
        const r = await api.send('POST', `lessons/${encodeURIComponent(l.id)}/actions/${n}`);
        result.textContent = r.counts ? `answers: ${r.counts}` : `answered ${r.status}`;
        result.dataset.status = String(r.status);
      } catch (e) {
        result.textContent = e.message;
      } finally {
        btn.disabled = false;
      }
    });
    li.append(btn, ' ', result);
  } else {
    li.append(a.label);
  }
  if (a.curl) li.append(h('pre', {}, h('code', {}, a.curl)));
  return li;
}

function exercise(l) {
  const e = l.exercise;
  const input = h('textarea', { id: 'exercise-query', rows: 3, spellcheck: 'false', placeholder: 'your PromQL' });
  const out = h('div', { id: 'exercise-result', 'data-state': 'idle' });
  const btn = h('button', { type: 'button', id: 'exercise-compare' }, 'Compare with the reference');
  btn.addEventListener('click', async () => {
    out.dataset.state = 'loading';
    replace(out, h('span', { class: 'muted' }, 'running both queries…'));
    try {
      const r = await api.send('POST', `lessons/${encodeURIComponent(l.id)}/exercise`, { query: input.value });
      out.dataset.state = r.match ? 'match' : 'differs';
      replace(out, r.match
        ? h('p', { class: 'ok' }, '✓ Same series and values as the reference query.')
        : [h('p', {}, 'Not yet:'), h('ul', {}, r.differences.map((d) => h('li', {}, d)))]);
    } catch (err) {
      out.dataset.state = 'error';
      replace(out, h('p', { class: 'error' }, err.message));
    }
  });
  return h('section', { class: 'exercise' },
    h('h2', {}, 'Exercise'),
    h('p', {}, e.prompt),
    e.hint ? h('p', { class: 'muted small' }, `Hint: ${e.hint}`) : null,
    input, h('p', {}, btn), out,
    h('details', {}, h('summary', {}, 'Reference query'), h('pre', {}, h('code', {}, e.reference))));
}
