// CloudCart's shopper journeys for k6 (https://k6.io), the same ones
// `cloudcart load` runs: browse, search, order, order-cancel, account, on an
// open-model arrival rate (the constant-arrival-rate executor: iterations
// start on the clock, however slow the answers; one that finds no free VU
// is dropped and counted in dropped_iterations).
//
//   k6 run deploy/k6/cloudcart.js                                   # 10 journeys/s for 1m on localhost:8080
//   k6 run -e BASE_URL=http://gw:8080 -e RATE=50 -e DURATION=5m deploy/k6/cloudcart.js
//
// Environment (all optional):
//   BASE_URL    the API gateway              (http://localhost:8080)
//   RATE        journeys started per second  (10)
//   DURATION    how long they start          (1m)
//   USERS       simulated users, registered and logged in once in setup() (10)
//   THINK_TIME  mean pause between steps, seconds, exponential, at most 5x (1)
//   JOURNEYS    weights, e.g. "browse=4,order=1" (browse=40,search=20,order=20,order-cancel=5,account=15)
//   MAX_VUS     most journeys in flight      (RATE x 30, at least 64)
//   SEED        seed of each VU's Math.random, plus the VU number (1)
//
// Errors are counted as `cloudcart load` counts them: a 5xx or no answer
// fails a request (http_req_failed); 402 (payment declined), 409 (an order
// that lost the race for stock, a cancellation after shipping) and 429 are
// outcomes, counted in the checks. The thresholds fail the run above 1%
// errors. docs/load.md compares the two tools.

import http from 'k6/http';
import { check, sleep, randomSeed } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

const BASE_URL = (__ENV.BASE_URL || 'http://localhost:8080').replace(/\/+$/, '');
const RATE = Number(__ENV.RATE || 10);
const DURATION = __ENV.DURATION || '1m';
const USERS = Number(__ENV.USERS || 10);
const THINK_TIME = Number(__ENV.THINK_TIME || 1);
const MAX_VUS = Number(__ENV.MAX_VUS || Math.max(64, Math.ceil(RATE * 30)));
const SEED = Number(__ENV.SEED || 1);
const PASSWORD = 'cloudcart load generator'; // the same as `cloudcart load`'s users
const STOCK_RESERVE = 5; // stock left above the low-stock threshold after an order
const CATEGORIES = ['books', 'electronics', 'garden', 'grocery', 'home', 'kitchen', 'outdoors', 'sports', 'toys', 'clothing'];
const SEARCH_TERMS = [
  'atlas', 'cookbook', 'handbook', 'wireless', 'speaker', 'keyboard', 'planter', 'hose',
  'organic', 'coffee', 'honey', 'tea', 'linen', 'lamp', 'candle', 'skillet', 'knife', 'kettle',
  'tent', 'backpack', 'headlamp', 'racket', 'gloves', 'mat', 'wooden', 'puzzle', 'robot', 'kite',
  'merino', 'jacket', 'scarf', 'socks', 'unicorn', 'teleporter',
];

if (!(RATE > 0) || !(USERS > 0) || !(THINK_TIME >= 0)) {
  throw new Error(`RATE and USERS must be positive and THINK_TIME not negative, got ${RATE}, ${USERS}, ${THINK_TIME}`);
}

function parseMix(s) {
  const known = ['browse', 'search', 'order', 'order-cancel', 'account'];
  const mix = [];
  let total = 0;
  for (const part of s.split(',').map((p) => p.trim()).filter((p) => p)) {
    const [name, w] = part.split('=');
    const weight = Number(w);
    if (!known.includes(name) || !(weight >= 0)) {
      throw new Error(`JOURNEYS: ${part} is not NAME=WEIGHT with NAME one of ${known.join(', ')}`);
    }
    if (weight > 0) {
      total += weight;
      mix.push([name, total]);
    }
  }
  if (total === 0) {
    throw new Error('JOURNEYS: at least one journey needs a positive weight');
  }
  return mix;
}
const MIX = parseMix(__ENV.JOURNEYS || 'browse=40,search=20,order=20,order-cancel=5,account=15');

