import { describe, expect, it } from 'vitest';
import type { ReplicationSpec } from '../shared/replication.js';
import { pendingPosition, targetOffsets } from './positions.js';

const bounds = [
  { partition: 1, low: '3', high: '10' },
  { partition: 0, low: '0', high: '7' },
];

describe('targetOffsets', () => {
  it('earliest is each partition’s first offset, latest its end, in partition order', () => {
    expect(targetOffsets('earliest', bounds)).toEqual([
      { partition: 0, offset: '0' },
      { partition: 1, offset: '3' },
    ]);
    expect(targetOffsets('latest', bounds)).toEqual([
      { partition: 0, offset: '7' },
      { partition: 1, offset: '10' },
    ]);
  });

  it('a time is the first record at or after it, kept within the partition, the end when no record is that late', () => {
    expect(
      targetOffsets(1000, bounds, [
        { partition: 0, offset: '5' },
        { partition: 1, offset: '-1' },
      ]),
    ).toEqual([
      { partition: 0, offset: '5' },
      { partition: 1, offset: '10' },
    ]);
    // Compaction or retention removed the records before it: the partition's start.
    expect(
      targetOffsets(1000, bounds, [
        { partition: 0, offset: '0' },
        { partition: 1, offset: '1' },
      ]),
    ).toEqual([
      { partition: 0, offset: '0' },
      { partition: 1, offset: '3' },
    ]);
    // A partition the broker did not answer for: its end (nothing is replayed that was not asked for).
    expect(targetOffsets(1000, bounds, [{ partition: 0, offset: '2' }])).toEqual([
      { partition: 0, offset: '2' },
      { partition: 1, offset: '10' },
    ]);
  });
});

describe('pendingPosition', () => {
  const spec: ReplicationSpec = {
    followerCluster: 'fc',
    followerIndex: 'f',
    leaderCluster: 'lc',
    leaderIndex: 'l',
    state: 'active',
    bootstrap: 'scan',
    requestedBy: 'ops',
    createdAt: 1,
    updatedAt: 2,
    position: { requestId: 'r1', to: 'earliest', requestedAt: 2, requestedBy: 'ops' },
  };

  it('is the spec’s request until its id was applied', () => {
    expect(pendingPosition(spec, undefined)?.requestId).toBe('r1');
    expect(pendingPosition(spec, { requestId: 'r0', appliedAt: 1, offsets: [] })?.requestId).toBe('r1');
    expect(pendingPosition(spec, { requestId: 'r1', appliedAt: 3, offsets: [] })).toBeUndefined();
  });

  it('applies to active and paused replications only, and to specs that carry a request', () => {
    expect(pendingPosition({ ...spec, state: 'paused' }, undefined)?.requestId).toBe('r1');
    expect(pendingPosition({ ...spec, state: 'stopped' }, undefined)).toBeUndefined();
    const { position: _p, ...none } = spec;
    expect(pendingPosition(none, undefined)).toBeUndefined();
  });
});
