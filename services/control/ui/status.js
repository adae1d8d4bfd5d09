// The status page of the control service (GET /_kccr/ui): plain browser JavaScript, no build step. It reads the
// same API as the CLI, with the credential the person gives (kept in this tab's sessionStorage only), and
// renders every replication, its per-shard lag, its last hour as a chart, and the auto-follow rules, every 2 s.
'use strict';

const REFRESH_MS = 2000;
const AUTH_KEY = 'kccr-authorization';

const $ = (id) => document.getElementById(id);

/** Elements built with text content only: nothing the API returns is ever parsed as HTML. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? '–' : String(c)));
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

class Unauthorized extends Error {}

async function api(path) {
  const authorization = sessionStorage.getItem(AUTH_KEY);
  const r = await fetch(path, { headers: authorization ? { authorization } : {}, cache: 'no-store' });
  if (r.status === 401) throw new Unauthorized('the control service did not accept these credentials');
  const body = await r.json().catch(() => undefined);
  if (!r.ok) throw new Error(body?.error?.message ?? `${path} answered ${r.status}`);
  return body;
}

function number(v, digits = 0) {
  if (v === null || v === undefined) return '–';
  return Number(v).toLocaleString(undefined, { maximumFractionDigits: digits });
}

/**
 * Throughput over the last hour (or since the control service started, when that is shorter) as a polyline: x is
 * time, y operations per second, the highest point on top; a caption gives the span and the highest rate.
 */
function chart(points) {
  const rates = points.filter((p) => p.per_second !== null);
  const max = Math.max(1, ...rates.map((p) => p.per_second));
  const box = svg('svg', { class: 'chart', viewBox: '0 0 360 100', preserveAspectRatio: 'none', 'data-points': rates.length, role: 'img' });
  const figure = el('figure', { class: 'throughput-chart' }, box);
  if (rates.length === 0) {
    figure.append(el('figcaption', {}, 'operations/s: no samples yet'));
    return figure;
  }
  const t1 = Date.parse(points[points.length - 1].at);
  const t0 = Math.max(t1 - 3600_000, Date.parse(points[0].at));
  const span = Math.max(1, t1 - t0);
  const xy = rates.map((p) => `${(((Date.parse(p.at) - t0) / span) * 360).toFixed(1)},${(100 - (p.per_second / max) * 95).toFixed(1)}`);
  box.append(svg('polyline', { points: xy.join(' ') }));
  const minutes = Math.max(1, Math.round(span / 60_000));
  const caption = `operations/s over the last ${minutes} min, up to ${number(max, 1)}`;
  box.setAttribute('aria-label', caption);
  figure.append(el('figcaption', {}, caption));
  return figure;
}

function shardsTable(shards) {
  const head = el(
    'tr',
    {},
    ...['shard', 'leader checkpoint', 'follower checkpoint', 'lag (ops)', 'lag (s)', 'applied', 'dead-lettered'].map((h) => el('th', {}, h)),
  );
  const rows = shards.map((s) =>
    el(
      'tr',
      { 'data-shard': s.shard },
      el('td', {}, s.shard),
      el('td', {}, number(s.leader_checkpoint)),
      el('td', {}, number(s.follower_checkpoint)),
      el('td', { class: 'lag-operations' }, number(s.lag_operations)),
      el('td', { class: 'lag-seconds' }, number(s.lag_seconds, 1)),
      el('td', {}, number(s.applied)),
      el('td', {}, number(s.dead_lettered)),
    ),
  );
  return el('div', { class: 'scroll' }, el('table', { class: 'shards' }, el('thead', {}, head), el('tbody', {}, ...rows)));
}

