/**
 * What the fault tests check after (and during) a fault, each written here independently of the services:
 * a plain comparison of two indices, the dead-letter count of a follower cluster, and a sampler of `_status`.
 */
import type { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { KafkaAdapter } from '../../services/shared/adapters/kafka.js';
import { deadLetterTopic } from '../../services/shared/topics.js';
import type { StackState } from '../../deploy/local/lib/state.js';
import type { Control } from './control.js';

// ---------------------------------------------------------------------------------------------------------------
// A plain comparison

export interface StoredDocument {
  readonly routing: string | null;
  readonly source: unknown;
}

export interface Comparison {
  readonly leaderCount: number;
  readonly followerCount: number;
  /** Ids on the leader, not on the follower. */
  readonly missing: readonly string[];
  /** Ids on the follower, not on the leader. */
  readonly extra: readonly string[];
  /** Ids on both whose routing or source differ (or that appear twice on one side). */
  readonly different: readonly string[];
  readonly differences: number;
}

/** JSON with object keys sorted: two sources are the same document when these are equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Every document of an index, id -> routing and source, read with a point in time and search_after on
 * `_shard_doc` after a refresh. A missing index is empty. Ids seen twice (two shards) are returned in `duplicates`.
 */
export async function readAll(es: ElasticsearchAdapter, index: string, pageSize = 2000): Promise<{ docs: Map<string, StoredDocument>; duplicates: string[] }> {
  const docs = new Map<string, StoredDocument>();
  const duplicates: string[] = [];
  if (!(await es.indexExists(index))) return { docs, duplicates };
  await es.refresh(index);
  const pit = (await es.request<{ id: string }>('POST', `/${encodeURIComponent(index)}/_pit`, { query: { keep_alive: '1m' } })).body.id;
  try {
    let after: unknown[] | undefined;
    for (;;) {
      type Hit = { _id: string; _routing?: string; _source: unknown; sort: unknown[] };
      const r = await es.request<{ hits: { hits: Hit[] } }>('POST', '/_search', {
        body: {
          size: pageSize,
          pit: { id: pit, keep_alive: '1m' },
          sort: [{ _shard_doc: 'asc' }],
          track_total_hits: false,
          ...(after ? { search_after: after } : {}),
        },
      });
      const hits = r.body.hits.hits;
      for (const h of hits) {
        if (docs.has(h._id)) duplicates.push(h._id);
        docs.set(h._id, { routing: h._routing ?? null, source: h._source });
      }
      if (hits.length < pageSize) break;
      after = hits[hits.length - 1]!.sort;
    }
  } finally {
    await es.request('DELETE', '/_pit', { body: { id: pit }, ignore: [404] }).catch(() => undefined);
  }
  return { docs, duplicates };
}

/** Leader and follower compared document by document: ids, routing and source. */
export async function compareIndices(
  leader: ElasticsearchAdapter,
  follower: ElasticsearchAdapter,
  leaderIndex: string,
  followerIndex: string,
  pageSize?: number,
): Promise<Comparison> {
  const [l, f] = await Promise.all([readAll(leader, leaderIndex, pageSize), readAll(follower, followerIndex, pageSize)]);
  const missing: string[] = [];
  const extra: string[] = [];
  const different = new Set<string>([...l.duplicates, ...f.duplicates]);
  for (const [id, doc] of l.docs) {
    const other = f.docs.get(id);
    if (!other) missing.push(id);
    else if (other.routing !== doc.routing || canonicalJson(other.source) !== canonicalJson(doc.source)) different.add(id);
  }
  for (const id of f.docs.keys()) if (!l.docs.has(id)) extra.push(id);
  return {
    leaderCount: l.docs.size,
    followerCount: f.docs.size,
    missing,
    extra,
    different: [...different],
    differences: missing.length + extra.length + different.size,
  };
}

export function describeComparison(c: Comparison, examples = 5): string {
  const some = (ids: readonly string[]) => (ids.length ? ` (${ids.slice(0, examples).join(', ')}${ids.length > examples ? ', ...' : ''})` : '');
  return `leader ${c.leaderCount} docs, follower ${c.followerCount}: ${c.missing.length} missing${some(c.missing)}, ${c.extra.length} extra${some(c.extra)}, ${c.different.length} different${some(c.different)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Dead letters

/** Records ever written to the follower cluster's dead-letter topic (sum of high watermarks; no topic = 0). */
export async function deadLetterRecords(stack: StackState, followerCluster: string): Promise<number> {
  const kafka = new KafkaAdapter({ brokers: stack.kafka.brokers, clientId: 'kccr-fault-test' });
  try {
    const topic = deadLetterTopic(followerCluster);
    if ((await kafka.partitionCount(topic)) === undefined) return 0;
    return (await kafka.offsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await kafka.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Status samples

export interface StatusSample {
  /** When the answer came (ms since the epoch). */
  readonly at: number;
  /** The replication's status, or `HTTP <code>` when the control service answered with an error. */
  readonly status: string;
  readonly lag_operations: number | null;
  /** Seconds the follower is behind the leader, as the status tells it (null when it cannot know). */
  readonly lag_seconds: number | null;
  readonly reason: string | null;
}

export interface StatusSampler {
  readonly samples: readonly StatusSample[];
  stop(): Promise<void>;
}

/**
 * Reads `GET /_plugins/_replication/<follower>/_status` every `intervalMs` (one request at a time) and keeps every
 * answer. The control service answers from what it has read of Kafka, so this keeps going while Kafka is down.
 */
export function sampleStatus(control: Control, followerIndex: string, intervalMs = 500): StatusSampler {
  const samples: StatusSample[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      try {
        const r = await control.call<{ status?: string; lag_operations?: number | null; lag_seconds?: number | null; reason?: string }>(
          'GET',
          `/_plugins/_replication/${encodeURIComponent(followerIndex)}/_status`,
        );
        samples.push(
          r.status === 200
            ? {
                at: Date.now(),
                status: String(r.body.status),
                lag_operations: r.body.lag_operations ?? null,
                lag_seconds: r.body.lag_seconds ?? null,
                reason: r.body.reason ?? null,
              }
            : { at: Date.now(), status: `HTTP ${r.status}`, lag_operations: null, lag_seconds: null, reason: JSON.stringify(r.body).slice(0, 300) },
        );
      } catch (e) {
        samples.push({ at: Date.now(), status: 'ERROR', lag_operations: null, lag_seconds: null, reason: e instanceof Error ? e.message : String(e) });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - started))));
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
