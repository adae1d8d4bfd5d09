import { describe, expect, it } from 'vitest';
import { KccrError } from '../shared/errors.js';
import { parseReconcileRequest } from '../shared/replication.js';
import { batchesOf } from './main.js';
import { leaderSeqOf, ledgerBulk, ledgerId, ledgerIndexName, ledgerRetires } from './ledger.js';

describe('ledger', () => {
  it('is a hidden-style index named after the follower, a digest when the name would pass 255 bytes', () => {
    expect(ledgerIndexName('orders')).toBe('.kccr-ledger-orders');
    const long = ledgerIndexName('x'.repeat(250));
    expect(long).toMatch(/^\.kccr-ledger-[0-9a-f]{64}$/);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(255);
  });

  it('is dropped with its stopped replication, unless a later replication of the index claimed it', () => {
    expect(ledgerRetires({ kccr: 'ledger', follower: 'f', complete: true, replication: 100 }, 100)).toBe(true);
    expect(ledgerRetires({ kccr: 'ledger', follower: 'f', complete: true, replication: 200 }, 100)).toBe(false);
    // Written by an earlier kccr (no owner recorded), or without a mapping: the stopped replication's.
    expect(ledgerRetires({ kccr: 'ledger', follower: 'f', complete: true }, 100)).toBe(true);
    expect(ledgerRetires(undefined, 100)).toBe(true);
  });

  it('groups index names so that each comma-joined group stays within the bytes given', () => {
    const names = Array.from({ length: 50 }, (_, i) => ledgerIndexName(`follower-${i}`));
    const batches = batchesOf(names, 200);
    expect(batches.flat()).toEqual(names);
    expect(batches.length).toBeGreaterThan(1);
    for (const b of batches) expect(Buffer.byteLength(b.map(encodeURIComponent).join(','))).toBeLessThanOrEqual(200);
    // A name longer than the bound goes alone rather than being lost.
    expect(batchesOf(['a', 'x'.repeat(300), 'b'], 100)).toEqual([['a'], ['x'.repeat(300)], ['b']]);
    expect(batchesOf([], 100)).toEqual([]);
  });

  it('keys entries by shard and id, a digest for ids that would pass 512 bytes', () => {
    expect(ledgerId(2, 'a')).toBe('2:a');
    expect(ledgerId(2, 'a')).not.toBe(ledgerId(1, 'a'));
    const long = ledgerId(0, 'é'.repeat(300));
    expect(long).toMatch(/^0#[0-9a-f]{64}$/);
  });

  it('writes entries with the documents external versions, and deletes them', () => {
    const body = ledgerBulk('.kccr-ledger-f', [
      { shard: 1, seqNo: 41, id: 'a', routing: 'r', version: 42, deleted: false },
      { shard: 1, seqNo: 50, id: 'b', routing: null, version: 51, deleted: true },
    ]);
    expect(
      body
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      { index: { _index: '.kccr-ledger-f', _id: '1:a', version: 42, version_type: 'external' } },
      { s: 1, q: 41, i: 'a', r: 'r' },
      { delete: { _index: '.kccr-ledger-f', _id: '1:b', version: 51, version_type: 'external' } },
    ]);
    expect(ledgerBulk('x', [])).toBe('');
  });

  it('tells the leader _seq_no of a document found on the follower: written by kccr, or brought by a snapshot', () => {
    // No snapshot: every document was written by kccr with version = seq + 1.
    expect(leaderSeqOf(42, 7, undefined)).toBe(41);
    // Snapshot at checkpoint 100: a document kccr wrote after it has a version above 101.
    expect(leaderSeqOf(150, 3, 100)).toBe(149);
    // A restored document keeps the leader's _seq_no; its internal version is at most that + 1.
    expect(leaderSeqOf(3, 88, 100)).toBe(88);
    expect(leaderSeqOf(101, 100, 100)).toBe(100);
  });
});

describe('reconcile requests read from the topic', () => {
  const base = { leaderCluster: 'l', leaderIndex: 'i', shard: 0, passId: 'p', requestedAt: 1 };
  const parse = (v: unknown) => parseReconcileRequest(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));

  it('takes ids or ranges', () => {
    expect(parse({ ...base, ids: [{ id: 'a', routing: null }] }).ids).toHaveLength(1);
    expect(parse({ ...base, ranges: [{ from: 0, to: 9 }] }).ranges).toEqual([{ from: 0, to: 9 }]);
  });

  it.each([
    ['not JSON', 'nope', /not JSON/],
    ['neither', base, /exactly one of ids and ranges/],
    ['both', { ...base, ids: [], ranges: [] }, /exactly one/],
    ['a range backwards', { ...base, ranges: [{ from: 5, to: 4 }] }, /0 <= from <= to/],
    ['a negative range', { ...base, ranges: [{ from: -1, to: 4 }] }, /0 <= from <= to/],
    ['too many ranges', { ...base, ranges: Array.from({ length: 257 }, () => ({ from: 0, to: 1 })) }, /at most 256/],
    ['an id not a string', { ...base, ids: [{ id: 5, routing: null }] }, /ids must be/],
    ['a negative shard', { ...base, shard: -1, ranges: [] }, /shard must be/],
    ['no index', { ...base, leaderIndex: '', ranges: [] }, /leaderIndex must be/],
  ])('refuses %s with the reason', (_what, value, reason) => {
    expect(() => parse(value)).toThrow(KccrError);
    expect(() => parse(value)).toThrow(reason);
  });
});
