/**
 * Finding deleted documents by counting, not listing (the pure part of delete reconciliation).
 *
 * The follower side keeps, per document it applied, the leader `_seq_no` of the version it holds (the ledger,
 * ledger.ts). Once the follower has applied everything up to a checkpoint G, and the leader has counted its live
 * documents per `_seq_no` range at or below G at a moment no earlier than that, every document the leader counts
 * in a range the follower counts in the same range too (its latest version is at or below G, so the follower has
 * exactly that version). The follower's count exceeds the leader's by the documents deleted since, plus those
 * updated after G (they moved above G on the leader): never less. Ranges whose counts agree hold no deleted
 * document; ranges that differ are split and counted again, and narrow ones are listed and checked id by id. The
 * work grows with the number of differing documents times the depth (log of the index's size), not with its size.
 */

/** An inclusive range of leader `_seq_no`. */
export interface SeqRange {
  readonly from: number;
  readonly to: number;
}

export interface RangeCount extends SeqRange {
  readonly leader: number;
  readonly follower: number;
}

export interface BisectOptions {
  /** How many parts a differing range is split into. */
  readonly fanout: number;
  /** A differing range holding at most this many follower documents is listed rather than split. */
  readonly leafDocs: number;
  /** A shard whose follower holds at most this many documents is listed whole, without counting. */
  readonly listBelowDocs: number;
}

export const DEFAULT_BISECT: BisectOptions = { fanout: 32, leafDocs: 64, listBelowDocs: 1000 };

/** Splits [from, to] into at most `parts` contiguous, non-empty ranges of near-equal width. */
export function splitRange(r: SeqRange, parts: number): SeqRange[] {
  const width = r.to - r.from + 1;
  if (width <= 0) return [];
  const n = Math.max(1, Math.min(parts, width));
  const out: SeqRange[] = [];
  let from = r.from;
  for (let i = 0; i < n; i++) {
    const to = i === n - 1 ? r.to : r.from + Math.floor((width * (i + 1)) / n) - 1;
    out.push({ from, to });
    from = to + 1;
  }
  return out;
}

/**
 * What to do with counted ranges: those that agree (or where the follower holds fewer, which no delete explains) are
 * done; a differing range is listed when it is narrow or mostly differing, else split and counted again.
 */
export function nextStep(counts: readonly RangeCount[], opts: BisectOptions = DEFAULT_BISECT): { split: SeqRange[]; list: SeqRange[] } {
  const split: SeqRange[] = [];
  const list: SeqRange[] = [];
  for (const c of counts) {
    const extra = c.follower - c.leader;
    if (extra <= 0) continue;
    // Listing costs the follower's documents in the range; splitting costs about `fanout` counts per differing one.
    if (c.follower <= opts.leafDocs || c.from === c.to || extra * opts.fanout >= c.follower) list.push({ from: c.from, to: c.to });
    else split.push(...splitRange(c, opts.fanout));
  }
  return { split, list };
}
