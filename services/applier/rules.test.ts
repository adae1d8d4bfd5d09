import { describe, expect, it } from 'vitest';
import type { BootstrapCheckpoints } from '../shared/replication.js';
import { coveredByBootstrap, NO_DELETES_SEEN, ofIncarnation, onCheckpointDeletes } from './rules.js';

const origin = (over: Partial<{ indexUuid: string; historyUuid: string; shard: number; seqNo: number }> = {}) => ({
  indexUuid: 'u1',
  historyUuid: 'h1',
  shard: 0,
  seqNo: 10,
  ...over,
});

describe('the incarnation a replication follows', () => {
  it('is the one bound at the start, whatever the partition says', () => {
    expect(ofIncarnation(origin(), 'u1', 'u2')).toBe(true);
    expect(ofIncarnation(origin({ indexUuid: 'u2' }), 'u1', 'u2')).toBe(false);
  });

  it('without a binding, is the one the partition last announced, any before an announcement', () => {
    expect(ofIncarnation(origin({ indexUuid: 'u2' }), undefined, 'u2')).toBe(true);
    expect(ofIncarnation(origin(), undefined, 'u2')).toBe(false);
    expect(ofIncarnation(origin({ indexUuid: 'anything' }), undefined, undefined)).toBe(true);
  });
});

describe('what the bootstrap covered', () => {
  const cp: BootstrapCheckpoints = {
    indexUuid: 'u1',
    shards: [
      { shard: 0, historyUuid: 'h1', globalCheckpoint: 10 },
      { shard: 1, historyUuid: 'h9', globalCheckpoint: -1 },
    ],
    readAt: 1,
  };

  it('is every change at or below the checkpoint read at the start, in the same index, shard and history', () => {
    expect(coveredByBootstrap(origin({ seqNo: 10 }), cp)).toBe(true);
    expect(coveredByBootstrap(origin({ seqNo: 0 }), cp)).toBe(true);
    expect(coveredByBootstrap(origin({ seqNo: 11 }), cp)).toBe(false);
  });

  it('is nothing of another incarnation, another history (a shard restored elsewhere), a shard not read, or without checkpoints', () => {
    expect(coveredByBootstrap(origin({ indexUuid: 'u2' }), cp)).toBe(false);
    expect(coveredByBootstrap(origin({ historyUuid: 'h2' }), cp)).toBe(false);
    expect(coveredByBootstrap(origin({ shard: 1, historyUuid: 'h9', seqNo: 0 }), cp)).toBe(false);
    expect(coveredByBootstrap(origin({ shard: 2 }), cp)).toBe(false);
    expect(coveredByBootstrap(origin(), undefined)).toBe(false);
  });
});

describe('the reconcile trigger', () => {
  const cp = (globalCheckpoint: number, maxSeqNo: number, deleteTotal: number | null) => ({ globalCheckpoint, maxSeqNo, deleteTotal });

  it('asks for nothing while the delete count stays, and for a pass at a first checkpoint with deletes', () => {
    expect(onCheckpointDeletes(NO_DELETES_SEEN, cp(10, 10, 0), true)).toEqual({ watch: { lastDeleteTotal: 0, due: false, after: null }, request: false });
    expect(onCheckpointDeletes(NO_DELETES_SEEN, cp(10, 10, 3), true).request).toBe(true);
    const quiet = { lastDeleteTotal: 3, due: false, after: null };
    expect(onCheckpointDeletes(quiet, cp(20, 20, 3), true)).toEqual({ watch: quiet, request: false });
    expect(onCheckpointDeletes(quiet, cp(20, 20, null), true).request).toBe(false);
  });

  it('waits for a checkpoint that covers the reading before the pass (the deletes are visible to search by then)', () => {
    const moved = onCheckpointDeletes({ lastDeleteTotal: 3, due: false, after: null }, cp(20, 25, 4), true);
    expect(moved).toEqual({ watch: { lastDeleteTotal: 4, due: false, after: 25 }, request: false });
    expect(onCheckpointDeletes(moved.watch, cp(24, 30, 4), true).request).toBe(false);
    expect(onCheckpointDeletes(moved.watch, cp(25, 30, 4), true)).toEqual({ watch: { lastDeleteTotal: 4, due: false, after: null }, request: true });
  });

  it('asks only once caught up with the partition, then forgets it owed one', () => {
    const owed = onCheckpointDeletes({ lastDeleteTotal: 3, due: false, after: null }, cp(30, 30, 5), false);
    expect(owed).toEqual({ watch: { lastDeleteTotal: 5, due: true, after: null }, request: false });
    const later = onCheckpointDeletes(owed.watch, cp(31, 31, 5), true);
    expect(later).toEqual({ watch: { lastDeleteTotal: 5, due: false, after: null }, request: true });
    expect(onCheckpointDeletes(later.watch, cp(32, 32, 5), true).request).toBe(false);
  });
});
