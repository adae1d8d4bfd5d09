/**
 * Write load on a leader index for the randomized and fault tests: seeded, so that a failing run can be replayed,
 * with custom routing on a third of the ids (an id keeps its routing for life, as applications do).
 */
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import type { EsConnection } from '../../services/shared/config.js';

/** A small deterministic generator (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An id keeps its routing for life (custom routing on a third of the ids). */
export function routingOf(id: number): string | undefined {
  return id % 3 === 0 ? `r${id % 7}` : undefined;
}

export interface LoadCounts {
  /** Operations sent, by kind. */
  index: number;
  update: number;
  delete: number;
  batches: number;
  /** Bulk requests that failed as a whole (the leader unreachable, a timeout). */
  failedBatches: number;
  /** Items the leader refused inside a bulk that went through (404 of a delete of a missing id not counted). */
  failedItems: number;
  lastError?: string;
}

export interface MixedLoad {
  readonly counts: LoadCounts;
  /** Asks the writers to stop and waits until each has finished its current bulk (bounded by the request timeout). */
  stop(): Promise<LoadCounts>;
}

export interface MixedLoadOptions {
  readonly leader: EsConnection;
  readonly index: string;
  readonly seed: number;
  readonly writers?: number;
  /** Ids are `<idPrefix><n>` for n below idSpace. */
  readonly idSpace?: number;
  readonly idPrefix?: string;
  /** Largest bulk (operations). */
  readonly maxBatch?: number;
  /** A bulk that takes longer fails (the writer goes on). */
  readonly requestTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

/**
 * Concurrent writers doing index (50%), partial update with `doc_as_upsert` (30%) and delete (20%) on random ids.
 * A failed bulk is counted and the writer goes on after a short pause: the leader's state is the truth, whatever
 * got in. Every loop is bounded: the stop flag is read before each bulk, and each bulk has a timeout.
 */
export function startMixedLoad(opts: MixedLoadOptions): MixedLoad {
  const es = new ElasticsearchAdapter(opts.leader, { requestTimeoutMs: opts.requestTimeoutMs ?? 10_000 });
  const counts: LoadCounts = { index: 0, update: 0, delete: 0, batches: 0, failedBatches: 0, failedItems: 0 };
  const idSpace = opts.idSpace ?? 2000;
  const prefix = opts.idPrefix ?? 'doc-';
  const maxBatch = opts.maxBatch ?? 20;
  let stopping = false;
  const sleepers = new Set<() => void>();
  const pause = (ms: number) =>
    new Promise<void>((r) => {
      const wake = () => {
        clearTimeout(timer);
        sleepers.delete(wake);
        r();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });

  const writer = async (w: number) => {
    const random = rng(opts.seed * 31 + w);
    while (!stopping) {
      const lines: string[] = [];
      const size = 1 + Math.floor(random() * maxBatch);
      for (let i = 0; i < size; i++) {
        const n = Math.floor(random() * idSpace);
        const routing = routingOf(n);
        const meta = { _index: opts.index, _id: `${prefix}${n}`, ...(routing ? { routing } : {}) };
        const roll = random();
        if (roll < 0.5) {
          counts.index++;
          lines.push(
            JSON.stringify({ index: meta }),
            JSON.stringify({ n: Math.floor(random() * 1e9), writer: `w${w}`, text: `index ${random().toString(36)}`, at: Date.now() }),
          );
        } else if (roll < 0.8) {
          counts.update++;
          // A partial document: fields it does not name keep their values; a missing document is created from it.
          lines.push(
            JSON.stringify({ update: { ...meta, retry_on_conflict: 3 } }),
            JSON.stringify({ doc: { updated: Math.floor(random() * 1e9), by: `w${w}` }, doc_as_upsert: true }),
          );
        } else {
          counts.delete++;
          lines.push(JSON.stringify({ delete: meta }));
        }
      }
      try {
        const items = await es.bulk(`${lines.join('\n')}\n`);
        counts.batches++;
        for (const item of items) {
          if (item.status < 300 || (item.action === 'delete' && item.status === 404)) continue;
          counts.failedItems++;
          counts.lastError = `${item.status} ${item.error?.type ?? ''}: ${item.error?.reason ?? ''}`;
        }
        await pause(20 + Math.floor(random() * 60));
      } catch (e) {
        counts.failedBatches++;
        const message = e instanceof Error ? e.message : String(e);
        if (counts.lastError !== message) opts.log?.(`load on ${opts.index}: writer ${w}: bulk failed (${counts.failedBatches} so far): ${message}`);
        counts.lastError = message;
        await pause(500);
      }
    }
  };

  const done = Promise.all(Array.from({ length: opts.writers ?? 2 }, (_, w) => writer(w)));
  return {
    counts,
    async stop() {
      stopping = true;
      for (const wake of [...sleepers]) wake();
      await done;
      await es.close();
      return counts;
    },
  };
}