export const options = {
  scenarios: {
    shoppers: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: Math.min(MAX_VUS, Math.ceil(RATE * 5) + 1),
      maxVUs: MAX_VUS,
      gracefulStop: '10s',
    },
  },
  setupTimeout: '5m', // USERS logins; bcrypt makes each one slow on purpose
  thresholds: {
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'p(50)', 'p(95)', 'p(99)', 'max'],
};

// A 5xx or no answer is an error; every 4xx is an answer the journeys
// judge for themselves.
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));

const declined = new Counter('cloudcart_orders_declined');
const conflicts = new Counter('cloudcart_conflicts');
const skipped = new Counter('cloudcart_orders_skipped');
const placed = new Counter('cloudcart_orders_placed');

randomSeed(SEED * 1000 + __VU);

function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

function think(limit) {
  if (THINK_TIME <= 0) return;
  let s = Math.min(-Math.log(1 - Math.random()), 5) * THINK_TIME;
  if (limit > 0) s = Math.min(s, limit);
  sleep(s);
}

function email(i) {
  return `k6-user-${String(i + 1).padStart(3, '0')}@example.com`;
}

function json(method, path, body, token, extra) {
  const params = { headers: { 'Content-Type': 'application/json' }, tags: { name: `${method} ${extra.name}` } };
  if (token) params.headers.Authorization = `Bearer ${token}`;
  if (extra.key) params.headers['Idempotency-Key'] = extra.key;
  return http.request(method, BASE_URL + path, body === null ? null : JSON.stringify(body), params);
}

function login(i) {
  const res = json('POST', '/api/auth/login', { email: email(i), password: PASSWORD }, null, { name: '/api/auth/login' });
  check(res, { 'login 200': (r) => r.status === 200 });
  return res.status === 200 ? res.json('access_token') : '';
}

// setup registers (202 whether or not an earlier run did) and logs in every user once;
// the VUs share the tokens.
export function setup() {
  const tokens = [];
  for (let i = 0; i < USERS; i++) {
    const res = json('POST', '/api/auth/register', { email: email(i), name: 'Load Tester', password: PASSWORD }, null,
      { name: '/api/auth/register' });
    check(res, { 'register 202': (r) => r.status === 202 });
    tokens.push(login(i));
  }
  return { tokens, nonce: `${Date.now().toString(36)}` };
}

// A VU's own copy of the tokens, refreshed when one is refused.
let myTokens = null;

// authed sends a request with user i's token; a 401 logs in again once.
function authed(data, i, method, path, body, extra) {
  if (myTokens === null) myTokens = data.tokens.slice();
  let res = json(method, path, body, myTokens[i], extra);
  if (res.status === 401) {
    myTokens[i] = login(i);
    res = json(method, path, body, myTokens[i], extra);
  }
  return res;
}

function ok(res, what, ...statuses) {
  const want = statuses.length ? statuses : [200];
  return check(res, { [`${what} ${want.join(' or ')}`]: (r) => want.includes(r.status) });
}

function browse() {
  const cats = http.get(`${BASE_URL}/api/categories`, { tags: { name: 'GET /api/categories' } });
  if (!ok(cats, 'categories')) return;
  const cat = pick(cats.json('categories'));
  think();
  const offset = Math.random() < 0.25 ? 20 : 0;
  const page = http.get(`${BASE_URL}/api/products?category=${encodeURIComponent(cat)}&limit=20&offset=${offset}`,
    { tags: { name: 'GET /api/products' } });
  if (!ok(page, 'products')) return;
  const products = page.json('products');
  const views = 1 + Math.floor(Math.random() * 3);
  for (let v = 0; v < views && products.length > 0; v++) {
    think();
    ok(http.get(`${BASE_URL}/api/products/${encodeURIComponent(pick(products).sku)}`, { tags: { name: 'GET /api/products/{sku}' } }), 'product');
  }
}

