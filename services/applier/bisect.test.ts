import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextStep, splitRange } from './bisect.js';
import type { BisectOptions, SeqRange } from './bisect.js';

describe('splitRange', () => {
  it('covers the range exactly with contiguous, non-empty parts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 64 }), (from, width, parts) => {
        const r = { from, to: from + width };
        const out = splitRange(r, parts);
        expect(out.length).toBe(Math.min(parts, width + 1));
        expect(out[0]!.from).toBe(r.from);
        expect(out[out.length - 1]!.to).toBe(r.to);
        for (let i = 0; i < out.length; i++) {
          expect(out[i]!.to).toBeGreaterThanOrEqual(out[i]!.from);
          if (i > 0) expect(out[i]!.from).toBe(out[i - 1]!.to + 1);
        }
      }),
    );
  });

  it('gives nothing for an empty range', () => {
    expect(splitRange({ from: 5, to: 4 }, 8)).toEqual([]);
  });
});

/**
 * A model of one leader shard and its follower: operations get consecutive `_seq_no`s; the follower has applied
 * everything up to G (a random subset of the deletes already reconciled), the leader is counted at V >= G.
 */
interface Model {
  /** The leader at V: id -> _seq_no of its live version. */
  readonly leader: Map<number, number>;
  /** The follower's ledger at G: id -> leader _seq_no of the version it holds. */
  readonly ledger: Map<number, number>;
  readonly g: number;
}

const op = fc.record({ del: fc.boolean(), id: fc.integer({ min: 0, max: 400 }) });

function buildModel(ops: readonly { del: boolean; id: number }[], gAt: number, vAt: number, reconciled: (id: number) => boolean): Model {
  const g = Math.min(ops.length - 1, Math.floor(gAt * ops.length) - 1);
  const v = Math.max(g, Math.min(ops.length - 1, g + Math.floor(vAt * (ops.length - g))));
  const state = (upTo: number) => {
    const live = new Map<number, number>();
    ops.slice(0, upTo + 1).forEach((o, seq) => (o.del ? live.delete(o.id) : live.set(o.id, seq)));
    return live;
  };
  const leader = state(v);
  // The follower never learns a delete from the stream: it keeps the last version it applied, up to G.
  const ledger = new Map<number, number>();
  ops.slice(0, g + 1).forEach((o, seq) => {
    if (!o.del) ledger.set(o.id, seq);
  });
  const atG = state(g);
  for (const id of [...ledger.keys()]) if (!atG.has(id) && reconciled(id)) ledger.delete(id);
  return { leader, ledger, g };
}

/** Runs the bisection to its end; returns the ids it would list and how many counts it took. */
function bisect(m: Model, opts: BisectOptions): { listed: Set<number>; counts: number } {
  const sorted = (map: Map<number, number>) => [...map.values()].sort((a, b) => a - b);
  const below = (xs: number[], x: number) => {
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const leaderSeqs = sorted(m.leader);
  const ledgerSeqs = sorted(m.ledger);
  const count = (xs: number[], r: SeqRange) => below(xs, r.to + 1) - below(xs, r.from);
  let queue = splitRange({ from: 0, to: m.g }, opts.fanout);
  const listed = new Set<number>();
  let counts = 0;
  while (queue.length > 0) {
    counts += queue.length;
    const counted = queue.map((r) => ({ ...r, leader: count(leaderSeqs, r), follower: count(ledgerSeqs, r) }));
    for (const c of counted) expect(c.follower).toBeGreaterThanOrEqual(c.leader);
    const step = nextStep(counted, opts);
    for (const r of step.list) for (const [id, s] of m.ledger) if (s >= r.from && s <= r.to) listed.add(id);
    queue = step.split;
  }
  return { listed, counts };
}

describe('delete reconciliation by counts', () => {
  it('finds exactly the deletes that listing every follower id finds, with counts bounded by the differences', () => {
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 3000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 1000 }),
        fc.constantFrom<BisectOptions>(
          { fanout: 2, leafDocs: 1, listBelowDocs: 0 },
          { fanout: 4, leafDocs: 8, listBelowDocs: 0 },
          { fanout: 16, leafDocs: 50, listBelowDocs: 0 },
        ),
        (ops, gAt, vAt, seed, opts) => {
          const m = buildModel(ops, gAt, vAt, (id) => (id * 7919 + seed) % 3 === 0);
          const { listed, counts } = bisect(m, opts);
          // The extractor checks each listed id on the leader: those it lacks get a DELETE.
          const found = [...listed].filter((id) => !m.leader.has(id)).sort((a, b) => a - b);
          // The method it replaces: every id the follower holds, checked on the leader.
          const expected = [...m.ledger.keys()].filter((id) => !m.leader.has(id)).sort((a, b) => a - b);
          expect(found).toEqual(expected);
          // Cost: per differing document (deleted, or moved above G since) at most one path of splits down the tree.
          const differing = [...m.ledger].filter(([id, s]) => m.leader.get(id) !== s).length;
          const depth = Math.ceil(Math.log(Math.max(2, m.g + 1)) / Math.log(opts.fanout)) + 1;
          expect(counts).toBeLessThanOrEqual(opts.fanout * (1 + differing * depth));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('counts nothing more than the first level when nothing was deleted', () => {
    const ledger = new Map(Array.from({ length: 10_000 }, (_, i) => [i, i] as [number, number]));
    const { listed, counts } = bisect({ leader: new Map(ledger), ledger, g: 9_999 }, { fanout: 16, leafDocs: 500, listBelowDocs: 0 });
    expect(listed.size).toBe(0);
    expect(counts).toBe(16);
  });

  it('lists a narrow range around one delete in a large shard, not the shard', () => {
    const n = 1_000_000;
    const ledger = new Map<number, number>();
    for (let i = 0; i < n; i++) ledger.set(i, i);
    const leader = new Map(ledger);
    leader.delete(654_321);
    const { listed, counts } = bisect({ leader, ledger, g: n - 1 }, { fanout: 16, leafDocs: 500, listBelowDocs: 0 });
    expect(listed.has(654_321)).toBe(true);
    expect(listed.size).toBeLessThanOrEqual(500);
    expect(counts).toBeLessThanOrEqual(16 * 4);
  });
});
