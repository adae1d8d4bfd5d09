import { describe, expect, it } from 'vitest';
import type { ApplierStatus, ExtractorStatus, ReplicationSpec } from '../../shared/replication.js';
import { followerStats, leaderStats, replicationStatus, rowsOf } from './status.js';

const T0 = 1_700_000_000_000;
const spec: ReplicationSpec = {
  followerCluster: 'fc',
  followerIndex: 'follower-01',
  leaderCluster: 'lc',
  leaderIndex: 'leader-01',
  state: 'active',
  bootstrap: 'scan',
  requestedBy: 'ops',
  createdAt: T0,
  updatedAt: T0,
};

function extractor(shards: { shard: number; g: number; max?: number }[], extra: Partial<ExtractorStatus> = {}): ExtractorStatus {
  return {
    kind: 'extractor',
    leaderCluster: 'lc',
    leaderIndex: 'leader-01',
    topic: 't',
    state: 'running',
    shards: shards.map((s) => ({ shard: s.shard, globalCheckpoint: s.g, maxSeqNo: s.max ?? s.g, cursor: s.g, docs: 10, observedAt: T0 + 5000, published: 7 })),
    reconcile: { requests: 0, idsChecked: 0, deletesPublished: 0, lastMs: null },
    updatedAt: T0 + 5000,
    ...extra,
  };
}

function applier(shards: { shard: number; cp: number; at: number | null }[], extra: Partial<ApplierStatus> = {}): ApplierStatus {
  return {
    kind: 'applier',
    followerCluster: 'fc',
    followerIndex: 'follower-01',
    topic: 't',
    state: 'syncing',
    shards: shards.map((s) => ({
      shard: s.shard,
      appliedCheckpoint: s.cp,
      appliedObservedAt: s.at,
      offset: '12',
      highWatermark: '15',
      applied: 5,
      skipped: 1,
      deadLettered: 0,
      lastAppliedAt: T0 + 4000,
    })),
    updatedAt: T0 + 6000,
    ...extra,
  };
}

