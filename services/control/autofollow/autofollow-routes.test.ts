/**
 * The auto-follow routes' refusals that need no Kafka (the tables are built, never opened): malformed bodies,
 * invalid patterns and names, unregistered clusters, roles, and both prefixes in the OpenAPI document. Rules that
 * are stored and acted on are tested in test/integration/autofollow.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { KafkaAdapter } from '../../shared/adapters/kafka.js';
import { buildApp, REPLICATION_PREFIXES } from '../http/app.js';
import { createControlState } from '../deps.js';
import { parsePrincipals, sha256Hex } from '../http/principals.js';

const users = parsePrincipals(
  JSON.stringify([
    { name: 'ops', role: 'admin', password_sha256: sha256Hex('ops-password') },
    { name: 'viewer', role: 'read', token_sha256: sha256Hex('viewer-token') },
  ]),
).principals;
const admin = { authorization: `Basic ${Buffer.from('ops:ops-password').toString('base64')}`, 'content-type': 'application/json' };
const reader = { authorization: 'Bearer viewer-token', 'content-type': 'application/json' };

let app: FastifyInstance;
beforeAll(async () => {
  const kafka = new KafkaAdapter({ brokers: ['127.0.0.1:1'], clientId: 'unit' });
  app = buildApp(createControlState(kafka, { auth: { mode: 'users', principals: users }, followerCluster: 'follower', env: {} }).deps);
  await app.ready();
});
afterAll(async () => {
  await app.close();
});

async function send(method: 'POST' | 'DELETE' | 'GET', body: unknown, url = '/_plugins/_replication/_autofollow', headers = admin) {
  const r = await app.inject({ method, url, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
  return { status: r.statusCode, error: (JSON.parse(r.body) as { error?: { code: string; message: string } }).error };
}

describe('auto-follow routes', () => {
  it('are served under both prefixes and described in the OpenAPI document', async () => {
    const doc = JSON.parse((await app.inject({ method: 'GET', url: '/openapi.json' })).body) as { paths: Record<string, Record<string, unknown>> };
    for (const prefix of REPLICATION_PREFIXES) expect(Object.keys(doc.paths[`${prefix}/_autofollow`] ?? {}).sort()).toEqual(['delete', 'get', 'post']);
  });

  const bad: { name: string; method: 'POST' | 'DELETE'; body: unknown; message: RegExp }[] = [
    { name: 'no leader', method: 'POST', body: { name: 'r', pattern: 'logs-*' }, message: /lacks the leader cluster: give leader_alias \(or connection\)/ },
    { name: 'spellings disagree', method: 'POST', body: { leader_alias: 'a', connection: 'b', name: 'r', pattern: 'logs-*' }, message: /disagree/ },
    { name: 'no pattern', method: 'POST', body: { leader_alias: 'a', name: 'r' }, message: /lacks the required field "pattern"/ },
    { name: 'no name', method: 'POST', body: { leader_alias: 'a', pattern: 'logs-*' }, message: /lacks the required field "name"/ },
    {
      name: 'bad name',
      method: 'POST',
      body: { leader_alias: 'a', name: 'my rule/1', pattern: 'logs-*' },
      message: /name "my rule\/1" is not valid: expected a rule name/,
    },
    { name: 'bad pattern', method: 'POST', body: { leader_alias: 'a', name: 'r', pattern: 'Logs-*' }, message: /"Logs-\*" is not an index pattern/ },
    { name: 'empty pattern element', method: 'POST', body: { leader_alias: 'a', name: 'r', pattern: 'logs-*,' }, message: /empty element/ },
    { name: 'exclusion in pattern', method: 'POST', body: { leader_alias: 'a', name: 'r', pattern: 'logs-*,-logs-old*' }, message: /exclude_patterns/ },
    {
      name: 'exclude not a list',
      method: 'POST',
      body: { leader_alias: 'a', name: 'r', pattern: 'logs-*', exclude_patterns: 'logs-old*' },
      message: /exclude_patterns must be array/,
    },
    { name: 'bad exclude', method: 'POST', body: { leader_alias: 'a', name: 'r', pattern: 'logs-*', exclude_patterns: ['a,b'] }, message: /holds a comma/ },
    {
      name: 'follower pattern without placeholder',
      method: 'POST',
      body: { leader_alias: 'a', name: 'r', pattern: 'logs-*', follower_index_pattern: 'copy' },
      message: /lacks \{\{leader_index\}\}/,
    },
    {
      name: 'follower pattern invalid',
      method: 'POST',
      body: { leader_alias: 'a', name: 'r', pattern: 'logs-*', follower_index_pattern: '{{leader_index}}-COPY' },
      message: /does not make valid index names/,
    },
    {
      name: 'accept_partial_source not a boolean',
      method: 'POST',
      body: { leader_alias: 'a', name: 'r', pattern: 'logs-*', accept_partial_source: 1 },
      message: /accept_partial_source must be boolean/,
    },
    {
      name: 'shard count',
      method: 'POST',
      body: { leader_alias: 'a', name: 'r', pattern: 'logs-*', settings: { index: { number_of_shards: 3 } } },
      message: /shard count/,
    },
    {
      name: 'unknown field',
      method: 'POST',
      body: { leader_alias: 'a', name: 'r', pattern: 'logs-*', leader_index_patterns: ['x'] },
      message: /unknown field "leader_index_patterns"/,
    },
    {
      name: 'several leaders without {{leader_cluster}}',
      method: 'POST',
      body: { leader_clusters: ['east', 'west'], name: 'r', pattern: 'orders-*', follower_index_pattern: '{{leader_index}}' },
      message: /lacks \{\{leader_cluster\}\}; the rule covers several leader clusters, and without it two leader clusters' indices of the same name/,
    },
    {
      name: 'every leader without {{leader_cluster}}',
      method: 'POST',
      body: { leader_clusters: '*', name: 'r', pattern: 'orders-*', follower_index_pattern: 'all-{{leader_index}}' },
      message: /lacks \{\{leader_cluster\}\}/,
    },
    {
      name: 'leader_alias and leader_clusters both',
      method: 'POST',
      body: { leader_alias: 'east', leader_clusters: ['east', 'west'], name: 'r', pattern: 'orders-*' },
      message: /leader_alias \(or connection\) for a rule of one, or leader_clusters for a rule over several, not both/,
    },
    { name: 'leader_clusters not "*"', method: 'POST', body: { leader_clusters: 'all', name: 'r', pattern: 'orders-*' }, message: /leader_clusters/ },
    { name: 'leader_clusters repeated', method: 'POST', body: { leader_clusters: ['a', 'a'], name: 'r', pattern: 'orders-*' }, message: /leader_clusters/ },
    {
      name: 'an alias with a placeholder',
      method: 'POST',
      body: { leader_clusters: '*', name: 'r', pattern: 'orders-*', follower_alias: '{{leader_cluster}}-all' },
      message: /follower_alias "\{\{leader_cluster\}\}-all" is not an alias name/,
    },
    { name: 'delete without name', method: 'DELETE', body: { leader_alias: 'a' }, message: /lacks the required field "name"/ },
    { name: 'delete with a pattern', method: 'DELETE', body: { leader_alias: 'a', name: 'r', pattern: 'x' }, message: /unknown field "pattern"/ },
  ];
  for (const c of bad) {
    it(`answers 400 for ${c.name}`, async () => {
      const r = await send(c.method, c.body);
      expect(r.status, JSON.stringify(r.error)).toBe(400);
      expect(r.error?.code).toBe('BAD_REQUEST');
      expect(r.error?.message).toMatch(c.message);
    });
  }

  it('answers 404 for clusters that are not registered and rules that do not exist', async () => {
    const post = await send('POST', { leader_alias: 'nowhere', name: 'r', pattern: 'logs-*' }, '/_opendistro/_replication/_autofollow');
    expect(post.status).toBe(404);
    expect(post.error?.message).toMatch(/leader cluster nowhere is not registered/);
    const del = await send('DELETE', { connection: 'nowhere', name: 'r' });
    expect(del.status).toBe(404);
    expect(del.error?.message).toMatch(/no auto-follow rule r for leader cluster nowhere on follower cluster follower/);
  });

  it('names every leader cluster of a rule over several that is not registered, and the rule over several on delete', async () => {
    const post = await send('POST', { leader_clusters: ['east', 'west'], name: 'r', pattern: 'orders-*', follower_alias: 'orders-all' });
    expect(post.status).toBe(404);
    expect(post.error?.message).toMatch(/leader cluster east is not registered/);
    const del = await send('DELETE', { leader_clusters: '*', name: 'r' });
    expect(del.status).toBe(404);
    expect(del.error?.message).toMatch(/no auto-follow rule r for leader cluster \* on follower cluster follower/);
  });

  it('lets a read-only principal list rules and stats but not change them (403)', async () => {
    expect((await app.inject({ method: 'GET', url: '/_plugins/_replication/_autofollow', headers: reader })).statusCode).toBe(200);
    const stats = await app.inject({ method: 'GET', url: '/_opendistro/_replication/autofollow_stats', headers: reader });
    expect(JSON.parse(stats.body)).toEqual({
      num_success_start_replication: 0,
      num_failed_start_replication: 0,
      num_failed_leader_calls: 0,
      failed_indices: [],
      autofollow_stats: [],
    });
    for (const method of ['POST', 'DELETE'] as const) {
      const r = await send(method, { leader_alias: 'a', name: 'r', pattern: 'logs-*' }, '/_plugins/_replication/_autofollow', reader);
      expect(r.status).toBe(403);
    }
  });
});