function replicationCard(item, status, history) {
  const points = history?.points ?? [];
  const last = [...points].reverse().find((p) => p.per_second !== null);
  const deadLettered = (status?.shards ?? []).reduce((n, s) => n + (s.dead_lettered ?? 0), 0);
  const card = el(
    'article',
    { class: 'replication', 'data-follower-index': item.follower_index, 'data-status': item.status },
    el(
      'h2',
      {},
      el('span', {}, `${item.follower_index} ← ${item.leader_cluster}:${item.leader_index}`),
      el('span', { class: 'status', 'data-status': item.status }, item.status),
    ),
    el(
      'div',
      { class: 'figures' },
      el('div', {}, el('b', { class: 'lag-operations' }, number(item.lag_operations)), 'lag, operations'),
      el('div', {}, el('b', { class: 'lag-seconds' }, number(item.lag_seconds, 1)), 'lag, seconds'),
      el('div', {}, el('b', { class: 'throughput' }, number(last?.per_second, 1)), 'operations/s now'),
      el('div', {}, el('b', { class: 'dead-lettered' }, number(deadLettered)), 'dead-lettered'),
      el('div', {}, el('b', {}, item.follower_cluster), 'follower cluster'),
    ),
  );
  const reason = status?.reason ?? item.reason;
  if (reason) card.append(el('p', { class: 'reason' }, reason));
  if (status?.retrying)
    card.append(
      el(
        'p',
        { class: 'reason' },
        `retrying (${status.retrying.side}, ${status.retrying.attempts} attempts since ${status.retrying.since}): ${status.retrying.reason}`,
      ),
    );
  card.append(chart(points));
  const dead = status?.recent_dead_letters ?? [];
  if (dead.length) {
    const rows = [...dead].reverse().map((d) => el('li', {}, `${d.at} shard ${d.shard} offset ${d.offset}: ${d.id} (${d.stage}): ${d.reason}`));
    card.append(el('details', { class: 'dead-letters' }, el('summary', {}, `Latest dead letters (${dead.length})`), el('ul', {}, ...rows)));
  }
  if (status?.shards?.length) card.append(shardsTable(status.shards));
  return card;
}

function autofollowSection(stats) {
  const rules = stats?.autofollow_stats ?? [];
  if (rules.length === 0) return [];
  const head = el('tr', {}, ...['rule', 'pattern', 'indices followed', 'failed', 'last error'].map((h) => el('th', {}, h)));
  const rows = rules.map((r) =>
    el(
      'tr',
      {},
      el('td', {}, r.name),
      el('td', {}, r.pattern),
      el('td', {}, number(r.num_success_start_replication)),
      el('td', {}, number(r.num_failed_start_replication)),
      el('td', {}, r.failures?.[0]?.reason ?? ''),
    ),
  );
  return [el('h2', {}, 'Auto-follow rules'), el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)))];
}

async function refresh() {
  const [list, history, autofollow] = await Promise.all([api('/_kccr/replications'), api('/_kccr/history'), api('/_plugins/_replication/autofollow_stats')]);
  const items = list.replications.filter((r) => r.state !== 'stopped');
  const statuses = await Promise.all(
    items.map((r) =>
      api(`/_plugins/_replication/${encodeURIComponent(r.follower_index)}/_status?follower_cluster=${encodeURIComponent(r.follower_cluster)}`).catch(
        () => undefined,
      ),
    ),
  );
  const historyOf = (r) => history.replications.find((h) => h.follower_index === r.follower_index && h.follower_cluster === r.follower_cluster);
  $('replications').replaceChildren(
    ...(items.length ? items.map((r, i) => replicationCard(r, statuses[i], historyOf(r))) : [el('p', {}, 'No replication is active.')]),
  );
  $('autofollow').replaceChildren(...autofollowSection(autofollow));
  const counts = {};
  for (const r of items) counts[r.status] = (counts[r.status] ?? 0) + 1;
  $('summary').textContent = Object.entries(counts)
    .map(([s, n]) => `${n} ${s}`)
    .join(' · ');
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  $('error').hidden = true;
}

let timer;

async function tick() {
  try {
    await refresh();
  } catch (e) {
    if (e instanceof Unauthorized) {
      sessionStorage.removeItem(AUTH_KEY);
      showLogin(e.message);
      return;
    }
    // The page keeps what it showed, marked as not current, and tries again.
    $('error').textContent = `Not current: ${e.message}. Trying again…`;
    $('error').hidden = false;
  }
  timer = setTimeout(tick, REFRESH_MS);
}

function showLogin(message) {
  clearTimeout(timer);
  $('login').hidden = false;
  $('logout').hidden = true;
  $('replications').replaceChildren();
  $('autofollow').replaceChildren();
  if (message) {
    $('error').textContent = message;
    $('error').hidden = false;
  }
}

function start() {
  $('login').hidden = true;
  $('logout').hidden = false;
  void tick();
}

document.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token').value.trim();
    const user = $('user').value.trim();
    const authorization = token ? `Bearer ${token}` : `Basic ${btoa(unescape(encodeURIComponent(`${user}:${$('password').value}`)))}`;
    sessionStorage.setItem(AUTH_KEY, authorization);
    $('password').value = '';
    $('token').value = '';
    start();
  });
  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem(AUTH_KEY);
    showLogin();
  });
  if (sessionStorage.getItem(AUTH_KEY)) start();
  else showLogin();
});