function search() {
  const res = http.get(`${BASE_URL}/api/products/search?limit=10&q=${encodeURIComponent(pick(SEARCH_TERMS))}`,
    { tags: { name: 'GET /api/products/search' } });
  if (!ok(res, 'search')) return;
  const products = res.json('products');
  if (products.length === 0) return;
  think();
  ok(http.get(`${BASE_URL}/api/products/${encodeURIComponent(pick(products).sku)}`, { tags: { name: 'GET /api/products/{sku}' } }), 'product');
}

function spare(p, qty) {
  return p.stock - qty >= p.low_stock_threshold + STOCK_RESERVE;
}

function order(data, cancel) {
  const user = Math.floor(Math.random() * USERS);
  const cat = pick(CATEGORIES);
  const r = Math.random();
  const qty = r < 0.7 ? 1 : r < 0.9 ? 2 : 3;
  const page = http.get(`${BASE_URL}/api/products?limit=30&category=${encodeURIComponent(cat)}`, { tags: { name: 'GET /api/products' } });
  if (!ok(page, 'products')) return;
  // Only products with stock to spare: an order refused for stock counts as
  // a failed order, and one that sinks stock below the threshold as LowStock.
  const candidates = page.json('products').filter((p) => spare(p, qty));
  if (candidates.length === 0) {
    skipped.add(1);
    return;
  }
  think();
  const view = http.get(`${BASE_URL}/api/products/${encodeURIComponent(pick(candidates).sku)}`, { tags: { name: 'GET /api/products/{sku}' } });
  if (!ok(view, 'product')) return;
  const product = view.json();
  if (!spare(product, qty)) {
    skipped.add(1);
    return;
  }
  think();
  const key = `k6-${data.nonce}-${exec.scenario.iterationInTest}`;
  const body = { customer: email(user), items: [{ sku: product.sku, qty }] };
  let res = authed(data, user, 'POST', '/api/orders', body, { name: '/api/orders', key });
  if (res.status === 0 || res.status === 502 || res.status === 503 || res.status === 504) {
    sleep(0.5); // the same Idempotency-Key: the order service answers with the first attempt's outcome
    res = authed(data, user, 'POST', '/api/orders', body, { name: '/api/orders', key });
  }
  ok(res, 'order', 201, 402, 409);
  if (res.status === 402) declined.add(1);
  if (res.status === 409) conflicts.add(1);
  if (res.status !== 201) return;
  placed.add(1);
  const id = res.json('id');
  think();
  ok(authed(data, user, 'GET', `/api/orders/${encodeURIComponent(id)}`, null, { name: '/api/orders/{id}' }), 'order status');
  if (!cancel) return;
  think(1); // before it ships (5 s)
  const c = authed(data, user, 'POST', `/api/orders/${encodeURIComponent(id)}/cancel`, null, { name: '/api/orders/{id}/cancel' });
  ok(c, 'cancel', 200, 409);
  if (c.status === 409) conflicts.add(1);
}

function account(data) {
  const user = Math.floor(Math.random() * USERS);
  if (!ok(authed(data, user, 'GET', '/api/users/me', null, { name: '/api/users/me' }), 'profile')) return;
  think();
  ok(authed(data, user, 'GET', `/api/orders?limit=10&customer=${encodeURIComponent(email(user))}`, null, { name: '/api/orders' }), 'orders');
}

export default function (data) {
  const x = Math.random() * MIX[MIX.length - 1][1];
  const journey = MIX.find(([, cum]) => x < cum)[0];
  switch (journey) {
    case 'browse': return browse();
    case 'search': return search();
    case 'order': return order(data, false);
    case 'order-cancel': return order(data, true);
    case 'account': return account(data);
  }
}
