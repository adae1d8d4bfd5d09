import { describe, expect, it } from 'vitest';
import type { BootstrapCheckpoints } from '../shared/replication.js';
import { coveredByBootstrap, ofIncarnation } from './rules.js';

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