describe('replicationStatus', () => {
  it("shows what the start recorded of the leader's source: an accepted partial source, a synthetic source", () => {
    expect(replicationStatus(spec, {}, T0)).not.toHaveProperty('partial_source');
    expect(replicationStatus(spec, {}, T0)).not.toHaveProperty('synthetic_source');
    const v = replicationStatus({ ...spec, partialSource: { includes: [], excludes: ['secret'] }, syntheticSource: true }, {}, T0);
    expect(v).toMatchObject({ partial_source: { includes: [], excludes: ['secret'] }, synthetic_source: true });
  });

  it('is SYNCING with no lag when the follower holds the leader checkpoint', () => {
    const fresh = { updatedAt: T0 + 59_000 };
    const v = replicationStatus(
      spec,
      { extractor: extractor([{ shard: 0, g: 9 }], fresh), applier: applier([{ shard: 0, cp: 9, at: T0 + 5000 }], fresh) },
      T0 + 60_000,
    );
    expect(v.status).toBe('SYNCING');
    expect(v.shards[0]).toMatchObject({
      leader_checkpoint: 9,
      follower_checkpoint: 9,
      lag_operations: 0,
      lag_seconds: 0,
      applied: 5,
      offset: '12',
      high_watermark: '15',
    });
    expect(v.lag_seconds).toBe(0);
    expect(v).toMatchObject({ leader_alias: 'lc', remote_cluster: 'lc', leader_index: 'leader-01', follower_index: 'follower-01', requested_by: 'ops' });
    expect(v.reconciliation).toEqual({
      passes: 0,
      passes_abandoned: 0,
      ranges_counted: 0,
      ids_listed: 0,
      ids_checked: 0,
      deletes_published: 0,
      last_pass_ms: null,
      last_pass_at: null,
    });
  });

  it('shows the bytes of a chunked document being put together, and chunks dropped, only when there are any', () => {
    const fresh = { updatedAt: T0 + 59_000 };
    const plain = replicationStatus(
      spec,
      { extractor: extractor([{ shard: 0, g: 9 }], fresh), applier: applier([{ shard: 0, cp: 9, at: T0 + 5000 }], fresh) },
      T0 + 60_000,
    );
    expect(plain.shards[0]).not.toHaveProperty('reassembling_bytes');
    expect(plain.shards[0]).not.toHaveProperty('chunks_dropped');
    const held = applier([{ shard: 0, cp: 9, at: T0 + 5000 }], fresh);
    const withChunks = { ...held, shards: held.shards.map((s) => ({ ...s, reassemblingBytes: 3_145_728, chunksDropped: 2 })) };
    const v = replicationStatus(spec, { extractor: extractor([{ shard: 0, g: 9 }], fresh), applier: withChunks }, T0 + 60_000);
    expect(v.shards[0]).toMatchObject({ reassembling_bytes: 3_145_728, chunks_dropped: 2 });
  });

  it("shows which leader node the extractor read a shard from, the primary's term and the failovers it saw", () => {
    const fresh = { updatedAt: T0 + 59_000 };
    const e = extractor([{ shard: 0, g: 9 }], fresh);
    const moved = { ...e, shards: e.shards.map((s) => ({ ...s, readFrom: 'node-a', primaryTerm: 3, failovers: 2 })) };
    const v = replicationStatus(spec, { extractor: moved, applier: applier([{ shard: 0, cp: 9, at: T0 + 5000 }], fresh) }, T0 + 60_000);
    expect(v.shards[0]).toMatchObject({ leader_read_from: 'node-a', leader_primary_term: 3, leader_failovers: 2 });
  });

  it('measures lag in operations and in seconds since the leader state the follower holds was observed', () => {
    const v = replicationStatus(
      spec,
      {
        extractor: extractor(
          [
            { shard: 0, g: 20 },
            { shard: 1, g: 4 },
          ],
          { updatedAt: T0 + 30_000 },
        ),
        applier: applier(
          [
            { shard: 0, cp: 15, at: T0 + 1000 },
            { shard: 1, cp: 4, at: T0 + 2000 },
          ],
          { updatedAt: T0 + 30_500 },
        ),
      },
      T0 + 31_000,
    );
    expect(v.shards.map((s) => [s.lag_operations, s.lag_seconds])).toEqual([
      [5, 30],
      [0, 0],
    ]);
    expect(v.lag_operations).toBe(5);
    expect(v.lag_seconds).toBe(30);
    expect(v.syncing_details).toEqual({ leader_checkpoint: 24, follower_checkpoint: 19, seq_no: 24 });
  });

  it('never reports negative lag when the follower is ahead of a stale leader report', () => {
    const v = replicationStatus(spec, { extractor: extractor([{ shard: 0, g: 3 }]), applier: applier([{ shard: 0, cp: 8, at: T0 }]) }, T0 + 1000);
    expect(v.shards[0]).toMatchObject({ lag_operations: 0, lag_seconds: 0 });
  });

  it('is BOOTSTRAPPING until every shard has a checkpoint applied', () => {
    expect(replicationStatus(spec, {}, T0).status).toBe('BOOTSTRAPPING');
    expect(replicationStatus(spec, { extractor: extractor([{ shard: 0, g: 5 }]) }, T0).reason).toMatch(/applier/);
    const partial = replicationStatus(
      spec,
      {
        extractor: extractor([
          { shard: 0, g: 5 },
          { shard: 1, g: 5 },
        ]),
        applier: applier([
          { shard: 0, cp: 5, at: T0 },
          { shard: 1, cp: -1, at: null },
        ]),
      },
      T0,
    );
    expect(partial.status).toBe('BOOTSTRAPPING');
    expect(partial.shards[1]).toMatchObject({ follower_checkpoint: null, lag_operations: null, lag_seconds: null });
  });

  it('treats an empty leader shard with its checkpoint applied as synced', () => {
    const v = replicationStatus(spec, { extractor: extractor([{ shard: 0, g: -1 }]), applier: applier([{ shard: 0, cp: -1, at: T0 }]) }, T0 + 1000);
    expect(v.status).toBe('SYNCING');
    expect(v.shards[0]).toMatchObject({ lag_operations: 0, lag_seconds: 0 });
  });

  it('remembers what the follower had applied while the applier starts the index anew', () => {
    const resumed = { ...spec, updatedAt: T0 + 10_000 };
    const v = replicationStatus(
      resumed,
      { extractor: extractor([{ shard: 0, g: 9 }], { updatedAt: T0 + 19_000 }), applier: applier([], { updatedAt: T0 + 19_500 }) },
      T0 + 20_000,
      new Map([[0, { appliedCheckpoint: 9, appliedObservedAt: T0 + 5000 }]]),
    );
    expect(v.status).toBe('SYNCING');
    expect(v.shards[0]).toMatchObject({ follower_checkpoint: 9, lag_operations: 0 });
  });

  it('is FAILED with the reason when either side failed since the spec last changed, and ignores older failures', () => {
    const failed = replicationStatus(spec, { extractor: extractor([{ shard: 0, g: 1 }], { state: 'failed', reason: 'history changed' }) }, T0);
    expect(failed.status).toBe('FAILED');
    expect(failed.reason).toBe('extractor: history changed');
    const a = replicationStatus(
      spec,
      { extractor: extractor([{ shard: 0, g: 1 }]), applier: applier([{ shard: 0, cp: 1, at: T0 }], { state: 'failed', reason: 'mapping' }) },
      T0,
    );
    expect(a.status).toBe('FAILED');
    expect(a.reason).toBe('applier: mapping');
    const restarted = { ...spec, updatedAt: T0 + 100_000 };
    expect(replicationStatus(restarted, { extractor: extractor([{ shard: 0, g: 1 }], { state: 'failed', reason: 'old' }) }, T0).status).toBe('BOOTSTRAPPING');
  });

  it('is STALE, with lag in operations unknown and lag in seconds growing, once a side has not reported for 3 intervals', () => {
    const rows = {
      extractor: extractor([{ shard: 0, g: 9 }], { reportIntervalMs: 2000, updatedAt: T0 + 5000 }),
      applier: applier([{ shard: 0, cp: 9, at: T0 + 5000 }], { reportIntervalMs: 2000, updatedAt: T0 + 10_000 }),
    };
    // 5.5 s after the extractor's last report: within 3 intervals of 2 s.
    expect(replicationStatus(spec, rows, T0 + 10_500)).toMatchObject({ status: 'SYNCING', lag_operations: 0 });
    const late = replicationStatus(spec, rows, T0 + 11_500);
    expect(late.status).toBe('STALE');
    expect(late.reason).toBe('the extractor of lc has not reported for 7 s');
    expect(late.lag_operations).toBeNull();
    expect(late.shards[0]).toMatchObject({ lag_operations: null, lag_seconds: 6.5 });
    const later = replicationStatus(spec, rows, T0 + 65_000);
    expect(later.lag_seconds).toBe(60);
    expect(later.reason).toBe('the extractor of lc has not reported for 60 s; the applier of fc has not reported for 55 s');
  });

  it('takes at least 3 s to call a row stale, whatever its interval, and assumes the default interval when a row has none', () => {
    const quick = {
      extractor: extractor([{ shard: 0, g: 1 }], { reportIntervalMs: 200, updatedAt: T0 }),
      applier: applier([{ shard: 0, cp: 1, at: T0 }], { reportIntervalMs: 200, updatedAt: T0 }),
    };
    expect(replicationStatus(spec, quick, T0 + 2900).status).toBe('SYNCING');
    expect(replicationStatus(spec, quick, T0 + 3100).status).toBe('STALE');
    const unsaid = { extractor: extractor([{ shard: 0, g: 1 }], { updatedAt: T0 }), applier: applier([{ shard: 0, cp: 1, at: T0 }], { updatedAt: T0 }) };
    expect(replicationStatus(spec, unsaid, T0 + 5900).status).toBe('SYNCING');
    expect(replicationStatus(spec, unsaid, T0 + 6100).status).toBe('STALE');
  });

  it('is RETRYING with what is retried, since when and how often, while a side retries a transient failure', () => {
    const retrying = { reason: 'producing 3 messages to t: Connection error', since: T0 + 1000, attempts: 4 };
    const v = replicationStatus(
      spec,
      {
        extractor: extractor([{ shard: 0, g: 9 }], { state: 'retrying', reason: retrying.reason, retrying, restarts: 1 }),
        applier: applier([{ shard: 0, cp: 9, at: T0 }]),
      },
      T0 + 6000,
    );
    expect(v.status).toBe('RETRYING');
    expect(v.reason).toBe(`extractor: ${retrying.reason}`);
    expect(v.retrying).toEqual({ side: 'extractor', reason: retrying.reason, since: new Date(T0 + 1000).toISOString(), attempts: 4 });
    expect(v.restarts).toEqual({ extractor: 1, applier: 0 });
  });

  it('says FAILED rather than STALE when a side reported a failure before it went quiet', () => {
    const v = replicationStatus(
      spec,
      { extractor: extractor([{ shard: 0, g: 1 }], { state: 'failed', reason: 'credentials refused' }), applier: applier([{ shard: 0, cp: 1, at: T0 }]) },
      T0 + 60_000,
    );
    expect(v.status).toBe('FAILED');
  });

  it('follows the spec for PAUSED and STOPPED', () => {
    expect(replicationStatus({ ...spec, state: 'paused' }, { extractor: extractor([{ shard: 0, g: 1 }], { state: 'failed' }) }, T0).status).toBe('PAUSED');
    expect(replicationStatus({ ...spec, state: 'stopped' }, {}, T0).status).toBe('STOPPED');
  });
});

