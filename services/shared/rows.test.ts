import { describe, expect, it } from 'vitest';
import { parseAutofollowRule } from '../control/autofollow/autofollow-rules.js';
import { KccrError } from './errors.js';
import type { ReplicationSpec } from './replication.js';
import { isIndexName, parseReplicationSpec } from './rows.js';

const spec: ReplicationSpec = {
  followerCluster: 'dc-b',
  followerIndex: 'orders-copy',
  leaderCluster: 'dc-a',
  leaderIndex: 'orders',
  leaderIndexUuid: 'Xk2_-9aQ',
  state: 'active',
  bootstrap: 'snapshot',
  followerSettings: { number_of_replicas: 0, 'routing.allocation.include._name': 'a,b' },
  partialSource: { includes: ['a.*'], excludes: [] },
  bootstrapCheckpoints: {
    indexUuid: 'Xk2_-9aQ',
    shards: [{ shard: 0, historyUuid: 'h-1', globalCheckpoint: -1 }],
    snapshot: { repository: 'r', name: 's' },
    readAt: 1,
  },
  position: { requestId: 'req-1', to: 'earliest', requestedAt: 2, requestedBy: 'ops' },
  rebuild: { from: 'orders-old', alias: 'orders-read', startedAt: 3, leaderCheckpoints: [{ shard: 0, globalCheckpoint: 10 }], caughtUpAt: 4 },
  requestedBy: 'ops',
  createdAt: 1,
  updatedAt: 5,
};
const key = 'dc-b/orders-copy';

function refusal(k: string, value: unknown): string {
  try {
    parseReplicationSpec(k, value);
  } catch (e) {
    expect(e).toBeInstanceOf(KccrError);
    expect((e as KccrError).code).toBe('BAD_REQUEST');
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('replication rows read from kccr._replications', () => {
  it('passes what the control API writes, as it is (fields of a newer version too)', () => {
    expect(parseReplicationSpec(key, spec)).toBe(spec);
    const newer = { ...spec, comesLater: { x: 1 } };
    expect(parseReplicationSpec(key, newer)).toBe(newer);
    const minimal = {
      followerCluster: 'dc-b',
      followerIndex: 'orders-copy',
      leaderCluster: 'dc-a',
      leaderIndex: 'orders',
      state: 'stopped',
      bootstrap: 'scan',
      requestedBy: 'kccr',
      createdAt: 0,
      updatedAt: 0,
    };
    expect(parseReplicationSpec(key, minimal)).toBe(minimal);
  });

  it('refuses what the API would refuse, naming every problem', () => {
    expect(refusal(key, { ...spec, followerSettings: { number_of_shards: 3 } })).toMatch(
      /followerSettings must be flat index settings without number_of_shards/,
    );
    expect(refusal(key, { ...spec, followerSettings: { index: { number_of_replicas: 1 } } })).toMatch(/followerSettings/);
    expect(refusal(key, { ...spec, followerIndex: 'Orders' })).toMatch(/followerIndex must be an index name/);
    expect(refusal(key, { ...spec, leaderIndex: '../x' })).toMatch(/leaderIndex must be an index name/);
    expect(refusal(key, { ...spec, leaderCluster: 'DC A' })).toMatch(/leaderCluster must be a cluster name/);
    expect(refusal(key, { ...spec, state: 'running' })).toMatch(/state must be one of bootstrapping, active, paused, stopped/);
    expect(refusal(key, { ...spec, position: { ...spec.position, to: 'yesterday' } })).toMatch(/position must be/);
    expect(refusal(key, { ...spec, rebuild: { ...spec.rebuild, alias: 'A/B' } })).toMatch(/rebuild must be/);
    expect(
      refusal(key, { ...spec, bootstrapCheckpoints: { ...spec.bootstrapCheckpoints, shards: [{ shard: -1, historyUuid: 'h', globalCheckpoint: 0 }] } }),
    ).toMatch(/bootstrapCheckpoints must be/);
    expect(refusal(key, { ...spec, createdAt: '1' })).toMatch(/createdAt must be a time/);
    const both = refusal(key, { ...spec, state: 'x', bootstrap: 'y' });
    expect(both).toMatch(/state must be/);
    expect(both).toMatch(/bootstrap must be/);
    expect(refusal(key, null)).toMatch(/not a JSON object/);
    expect(refusal(key, [spec])).toMatch(/not a JSON object/);
  });

  it('refuses a row whose key is not the follower index it names', () => {
    expect(refusal('dc-b/other', spec)).toMatch(/the key must be "dc-b\/orders-copy"/);
    expect(refusal('dc-c/orders-copy', spec)).toMatch(/the key must be/);
  });

  it('knows index names as Elasticsearch does', () => {
    for (const ok of ['a', 'orders-2026.11', '.hidden', 'é']) expect(isIndexName(ok), ok).toBe(true);
    for (const bad of ['', '.', '..', '-a', '_a', '+a', 'A', 'a b', 'a,b', 'a*', 'a#', 'a:b', 'x'.repeat(256), 'a\u0000', 'É', 'straße-Ä', 'ǅ', 'Ⅻ'])
      expect(isIndexName(bad), JSON.stringify(bad)).toBe(false);
  });
});

describe('auto-follow rows read from kccr._autofollow', () => {
  const rule = {
    followerCluster: 'dc-b',
    leaderCluster: 'dc-a',
    name: 'logs',
    patterns: ['logs-*'],
    excludePatterns: ['logs-tmp*'],
    followerIndexPattern: '{{leader_index}}-copy',
    followerSettings: { number_of_replicas: 0 },
    createdBy: 'ops',
    updatedBy: 'ops',
    createdAt: 1,
    updatedAt: 2,
  };

  it('passes what the rules API writes', () => {
    expect(parseAutofollowRule('dc-b/dc-a/logs', rule)).toBe(rule);
  });

  it('refuses what it would refuse, and a key that is not the rule', () => {
    expect(() => parseAutofollowRule('dc-b/dc-a/logs', { ...rule, followerIndexPattern: 'all-in-one' })).toThrow(/lacks \{\{leader_index\}\}/);
    expect(() => parseAutofollowRule('dc-b/dc-a/logs', { ...rule, patterns: ['Logs?'] })).toThrow(/not an index pattern/);
    expect(() => parseAutofollowRule('dc-b/dc-a/logs', { ...rule, followerSettings: { number_of_shards: 2 } })).toThrow(/number_of_shards/);
    expect(() => parseAutofollowRule('dc-b/dc-a/logs', { ...rule, patterns: [] })).toThrow(/patterns must be/);
    expect(() => parseAutofollowRule('dc-b/dc-a/other', rule)).toThrow(/the key must be "dc-b\/dc-a\/logs"/);
    expect(() => parseAutofollowRule('k', 'text')).toThrow(/not a JSON object/);
  });
});
