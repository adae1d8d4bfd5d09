/**
 * The HTTP surface that needs no Kafka: authentication, authorization, malformed input, unknown routes, the OpenAPI
 * document. The tables are built but never opened (no request here reaches them); everything that reads or writes
 * them is tested against the real Kafka in test/integration/control.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { KafkaAdapter } from '../../shared/adapters/kafka.js';
import { buildApp, REPLICATION_PREFIXES } from './app.js';
import { crossSiteReason } from './csrf.js';
import { createControlState } from '../deps.js';
import { parsePrincipals, sha256Hex } from './principals.js';

const users = parsePrincipals(
  JSON.stringify([
    { name: 'ops', role: 'admin', password_sha256: sha256Hex('ops-password') },
    { name: 'viewer', role: 'read', token_sha256: sha256Hex('viewer-token') },
  ]),
).principals;
const admin = { authorization: `Basic ${Buffer.from('ops:ops-password').toString('base64')}` };
const reader = { authorization: 'Bearer viewer-token' };

let app: FastifyInstance;
beforeAll(async () => {
  // Never connected: the broker address is a closed port, and no request below touches a table.
  const kafka = new KafkaAdapter({ brokers: ['127.0.0.1:1'], clientId: 'unit' });
  app = buildApp(createControlState(kafka, { auth: { mode: 'users', principals: users }, followerCluster: 'follower' }).deps);
  await app.ready();
});
afterAll(async () => {
  await app.close();
});

function errorOf(body: string): { code: string; message: string; retriable: boolean } {
  return (JSON.parse(body) as { error: { code: string; message: string; retriable: boolean } }).error;
}

/** Each refused password costs a real scrypt (tens of milliseconds, two at a time): 20 of them on a busy machine. */
const SCRYPT_TIMEOUT_MS = 30_000;

