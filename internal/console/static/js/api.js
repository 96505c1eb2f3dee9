// Calls to the Prometheus HTTP API (same origin, /api/v1) and to the
// console's own server side (/console/api). Every function resolves or
// rejects with an Error whose message says what went wrong; callers show
// it on the page.

import { setSeriesColors } from './format.js';

async function request(url, init) {
  let resp;
  try {
    resp = await fetch(url, { cache: 'no-store', ...init });
  } catch (e) {
    throw new Error(`cannot reach the console server (${e.message})`);
  }
  let body = null;
  const text = await resp.text();
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    throw new Error(`${resp.status} ${resp.statusText}: not JSON`);
  }
  if (!resp.ok || (body && body.status === 'error')) {
    const msg = (body && (body.error?.message || body.error)) || resp.statusText;
    const err = new Error(`${resp.status}: ${msg}`);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function post(url, params) {
  return request(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: params.toString(),
  });
}

// instant runs an instant query; the answer is {resultType, result}.
export async function instant(expr, time) {
  const p = new URLSearchParams({ query: expr });
  if (time) p.set('time', String(time));
  return (await post('/api/v1/query', p)).data;
}

// range runs a range query over [start, end] (seconds) with step seconds.
export async function range(expr, start, end, step) {
  const p = new URLSearchParams({ query: expr, start: String(start), end: String(end), step: String(step) });
  return (await post('/api/v1/query_range', p)).data;
}

export async function alerts() {
  return (await request('/api/v1/alerts')).data.alerts;
}

export async function labelValues(label, match, start, end) {
  const p = new URLSearchParams();
  if (match) p.append('match[]', match);
  if (start) p.set('start', String(start));
  if (end) p.set('end', String(end));
  return (await request(`/api/v1/label/${encodeURIComponent(label)}/values?${p}`)).data;
}

// get and send call the console's server side. Writes carry the header
// the server requires of them (it refuses cross-site requests).
export function get(path) {
  return request(`/console/api/${path}`);
}

export function send(method, path, body) {
  const init = { method, headers: { 'X-CloudCart-Console': '1' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return request(`/console/api/${path}`, init);
}

let configPromise;

// config is the console's configuration, loaded once.
export function config() {
  if (!configPromise) {
    configPromise = get('config').then((c) => {
      setSeriesColors(c.series_colors);
      return c;
    }).catch((e) => {
      configPromise = undefined;
      throw e;
    });
  }
  return configPromise;
}

// targets is the engine's scrape targets: {activeTargets, droppedTargets}.
export async function targets() {
  return (await request('/api/v1/targets?state=active')).data;
}

// rules is the engine's rule groups, with each rule's health and state.
export async function rules(type) {
  return (await request(`/api/v1/rules${type ? `?type=${encodeURIComponent(type)}` : ''}`)).data.groups;
}
