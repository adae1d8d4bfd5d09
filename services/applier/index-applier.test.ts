/**
 * IndexApplier's shell: the order of writes and commits, what goes to the dead-letter topic, backoff and status, as
 * a unit over hand-made fixtures of its narrow ports (the follower's _bulk answers, the ledger, the dead-letter
 * sink, the decoder) and a clock moved by hand. These say nothing of replication end to end: that is tested against
 * the real Kafka, registry and Elasticsearch clusters (test/integration/applier.test.ts, walkthrough, faults).
 */
import { describe, expect, it, vi } from 'vitest';
import type { BulkItemResult, EsResponse, RequestOptions } from '../shared/adapters/elasticsearch.js';
import type { BatchControl, ConsumedMessage } from '../shared/adapters/kafka.js';
import { splitRecord } from '../shared/chunks.js';
import type { Clock } from '../shared/clock.js';
import { checkpointEvent, deleteEvent, indexEvent, METADATA_KEY, metadataEvent } from '../shared/envelope.js';
import type { ChangeEnvelope, IndexMetadata, OriginBase } from '../shared/envelope.js';
import { KccrError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import type { ReplicationSpec } from '../shared/replication.js';
import { silentAfterMs } from '../shared/replication.js';
import { deadLetterTopic } from '../shared/topics.js';
import type { SeqRange } from './bisect.js';
import { IndexApplier } from './index-applier.js';
import type { ApplierLedger, ApplierReconciler, DeadLetterSink, EnvelopeDecoder, FollowerWriter, IndexApplierConfig } from './index-applier.js';
import type { LedgerEntry } from './ledger.js';

const TOPIC = 'kccr.lc.orders';
const FOLLOWER_INDEX = 'orders-f';
const UUID = 'u1';
const T0 = 1_700_000_000_000;

const base = (indexUuid = UUID): OriginBase => ({ cluster: 'lc', index: 'orders', indexUuid, historyUuid: 'h', shard: 0 });

const META: IndexMetadata = {
  indexUuid: UUID,
  shards: 1,
  settings: { number_of_shards: '1' },
  mappings: { properties: { n: { type: 'long' } } },
  aliases: {},
  digest: 'd1',
};

const CONFIG: IndexApplierConfig = {
  followerCluster: 'fc',
  batchSize: 1000,
  maxBulkBytes: 8 * 1024 * 1024,
  maxDocumentBytes: Number.POSITIVE_INFINITY,
  maxReassemblyBytes: 1024 * 1024,
  maxMessageBytes: 1024 * 1024,
  gcDeletes: '24h',
  retryMaxMs: 30_000,
  failedProbeMs: 60_000,
  statusIntervalMs: 1000,
};

function specOf(): ReplicationSpec {
  return {
    followerCluster: 'fc',
    followerIndex: FOLLOWER_INDEX,
    leaderCluster: 'lc',
    leaderIndex: 'orders',
    leaderIndexUuid: UUID,
    state: 'active',
    bootstrap: 'scan',
    requestedBy: 'test',
    createdAt: 1,
    updatedAt: 1,
  };
}

function doc(id: string, seqNo: number, source = `{"id":"${id}","n":${seqNo}}`, indexUuid = UUID): ChangeEnvelope {
  return indexEvent(base(indexUuid), { id, routing: null, source: Buffer.from(source), seqNo, primaryTerm: 1 }, T0);
}

/** The records' values as the decoder fixture reads them (the registry's wire format is the adapter's business). */
function encode(e: ChangeEnvelope): Buffer {
  return Buffer.from(JSON.stringify({ ...e, source: e.source ? e.source.toString('base64') : null }));
}

function decode(b: Buffer): ChangeEnvelope {
  let v: ChangeEnvelope & { source: string | null };
  try {
    v = JSON.parse(b.toString('utf8')) as ChangeEnvelope & { source: string | null };
  } catch {
    throw new KccrError('ENVELOPE_INVALID', 'not a record of this schema');
  }
  return { ...v, source: v.source === null ? null : Buffer.from(v.source, 'base64') };
}

function record(offset: number, e: ChangeEnvelope): ConsumedMessage {
  return { topic: TOPIC, partition: 0, offset: String(offset), key: Buffer.from(e.id), value: encode(e), timestamp: '0' };
}

/** Records at consecutive offsets from `first`. */
function records(first: number, envelopes: readonly ChangeEnvelope[]): ConsumedMessage[] {
  return envelopes.map((e, i) => record(first + i, e));
}

/** A clock that moves only when told. */
class ManualClock implements Clock {
  constructor(public t = T0) {}
  now(): number {
    return this.t;
  }
}

type ItemAnswer = Pick<BulkItemResult, 'status' | 'error'>;

/**
 * The follower as the applier sees it: _bulk answers item by item under external versioning (a version not above
 * the one held is a 409), unless `answer` says otherwise for an item; `hold` keeps _bulk requests unanswered until it settles.
 */
class FollowerFixture implements FollowerWriter {
  readonly docs = new Map<string, { version: number; source: string | null }>();
  exists = false;
  answer: ((item: { action: 'index' | 'delete'; id: string }) => ItemAnswer | undefined) | undefined;
  /** Thrown by the next _bulk (a follower down, say), then cleared. */
  failNext: Error | undefined;
  /** Thrown by every PUT of mappings. */
  mappingFailure: Error | undefined;
  hold: Promise<void> | undefined;
  bulksInFlight = 0;
  bulks: string[][] = [];

  constructor(private readonly events: string[]) {}

  async indexExists(): Promise<boolean> {
    return this.exists;
  }

  async createIndex(index: string): Promise<void> {
    this.events.push(`create ${index}`);
    this.exists = true;
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<EsResponse<T>> {
    this.events.push(`${method} ${path}`);
    if (path.endsWith('/_mapping') && this.mappingFailure) throw this.mappingFailure;
    if (method === 'PUT' && path.includes('/_doc/')) {
      const id = decodeURIComponent(path.split('/_doc/')[1]!);
      const r = this.apply('index', id, Number(opts.query?.version), String(opts.rawBody));
      return { status: r.status, body: (r.error ? { error: r.error } : {}) as T };
    }
    return { status: 200, body: {} as T };
  }

  async bulk(ndjson: string | Buffer | readonly Buffer[]): Promise<BulkItemResult[]> {
    const body = typeof ndjson === 'string' ? ndjson : Buffer.isBuffer(ndjson) ? ndjson.toString('utf8') : Buffer.concat(ndjson).toString('utf8');
    this.bulksInFlight++;
    try {
      if (this.hold) await this.hold;
      if (this.failNext) {
        const e = this.failNext;
        this.failNext = undefined;
        throw e;
      }
      const lines = body.split('\n').filter((l) => l !== '');
      const results: BulkItemResult[] = [];
      const names: string[] = [];
      for (let i = 0; i < lines.length; i++) {
        const line = JSON.parse(lines[i]!) as { index?: { _id: string; version: number }; delete?: { _id: string; version: number } };
        const action = line.delete ? 'delete' : 'index';
        const meta = (line.delete ?? line.index)!;
        const source = action === 'index' ? lines[++i]! : null;
        names.push(`${action} ${meta._id}`);
        results.push({ action, id: meta._id, ...this.apply(action, meta._id, meta.version, source) });
      }
      this.bulks.push(names);
      this.events.push(`bulk ${names.join(', ')}`);
      return results;
    } finally {
      this.bulksInFlight--;
    }
  }

  private apply(action: 'index' | 'delete', id: string, version: number, source: string | null): ItemAnswer {
    const forced = this.answer?.({ action, id });
    if (forced) return forced;
    const held = this.docs.get(id);
    if (held && held.version >= version) return { status: 409, error: { type: 'version_conflict_engine_exception', reason: `[${id}] version conflict` } };
    this.docs.set(id, { version, source });
    return { status: action === 'delete' ? (held?.source ? 200 : 404) : held ? 200 : 201 };
  }

  /** The documents held (tombstones left out), id -> source. */
  live(): Record<string, string> {
    return Object.fromEntries([...this.docs].filter(([, d]) => d.source !== null).map(([id, d]) => [id, d.source!]));
  }
}

interface DeadLetter {
  readonly topic: string;
  readonly key: string;
  /** The value as JSON, or as text when it is not JSON (a record that could not be decoded). */
  readonly value: Record<string, unknown> | string;
  readonly headers: Record<string, string>;
}

function harness(opts: { spec?: ReplicationSpec; config?: Partial<IndexApplierConfig>; metadata?: IndexMetadata | undefined; decoder?: EnvelopeDecoder } = {}) {
  const events: string[] = [];
  const clock = new ManualClock();
  const follower = new FollowerFixture(events);
  const deadLetters: DeadLetter[] = [];
  const sink: DeadLetterSink = {
    send: async (topic, messages) => {
      for (const m of messages) {
        const text = (m.value ?? Buffer.alloc(0)).toString('utf8');
        let value: Record<string, unknown> | string;
        try {
          value = JSON.parse(text) as Record<string, unknown>;
        } catch {
          value = text;
        }
        deadLetters.push({ topic, key: String(m.key), value, headers: (m.headers ?? {}) as Record<string, string> });
        events.push(`dead-letter ${String(m.key)}`);
      }
    },
  };
  const ledger: ApplierLedger = {
    index: `.kccr-ledger-${FOLLOWER_INDEX}`,
    ensure: async () => {
      events.push('ledger ready');
      return undefined;
    },
    write: async (entries: readonly LedgerEntry[]) => {
      events.push(`ledger ${entries.map((x) => `${x.deleted ? '-' : ''}${x.id}`).join(' ')}`);
    },
  };
  const reconcileRequests: string[] = [];
  let span: ((shard: number) => SeqRange | undefined) | undefined;
  const reconciler: ApplierReconciler = {
    stats: { passes: 0, abandoned: 0, rangesCounted: 0, idsSent: 0, lastPassMs: null, lastPassAt: null },
    follow: (fn) => {
      span = fn;
    },
    request: (shard, why) => {
      reconcileRequests.push(`${shard}: ${why}`);
    },
    onLeaderCounts: async () => undefined,
  };
  const metadata = 'metadata' in opts ? opts.metadata : META;
  /** What the meter was told of each _bulk the follower answered. */
  const bulks: { index: string; seconds: number }[] = [];
  const applier = new IndexApplier(
    {
      config: { ...CONFIG, ...opts.config },
      follower,
      decoder: opts.decoder ?? { decode: async (b: Buffer) => decode(b) },
      deadLetters: sink,
      metadata: { get: (topic: string) => (topic === TOPIC ? metadata : undefined) },
      logger: createLogger('test', 'silent'),
      clock,
      meter: { bulk: (index: string, seconds: number) => bulks.push({ index, seconds }) },
    },
    opts.spec ?? specOf(),
    TOPIC,
    reconciler,
    ledger,
  );
  const commits: string[] = [];
  const control: BatchControl = {
    heartbeat: async () => undefined,
    isActive: () => true,
    resolve: (offset) => {
      events.push(`resolve ${offset}`);
    },
    commit: async (next) => {
      commits.push(next);
      events.push(`commit ${next}`);
    },
  };
  const run = (messages: readonly ConsumedMessage[], highWatermark = String(Number(messages.at(-1)?.offset ?? '0') + 1)) =>
    applier.handleBatch({ topic: TOPIC, partition: 0, messages, highWatermark }, control);
  const shard = () => applier.status().shards.find((s) => s.shard === 0)!;
  return { applier, clock, follower, deadLetters, events, commits, reconcileRequests, run, shard, bulks, span: (s: number) => span?.(s) };
}

describe('IndexApplier', () => {
  it('writes a batch in offset order, the ledger first, and commits past it only once every item was checked', async () => {
    const h = harness();
    let answer!: () => void;
    h.follower.hold = new Promise((resolve) => (answer = resolve));
    const run = h.run(records(10, [doc('a', 0), doc('b', 1), deleteEvent(base(), 'a', null, 2, T0)]));
    await vi.waitFor(() => expect(h.follower.bulksInFlight).toBe(1));
    // The _bulk is sent and not answered: nothing is committed yet.
    expect(h.commits).toEqual([]);
    answer();
    await run;
    expect(h.events).toEqual([`create ${FOLLOWER_INDEX}`, 'ledger ready', 'ledger a b -a', 'bulk index a, index b, delete a', 'commit 13']);
    expect(h.follower.live()).toEqual({ b: '{"id":"b","n":1}' });
    expect(h.shard()).toMatchObject({ offset: '13', highWatermark: '13', applied: 3, skipped: 0, deadLettered: 0 });
  });

  it('commits nothing of a _bulk whose answer does not account for every write', async () => {
    const h = harness();
    h.follower.bulk = async () => [{ action: 'index', id: 'a', status: 201 }];
    await expect(h.run(records(10, [doc('a', 0), doc('b', 1)]))).rejects.toMatchObject({ code: 'ES_UNAVAILABLE' });
    expect(h.commits).toEqual([]);
    expect(h.shard().applied).toBe(0);
  });

  it('dead-letters a document the follower refuses (a mapping conflict) with its reason, and writes the others', async () => {
    const h = harness();
    h.follower.answer = ({ id }) =>
      id === 'b' ? { status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [n] of type [long]' } } : undefined;
    await h.run(records(10, [doc('a', 0), doc('b', 1, '{"n":"x"}'), doc('c', 2)]));
    expect(h.follower.live()).toEqual({ a: '{"id":"a","n":0}', c: '{"id":"c","n":2}' });
    expect(h.deadLetters).toHaveLength(1);
    const [dl] = h.deadLetters;
    expect(dl!.topic).toBe(deadLetterTopic('fc'));
    expect(dl!.key).toBe('b');
    expect(dl!.headers).toMatchObject({
      'kccr.stage': 'write',
      'kccr.reason': 'mapper_parsing_exception: failed to parse field [n] of type [long]',
      'kccr.topic': TOPIC,
      'kccr.partition': '0',
      'kccr.offset': '11',
      'kccr.follower-index': FOLLOWER_INDEX,
    });
    expect(dl!.value).toMatchObject({ op: 'INDEX', id: 'b', version: 2, source: '{"n":"x"}' });
    // The dead letter is sent before the commit passes the document.
    expect(h.events.indexOf('dead-letter b')).toBeLessThan(h.events.indexOf('commit 13'));
    expect(h.shard()).toMatchObject({ offset: '13', applied: 2, deadLettered: 1 });
    expect(h.applier.status().state).toBe('syncing');
    // The status keeps it among the latest dead letters (what _status and the status page show).
    expect(h.applier.status().recentDeadLetters).toEqual([
      { at: T0, id: 'b', shard: 0, offset: '11', stage: 'write', reason: 'mapper_parsing_exception: failed to parse field [n] of type [long]' },
    ]);
  });

  it('dead-letters leader mappings the follower refuses, says so in the status, and writes the documents after them', async () => {
    const h = harness();
    h.follower.exists = true;
    h.follower.mappingFailure = new KccrError('ES_REJECTED', 'illegal_argument_exception: mapper [n] cannot be changed from type [long] to [text]');
    await h.run(records(10, [metadataEvent(base(), META, 0, T0), doc('a', 1)]));
    expect(h.deadLetters.map((d) => [d.key, d.headers['kccr.stage'], d.headers['kccr.offset']])).toEqual([[METADATA_KEY, 'metadata', '10']]);
    expect(h.follower.live()).toEqual({ a: '{"id":"a","n":1}' });
    expect(h.commits.at(-1)).toBe('12');
    const status = h.applier.status();
    expect(status.state).toBe('syncing');
    expect(status.reason).toMatch(/^the leader's mappings or aliases could not be applied: illegal_argument_exception/);
  });

  it('on a write the follower refuses for now: commits what came before, backs off longer each time, and writes the rest when read again', async () => {
    const h = harness({ config: { retryMaxMs: 1500 } });
    const batch = records(10, [doc('a', 0), doc('b', 1), doc('c', 2)]);
    h.follower.answer = ({ id }) => (id === 'b' ? { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } } : undefined);
    const first = await h.run(batch).catch((e: unknown) => e);
    expect(first).toMatchObject({ code: 'ES_UNAVAILABLE', retriable: true });
    // a is done; b (refused) and c (written by the same _bulk, not yet counted) are read again from 11.
    expect(h.commits).toEqual(['11']);
    expect(h.shard()).toMatchObject({ offset: '11', applied: 1 });
    const d1 = h.applier.retryDelay(0, first);
    expect(d1).toBeGreaterThanOrEqual(250);
    expect(d1).toBeLessThanOrEqual(500);
    expect(h.applier.status()).toMatchObject({ state: 'retrying', retrying: { since: T0, attempts: 1 }, reason: expect.stringContaining('429') });

    // The partition is read again after its backoff; the follower is down now.
    h.clock.t += d1;
    h.follower.answer = undefined;
    h.follower.failNext = new KccrError('ES_UNAVAILABLE', 'connect ECONNREFUSED');
    const second = await h.run(batch.slice(1)).catch((e: unknown) => e);
    const d2 = h.applier.retryDelay(0, second);
    expect(d2).toBeGreaterThanOrEqual(500);
    expect(d2).toBeLessThanOrEqual(1000);
    expect(h.applier.status()).toMatchObject({ state: 'retrying', retrying: { since: T0, attempts: 2, reason: 'connect ECONNREFUSED' } });
    // Capped at retryMaxMs however long it lasts.
    for (let i = 0; i < 5; i++) expect(h.applier.retryDelay(0, second)).toBeLessThanOrEqual(1500);

    h.clock.t += d2;
    await h.run(batch.slice(1));
    expect(h.commits).toEqual(['11', '13']);
    expect(h.follower.live()).toEqual({ a: '{"id":"a","n":0}', b: '{"id":"b","n":1}', c: '{"id":"c","n":2}' });
    // c was already there from the first _bulk: skipped as not newer, not written twice.
    expect(h.shard()).toMatchObject({ offset: '13', applied: 2, skipped: 1, deadLettered: 0 });
    const status = h.applier.status();
    expect(status.state).toBe('syncing');
    expect(status.retrying).toBeUndefined();
    // Counted for /metrics: each failure by its code, the bytes of the _bulk bodies the follower accepted, each _bulk timed.
    expect(status.failures).toEqual({ ES_UNAVAILABLE: 2 + 5 });
    expect(status.bytesWritten).toBeGreaterThan(0);
    expect(h.bulks.length).toBeGreaterThanOrEqual(2);
    expect(h.bulks.every((b) => b.index === FOLLOWER_INDEX && b.seconds >= 0)).toBe(true);
  });

  it('refused credentials are probed again after failedProbeMs, show as FAILED, and clear with the first success', async () => {
    const h = harness();
    h.follower.answer = () => ({ status: 401, error: { type: 'security_exception', reason: 'unable to authenticate user' } });
    const e = await h.run(records(10, [doc('a', 0)])).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ES_UNAUTHENTICATED' });
    expect(h.applier.retryDelay(0, e)).toBe(CONFIG.failedProbeMs);
    expect(h.applier.status()).toMatchObject({ state: 'failed', reason: expect.stringContaining('refused the credentials') });
    h.follower.answer = undefined;
    await h.run(records(10, [doc('a', 0)]));
    expect(h.applier.status().state).toBe('syncing');
    expect(h.commits).toEqual(['11']);
  });

  it('a failure probed again shows FAILED with its reason until a batch goes through', async () => {
    const h = harness();
    h.applier.fail('mapping conflict in merged index x');
    expect(h.applier.failed).toBe(true);
    h.applier.clearFailure();
    // The consumer may read again (not failed), and the status still says why it stopped.
    expect(h.applier.failed).toBe(false);
    expect(h.applier.status()).toMatchObject({ state: 'failed', reason: 'mapping conflict in merged index x' });
    await h.run(records(10, [doc('a', 0)]));
    expect(h.applier.status().state).toBe('syncing');
  });

  it('skips the records of another incarnation of the leader index, counts them, and commits past them', async () => {
    const h = harness();
    await h.run(records(10, [doc('a', 0, '{"old":1}', 'u0'), doc('b', 1), doc('c', 2, '{"old":1}', 'u0')]));
    expect(h.follower.bulks).toEqual([['index b']]);
    expect(h.shard()).toMatchObject({ offset: '13', applied: 1, skipped: 2, otherIncarnation: 2 });
  });

  it('without an incarnation in the spec, follows the one the partition METADATA names', async () => {
    // A spec written before replications were bound to an incarnation.
    const { leaderIndexUuid: _bound, ...unbound } = specOf();
    const h = harness({ spec: unbound });
    h.follower.exists = true;
    const meta2 = { ...META, indexUuid: 'u2' };
    await h.run(records(10, [doc('a', 0), metadataEvent(base('u2'), meta2, 0, T0), doc('b', 1), doc('c', 2, '{"n":2}', 'u2')]));
    // a: the metadata table's incarnation (u1) until the partition's METADATA says u2; then only u2's records.
    expect(h.follower.bulks).toEqual([['index a'], ['index c']]);
    expect(h.shard()).toMatchObject({ offset: '14', applied: 2, otherIncarnation: 1 });
  });

  it('puts a chunked envelope together across batches, writes it once whole, and commits below its chunks until then', async () => {
    const h = harness();
    const big = doc('big', 1, JSON.stringify({ text: 'x'.repeat(5000) }));
    const value = encode(big);
    const chunks = splitRecord({ key: 'big', value, partition: 0 }, 2048, {
      sourceBytes: big.source!.length,
      origin: { id: 'big', op: 'INDEX', shard: 0, seqNo: 1, version: 2, cluster: 'lc', index: 'orders' },
    });
    expect(chunks.length).toBe(Math.ceil(value.length / 2048));
    const chunkRecords: ConsumedMessage[] = chunks.map((c, i) => ({
      topic: TOPIC,
      partition: 0,
      offset: String(11 + i),
      key: Buffer.from(c.key),
      value: c.value,
      timestamp: '0',
      headers: c.headers,
    }));
    const after = 11 + chunks.length;

    await h.run([record(10, doc('a', 0)), ...chunkRecords.slice(0, 2)]);
    // a is written before the first chunk is held; the commit stays below the chunks, the fetch moves past them.
    expect(h.events.slice(-4)).toEqual(['bulk index a', 'commit 11', 'resolve 11', 'resolve 12']);
    expect(h.shard().reassemblingBytes).toBe(4096);

    await h.run([...chunkRecords.slice(2), record(after, doc('c', 2))]);
    expect(h.follower.bulks).toEqual([['index a'], ['index big', 'index c']]);
    expect(h.follower.live().big).toBe(big.source!.toString('utf8'));
    expect(h.commits.at(-1)).toBe(String(after + 1));
    expect(h.shard()).toMatchObject({ applied: 3, deadLettered: 0 });
    expect(h.shard().reassemblingBytes).toBeUndefined();
  });

  it('dead-letters a chunked envelope whose chunks do not make the value their digest names, and writes nothing of it', async () => {
    const h = harness();
    const big = doc('big', 1, JSON.stringify({ text: 'y'.repeat(3000) }));
    const chunks = splitRecord({ key: 'big', value: encode(big), partition: 0 }, 1024, {
      sourceBytes: big.source!.length,
      origin: { id: 'big', op: 'INDEX', shard: 0, seqNo: 1, version: 2, cluster: 'lc', index: 'orders' },
    });
    const tampered = Buffer.from(chunks[1]!.value);
    tampered[10] = tampered[10]! ^ 0xff;
    const messages = chunks.map((c, i) => ({
      topic: TOPIC,
      partition: 0,
      offset: String(10 + i),
      key: Buffer.from(c.key),
      value: i === 1 ? tampered : c.value,
      timestamp: '0',
      headers: c.headers,
    }));
    await h.run(messages);
    expect(h.follower.bulks).toEqual([]);
    expect(h.deadLetters.map((d) => [d.key, d.headers['kccr.stage']])).toEqual([['big', 'chunks']]);
    expect(h.deadLetters[0]!.headers['kccr.reason']).toMatch(/^the chunks of this document do not make the value their digest names/);
    expect(h.commits.at(-1)).toBe(String(10 + chunks.length));
    expect(h.shard().deadLettered).toBe(1);
  });

  it('dead-letters a record no registry can decode, and waits (throws, commits nothing) while the registry cannot answer', async () => {
    const h = harness();
    const garbage: ConsumedMessage = { topic: TOPIC, partition: 0, offset: '10', key: Buffer.from('g'), value: Buffer.from('not json'), timestamp: '0' };
    await h.run([garbage, record(11, doc('a', 0))]);
    expect(h.deadLetters.map((d) => [d.key, d.headers['kccr.stage']])).toEqual([['g', 'decode']]);
    expect(h.commits).toEqual(['12']);

    const down = harness({ decoder: { decode: async () => Promise.reject(new KccrError('REGISTRY_UNAVAILABLE', 'schema registry: connect ECONNREFUSED')) } });
    await expect(down.run(records(10, [doc('a', 0)]))).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE' });
    expect(down.commits).toEqual([]);
    expect(down.follower.bulks).toEqual([]);
    expect(down.deadLetters).toEqual([]);
  });

  it('waits for the leader metadata before creating the follower index (transient), writing nothing meanwhile', async () => {
    const h = harness({ metadata: undefined });
    await expect(h.run(records(10, [doc('a', 0)]))).rejects.toMatchObject({
      code: 'ES_UNAVAILABLE',
      message: expect.stringContaining("waiting for the leader's metadata"),
    });
    expect(h.events).toEqual([]);
    expect(h.commits).toEqual([]);
  });

  it('a CHECKPOINT follows the writes before it: the applied checkpoint, the reconcile span, and a pass once deletes are covered and caught up', async () => {
    const h = harness();
    expect(h.span(0)).toBeUndefined();
    const cp = checkpointEvent(base(), { globalCheckpoint: 1, maxSeqNo: 1, observedAt: T0 - 5, docCount: 2, deleteTotal: 1, counts: null }, T0);
    await h.run(records(10, [doc('a', 0), doc('b', 1), cp]), '14');
    expect(h.events.slice(-3)).toEqual(['bulk index a, index b', 'commit 12', 'commit 13']);
    expect(h.shard()).toMatchObject({ appliedCheckpoint: 1, appliedObservedAt: T0 - 5 });
    expect(h.span(0)).toEqual({ from: 0, to: 1 });
    // Not caught up (the high watermark is past the checkpoint): the pass waits.
    expect(h.reconcileRequests).toEqual([]);
    const cp2 = checkpointEvent(base(), { globalCheckpoint: 1, maxSeqNo: 1, observedAt: T0, docCount: 2, deleteTotal: 1, counts: null }, T0);
    await h.run(records(13, [cp2]));
    expect(h.reconcileRequests).toEqual(['0: the leader shard had deletes']);
  });

  it('reports its status from the injected clock: when it last applied, a request unanswered for long, and when', async () => {
    const h = harness();
    h.clock.t = T0 + 1234;
    await h.run(records(10, [doc('a', 0)]));
    expect(h.shard().lastAppliedAt).toBe(T0 + 1234);
    h.clock.t = T0 + 5000;
    expect(h.applier.status().updatedAt).toBe(T0 + 5000);

    let answer!: () => void;
    h.follower.hold = new Promise((resolve) => (answer = resolve));
    const run = h.run(records(11, [doc('b', 1)]));
    await vi.waitFor(() => expect(h.follower.bulksInFlight).toBe(1));
    const sent = h.clock.t;
    // Up to three report intervals without an answer is still syncing.
    h.clock.t = sent + silentAfterMs(CONFIG.statusIntervalMs);
    expect(h.applier.status().state).toBe('syncing');
    h.clock.t = sent + 4000;
    expect(h.applier.status()).toMatchObject({
      state: 'retrying',
      reason: 'no answer from the follower for 4 s',
      retrying: { since: sent, attempts: 0 },
    });
    answer();
    await run;
    expect(h.applier.status().state).toBe('syncing');
    expect(h.shard().lastAppliedAt).toBe(sent + 4000);
  });
});