describe('authentication and roles', () => {
  it(
    'answers 429 to an address after 20 refused credentials in a minute, before checking any more; others go on',
    async () => {
      const wrong = { authorization: `Basic ${Buffer.from('intruder:guess').toString('base64')}` };
      for (let i = 0; i < 20; i++) {
        const r = await app.inject({ method: 'GET', url: '/_kccr/replications', headers: wrong, remoteAddress: '10.9.9.9' });
        expect(r.statusCode).toBe(401);
      }
      const blocked = await app.inject({ method: 'GET', url: '/_kccr/replications', headers: admin, remoteAddress: '10.9.9.9' });
      expect(blocked.statusCode).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      expect(errorOf(blocked.body)).toMatchObject({ code: 'TOO_MANY_FAILED_LOGINS', retriable: true });
      expect(errorOf(blocked.body).message).toMatch(/too many refused credentials from 10\.9\.9\.9.*try again in \d+ s/);
      // Another address, guessing another name: not held up (the name intruder is, from anywhere).
      const elsewhere = await app.inject({
        method: 'GET',
        url: '/_kccr/replications',
        headers: { authorization: `Basic ${Buffer.from('stranger:guess').toString('base64')}` },
        remoteAddress: '10.9.9.10',
      });
      expect(elsewhere.statusCode).toBe(401);
    },
    SCRYPT_TIMEOUT_MS,
  );

  it(
    "limits guesses per user name too: a valid token every few guesses does not reset the password's count",
    async () => {
      const guess = (n: number) => ({ authorization: `Basic ${Buffer.from(`auditor:guess-${n}`).toString('base64')}` });
      let limited = false;
      for (let i = 0; i < 40 && !limited; i++) {
        // From many addresses (one /64, say), with a valid read token in between.
        const r = await app.inject({ method: 'GET', url: '/_kccr/replications', headers: guess(i), remoteAddress: `10.20.0.${i}` });
        limited = r.statusCode === 429;
        if (limited) expect(errorOf(r.body).message).toMatch(/too many refused credentials for the user auditor/);
        if (i % 5 === 0)
          expect((await app.inject({ method: 'GET', url: '/openapi.json', headers: reader, remoteAddress: `10.20.0.${i}` })).statusCode).toBe(200);
      }
      expect(limited).toBe(true);
    },
    SCRYPT_TIMEOUT_MS,
  );

  it(
    'does not hold up bearer tokens from an address that guessed passwords',
    async () => {
      const wrong = { authorization: `Basic ${Buffer.from('someone:guess').toString('base64')}` };
      for (let i = 0; i < 20; i++) await app.inject({ method: 'GET', url: '/_kccr/replications', headers: wrong, remoteAddress: '10.30.0.1' });
      expect((await app.inject({ method: 'GET', url: '/_kccr/replications', headers: wrong, remoteAddress: '10.30.0.1' })).statusCode).toBe(429);
      // Another client behind the same address, with its token.
      const token = await app.inject({ method: 'GET', url: '/_kccr/replications', headers: reader, remoteAddress: '10.30.0.1' });
      expect(token.statusCode).toBe(200);
    },
    SCRYPT_TIMEOUT_MS,
  );

  it('asks for credentials with 401 and WWW-Authenticate', async () => {
    const r = await app.inject({ method: 'GET', url: '/_kccr/replications' });
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/Basic realm="kccr".*Bearer/);
    expect(errorOf(r.body)).toMatchObject({ code: 'UNAUTHENTICATED', retriable: false });
    // A page's script (the status page) gets no Basic challenge: the browser would open its own dialog.
    const fromScript = await app.inject({ method: 'GET', url: '/_kccr/replications', headers: { 'sec-fetch-mode': 'cors' } });
    expect(fromScript.statusCode).toBe(401);
    expect(fromScript.headers['www-authenticate']).toBe('Bearer realm="kccr"');
  });

  it('refuses wrong passwords and unknown tokens alike', async () => {
    for (const authorization of [`Basic ${Buffer.from('ops:wrong').toString('base64')}`, 'Bearer unknown', 'Digest abc']) {
      const r = await app.inject({ method: 'GET', url: '/_kccr/clusters', headers: { authorization } });
      expect(r.statusCode).toBe(401);
      expect(errorOf(r.body).code).toBe('UNAUTHENTICATED');
    }
  });

  it('checks credentials before it reads a body', async () => {
    const r = await app.inject({
      method: 'PUT',
      url: '/_plugins/_replication/f/_start',
      payload: '{not json',
      headers: { 'content-type': 'application/json' },
    });
    expect(r.statusCode).toBe(401);
  });

  it('lets a read-only principal read but not change (403 FORBIDDEN)', async () => {
    const read = await app.inject({ method: 'GET', url: '/_plugins/_replication/autofollow_stats', headers: reader });
    expect(read.statusCode).toBe(200);
    for (const [method, url] of [
      ['PUT', '/_opendistro/_replication/follower-01/_start'],
      ['POST', '/_plugins/_replication/follower-01/_stop'],
      ['POST', '/_plugins/_replication/follower-01/_pause'],
      ['POST', '/_plugins/_replication/follower-01/_resume'],
      ['PUT', '/_plugins/_replication/follower-01/_update'],
      ['PUT', '/_kccr/clusters/x'],
      ['DELETE', '/_kccr/clusters/x'],
    ] as const) {
      const r = await app.inject({ method, url, payload: {}, headers: reader });
      expect(r.statusCode, `${method} ${url}`).toBe(403);
      expect(errorOf(r.body)).toMatchObject({ code: 'FORBIDDEN' });
      expect(errorOf(r.body).message).toMatch(/viewer has the role read/);
    }
  });

  it('serves the OpenAPI document and the health check without credentials', async () => {
    const doc = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(doc.statusCode).toBe(200);
    const paths = Object.keys((JSON.parse(doc.body) as { paths: Record<string, unknown> }).paths);
    for (const prefix of REPLICATION_PREFIXES) {
      for (const route of [
        '{follower_index}/_start',
        '{follower_index}/_stop',
        '{follower_index}/_pause',
        '{follower_index}/_resume',
        '{follower_index}/_update',
        '{follower_index}/_status',
        'leader_stats',
        'follower_stats',
        'autofollow_stats',
      ]) {
        expect(paths).toContain(`${prefix}/${route}`);
      }
    }
    expect(paths).toEqual(expect.arrayContaining(['/_kccr/clusters', '/_kccr/clusters/{name}', '/_kccr/replications']));
    expect((await app.inject({ method: 'GET', url: '/_kccr/health' })).statusCode).toBe(200);
  });
});

