import { describe, expect, it } from 'vitest';
import type { ReplicationSpec } from '../../shared/replication.js';
import { StatusHistory, throughput } from './history.js';
import type { StatusView } from './status.js';

const spec = (followerIndex: string): ReplicationSpec => ({
  followerCluster: 'fc',
  followerIndex,
  leaderCluster: 'lc',
  leaderIndex: 'l',
  state: 'active',
  bootstrap: 'none',
  requestedBy: 'ops',
  createdAt: 0,
  updatedAt: 0,
});
const view = (applied: number[], status: StatusView['status'] = 'SYNCING'): StatusView =>
  ({ status, lag_operations: 0, lag_seconds: 0, shards: applied.map((a, shard) => ({ shard, applied: a })) }) as unknown as StatusView;

describe('StatusHistory', () => {
  it('keeps the last hour of samples per replication and forgets replications that are gone', () => {
    const h = new StatusHistory(10_000, 60_000);
    for (let i = 0; i < 10; i++) h.record(i * 10_000, [{ spec: spec('a'), view: view([i, i]) }, ...(i < 5 ? [{ spec: spec('b'), view: view([0]) }] : [])]);
    const a = h.points('fc/a');
    expect(a).toHaveLength(6);
    expect(a[0]!.at).toBe(40_000);
    expect(a.at(-1)).toMatchObject({ at: 90_000, applied: 18, status: 'SYNCING' });
    expect(h.points('fc/b')).toEqual([]);
  });

  it('turns applied counts into operations per second, null across a counter restart', () => {
    const points = [
      { at: 0, applied: 0 },
      { at: 10_000, applied: 500 },
      { at: 20_000, applied: 20 },
      { at: 30_000, applied: 120 },
    ].map((p) => ({ ...p, status: 'SYNCING' as const, lagOperations: 0, lagSeconds: 0 }));
    expect(throughput(points)).toEqual([
      { at: 10_000, perSecond: 50 },
      { at: 20_000, perSecond: null },
      { at: 30_000, perSecond: 10 },
    ]);
  });
});