describe('rowsOf', () => {
  it('leaves out an extractor row about another incarnation of the leader index', () => {
    const bound = { ...spec, leaderIndexUuid: 'new-uuid' };
    const rows = new Map<string, ExtractorStatus | ApplierStatus>([['extractor/lc/leader-01', extractor([{ shard: 0, g: 40 }], { indexUuid: 'old-uuid' })]]);
    expect(rowsOf(bound, (k) => rows.get(k)).extractor).toBeUndefined();
    rows.set('extractor/lc/leader-01', extractor([{ shard: 0, g: 2 }], { indexUuid: 'new-uuid' }));
    expect(rowsOf(bound, (k) => rows.get(k)).extractor?.shards[0]?.globalCheckpoint).toBe(2);
    // A spec written before binding takes any row.
    rows.set('extractor/lc/leader-01', extractor([{ shard: 0, g: 40 }], { indexUuid: 'old-uuid' }));
    expect(rowsOf(spec, (k) => rows.get(k)).extractor).toBeDefined();
  });
});

describe('stats', () => {
  it('counts follower indices by status and sums their counters, leaving stopped ones out', () => {
    const specs = [
      spec,
      { ...spec, followerIndex: 'f2', state: 'paused' as const },
      { ...spec, followerIndex: 'f3', state: 'stopped' as const },
      { ...spec, followerCluster: 'other', followerIndex: 'f4' },
    ];
    const view = (s: ReplicationSpec) =>
      replicationStatus(
        s,
        s.followerIndex === 'follower-01' ? { extractor: extractor([{ shard: 0, g: 3 }]), applier: applier([{ shard: 0, cp: 3, at: T0 }]) } : {},
        T0,
      );
    const stats = followerStats(specs, view, 'fc');
    expect(stats).toMatchObject({
      num_syncing_indices: 1,
      num_paused_indices: 1,
      num_bootstrapping_indices: 0,
      num_failed_indices: 0,
      operations_written: 5,
      follower_checkpoint: 3,
    });
    expect(Object.keys(stats.index_stats).sort()).toEqual(['f2', 'follower-01']);
  });

  it('reports each replicated leader index once', () => {
    const rows = new Map<string, ExtractorStatus>([
      [
        'extractor/lc/leader-01',
        extractor([
          { shard: 0, g: 4 },
          { shard: 1, g: 2 },
        ]),
      ],
    ]);
    const stats = leaderStats([spec, { ...spec, followerIndex: 'f2' }], (k) => rows.get(k));
    expect(stats.num_replicated_indices).toBe(1);
    expect(stats.index_stats['lc:leader-01']).toMatchObject({ operations_read: 14, leader_checkpoint: 6, shards: 2, state: 'running' });
  });
});
