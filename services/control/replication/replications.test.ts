import { describe, expect, it } from 'vitest';
import type { ReplicationSpec } from '../../shared/replication.js';
import { DEFAULT_ID_TEMPLATE, DEFAULT_ORIGIN_FIELD } from '../../shared/merge.js';
import { mergeOf, resumesWhereLeft, startPosition } from './replications.js';
import type { StartCommand } from './replications.js';

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

describe('mergeOf: a start in merged mode', () => {
  const cmd = (over: Partial<StartCommand> = {}): StartCommand => ({
    followerCluster: 'central',
    followerIndex: 'orders-all',
    leaderCluster: 'east',
    leaderIndex: 'orders',
    requestedBy: 't',
    merge: {},
    ...over,
  });
  const source = (over: Partial<ReplicationSpec> = {}): ReplicationSpec => ({
    followerCluster: 'central',
    followerIndex: 'orders-all@west@orders',
    leaderCluster: 'west',
    leaderIndex: 'orders',
    state: 'active',
    bootstrap: 'scan',
    requestedBy: 't',
    createdAt: 1,
    updatedAt: 1,
    merge: { into: 'orders-all', idTemplate: DEFAULT_ID_TEMPLATE, originField: DEFAULT_ORIGIN_FIELD },
    ...over,
  });

  it('takes the defaults, and nothing without merge', () => {
    expect(mergeOf(cmd(), [])).toEqual({ into: 'orders-all', idTemplate: DEFAULT_ID_TEMPLATE, originField: DEFAULT_ORIGIN_FIELD });
    expect(mergeOf(cmd({ merge: undefined }), [])).toBeUndefined();
  });

  it('refuses what it cannot honour, saying why', () => {
    expect(() => mergeOf(cmd({ merge: { idTemplate: '{{id}}' } }), [])).toThrow(/id_template must hold \{\{leader_cluster\}\}/);
    expect(() => mergeOf(cmd({ merge: { originField: 'a b' } }), [])).toThrow(/origin_field/);
    expect(() => mergeOf(cmd({ bootstrap: 'snapshot' }), [])).toThrow(/cannot fill a merged index/);
    expect(() => mergeOf(cmd({ merge: { originField: 'src' } }), [source()])).toThrow(/takes id_template .* and origin_field "_kccr.origin"/);
    const plain = source({ followerIndex: 'orders-all', merge: undefined });
    expect(() => mergeOf(cmd(), [plain])).toThrow(/is the follower index of west:orders \(per source\)/);
    // A stopped source's choices do not bind a new one.
    expect(mergeOf(cmd({ merge: { originField: 'src' } }), [source({ state: 'stopped' })])?.originField).toBe('src');
  });
});
