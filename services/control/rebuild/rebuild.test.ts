import { describe, expect, it } from 'vitest';
import type { ApplierStatus, ReplicationSpec } from '../../shared/replication.js';
import { rebuildReason, rebuildView } from '../status/progress-views.js';
import { aliasActions, catchUpDecision, chooseAlias, defaultRebuildIndex } from './rebuild.js';
import { replicationStatus } from '../status/status.js';

describe('defaultRebuildIndex', () => {
  it('is <index>-rebuilt-<yyyymmddhhmmss> in UTC', () => {
    expect(defaultRebuildIndex('orders', new Date('2025-03-04T05:06:07.890Z'))).toBe('orders-rebuilt-20250304050607');
  });
});

describe('chooseAlias', () => {
  it('takes the alias given, else the old index’s only alias, else asks for one (400)', () => {
    expect(chooseAlias('a', ['b', 'c'], 'old')).toBe('a');
    expect(chooseAlias(undefined, ['b'], 'old')).toBe('b');
    expect(() => chooseAlias(undefined, [], 'old')).toThrow(/old has no alias: give "alias"/);
    expect(() => chooseAlias(undefined, ['b', 'c'], 'old')).toThrow(/old has 2 aliases \(b, c\): give "alias"/);
  });
});

describe('catchUpDecision', () => {
  const base = {
    positionApplied: true,
    committed: [
      { partition: 0, offset: '10' },
      { partition: 1, offset: '4' },
    ],
    target: new Map([
      [0, 10n],
      [1, 4n],
    ]),
    applied: [
      { shard: 0, appliedCheckpoint: 8 },
      { shard: 1, appliedCheckpoint: 2 },
    ],
    leaderCheckpoints: [
      { shard: 0, globalCheckpoint: 8 },
      { shard: 1, globalCheckpoint: 1 },
    ],
  };

  it('is caught up when every partition reached the end seen at the previous look and every shard the start checkpoint', () => {
    expect(catchUpDecision(base)).toEqual({ caughtUp: true });
    // Beyond the end seen earlier (records arrived since) is caught up too.
    expect(
      catchUpDecision({
        ...base,
        committed: [
          { partition: 0, offset: '12' },
          { partition: 1, offset: '4' },
        ],
      }).caughtUp,
    ).toBe(true);
  });

  it('waits for the applier to take up the rebuild, then for a first look at the end', () => {
    expect(catchUpDecision({ ...base, positionApplied: false })).toMatchObject({ caughtUp: false, waitingFor: expect.stringMatching(/take up the rebuild/) });
    expect(catchUpDecision({ ...base, target: undefined })).toMatchObject({ caughtUp: false, waitingFor: expect.stringMatching(/first look/) });
  });

  it('waits while a partition is behind the end or has no committed offset', () => {
    expect(
      catchUpDecision({
        ...base,
        committed: [
          { partition: 0, offset: '9' },
          { partition: 1, offset: '4' },
        ],
      }),
    ).toEqual({ caughtUp: false, waitingFor: 'partition 0: offset 9 of 10' });
    expect(catchUpDecision({ ...base, committed: [{ partition: 0, offset: '10' }] })).toEqual({ caughtUp: false, waitingFor: 'partition 1: offset none of 4' });
  });

  it('waits while a shard has not applied the leader checkpoint of the start; empty leader shards need nothing', () => {
    expect(
      catchUpDecision({
        ...base,
        applied: [
          { shard: 0, appliedCheckpoint: 7 },
          { shard: 1, appliedCheckpoint: 2 },
        ],
      }).waitingFor,
    ).toBe('shard 0: leader checkpoint 7 applied of 8 when the rebuild started');
    expect(catchUpDecision({ ...base, applied: [{ shard: 0, appliedCheckpoint: 8 }] }).waitingFor).toMatch(/shard 1: leader checkpoint -1/);
    expect(
      catchUpDecision({
        ...base,
        applied: [{ shard: 0, appliedCheckpoint: 8 }],
        leaderCheckpoints: [
          { shard: 0, globalCheckpoint: 8 },
          { shard: 1, globalCheckpoint: -1 },
        ],
      }).caughtUp,
    ).toBe(true);
  });
});

describe('aliasActions', () => {
  it('removes from the old index and adds to the new one with the same filter, routing and write flag, in one call', () => {
    expect(aliasActions('a', 'old', 'new', { filter: { term: { x: 1 } }, index_routing: '1', is_write_index: true, something_else: 1 })).toEqual([
      { remove: { index: 'old', alias: 'a' } },
      { add: { index: 'new', alias: 'a', filter: { term: { x: 1 } }, index_routing: '1', is_write_index: true } },
    ]);
    // The old index lost the alias meanwhile: it is only added.
    expect(aliasActions('a', 'old', 'new', undefined)).toEqual([{ add: { index: 'new', alias: 'a' } }]);
  });
});

describe('rebuild progress in the status', () => {
  const T0 = 1_700_000_000_000;
  const spec: ReplicationSpec = {
    followerCluster: 'fc',
    followerIndex: 'f-rebuilt',
    leaderCluster: 'lc',
    leaderIndex: 'l',
    state: 'active',
    bootstrap: 'scan',
    requestedBy: 'ops',
    createdAt: T0,
    updatedAt: T0,
    position: { requestId: 'r1', to: 'earliest', requestedAt: T0, requestedBy: 'ops' },
    rebuild: { from: 'f', alias: 'a', startedAt: T0, leaderCheckpoints: [{ shard: 0, globalCheckpoint: 5 }] },
  };
  const applier = (requestId: string, offset: string, high: string): ApplierStatus => ({
    kind: 'applier',
    followerCluster: 'fc',
    followerIndex: 'f-rebuilt',
    topic: 't',
    state: 'syncing',
    shards: [
      { shard: 0, appliedCheckpoint: 5, appliedObservedAt: T0, offset, highWatermark: high, applied: 3, skipped: 0, deadLettered: 0, lastAppliedAt: T0 },
    ],
    position: { requestId, appliedAt: T0 + 1, offsets: [{ partition: 0, offset: '0' }] },
    updatedAt: T0 + 2,
  });

  it('counts offsets only once the applier took up the rebuild', () => {
    expect(rebuildView(spec, applier('other', '40', '50'))).toMatchObject({ offsets_done: 0, offsets_total: null, percent: null });
    expect(rebuildView(spec, applier('r1', '40', '50'))).toMatchObject({ offsets_done: 40, offsets_total: 50, percent: 80, alias_moved_at: null });
    expect(rebuildReason(rebuildView(spec, applier('r1', '40', '50'))!)).toBe(
      'rebuilding from f: 40 of 50 offsets applied (80%); the alias a moves here once caught up',
    );
  });

  it('is BOOTSTRAPPING with the progress until the alias moved, then SYNCING with when', () => {
    const during = replicationStatus(spec, { applier: applier('r1', '40', '50') }, T0 + 10);
    expect(during).toMatchObject({
      status: 'BOOTSTRAPPING',
      reason: expect.stringMatching(/^rebuilding from f: 40 of 50/),
      rebuild: { from: 'f', alias: 'a' },
      position: { request_id: 'r1', to: 'earliest' },
    });
    const moved: ReplicationSpec = { ...spec, rebuild: { ...spec.rebuild!, caughtUpAt: T0 + 20, aliasMovedAt: T0 + 21 } };
    const after = replicationStatus(moved, { applier: applier('r1', '50', '50') }, T0 + 30);
    expect(after.status).toBe('SYNCING');
    expect(after.rebuild).toMatchObject({ alias_moved_at: new Date(T0 + 21).toISOString(), percent: 100 });
  });
});