describe('malformed input is a 400 that says what was wrong', () => {
  const cases: { name: string; method: 'PUT' | 'POST'; url: string; payload: string; type?: string; message: RegExp }[] = [
    { name: 'bad JSON', method: 'PUT', url: '/_opendistro/_replication/follower-01/_start', payload: '{"remote_cluster":', message: /not valid JSON/ },
    {
      name: 'wrong type',
      method: 'PUT',
      url: '/_opendistro/_replication/follower-01/_start',
      payload: '{"remote_cluster": 5, "remote_index": "leader-01"}',
      message: /remote_cluster must be string, received 5/,
    },
    {
      name: 'unknown field',
      method: 'PUT',
      url: '/_plugins/_replication/follower-01/_start',
      payload: '{"leader_alias": "l", "leader_index": "i", "colour": "red"}',
      message: /unknown field "colour"/,
    },
    {
      name: 'no leader',
      method: 'PUT',
      url: '/_plugins/_replication/follower-01/_start',
      payload: '{"leader_index": "leader-01"}',
      message: /lacks the leader cluster: give leader_alias \(or remote_cluster\)/,
    },
    {
      name: 'spellings disagree',
      method: 'PUT',
      url: '/_plugins/_replication/follower-01/_start',
      payload: '{"leader_alias": "a", "remote_cluster": "b", "leader_index": "i"}',
      message: /disagree/,
    },
    {
      name: 'bad bootstrap',
      method: 'PUT',
      url: '/_plugins/_replication/follower-01/_start',
      payload: '{"leader_alias": "a", "leader_index": "i", "bootstrap": "copy"}',
      message: /bootstrap must be one of snapshot, scan, none/,
    },
    {
      name: 'accept_partial_source not a boolean',
      method: 'PUT',
      url: '/_plugins/_replication/follower-01/_start',
      payload: '{"leader_alias": "a", "leader_index": "i", "accept_partial_source": "yes"}',
      message: /accept_partial_source must be boolean/,
    },
    {
      name: 'bad index name',
      method: 'PUT',
      url: '/_plugins/_replication/Follower-01/_start',
      payload: '{"leader_alias": "a", "leader_index": "i"}',
      message: /follower_index "Follower-01" is not valid: expected an index name/,
    },
    {
      name: 'upper-case letter of another script',
      method: 'PUT',
      url: `/_plugins/_replication/${encodeURIComponent('café-É')}/_start`,
      payload: '{"leader_alias": "a", "leader_index": "i"}',
      message: /follower_index "café-É" is not valid: expected an index name/,
    },
    {
      name: 'bad leader index name',
      method: 'PUT',
      url: '/_plugins/_replication/f/_start',
      payload: '{"leader_alias": "a", "leader_index": "a*"}',
      message: /leader_index "a\*" is not valid/,
    },
    {
      name: 'bad cluster name',
      method: 'PUT',
      url: '/_plugins/_replication/f/_start',
      payload: '{"leader_alias": "Leader Cluster", "leader_index": "i"}',
      message: /leader_alias "Leader Cluster" is not valid: expected a cluster name/,
    },
    { name: 'body on stop', method: 'POST', url: '/_plugins/_replication/f/_stop', payload: '{"force": true}', message: /unknown field "force"/ },
    { name: 'array body', method: 'POST', url: '/_plugins/_replication/f/_pause', payload: '[]', message: /the body must be object/ },
    {
      name: 'unknown query parameter',
      method: 'POST',
      url: '/_plugins/_replication/f/_resume?force=true',
      payload: '{}',
      message: /unknown query parameter "force"/,
    },
    { name: 'proto key', method: 'PUT', url: '/_plugins/_replication/f/_update', payload: '{"settings": {"__proto__": {"x": 1}}}', message: /__proto__/ },
    { name: 'update without settings', method: 'PUT', url: '/_plugins/_replication/f/_update', payload: '{}', message: /lacks the required field "settings"/ },
    { name: 'cluster url', method: 'PUT', url: '/_kccr/clusters/leader', payload: '{"url": "ftp://x"}', message: /url "ftp:\/\/x" is not valid/ },
    {
      name: 'inline password',
      method: 'PUT',
      url: '/_kccr/clusters/leader',
      payload: '{"url": "http://127.0.0.1:9200", "username": "u", "password": "secret"}',
      message: /unknown field "password"/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await app.inject({ method: c.method, url: c.url, payload: c.payload, headers: { ...admin, 'content-type': c.type ?? 'application/json' } });
      expect(r.statusCode, r.body).toBe(400);
      const e = errorOf(r.body);
      expect(e.code).toBe('BAD_REQUEST');
      expect(e.message).toMatch(c.message);
      expect(r.body).not.toContain('secret');
    });
  }

  it('refuses bodies that are not application/json with 415 (a form cannot send JSON), naming what to send', async () => {
    for (const type of ['application/xml', 'application/x-www-form-urlencoded', 'text/plain']) {
      const r = await app.inject({
        method: 'POST',
        url: '/_plugins/_replication/f/_offsets',
        payload: '{"to":"latest"}',
        headers: { ...admin, 'content-type': type },
      });
      expect(r.statusCode, type).toBe(415);
      expect(errorOf(r.body)).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
      expect(errorOf(r.body).message).toMatch(/is not supported; send JSON with Content-Type: application\/json/);
    }
  });

  it('answers unknown routes and prefixes with 404 NOT_FOUND', async () => {
    const r = await app.inject({ method: 'PUT', url: '/_replication/follower-01/_start', payload: {}, headers: admin });
    expect(r.statusCode).toBe(404);
    expect(errorOf(r.body)).toMatchObject({ code: 'NOT_FOUND' });
    expect(errorOf(r.body).message).toMatch(/_plugins\/_replication/);
  });

  it('indents the answer with ?pretty', async () => {
    const r = await app.inject({
      method: 'PUT',
      url: '/_opendistro/_replication/follower-01/_start?pretty',
      payload: '{',
      headers: { ...admin, 'content-type': 'application/json' },
    });
    expect(r.body).toMatch(/^\{\n {2}"error": \{\n/);
  });
});

describe('cross-site requests', () => {
  // What a browser sends when a page of another site submits a form (or a no-cors fetch) to the control service,
  // with the Basic credentials it cached from an earlier visit.
  const crossSite = { ...admin, origin: 'http://attacker.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', host: 'kccr.example:8090' };

  it('refuses a change asked by another site, with valid credentials, before touching anything', async () => {
    const offsets = await app.inject({
      method: 'POST',
      url: '/_plugins/_replication/follower-01/_offsets',
      payload: '{"to":"latest"}',
      headers: { ...crossSite, 'content-type': 'application/json' },
    });
    expect(offsets.statusCode).toBe(403);
    expect(errorOf(offsets.body)).toMatchObject({ code: 'FORBIDDEN' });
    expect(errorOf(offsets.body).message).toMatch(/another site's page is refused \(Sec-Fetch-Site: cross-site\)/);
    // An empty form POST to _stop, as a hidden form sends it.
    const stop = await app.inject({
      method: 'POST',
      url: '/_plugins/_replication/follower-01/_stop',
      payload: '',
      headers: { ...crossSite, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(stop.statusCode).toBe(403);
    // An older browser that sends only Origin.
    const { 'sec-fetch-site': _site, 'sec-fetch-mode': _mode, ...originOnly } = crossSite;
    const pause = await app.inject({ method: 'POST', url: '/_plugins/_replication/follower-01/_pause', headers: originOnly });
    expect(pause.statusCode).toBe(403);
    expect(errorOf(pause.body).message).toMatch(/Origin: http:\/\/attacker\.example/);
  });

  it('lets reads through, and changes from the same origin or from programs that send no origin', async () => {
    const read = await app.inject({ method: 'GET', url: '/openapi.json', headers: crossSite });
    expect(read.statusCode).toBe(200);
    expect(crossSiteReason('POST', { origin: 'https://kccr.example:8090', host: 'kccr.example:8090', 'sec-fetch-site': 'same-origin' })).toBeUndefined();
    expect(crossSiteReason('POST', { host: 'kccr.example:8090' })).toBeUndefined();
    expect(crossSiteReason('PUT', { origin: 'null', host: 'kccr.example:8090' })).toBe('Origin: null');
    expect(crossSiteReason('DELETE', { 'sec-fetch-site': 'same-site' })).toBe('Sec-Fetch-Site: same-site');
  });
});
