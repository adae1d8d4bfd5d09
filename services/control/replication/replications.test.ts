import { describe, expect, it } from 'vitest';
import type { ReplicationSpec } from '../../shared/replication.js';
import { resumesWhereLeft, startPosition } from './replications.js';

describe('startPosition: where a new replication reads its topic', () => {
  it('offsets left in the topic by an earlier replication into the follower cluster: from the start', () => {
    expect(startPosition(true, false)).toBe('earliest');
  });

  it('no offsets: the group starts at the beginning by itself, no request', () => {
    expect(startPosition(false, false)).toBeUndefined();
  });

  it('a stopped follower index started again where it left off: the group goes on from its offsets', () => {
    expect(startPosition(true, true)).toBeUndefined();
  });
});

describe('resumesWhereLeft', () => {
  const spec = (followerIndex: string, updatedAt: number, over: Partial<ReplicationSpec> = {}): ReplicationSpec =>
    ({
      followerCluster: 'f',
      followerIndex,
      leaderCluster: 'l',
      leaderIndex: 'x',
      state: 'stopped',
      bootstrap: 'scan',
      requestedBy: 'ops',
      createdAt: 1,
      updatedAt,
      ...over,
    }) as ReplicationSpec;
  const cmd = { leaderCluster: 'l', leaderIndex: 'x' };

  it('the same follower index, still there, the last to read the topic in its follower cluster', () => {
    const a = spec('a', 10);
    expect(resumesWhereLeft(a, true, cmd, [a, spec('b', 5), spec('c', 20, { followerCluster: 'other' }), spec('d', 30, { leaderIndex: 'y' })])).toBe(true);
  });

  it("not when another follower index read the topic after it (the offsets are that one's)", () => {
    const a = spec('a', 10);
    expect(resumesWhereLeft(a, true, cmd, [a, spec('b', 20)])).toBe(false);
  });

  it('not when the follower index is gone, is new, was not stopped, or followed another leader index', () => {
    const a = spec('a', 10);
    expect(resumesWhereLeft(a, false, cmd, [a])).toBe(false);
    expect(resumesWhereLeft(undefined, true, cmd, [])).toBe(false);
    expect(resumesWhereLeft(spec('a', 10, { state: 'active' }), true, cmd, [])).toBe(false);
    expect(resumesWhereLeft(spec('a', 10, { leaderIndex: 'y' }), true, cmd, [])).toBe(false);
  });
});
